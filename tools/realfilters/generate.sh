#!/usr/bin/env bash
# tools/realfilters/generate.sh -- a real Postfix log WITH the usual filters around it:
# OpenDKIM (sign + verify), OpenDMARC, postfix-policyd-spf-python, postgrey and amavisd-new
# (+ SpamAssassin), all on loopback only.
#
# Usage:  sudo tools/realfilters/generate.sh [FILLER_COUNT=40] [OUTDIR]
#   OUTDIR defaults to /var/tmp/realfilters-seed$SEED (copy what you want into samples/ yourself).
# Env:    SEED (default 5), SYSLOG_HOST (default mx3), EXPIRE_WAIT (default 70), SKIP_INSTALL=1,
#         BASE (the realpostfix generator to wrap, default /work/shared/tools/realpostfix/generate.sh),
#         GREY_DELAY (postgrey --delay, default 20), FILTER_FILLER (random filter scenarios, default 24)
#
# How it works
#   The shared realpostfix generator does Postfix + Dovecot + rsyslog, its scenarios, retries, expiry and
#   ground truth.  This wrapper runs a copy of it with four hook lines inserted (the copy lives in
#   $RUN, the shared file is not changed):
#     - after master.cf is written: append the policyd-spf spawn service;
#     - just before `postfix start`: `$0 __hook start` (dnsmasq, opendkim, opendmarc, postgrey, amavisd);
#     - after the base scenarios were sent: `$0 __hook send` (send_filters.py: the filter scenarios,
#       appended to the same ground_truth.jsonl);
#     - before rsyslog is stopped (and in the base script's stop_all): `$0 __hook stop`.
#   main.cf additions go through the base script's EXTRA_MAINCF.
#
#   DNS: the whole run happens in a private mount namespace (unshare -m) in which /etc/resolv.conf is
#   bind-mounted to "nameserver 127.0.0.53"; a dnsmasq on 127.0.0.53 (no upstream servers, --no-resolv)
#   answers the SPF / DKIM / DMARC TXT records of a few test domains and NXDOMAIN for the rest of the
#   test TLDs.  The rest of the machine keeps its resolver; no query leaves 127.0.0.0/8.
#
# Every daemon started here writes a pid file under $RUN and is stopped by that pid (at start, to clean
# up a previous run, and at the end).
set -euo pipefail

SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
HERE="$(dirname "$SELF")"
RUN=/var/lib/realfilters
DNS_IP=127.0.0.53
export DEBIAN_FRONTEND=noninteractive
log() { printf '[realfilters %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ daemons (start/stop by pid file)
pid_alive() { [ -f "$1" ] && kill -0 "$(tr -d ' \n' <"$1")" 2>/dev/null; }
stop_pidfile() {   # $1 = pid file, $2 = name
  if pid_alive "$1"; then
    local p; p="$(tr -d ' \n' <"$1")"
    log "stopping $2 (pid $p)"
    kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { log "$2 still running, SIGKILL"; kill -9 "$p" 2>/dev/null || true; }
  fi
  rm -f "$1"
}
PIDS="$RUN/run"   # one directory per daemon, owned by its user (pid files are written after setuid)
pidfile() { echo "$PIDS/$1/$1.pid"; }
stop_filters() {
  # amavisd: parent pid in its pid file; SIGTERM makes it stop its children
  local d
  for d in amavisd postgrey opendmarc opendkim dnsmasq; do stop_pidfile "$(pidfile $d)" $d; done
}
wait_port() {  # $1 port, $2 seconds
  local t=0
  while [ $t -lt $(( $2 * 5 )) ]; do
    /usr/bin/python3 -c "import socket,sys;socket.create_connection(('127.0.0.1',$1),1).close()" 2>/dev/null && return 0
    sleep 0.2; t=$((t+1))
  done
  log "WARNING: nothing listening on 127.0.0.1:$1 after $2 s"; return 1
}

start_filters() {
  stop_filters
  # ---- dnsmasq: loopback-only authoritative answers for the test domains
  local d u
  for d in dnsmasq:root opendkim:opendkim opendmarc:opendmarc postgrey:postgrey amavisd:amavis; do
    u="${d##*:}"; d="${d%%:*}"
    mkdir -p "$PIDS/$d"; chown "$u:$u" "$PIDS/$d"; chmod 755 "$PIDS/$d"
  done
  dnsmasq --conf-file="$RUN/dnsmasq.conf" --pid-file="$(pidfile dnsmasq)"
  # ---- OpenDKIM
  opendkim -x "$RUN/opendkim.conf"
  # ---- OpenDMARC
  opendmarc -c "$RUN/opendmarc.conf"
  # ---- postgrey
  postgrey --inet=127.0.0.1:10023 --delay="${GREY_DELAY:-20}" --daemonize --pidfile="$(pidfile postgrey)" \
    --dbdir="$RUN/postgrey" --user=postgrey --group=postgrey --auto-whitelist-clients=0 \
    --whitelist-clients="$RUN/postgrey_whitelist_clients" --whitelist-recipients="$RUN/postgrey_whitelist_recipients"
  # ---- amavisd-new (+ SpamAssassin in-process)
  amavisd -c "$RUN/amavisd.conf" start
  wait_port 8891 20 || true
  wait_port 8893 20 || true
  wait_port 10023 20 || true
  wait_port 10024 120 || true
  logger -p mail.info -t realfilters "filters started: $(for f in dnsmasq opendkim opendmarc postgrey amavisd; do
      printf '%s=%s ' $f "$(cat "$(pidfile $f)" 2>/dev/null || echo -)"; done)"
}

