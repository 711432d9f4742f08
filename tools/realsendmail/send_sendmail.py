#!/usr/bin/python3
"""Send the scenarios of tools/realsendmail/generate.sh to the loopback-only Sendmail and record
ground truth, one JSON object per message, in the format of the realpostfix ground_truth.jsonl:
idx, scenario, message_id, path, server, client_ip, helo, tls, sender, size,
recipients[{rcpt, expect, why}], notes, smtp_replies (SMTP) or sendmail_rc/sendmail_stderr
(local submission), sent_at.  Protocol-only sessions have "kind": "session".

Expected outcomes, decided from the configuration before sending:
  delivered  mail.local (LMTP) stored it, a program alias ran fine, or the relay.test sink took it
  bounced    accepted, then failed permanently: a DSN goes back to the sender
  expired    deferred until confTO_QUEUERETURN, then "Cannot send message for N minutes" DSN
  rejected   refused in the SMTP dialogue (the client, not sendmail, keeps the message)
"""
import argparse
import datetime
import email.utils
import json
import os
import random
import smtplib
import socket
import subprocess
import time

DOM = "sm.example.test"
USERS = ["smalice", "smbob", "smcarol", "smdave", "smerin"]
EXT_IP = "127.0.0.2"


def L(u):
    return "%s@%s" % (u, DOM)


def classify(addr, path="smtp", client="127.0.0.1"):
    """Expected final state of one recipient."""
    a = addr.lower()
    local, _, dom = a.rpartition("@")
    if "@" not in a:
        local, dom = a, DOM
    msp = path.startswith("sendmail")
    if dom in (DOM, "mx." + DOM, "localhost"):
        if local in USERS or local in ("postmaster", "root", "abuse", "team", "pipeok"):
            return "delivered", "local mailer mail.local (LMTP)" if local in USERS else "alias"
        if local == "fwdrelay":
            return "delivered", "alias -> smdave (local) + r-fwd@relay.test (deferred until the sink runs, then sent)"
        if local == "pipefail":
            return "bounced", "alias |exit 1 -> prog mailer error -> DSN"
        if local == "pipetemp":
            return "expired", "alias |exit 75 (EX_TEMPFAIL) -> deferred until confTO_QUEUERETURN"
        if local == "blocked" and not msp:
            return "rejected", "access To:blocked@ REJECT"
        if msp:
            return "bounced", "MSP relays to the MTA, which answers 550 5.1.1 User unknown; the MSP sends the DSN"
        return "rejected", "550 5.1.1 User unknown at RCPT"
    if dom == "deferred.test":
        return "expired", "mailertable esmtp:[127.0.0.1] port 2525, nothing listens -> deferred, expires"
    if dom == "relay.test":
        return "delivered", "mailertable relay:[127.0.0.1] port 2526; refused until the sink starts, then sendmail -q"
    if client != "127.0.0.1" and not msp:
        return "rejected", "550 5.7.1 Relaying denied (127.0.0.2 is not allowed to relay)"
    if dom == "unknown.test":
        if msp:
            return "bounced", "MSP relays to the MTA, which rejects the recipient (mailertable error:5.1.2) -> DSN from the MSP"
        return "rejected", "mailertable error:5.1.2 -> 550 at RCPT"
    return "expired", "mailertable '.' smtp:[127.0.0.1] port 2527, nothing listens -> deferred, expires"


