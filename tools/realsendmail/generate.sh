#!/usr/bin/env bash
# tools/realsendmail/generate.sh -- a REAL Sendmail mail log (with ground truth), on loopback only.
#
# Usage:  sudo tools/realsendmail/generate.sh [FILLER_COUNT=40] [OUTDIR]
#   OUTDIR defaults to /var/tmp/realsendmail-seed$SEED
# Env:    SEED (default 3), SYSLOG_HOST (default smhost), SKIP_INSTALL=1, KEEP_SENDMAIL=1 (do not put
#         Postfix back at the end), RETURN_AFTER (confTO_QUEUERETURN, default 3m)
#
# Debian's sendmail conflicts with postfix: installing it REMOVES postfix (and postfix-pcre,
# postfix-policyd-spf-python).  At the end this script reinstalls exactly the packages that were
# removed and purges the sendmail packages again (unless KEEP_SENDMAIL=1), so run it on a test machine.
#
# What runs (all started here, all stopped here by their pid files):
#   rsyslogd  private instance, mail facility -> 4 files (traditional, RFC 3339, RFC 5424, RFC 5424 full tag)
#   dnsmasq   on 127.0.0.53, no upstream: the run happens in a private mount namespace whose
#             /etc/resolv.conf points there, so any DNS query sendmail makes stays on loopback
#   sendmail  MTA daemon (-bd -L sm-mta) listening on 127.0.0.1:25 only
#   sendmail  MSP queue runner (-Ac -q20s -L sm-msp-queue)
#   python3 -m smtpd sink on 127.0.0.1:2526 (the "remote" MTA for relay.test), started late on purpose
# Routing (mailertable): deferred.test -> esmtp:[127.0.0.1] (port 2525, nothing listens: deferred, expires),
#   relay.test -> relay:[127.0.0.1] (port 2526: refused until the sink starts, then flushed by sendmail -q),
#   unknown.test -> error:5.1.2, everything else that is not local -> smtp:[127.0.0.1] (port 2527,
#   nothing listens: deferred, then expires).  Nothing ever leaves the machine.
set -euo pipefail