# ------------------------------------------------------------------ hook entry (called from the patched base script)
if [ "${1:-}" = "__hook" ]; then
  case "$2" in
    start) start_filters ;;
    send)
      OUT="$3"
      log "sending filter scenarios"
      /usr/bin/python3 "$HERE/send_filters.py" --out "$OUT/ground_truth.jsonl" --seed "${SEED:-5}" \
        --count "${FILTER_FILLER:-24}" --grey-delay "${GREY_DELAY:-20}" --dkim-dir "$RUN/dkim"
      # let amavis / re-injection finish
      for _ in $(seq 120); do
        [ -z "$(find /var/spool/postfix/incoming /var/spool/postfix/active /var/spool/postfix/maildrop -type f 2>/dev/null | head -1)" ] && break
        sleep 1
      done ;;
    stop) logger -p mail.info -t realfilters "stopping filters" 2>/dev/null || true; stop_filters ;;
    *) echo "unknown hook $2" >&2; exit 2 ;;
  esac
  exit 0
fi

# ================================================================== main
N="${1:-40}"
SEED="${SEED:-5}"; export SEED
OUT="${2:-/var/tmp/realfilters-seed$SEED}"
BASE="${BASE:-/work/shared/tools/realpostfix/generate.sh}"
export SYSLOG_HOST="${SYSLOG_HOST:-mx3}"
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -f "$BASE" ] || { echo "base generator $BASE not found" >&2; exit 1; }
mkdir -p "$RUN" "$OUT"
T0=$(date +%s)

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  pkgs="postfix postfix-pcre rsyslog dovecot-core dovecot-lmtpd openssl opendkim opendkim-tools opendmarc
        postfix-policyd-spf-python postgrey amavisd-new spamassassin python3-dkim dnsmasq-base"
  # shellcheck disable=SC2086
  if ! dpkg -s $pkgs >/dev/null 2>&1; then
    log "installing packages"
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string mx.example.test" | debconf-set-selections
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $pkgs
  fi
fi

stop_filters   # leftovers of an earlier run (our pid files only)
trap 'rc=$?; stop_filters; [ $rc -ne 0 ] && log "failed (rc=$rc)"; exit $rc' EXIT

# ------------------------------------------------------------------ keys + DNS data
rm -rf "$RUN/dkim" "$RUN/postgrey"; mkdir -p "$RUN/dkim" "$RUN/postgrey"
chown postgrey:postgrey "$RUN/postgrey"
# example.test: our own domain, signed by opendkim on the way out.
# partner.test / softpol.test: "remote" domains, signed by the test sender (dkimpy) with their own keys.
for d in example.test:rf2026 partner.test:pt2026 softpol.test:sp2026; do
  opendkim-genkey -b 2048 -h sha256 -d "${d%%:*}" -s "${d##*:}" -D "$RUN/dkim"