class Gen:
    def __init__(self, out, seed, idx0):
        self.out = open(out, "a", encoding="utf-8")
        self.rng = random.Random(seed + idx0)
        self.idx = idx0

    def new_mid(self):
        self.idx += 1
        return self.idx, "<sm%05d.%08x@gen.example.test>" % (self.idx, self.rng.getrandbits(32))

    def build(self, mid, sender, rcpts, subject, size=None, crlf=True):
        hdr_to = ", ".join(r if "@" in r else L(r) for r in rcpts[:5])
        lines = ["From: %s" % (sender or "MAILER-DAEMON@gen.example.test"), "To: %s" % hdr_to,
                 "Subject: %s" % subject, "Date: %s" % email.utils.formatdate(usegmt=True),
                 "Message-ID: %s" % mid, "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
        body = "Hello,\n\nthis is test message %s.\n\n-- \nrealsendmail generator\n" % mid
        raw = "\n".join(lines) + "\n\n" + body
        if size and len(raw) < size:
            raw += ("X" * 76 + "\n") * ((size - len(raw)) // 77 + 1)
        if crlf:
            raw = raw.replace("\n", "\r\n")
        return raw.encode()

    def record(self, rec):
        rec.setdefault("sent_at", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds"))
        self.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.out.flush()

    def rlist(self, rcpts, path, client, override=None):
        res = []
        for r in rcpts:
            e, w = classify(r, path, client)
            if override:
                e, w = override(r, e, w)
            res.append({"rcpt": r, "expect": e, "why": w})
        return res

    def smtp(self, scenario, sender, rcpts, subject="test", src=None, helo=None, size=None, size_param=True,
             override=None, conn=None, notes=""):
        idx, mid = self.new_mid()
        helo = helo or "ws%04d.lan.example.net" % idx
        client = src or "127.0.0.1"
        raw = self.build(mid, sender, rcpts, subject, size)
        rec = dict(idx=idx, scenario=scenario, message_id=mid, path="smtp", server="[127.0.0.1]:25",
                   client_ip=client, helo=helo, tls=False, sender=sender, size=len(raw),
                   recipients=self.rlist(rcpts, "smtp", client, override), notes=notes)
        replies = {}
        try:
            s = conn
            if s is None:
                s = smtplib.SMTP("127.0.0.1", 25, local_hostname=helo, timeout=60,
                                 source_address=(src, 0) if src else None)
                s.ehlo(helo)
            code, msg = s.mail(sender, ["SIZE=%d" % len(raw)] if size_param else [])
            replies["mail"] = [code, msg.decode("utf-8", "replace")]
            ok = []
            if code == 250:
                replies["rcpt"] = {}
                for r in rcpts:
                    c, m = s.rcpt(r)
                    replies["rcpt"][r] = [c, m.decode("utf-8", "replace")]
                    if c in (250, 251):
                        ok.append(r)
                if ok:
                    c, m = s.data(raw)
                    replies["data"] = [c, m.decode("utf-8", "replace")]
                else:
                    s.rset()
            else:
                s.rset()
            if conn is None:
                s.quit()
        except Exception as e:  # noqa
            replies["exception"] = "%s: %s" % (type(e).__name__, e)
        rec["smtp_replies"] = replies
        self.record(rec)
        return rec

    def sendmail(self, scenario, user, rcpts, subject="test", use_t=True, queue_only=False, override=None, notes=""):
        """Local submission through the MSP (/usr/sbin/sendmail, submit.cf) as a local user."""
        idx, mid = self.new_mid()
        sender = L(user)
        raw = self.build(mid, sender, rcpts, subject, crlf=False)
        cmd = ["runuser", "-u", user, "--", "/usr/sbin/sendmail", "-i"]
        if queue_only:
            cmd.append("-odq")
        cmd += ["-t"] if use_t else ["--"] + rcpts
        p = subprocess.run(cmd, input=raw, capture_output=True)
        path = "sendmail" + ("-t" if use_t else "") + ("-odq" if queue_only else "")
        self.record(dict(idx=idx, scenario=scenario, message_id=mid, path=path, server="msp", client_ip=None,
                         helo=None, tls=False, sender=sender, size=len(raw),
                         recipients=self.rlist(rcpts, "sendmail", None, override), notes=notes,
                         sendmail_rc=p.returncode, sendmail_stderr=p.stderr.decode("utf-8", "replace").strip()))

    def session(self, scenario, fn, notes=""):
        t0 = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
        try:
            detail = fn()
        except Exception as e:  # noqa
            detail = "%s: %s" % (type(e).__name__, e)
        self.record(dict(idx=None, scenario=scenario, message_id=None, kind="session", sent_at=t0, notes=notes,
                         detail=detail))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--phase", choices=["send", "late"], default="send")
    a = ap.parse_args()
    idx0 = 0
    if os.path.exists(a.out):
        for line in open(a.out, encoding="utf-8"):
            i = json.loads(line).get("idx")
            if isinstance(i, int):
                idx0 = max(idx0, i)
    g = Gen(a.out, a.seed, idx0)
    R = g.rng

    if a.phase == "late":
        g.smtp("relay_direct_after_sink", L("smalice"), ["r-late@relay.test"], "relay with the sink up",
               override=lambda r, e, w: ("delivered", "relay:[127.0.0.1]:2526, sink already listening"))
        return

    # ---------------------------------------------------------------- fixed scenarios
    g.smtp("smtp_local_single", L("smalice"), [L("smbob")], "hello bob")
    g.smtp("smtp_local_multi", L("smbob"), [L("smalice"), L("smcarol"), L("smdave")], "team lunch")
    g.smtp("smtp_unknown_user", L("smalice"), ["nouser@" + DOM], "nobody home")
    g.smtp("smtp_mixed_outcomes", L("smalice"),
           [L("smbob"), "nouser@" + DOM, "m1@deferred.test", "pipefail@" + DOM, "friend@example.com", "team@" + DOM],
           "mixed outcomes in one message")
    g.smtp("relaying_denied", "x@example.net", ["friend@example.com"], "relay?", src=EXT_IP)
    g.smtp("external_inbound", "news@example.net", [L("smerin")], "newsletter", src=EXT_IP)
    g.smtp("external_mixed", "news@example.net", [L("smalice"), "other@example.org"], "hi", src=EXT_IP)
    g.smtp("deferred_expire", L("smcarol"), ["a@deferred.test", "b@deferred.test"], "will expire")
    g.smtp("relay_flushed", L("smdave"), ["r1@relay.test"], "relay, flushed later by sendmail -q")
    g.smtp("relay_flushed_mixed", L("smdave"), ["r2@relay.test", L("smerin"), "m2@deferred.test"], "relay + local + deferred")
    g.smtp("alias_fanout", "billing@example.org", ["team@" + DOM], "for the team")
    g.smtp("alias_pipe_ok", L("smbob"), ["pipeok@" + DOM], "pipe ok")
    g.smtp("alias_pipe_fail", L("smbob"), ["pipefail@" + DOM], "pipe fail")
    g.smtp("alias_pipe_tempfail", L("smbob"), ["pipetemp@" + DOM], "pipe tempfail")
    g.smtp("alias_forward_relay", L("smcarol"), ["fwdrelay@" + DOM], "alias with a relay member")
    g.smtp("postmaster", "someone@example.net", ["postmaster@" + DOM], "to postmaster", src=EXT_IP)
    g.smtp("sender_rejected", "spammer@bad.test", [L("smalice")], "buy now",
           override=lambda r, e, w: ("rejected", "access From:spammer@bad.test REJECT at MAIL FROM"))
    g.smtp("sender_domain_rejected", "other@bad.test", [L("smbob")], "buy now",
           override=lambda r, e, w: ("rejected", "access From:bad.test 550 5.7.1 at MAIL FROM"))
    g.smtp("rcpt_access_reject", L("smalice"), ["blocked@" + DOM, L("smbob")], "blocked box")
    g.smtp("oversize_size_param", L("smalice"), [L("smbob")], "big", size=300000,
           override=lambda r, e, w: ("rejected", "SIZE= above confMAX_MESSAGE_SIZE -> 552 5.2.3 at MAIL FROM"))
    g.smtp("oversize_no_size_param", L("smalice"), [L("smbob")], "big, no SIZE", size=300000, size_param=False,
           override=lambda r, e, w: ("rejected", "message above confMAX_MESSAGE_SIZE -> 552 5.2.3 after DATA"))
    g.smtp("null_sender", "", [L("smalice")], "null sender")
    g.smtp("unknown_domain", L("smalice"), ["x@unknown.test"], "unknown domain")
    g.sendmail("msp_unknown_domain", "smerin", ["y@unknown.test"], "unknown domain via the MSP")
    g.smtp("bare_localhost_domain", L("smalice"), ["smbob@localhost"], "to @localhost")
    s = smtplib.SMTP("127.0.0.1", 25, local_hostname="batch.lan.example.net", timeout=60)
    s.ehlo("batch.lan.example.net")
    for i in range(3):
        g.smtp("multi_txn_session", L(R.choice(USERS)), [L(R.choice(USERS))], "batch %d" % i, conn=s,
               helo="batch.lan.example.net", notes="3 transactions in one connection")
    s.quit()
    # local submission (MSP: /usr/sbin/sendmail with submit.cf, relays to [127.0.0.1]:25)
    g.sendmail("msp_sendmail_t", "smcarol", [L("smalice")], "via sendmail -t")
    g.sendmail("msp_sendmail_args", "smerin", ["smbob"], "via sendmail smbob (bare name)", use_t=False)
    g.sendmail("msp_unknown_user", "smcarol", ["nosuch@" + DOM], "to an unknown user via the MSP")
    g.sendmail("msp_mixed", "smdave", [L("smbob"), "nosuch2@" + DOM, "x@deferred.test"], "MSP mixed")
    g.sendmail("msp_outbound", "smbob", ["friend@example.com"], "outbound via the MSP (smart host down)")
    g.sendmail("msp_queue_only", "smalice", [L("smcarol"), L("smdave")], "queued by the MSP (-odq)",
               queue_only=True, notes="left in /var/spool/mqueue-client; the sm-msp-queue runner (-q20s) sends it")

    # protocol-only sessions
    def vrfy_expn():
        s = smtplib.SMTP("127.0.0.1", 25, local_hostname="probe.lan.example.net", timeout=30)
        s.ehlo("probe.lan.example.net")
        out = [s.noop(), s.verify(L("smalice")), s.expn("team"), s.rset()]
        s.quit()
        return repr(out)
    g.session("probe_vrfy_expn", vrfy_expn, notes="confPRIVACY_FLAGS noexpn,novrfy")

    def lost_after_ehlo():
        s = socket.create_connection(("127.0.0.1", 25), 30)
        s.recv(1000)
        s.sendall(b"EHLO dropper.lan.example.net\r\n")
        time.sleep(0.3)
        s.recv(1000)
        s.close()
        return "closed after EHLO"
    g.session("lost_connection_after_ehlo", lost_after_ehlo)

    def no_helo_quit():
        s = socket.create_connection(("127.0.0.1", 25), 30)
        s.recv(1000)
        s.sendall(b"QUIT\r\n")
        s.recv(1000)
        s.close()
        return "QUIT right after the greeting"
    g.session("connect_quit", no_helo_quit)

    def blocked_client():
        s = smtplib.SMTP("127.0.0.1", 25, local_hostname="blocked.lan.example.net", timeout=30,
                         source_address=("127.0.0.3", 0))
        out = [s.ehlo("blocked.lan.example.net"), s.mail("x@example.net")]
        try:
            s.quit()
        except Exception:  # noqa
            pass
        return repr(out)
    g.session("access_connect_reject", blocked_client, notes="access Connect:127.0.0.3 REJECT")

    # ---------------------------------------------------------------- random filler
    kinds = ["local"] * 10 + ["multi"] * 4 + ["mixed"] * 3 + ["unknown"] * 3 + ["deferred"] * 2 + \
            ["relay"] * 2 + ["msp"] * 5 + ["msp_unknown"] + ["ext"] * 3 + ["relay_denied"] * 2 + ["alias"] * 2
    for i in range(a.count):
        k = R.choice(kinds)
        subj = "filler %d (%s)" % (i, k)
        snd = L(R.choice(USERS))
        if k == "local":
            g.smtp("f_local", snd, [L(R.choice(USERS))], subj)
        elif k == "multi":
            g.smtp("f_multi", snd, [L(u) for u in R.sample(USERS, R.randint(2, 4))], subj)
        elif k == "mixed":
            rc = [L(u) for u in R.sample(USERS, 2)] + [R.choice(["nosuchuser", "typo-smalcie", "zed"]) + "@" + DOM,
                                                       R.choice(["t%d@deferred.test" % i, "u%d@relay.test" % i])]
            R.shuffle(rc)
            g.smtp("f_mixed", snd, rc, subj)
        elif k == "unknown":
            g.smtp("f_unknown", snd, [R.choice(["nosuchuser", "mallory", "zed"]) + "@" + DOM], subj)
        elif k == "deferred":
            g.smtp("f_deferred", snd, ["d%d@deferred.test" % i], subj)
        elif k == "relay":
            g.smtp("f_relay", snd, ["f%d@relay.test" % i], subj)
        elif k == "msp":
            u = R.choice(USERS)
            g.sendmail("f_msp", u, [L(x) for x in R.sample(USERS, R.randint(1, 3))], subj, use_t=R.random() < 0.7)
        elif k == "msp_unknown":
            g.sendmail("f_msp_unknown", R.choice(USERS), ["ghost%d@%s" % (i, DOM)], subj)
        elif k == "ext":
            g.smtp("f_external", R.choice(["news@example.net", "j.doe@example.com", "billing@example.org"]),
                   [L(R.choice(USERS))], subj, src=EXT_IP)
        elif k == "relay_denied":
            g.smtp("f_relay_denied", "x%d@example.net" % i, ["someone@example.com"], subj, src=EXT_IP)
        elif k == "alias":
            g.smtp("f_alias", snd, [R.choice(["team", "pipeok", "postmaster"]) + "@" + DOM], subj)
        if i % 10 == 0:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