N="${1:-40}"
SEED="${SEED:-3}"
OUT="${2:-/var/tmp/realsendmail-seed$SEED}"
SYSLOG_HOST="${SYSLOG_HOST:-smhost}"
RETURN_AFTER="${RETURN_AFTER:-3m}"
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN=/var/lib/realsendmail
LOGDIR=/var/log/realsendmail
DNS_IP=127.0.0.53
USERS="smalice smbob smcarol smdave smerin smadmin"
export DEBIAN_FRONTEND=noninteractive
log() { printf '[realsendmail %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
mkdir -p "$RUN" "$LOGDIR" "$OUT" "$OUT/conf"
T0=$(date +%s)

# ------------------------------------------------------------------ stop (by our own pid files)
pid_alive() { [ -f "$1" ] && kill -0 "$(head -1 "$1" | tr -d ' \n')" 2>/dev/null; }
stop_pidfile() {
  if pid_alive "$1"; then
    local p; p="$(head -1 "$1" | tr -d ' \n')"
    log "stopping $2 (pid $p)"
    kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { log "$2 still running, SIGKILL"; kill -9 "$p" 2>/dev/null || true; }
  fi
  rm -f "$1"
}
stop_mail() {
  stop_pidfile "$RUN/sink.pid" smtp-sink
  stop_pidfile "$RUN/msp/sm-msp-queue.pid" sm-msp-queue
  stop_pidfile "$RUN/sm-mta.pid" sm-mta
}
stop_all() {
  stop_mail
  stop_pidfile "$RUN/dnsmasq.pid" dnsmasq
  sleep 1
  stop_pidfile "$RUN/rsyslogd.pid" rsyslogd
}

# ------------------------------------------------------------------ the part that runs inside the mount namespace
if [ "${1:-}" = "__inner" ]; then
  N="$2"; OUT="$3"
  mount --bind "$RUN/resolv.conf" /etc/resolv.conf
  mount --bind "$RUN/hosts" /etc/hosts      # sendmail wants a fully qualified name for this host
  rm -f "$LOGDIR"/*.log
  rm -f "$RUN/rsyslogd.pid"
  rsyslogd -N1 -f "$RUN/rsyslog.conf" >/dev/null
  rsyslogd -f "$RUN/rsyslog.conf" -i "$RUN/rsyslogd.pid"
  for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
  logger -p mail.info -t realsendmail "corpus run start N=$N seed=$SEED"
  dnsmasq --conf-file="$RUN/dnsmasq.conf" --pid-file="$RUN/dnsmasq.pid"
  /usr/sbin/sendmail -bi >/dev/null     # newaliases (ALIAS_FILE from our sendmail.cf)
  # MTA daemon, no periodic queue runs (the queue is run by hand below)
  /usr/sbin/sendmail -bd -L sm-mta -OPidFile="$RUN/sm-mta.pid"
  # MSP queue runner, as Debian's init script starts it
  mkdir -p "$RUN/msp"; chown smmsp:smmsp "$RUN/msp"    # the MSP writes its pid file as smmsp
  /usr/sbin/sendmail -Ac -q20s -L sm-msp-queue -OPidFile="$RUN/msp/sm-msp-queue.pid"
  for _ in $(seq 100); do
    /usr/bin/python3 -c "import socket;socket.create_connection(('127.0.0.1',25),1).close()" 2>/dev/null && break
    sleep 0.2
  done
  sinkstart() {
    (cd "$RUN" && exec /usr/bin/python3 -W ignore -m smtpd -n -c DebuggingServer 127.0.0.1:2526 \
        >"$RUN/sink.out" 2>&1) &
    echo $! > "$RUN/sink.pid"
  }
  qrun() { log "sendmail -q ($1)"; /usr/sbin/sendmail -q || true; }
  log "sending $N filler messages plus the fixed scenarios"
  /usr/bin/python3 "$HERE/send_sendmail.py" --out "$OUT/ground_truth.jsonl" --seed "$SEED" --count "$N" \
      --phase send
  sleep 15
  qrun "before the relay.test sink is up: still refused"
  sinkstart; sleep 1
  qrun "sink is up: relay.test flushed"
  /usr/bin/python3 "$HERE/send_sendmail.py" --out "$OUT/ground_truth.jsonl" --seed "$SEED" --count 0 --phase late
  sleep 50
  qrun "past confTO_QUEUEWARN: delay warnings"
  # wait until the oldest deferred message is older than confTO_QUEUERETURN
  ret_s=$(( ${RETURN_AFTER%m} * 60 ))
  while :; do
    age=$(( $(date +%s) - $(stat -c %Y "$RUN/send_started" ) ))
    [ "$age" -gt $((ret_s + 5)) ] && break
    sleep 5
  done
  qrun "past confTO_QUEUERETURN: expiry, returned to sender"
  sleep 25    # the MSP queue runner picks up what is left in the client queue
  qrun "final"
  sleep 5
  mailq > "$OUT/mailq_at_end.txt" 2>&1 || true
  mailq -Ac >> "$OUT/mailq_at_end.txt" 2>&1 || true
  stop_mail
  sleep 1
  logger -p mail.info -t realsendmail "corpus run end"
  sleep 1
  stop_pidfile "$RUN/dnsmasq.pid" dnsmasq
  stop_pidfile "$RUN/rsyslogd.pid" rsyslogd
  exit 0
fi

# ================================================================== main
stop_all
trap 'rc=$?; stop_all; [ $rc -ne 0 ] && log "failed (rc=$rc)"; exit $rc' EXIT

# ------------------------------------------------------------------ install (sendmail replaces postfix)
REMOVED_FILE="$RUN/removed-packages.txt"
if [ "${SKIP_INSTALL:-0}" != 1 ] && ! dpkg -s sendmail sendmail-bin swaks rsyslog dnsmasq-base >/dev/null 2>&1; then
  # remember which MTA packages the install is going to remove, to put them back afterwards
  apt-get -s install --no-install-recommends sendmail swaks rsyslog dnsmasq-base 2>/dev/null \
    | awk '/^Remv /{print $2}' > "$REMOVED_FILE"
  log "installing sendmail; it removes: $(tr '\n' ' ' < "$REMOVED_FILE")"
  if [ -f /var/spool/postfix/pid/master.pid ] && kill -0 "$(tr -d ' ' </var/spool/postfix/pid/master.pid)" 2>/dev/null; then
    echo "a Postfix master is running; stop it first" >&2; exit 1
  fi
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends sendmail swaks rsyslog dnsmasq-base
fi
command -v sendmail >/dev/null && [ -x /usr/libexec/sendmail/sendmail ] || { echo "sendmail not installed" >&2; exit 1; }
# (no sendmail invocation outside the namespace: with Debian's stock sendmail.cf it would ask the
#  system resolver for its own host name)
SMVER=$(dpkg-query -W -f '${Version}' sendmail-bin)
log "sendmail-bin $SMVER"

# ------------------------------------------------------------------ accounts
for u in $USERS; do
  id "$u" >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$u"
  : > "/var/mail/$u"; chown "$u:mail" "/var/mail/$u"; chmod 660 "/var/mail/$u"
done

# ------------------------------------------------------------------ DNS (loopback only) + rsyslog
cat > "$RUN/dnsmasq.conf" <<EOF
# realsendmail: loopback-only DNS, no upstream servers; NXDOMAIN for the test TLDs, REFUSED for the rest
listen-address=$DNS_IP
bind-interfaces
port=53
no-resolv
no-hosts
no-poll
user=nobody
local=/test/
local=/net/
local=/com/
local=/org/
local=/in-addr.arpa/
local=/ip6.arpa/
EOF
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_IP" > "$RUN/resolv.conf"
printf '127.0.0.1\tlocalhost\n127.0.0.1\tmx.sm.example.test %s\n' "$(hostname)" > "$RUN/hosts"

cat > "$RUN/rsyslog.conf" <<EOF
# realsendmail: private rsyslogd (rsyslogd -f this file -i $RUN/rsyslogd.pid)
global(workDirectory="$RUN" localHostname="$SYSLOG_HOST" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="on" SysSock.Name="/dev/log" SysSock.RateLimit.Interval="0")
# RFC 5424 whose APP-NAME is the whole tag (sm-msp-queue, not cut at a '/'), one space before MSG
template(name="RFC5424_FullTag" type="list") {
  constant(value="<") property(name="pri") constant(value=">1 ")
  property(name="timestamp" dateFormat="rfc3339") constant(value=" ")
  property(name="hostname") constant(value=" ")
  property(name="syslogtag" regex.type="ERE" regex.expression="^([A-Za-z0-9/_.-]+)" regex.submatch="1") constant(value=" ")
  property(name="procid") constant(value=" - - ")
  property(name="msg" regex.type="ERE" regex.expression="^ ?(.*)\$" regex.submatch="1" droplastlf="on")
  constant(value="\n")
}
if \$syslogfacility-text == 'mail' then {
  action(type="omfile" file="$LOGDIR/mail.traditional.log" template="RSYSLOG_TraditionalFileFormat")
  action(type="omfile" file="$LOGDIR/mail.rfc3339.log"     template="RSYSLOG_FileFormat")
  action(type="omfile" file="$LOGDIR/mail.rfc5424.log"     template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfile" file="$LOGDIR/mail.rfc5424-fulltag.log" template="RFC5424_FullTag")
  stop
}
*.* action(type="omfile" file="$LOGDIR/other.log" template="RSYSLOG_FileFormat")
EOF

# ------------------------------------------------------------------ sendmail configuration
[ -f /etc/mail/sendmail.mc.realsendmail-orig ] || cp /etc/mail/sendmail.mc /etc/mail/sendmail.mc.realsendmail-orig
[ -f /etc/mail/submit.mc.realsendmail-orig ] || cp /etc/mail/submit.mc /etc/mail/submit.mc.realsendmail-orig
mkdir -p /etc/mail/realsendmail
printf 'hosts\tfiles\naliases\tfiles\n' > /etc/mail/realsendmail/service.switch

cat > /etc/mail/sendmail.mc <<EOF
divert(-1)dnl
# realsendmail: loopback-only test MTA (generated by tools/realsendmail/generate.sh)
divert(0)dnl
define(\`_USE_ETC_MAIL_')dnl
include(\`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(\`realsendmail loopback test MTA')dnl
OSTYPE(\`debian')dnl
DOMAIN(\`debian-mta')dnl
undefine(\`confHOST_STATUS_DIRECTORY')dnl
define(\`confDOMAIN_NAME', \`mx.sm.example.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`/etc/mail/realsendmail/service.switch')dnl
define(\`confHOSTS_FILE', \`/etc/hosts')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confMAX_MESSAGE_SIZE', \`200000')dnl
define(\`confTO_QUEUEWARN', \`1m')dnl
define(\`confTO_QUEUERETURN', \`$RETURN_AFTER')dnl
define(\`confMIN_QUEUE_AGE', \`0m')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confTO_INITIAL', \`5s')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings,noexpn,novrfy')dnl
define(\`confCW_FILE', \`-o /etc/mail/realsendmail/local-host-names')dnl
define(\`ALIAS_FILE', \`/etc/mail/realsendmail/aliases')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h 2525')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h 2526')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h 2527')dnl
define(\`LOCAL_SHELL_PATH', \`/bin/sh')dnl
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA-v4, Port=smtp, Addr=127.0.0.1')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`use_cw_file')dnl
FEATURE(\`access_db', \`hash -T<TMPF> -o /etc/mail/realsendmail/access')dnl
FEATURE(\`mailertable', \`hash -o /etc/mail/realsendmail/mailertable')dnl
FEATURE(\`local_lmtp', \`/usr/libexec/sendmail/mail.local')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF

cat > /etc/mail/submit.mc <<'EOF'
divert(-1)dnl
# realsendmail: the MSP (sendmail -t / sm-msp-queue) hands everything to the MTA on [127.0.0.1]:25
divert(0)dnl
define(`_USE_ETC_MAIL_')dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`realsendmail MSP')dnl
OSTYPE(`debian')dnl
DOMAIN(`debian-msp')dnl
define(`confDOMAIN_NAME', `mx.sm.example.test')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confSERVICE_SWITCH_FILE', `/etc/mail/realsendmail/service.switch')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confTO_QUEUEWARN', `1m')dnl
define(`confTO_QUEUERETURN', `3m')dnl
define(`confMIN_QUEUE_AGE', `0m')dnl
define(`confTO_CONNECT', `5s')dnl
MASQUERADE_AS(`sm.example.test')dnl
FEATURE(`masquerade_envelope')dnl
FEATURE(`msp', `[127.0.0.1]', `25')dnl
EOF

printf 'sm.example.test\nmx.sm.example.test\nlocalhost\n' > /etc/mail/realsendmail/local-host-names
cat > /etc/mail/realsendmail/aliases <<'EOF'
# realsendmail aliases
MAILER-DAEMON: postmaster
postmaster: smadmin
root: smadmin
abuse: smadmin
team: smalice, smbob, smcarol
pipeok: "|cat >/dev/null"
pipefail: "|exit 1"
pipetemp: "|exit 75"
fwdrelay: smdave, r-fwd@relay.test
EOF
cat > /etc/mail/realsendmail/access <<'EOF'
# realsendmail access map: only 127.0.0.1 may relay; 127.0.0.2 is an "outside" client
Connect:127.0.0.1       RELAY
Connect:localhost       RELAY
From:spammer@bad.test   REJECT
From:bad.test           550 5.7.1 sender domain bad.test is blocked by test policy
To:blocked@sm.example.test  REJECT
Connect:127.0.0.3       REJECT
EOF
cat > /etc/mail/realsendmail/mailertable <<'EOF'
# realsendmail mailertable: nothing leaves 127.0.0.1 (esmtp = port 2525, relay = 2526, smtp = 2527)
# (an error: mailer for "." would also refuse every outside SENDER domain at MAIL FROM)
deferred.test   esmtp:[127.0.0.1]
relay.test      relay:[127.0.0.1]
unknown.test    error:5.1.2:550 Host unknown (test mailertable)
.               smtp:[127.0.0.1]
EOF
chmod 644 /etc/mail/realsendmail/*
( cd /etc/mail && m4 sendmail.mc > sendmail.cf && m4 submit.mc > submit.cf )
makemap hash /etc/mail/realsendmail/access < /etc/mail/realsendmail/access
makemap hash /etc/mail/realsendmail/mailertable < /etc/mail/realsendmail/mailertable

# clean queues
rm -f /var/spool/mqueue/* /var/spool/mqueue-client/* 2>/dev/null || true

# ------------------------------------------------------------------ run
: > "$OUT/ground_truth.jsonl"
touch "$RUN/send_started"
log "running (N=$N, SEED=$SEED, host=$SYSLOG_HOST) -> $OUT"
SEED="$SEED" unshare -m --propagation private bash "$HERE/generate.sh" __inner "$N" "$OUT"

# ------------------------------------------------------------------ collect
cp "$LOGDIR"/mail.traditional.log "$LOGDIR"/mail.rfc3339.log "$LOGDIR"/mail.rfc5424.log \
   "$LOGDIR"/mail.rfc5424-fulltag.log "$OUT/"
cp "$LOGDIR"/other.log "$OUT/other.log" 2>/dev/null || true
cp /etc/mail/sendmail.mc /etc/mail/submit.mc /etc/mail/realsendmail/aliases /etc/mail/realsendmail/access \
   /etc/mail/realsendmail/mailertable /etc/mail/realsendmail/local-host-names \
   /etc/mail/realsendmail/service.switch "$RUN/rsyslog.conf" "$RUN/dnsmasq.conf" "$OUT/conf/"
cp "$RUN/sink.out" "$OUT/conf/relay_sink_output.txt" 2>/dev/null || true
echo "sendmail-bin (Debian package) $SMVER" > "$OUT/conf/versions.txt"
for u in $USERS; do printf '%s %s\n' "$(grep -c '^From ' "/var/mail/$u" || true)" "$u"; done > "$OUT/mailbox_counts.txt"
/usr/bin/python3 "$HERE/verify_sendmail.py" "$OUT" > "$OUT/verify_report.txt" || true

# ------------------------------------------------------------------ put the machine back
for u in $USERS; do rm -f "/var/mail/$u"; userdel "$u" 2>/dev/null || true; done
cp /etc/mail/sendmail.mc.realsendmail-orig /etc/mail/sendmail.mc
cp /etc/mail/submit.mc.realsendmail-orig /etc/mail/submit.mc
if [ "${KEEP_SENDMAIL:-0}" != 1 ] && [ -s "$REMOVED_FILE" ]; then
  log "reinstalling: $(tr '\n' ' ' < "$REMOVED_FILE")"
  # shellcheck disable=SC2046
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $(cat "$REMOVED_FILE")
  apt-get -o DPkg::Lock::Timeout=300 purge -y sendmail sendmail-bin sendmail-base sendmail-cf sensible-mda || true
  rm -rf /etc/mail/realsendmail
  rm -f /etc/mail/*.realsendmail-orig
  # sendmail-base makes /etc/mail smmta:smmsp and setgid; the purge deletes those users again
  [ -d /etc/mail ] && { chown root:root /etc/mail; chmod 755 /etc/mail; chmod g-s /etc/mail; }
  [ -d /etc/mail/m4 ] && { chown root:root /etc/mail/m4; chmod 755 /etc/mail/m4; chmod g-s /etc/mail/m4; }
  [ -d "$RUN/msp" ] && chown root:root "$RUN/msp"
fi
log "done in $(( $(date +%s) - T0 )) s; output in $OUT"