done
chown -R opendkim:opendkim "$RUN/dkim"; chmod 750 "$RUN/dkim"; chmod 644 "$RUN/dkim"/*.txt
chmod 600 "$RUN/dkim"/rf2026.private; chmod 644 "$RUN/dkim"/pt2026.private "$RUN/dkim"/sp2026.private

txt_of() {  # join the quoted strings of an opendkim-genkey .txt file
  /usr/bin/python3 -c 'import re,sys; print("".join(re.findall(r"\"([^\"]*)\"", open(sys.argv[1]).read())))' "$1"
}
dns_txt() {  # dnsmasq txt-record line, long values split into <=200-char strings
  /usr/bin/python3 -c 'import sys; n,v=sys.argv[1],sys.argv[2]; print("txt-record=%s,%s" % (n, ",".join("\"%s\"" % v[i:i+200] for i in range(0,len(v),200))))' "$1" "$2"
}
{
  echo "# realfilters: loopback-only DNS for the test domains (no upstream servers)"
  echo "listen-address=$DNS_IP"
  echo "bind-interfaces"
  echo "port=53"
  echo "no-resolv"
  echo "no-hosts"
  echo "no-poll"
  echo "user=nobody"
  # answer authoritatively (NXDOMAIN) for these; anything else gets REFUSED (no upstream)
  echo "local=/test/"
  echo "local=/net/"
  echo "local=/com/"
  echo "local=/org/"
  echo "local=/in-addr.arpa/"
  echo "local=/ip6.arpa/"
  dns_txt rf2026._domainkey.example.test "$(txt_of "$RUN/dkim/rf2026.txt")"
  dns_txt pt2026._domainkey.partner.test "$(txt_of "$RUN/dkim/pt2026.txt")"
  dns_txt sp2026._domainkey.softpol.test "$(txt_of "$RUN/dkim/sp2026.txt")"
  # SPF
  dns_txt example.test   "v=spf1 ip4:127.0.0.1 ip6:::1 -all"
  dns_txt partner.test   "v=spf1 ip4:127.0.0.2 -all"
  dns_txt softpol.test   "v=spf1 ip4:127.0.0.2 ~all"
  dns_txt spffail.test   "v=spf1 ip4:192.0.2.10 -all"
  dns_txt spfsoft.test   "v=spf1 ip4:192.0.2.10 ~all"
  dns_txt spfneutral.test "v=spf1 ?all"
  dns_txt spfperm.test   "v=spf1 ip4:192.0.2.10 foo:bar -all"
  dns_txt dmarcrej.test  "v=spf1 ip4:192.0.2.10 -all"
  # DMARC
  dns_txt _dmarc.example.test  "v=DMARC1; p=reject; adkim=r; aspf=r"
  dns_txt _dmarc.partner.test  "v=DMARC1; p=reject; adkim=r; aspf=r"
  dns_txt _dmarc.softpol.test  "v=DMARC1; p=none"
  dns_txt _dmarc.dmarcrej.test "v=DMARC1; p=reject"
  dns_txt _dmarc.quar.test     "v=DMARC1; p=quarantine"
  dns_txt quar.test            "v=spf1 ip4:192.0.2.10 -all"
} > "$RUN/dnsmasq.conf"
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_IP" > "$RUN/resolv.conf"

# ------------------------------------------------------------------ OpenDKIM
printf 'rf2026._domainkey.example.test example.test:rf2026:%s\n' "$RUN/dkim/rf2026.private" > "$RUN/dkim/keytable"
printf '*@example.test rf2026._domainkey.example.test\n' > "$RUN/dkim/signingtable"
chown opendkim:opendkim "$RUN/dkim/keytable" "$RUN/dkim/signingtable"
cat > "$RUN/opendkim.conf" <<EOF
# realfilters: OpenDKIM signs mail from 127.0.0.1/::1 for example.test, verifies everything else
Syslog                  yes
SyslogFacility          mail
SyslogSuccess           yes
LogWhy                  yes
LogResults              yes
Mode                    sv
Canonicalization        relaxed/simple
Socket                  inet:8891@127.0.0.1
PidFile                 $RUN/run/opendkim/opendkim.pid
UserID                  opendkim:opendkim
UMask                   007
InternalHosts           127.0.0.1, ::1
KeyTable                file:$RUN/dkim/keytable
SigningTable            refile:$RUN/dkim/signingtable
OversignHeaders         From
AuthservID              mx.example.test
Nameservers             $DNS_IP
ResolverConfiguration   $RUN/unbound.conf
EOF
# libunbound refuses to query 127.0.0.0/8 unless told so, and answers NXDOMAIN itself for the
# RFC 6761 name test. unless its default local zone is switched off
cat > "$RUN/unbound.conf" <<EOF
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: $DNS_IP
EOF
chmod 644 "$RUN/unbound.conf"

# ------------------------------------------------------------------ OpenDMARC
printf '127.0.0.1\n::1\n' > "$RUN/opendmarc.ignore"
cat > "$RUN/opendmarc.conf" <<EOF
# realfilters: OpenDMARC, trusting the Authentication-Results of opendkim (same authserv-id)
AuthservID              mx.example.test
TrustedAuthservIDs      mx.example.test
Socket                  inet:8893@127.0.0.1
PidFile                 $RUN/run/opendmarc/opendmarc.pid
UserID                  opendmarc:opendmarc
UMask                   007
Syslog                  true
SyslogFacility          mail
IgnoreHosts             $RUN/opendmarc.ignore
RejectFailures          true
SPFIgnoreResults        false
SPFSelfValidate         false
FailureReports          false
RequiredHeaders         false
PublicSuffixList        /usr/share/publicsuffix/public_suffix_list.dat
HistoryFile             $RUN/opendmarc.history
EOF
: > "$RUN/opendmarc.history"; chown opendmarc:opendmarc "$RUN/opendmarc.history"

# ------------------------------------------------------------------ policyd-spf
cat > "$RUN/policyd-spf.conf" <<'EOF'
# realfilters: postfix-policyd-spf-python (Debian defaults, but 127.0.0.2 is checked)
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 127.0.0.1/32,::ffff:127.0.0.1/128,::1/128
Header_Type = SPF
EOF
chmod 644 "$RUN/policyd-spf.conf"

# ------------------------------------------------------------------ postgrey lists (empty: greylist everything it is asked about)
: > "$RUN/postgrey_whitelist_clients"; : > "$RUN/postgrey_whitelist_recipients"

# ------------------------------------------------------------------ amavisd-new
mkdir -p /var/lib/amavis/tmp /var/lib/amavis/db /var/lib/amavis/virusmails
chown -R amavis:amavis /var/lib/amavis
cat > "$RUN/amavisd.conf" <<EOF
# realfilters: Debian's amavis configuration, then these overrides
use strict;
\$MYHOME = '/var/lib/amavis';
\$TEMPBASE = '/var/lib/amavis/tmp';
\$db_home = '/var/lib/amavis/db';
include_config_files($(for f in /etc/amavis/conf.d/[0-9]*; do printf "'%s', " "$f"; done));
\$myhostname = 'mx.example.test';
\$mydomain = 'example.test';
@local_domains_acl = ( '.example.test', '.bbb.test' );
\$pid_file  = '$RUN/run/amavisd/amavisd.pid';
\$lock_file = '$RUN/run/amavisd/amavisd.lock';
\$inet_socket_bind = '127.0.0.1';
\$inet_socket_port = 10024;
@inet_acl = qw(127.0.0.1 [::1]);
\$forward_method = 'smtp:[127.0.0.1]:10025';
\$notify_method  = 'smtp:[127.0.0.1]:10025';
\$max_servers = 2;
\$log_level = 0;
\$DO_SYSLOG = 1;
\$syslog_facility = 'mail';
\$daemon_user = 'amavis';
\$daemon_group = 'amavis';
\$enable_db = 0;
\$enable_global_cache = 0;
# no virus scanner on this host; spam checks on (SpamAssassin, local tests only: nothing leaves 127.0.0.1)
@bypass_virus_checks_maps = (1);
@av_scanners = (); @av_scanners_backup = ();
@bypass_spam_checks_maps = (0);
\$sa_local_tests_only = 1;
\$sa_tag_level_deflt  = -999;
\$sa_tag2_level_deflt = 3.0;
\$sa_kill_level_deflt = 9.0;
\$sa_dsn_cutoff_level = 10;
\$final_spam_destiny   = D_DISCARD;
\$final_banned_destiny = D_REJECT;
\$spam_quarantine_method = undef;
\$banned_files_quarantine_method = undef;
\$virus_admin = undef; \$spam_admin = undef; \$banned_admin = undef;
\$warnbannedsender = 0;
1;
EOF
chmod 644 "$RUN/amavisd.conf"

# ------------------------------------------------------------------ the patched copy of the base generator
cp "$BASE" "$RUN/base-generate.sh"
patch_line() {  # $1 = exact line (fixed string), $2 = before|after, $3 = text to insert
  local n; n=$(grep -nxF -- "$1" "$RUN/base-generate.sh" | cut -d: -f1)
  [ "$(printf '%s\n' "$n" | grep -c .)" = 1 ] || { echo "base generator changed: marker '$1' found ${n:-0} times" >&2; exit 1; }
  local tmp="$RUN/base-generate.sh.tmp"
  if [ "$2" = before ]; then
    { head -n $((n-1)) "$RUN/base-generate.sh"; printf '%s\n' "$3"; tail -n +"$n" "$RUN/base-generate.sh"; } > "$tmp"
  else
    { head -n "$n" "$RUN/base-generate.sh"; printf '%s\n' "$3"; tail -n +$((n+1)) "$RUN/base-generate.sh"; } > "$tmp"
  fi
  mv "$tmp" "$RUN/base-generate.sh"
}
patch_line "cat > /etc/postfix/transport <<'EOF'" before \
'cat >> /etc/postfix/master.cf <<RFEOF   # realfilters
policyd-spf unix -      n       n       -       0       spawn
  user=policyd-spf argv=/usr/bin/policyd-spf /var/lib/realfilters/policyd-spf.conf
RFEOF
cat > /etc/postfix/realfilters_helo <<RFEOF   # realfilters: per-HELO routing of the filter scenarios
grey.lan.example.net    rf_greylist
.grey.lan.example.net   rf_greylist
scan.lan.example.net    FILTER scan:[127.0.0.1]:10024
.scan.lan.example.net   FILTER scan:[127.0.0.1]:10024
RFEOF
postmap /etc/postfix/realfilters_helo
postconf -e "smtpd_recipient_restrictions = check_recipient_access hash:/etc/postfix/recipient_access, reject_non_fqdn_recipient, reject_unlisted_recipient, check_helo_access hash:/etc/postfix/realfilters_helo, check_policy_service unix:private/policyd-spf, permit"'
patch_line "postfix start" before "bash '$SELF' __hook start"
patch_line 'python3 "$OUT/send_corpus.py" --count "$N" --seed "$SEED" --out "$OUT/ground_truth.jsonl"' after \
  "bash '$SELF' __hook send \"\$OUT\""
patch_line 'logger -p mail.info -t realpostfix "corpus run end"' before "bash '$SELF' __hook stop"
patch_line 'stop_all() {' after "  bash '$SELF' __hook stop || true"

# ------------------------------------------------------------------ main.cf additions (via the base script's EXTRA_MAINCF)
EXTRA_MAINCF="$(cat <<'EOF'
# ---- realfilters: milters, policy services, content filter ----
smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:8893
non_smtpd_milters = inet:127.0.0.1:8891
milter_default_action = accept
milter_protocol = 6
smtpd_restriction_classes = rf_greylist
rf_greylist = check_policy_service inet:127.0.0.1:10023
policyd-spf_time_limit = 3600
scan_destination_concurrency_limit = 2
scan_destination_recipient_limit = 50
EOF
)"
[ -n "${EXTRA_MAINCF_MORE:-}" ] && EXTRA_MAINCF="$EXTRA_MAINCF
$EXTRA_MAINCF_MORE"
export EXTRA_MAINCF

# ------------------------------------------------------------------ run it, in a mount namespace with our resolv.conf
log "running the base generator (N=$N, SEED=$SEED, host=$SYSLOG_HOST) -> $OUT"
export RF_RESOLV="$RUN/resolv.conf"
SKIP_INSTALL=1 unshare -m --propagation private \
  bash -c 'mount --bind "$RF_RESOLV" /etc/resolv.conf && exec bash "$0" "$1" "$2"' "$RUN/base-generate.sh" "$N" "$OUT"

# ------------------------------------------------------------------ collect our configs too
mkdir -p "$OUT/conf/realfilters"
cp "$RUN/opendkim.conf" "$RUN/opendmarc.conf" "$RUN/opendmarc.ignore" "$RUN/policyd-spf.conf" "$RUN/amavisd.conf" \
   "$RUN/dnsmasq.conf" "$RUN/resolv.conf" "$RUN/unbound.conf" "$RUN/dkim/keytable" "$RUN/dkim/signingtable" \
   /etc/postfix/realfilters_helo "$OUT/conf/realfilters/"
cp "$RUN/dkim/"*.txt "$OUT/conf/realfilters/"     # public keys only
log "done in $(( $(date +%s) - T0 )) s; output in $OUT"
