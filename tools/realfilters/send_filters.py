#!/usr/bin/python3
"""Send the filter scenarios of tools/realfilters/generate.sh and append their ground truth.

Runs after the realpostfix base scenarios, against the same loopback-only Postfix, with
OpenDKIM + OpenDMARC (milters), policyd-spf (policy service), postgrey (for the HELO names
*.grey.lan.example.net) and amavisd-new (content filter for the HELO names *.scan.lan.example.net).

Each record has the same fields as the base generator's ground_truth.jsonl (idx, scenario,
message_id, path, server, client_ip, helo, tls, sender, size, recipients[{rcpt, expect, why}],
notes, smtp_replies, sent_at) plus "filters": what each filter is expected to say.
Outcomes use the same words: delivered, bounced, expired, rejected, discarded.
"""
import argparse
import datetime
import email.utils
import json
import os
import random
import smtplib
import subprocess
import time

import dkim  # python3-dkim (dkimpy)

EXT_IP = "127.0.0.2"      # not in mynetworks: an "outside" client, checked by SPF/DKIM/DMARC
LOCAL_OK = ["alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test",
            "erin@example.test", "henry@bbb.test", "ivan@bbb.test", "judy@bbb.test"]
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


class Gen:
    def __init__(self, out, seed, dkim_dir):
        self.path = out
        self.rng = random.Random(seed)
        self.idx = 0
        if os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                for line in f:
                    i = json.loads(line).get("idx")
                    if isinstance(i, int):
                        self.idx = max(self.idx, i)
        self.out = open(out, "a", encoding="utf-8")
        self.keys = {}
        for dom, sel in (("partner.test", "pt2026"), ("softpol.test", "sp2026")):
            with open(os.path.join(dkim_dir, sel + ".private"), "rb") as f:
                self.keys[dom] = (sel.encode(), f.read())

    def new_mid(self):
        self.idx += 1
        return self.idx, "<rf%05d.%08x@gen.example.test>" % (self.idx, self.rng.getrandbits(32))

    def build(self, mid, hdr_from, rcpts, subject, body=None, attachment=None, sign=None, broken=False):
        """RFC 5322 message (CRLF).  sign = domain whose test key signs it (dkimpy);
        broken = alter the body after signing (the signature no longer verifies)."""
        body = body or ("Hello,\n\nthis is filter test message %s.\n\n-- \nrealfilters generator\n" % mid)
        hdrs = ["From: %s" % hdr_from, "To: %s" % ", ".join(rcpts[:5]), "Subject: %s" % subject,
                "Date: %s" % email.utils.formatdate(usegmt=True), "Message-ID: %s" % mid, "MIME-Version: 1.0"]
        if attachment:
            b = "=_rf_%08x" % self.rng.getrandbits(32)
            hdrs.append('Content-Type: multipart/mixed; boundary="%s"' % b)
            name, data = attachment
            import base64
            parts = ("--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n"
                     "--%s\nContent-Type: application/octet-stream; name=\"%s\"\n"
                     "Content-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n%s\n"
                     "--%s--\n") % (b, body, b, name, name, base64.encodebytes(data).decode(), b)
            text = parts
        else:
            hdrs += ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"]
            text = body
        raw = ("\r\n".join(hdrs) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode()
        if sign:
            sel, key = self.keys[sign]
            sig = dkim.sign(raw, sel, sign.encode(), key,
                            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                            canonicalize=(b"relaxed", b"simple"))
            raw = sig + raw
            if broken:
                raw = raw.replace(b"this is filter test message", b"this is an ALTERED test message")
        return raw

    def record(self, rec):
        rec.setdefault("sent_at", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds"))
        self.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.out.flush()

    def transaction(self, s, sender, rcpts, raw):
        replies = {}
        code, msg = s.mail(sender, ["SIZE=%d" % len(raw)])
        replies["mail"] = [code, msg.decode("utf-8", "replace")]
        if code != 250:
            s.rset()
            return replies
        ok = []
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
        return replies

    def smtp(self, scenario, sender, rcpts, expect, subject="filter test", hdr_from=None, src=None, helo=None,
             filters=None, notes="", send=True, **build):
        """expect: {rcpt: (outcome, why)}"""
        idx, mid = self.new_mid()
        helo = helo or "ws%04d.lan.example.net" % idx
        if src == EXT_IP:   # one HELO name per message ("mail.partner.test" -> "mail0086.partner.test")
            helo = helo.replace(".", "%04d." % idx, 1)
        raw = self.build(mid, hdr_from or sender, rcpts, subject, **build)
        rec = dict(idx=idx, scenario=scenario, message_id=mid, path="smtp", server="[127.0.0.1]:25",
                   client_ip=src or "127.0.0.1", helo=helo, tls=False, sender=sender, size=len(raw),
                   recipients=[{"rcpt": r, "expect": expect[r][0], "why": expect[r][1]} for r in rcpts],
                   notes=notes, filters=filters or {})
        rec["_raw"], rec["_src"] = raw, src
        if send:
            rec["smtp_replies"] = self.attempt(rec)
            self.finish(rec)
        return rec

    def attempt(self, rec):
        try:
            s = smtplib.SMTP("127.0.0.1", 25, local_hostname=rec["helo"], timeout=120,
                             source_address=(rec["_src"], 0) if rec["_src"] else None)
            s.ehlo(rec["helo"])
            r = self.transaction(s, rec["sender"], [x["rcpt"] for x in rec["recipients"]], rec["_raw"])
            s.quit()
            return r
        except Exception as e:  # noqa
            return {"exception": "%s: %s" % (type(e).__name__, e)}

    def finish(self, rec):
        rec.pop("_raw", None)
        rec.pop("_src", None)
        self.record(rec)

    def sendmail(self, scenario, sender, rcpts, expect, subject, filters=None, notes=""):
        idx, mid = self.new_mid()
        raw = self.build(mid, sender, rcpts, subject).replace(b"\r\n", b"\n")
        p = subprocess.run(["/usr/sbin/sendmail", "-i", "-f", sender, "--"] + rcpts, input=raw, capture_output=True)
        self.record(dict(idx=idx, scenario=scenario, message_id=mid, path="sendmail", server="pickup",
                         client_ip=None, helo=None, tls=False, sender=sender, size=len(raw),
                         recipients=[{"rcpt": r, "expect": expect[r][0], "why": expect[r][1]} for r in rcpts],
                         notes=notes, filters=filters or {}, sendmail_rc=p.returncode,
                         sendmail_stderr=p.stderr.decode("utf-8", "replace").strip()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--grey-delay", type=int, default=20)
    ap.add_argument("--dkim-dir", required=True)
    a = ap.parse_args()
    g = Gen(a.out, a.seed, a.dkim_dir)
    R = g.rng

    def same(rcpts, outcome, why):
        return {r: (outcome, why) for r in rcpts}

    def ehelo(i, what):
        return "%s%04d.%s.lan.example.net" % (what[0], i, what)

    # ---------------------------------------------------------------- greylisting: first attempts now, retries later
    grey = []
    for k, rc in enumerate((["alice@example.test"], ["bob@example.test", "henry@bbb.test"], ["carol@example.test"])):
        rec = g.smtp("greylist_retry", R.choice(["j.doe@example.com", "noreply@example.net"]), rc,
                     same(rc, "delivered", "postgrey 450 4.2.0 Greylisted at the first attempt; retried after the delay"),
                     "greylist %d" % k, helo=ehelo(g.idx + 1, "grey"), send=False,
                     filters={"postgrey": "greylist, then pass (triplet seen)"})
        grey.append(rec)
    rec = g.smtp("greylist_early_retry", "billing@example.org", ["dave@example.test"],
                 same(["dave@example.test"], "delivered", "greylisted, retried too early (greylisted again), then after the delay"),
                 "greylist early", helo=ehelo(g.idx + 1, "grey"), send=False,
                 filters={"postgrey": "greylist, early-retry, then pass"})
    grey.append(rec)
    giveup = g.smtp("greylist_giveup", "newsletter@example.net", ["erin@example.test"],
                    same(["erin@example.test"], "rejected", "postgrey 450 4.2.0 Greylisted; the client never retries"),
                    "greylist never retried", helo=ehelo(g.idx + 1, "grey"), send=False,
                    filters={"postgrey": "greylist"})
    t_grey = time.time()
    for rec in grey + [giveup]:
        rec["smtp_replies"] = {"attempts": [g.attempt(rec)]}
    g.finish(giveup)
    rec = grey[3]
    time.sleep(2)
    rec["smtp_replies"]["attempts"].append(g.attempt(rec))

    # ---------------------------------------------------------------- inbound from an outside client: SPF, DKIM, DMARC
    rc = ["alice@example.test"]
    g.smtp("dkim_pass_spf_pass_dmarc_pass", "news@partner.test", rc,
           same(rc, "delivered", "SPF pass, DKIM pass (d=partner.test), DMARC pass"), "partner news",
           src=EXT_IP, helo="mail.partner.test", sign="partner.test",
           filters={"spf": "pass", "dkim": "pass", "dmarc": "pass"})
    rc = ["bob@example.test"]
    g.smtp("dkim_pass_spf_none_dmarc_pass", "bounce@nodmarc.test", rc,
           same(rc, "delivered", "SPF none (nodmarc.test), DKIM pass aligned with From: partner.test -> DMARC pass"),
           "partner via other envelope", hdr_from="news@partner.test", src=EXT_IP, helo="mail.partner.test",
           sign="partner.test", filters={"spf": "none", "dkim": "pass", "dmarc": "pass"})
    rc = ["carol@example.test"]
    g.smtp("dkim_broken_dmarc_reject", "bounce@nodmarc.test", rc,
           same(rc, "rejected", "DKIM signature broken (body altered), SPF none -> DMARC fail, p=reject -> opendmarc 550 at end of DATA"),
           "broken signature", hdr_from="news@partner.test", src=EXT_IP, helo="relay.nodmarc.test",
           sign="partner.test", broken=True, filters={"spf": "none", "dkim": "fail", "dmarc": "fail (reject)"})
    rc = ["dave@example.test"]
    g.smtp("dkim_none_dmarc_reject", "bounce@nodmarc.test", rc,
           same(rc, "rejected", "no DKIM signature, SPF none for the envelope domain -> DMARC fail, p=reject -> 550"),
           "unsigned from partner", hdr_from="ceo@partner.test", src=EXT_IP, helo="relay.nodmarc.test",
           filters={"spf": "none", "dkim": "none", "dmarc": "fail (reject)"})
    rc = ["erin@example.test"]
    g.smtp("dkim_broken_spf_pass_dmarc_pass", "news@partner.test", rc,
           same(rc, "delivered", "DKIM signature broken, but SPF pass aligned -> DMARC pass"),
           "broken sig, spf pass", src=EXT_IP, helo="mail.partner.test", sign="partner.test", broken=True,
           filters={"spf": "pass", "dkim": "fail", "dmarc": "pass"})
    rc = ["henry@bbb.test"]
    g.smtp("dkim_broken_dmarc_fail_p_none", "bounce@nodmarc.test", rc,
           same(rc, "delivered", "DKIM broken, SPF none -> DMARC fail, but p=none -> accepted"),
           "softpol broken", hdr_from="news@softpol.test", src=EXT_IP, helo="relay.nodmarc.test",
           sign="softpol.test", broken=True, filters={"spf": "none", "dkim": "fail", "dmarc": "fail (p=none)"})
    rc = ["ivan@bbb.test"]
    g.smtp("dkim_pass_softpol", "news@softpol.test", rc,
           same(rc, "delivered", "SPF pass, DKIM pass, DMARC pass (p=none)"), "softpol good",
           src=EXT_IP, helo="mail.softpol.test", sign="softpol.test",
           filters={"spf": "pass", "dkim": "pass", "dmarc": "pass"})
    rc = ["judy@bbb.test"]
    g.smtp("no_dkim_no_dmarc_record", "info@nodmarc.test", rc,
           same(rc, "delivered", "SPF none, no signature, no DMARC record -> DMARC none"), "plain",
           src=EXT_IP, helo="mail.nodmarc.test", filters={"spf": "none", "dkim": "none", "dmarc": "none"})
    rc = ["alice@example.test"]
    g.smtp("dmarc_fail_p_quarantine", "bounce@nodmarc.test", rc,
           same(rc, "delivered", "DMARC fail with p=quarantine; HoldQuarantinedMessages is off -> accepted"),
           "quarantine policy", hdr_from="alerts@quar.test", src=EXT_IP, helo="relay.nodmarc.test",
           filters={"spf": "none", "dkim": "none", "dmarc": "fail (p=quarantine)"})
    rc = ["bob@example.test"]
    g.smtp("spf_fail_reject", "billing@spffail.test", rc,
           same(rc, "rejected", "SPF fail (-all) -> policyd-spf 550 5.7.23 at RCPT"), "spf fail",
           src=EXT_IP, helo="mail.spffail.test", filters={"spf": "fail (reject)"})
    rc = ["carol@example.test"]
    g.smtp("spf_fail_own_domain", "alice@example.test", rc,
           same(rc, "rejected", "envelope alice@example.test from 127.0.0.2; example.test SPF allows only 127.0.0.1 -> fail -> 550"),
           "spoofed", src=EXT_IP, helo="spoof.example.net", filters={"spf": "fail (reject)"})
    rc = ["dave@example.test"]
    g.smtp("spf_softfail", "billing@spfsoft.test", rc,
           same(rc, "delivered", "SPF softfail (~all) -> Received-SPF header only"), "spf softfail",
           src=EXT_IP, helo="mail.spfsoft.test", filters={"spf": "softfail"})
    rc = ["erin@example.test"]
    g.smtp("spf_neutral", "info@spfneutral.test", rc,
           same(rc, "delivered", "SPF neutral (?all)"), "spf neutral",
           src=EXT_IP, helo="mail.spfneutral.test", filters={"spf": "neutral"})
    rc = ["henry@bbb.test"]
    g.smtp("spf_permerror", "info@spfperm.test", rc,
           same(rc, "delivered", "SPF permerror (unknown mechanism); PermError_reject = False"), "spf permerror",
           src=EXT_IP, helo="mail.spfperm.test", filters={"spf": "permerror"})
    rc = ["ivan@bbb.test"]
    g.smtp("spf_temperror", "info@tempfail.example", rc,
           same(rc, "delivered", "SPF temperror (the loopback DNS refuses the query); TempError_Defer = False"),
           "spf temperror", src=EXT_IP, helo="mail.tempfail.example", filters={"spf": "temperror"})
    rc = ["judy@bbb.test"]
    g.smtp("spf_fail_dmarc_domain", "x@dmarcrej.test", rc,
           same(rc, "rejected", "SPF fail -> 550 at RCPT (DMARC never reached)"), "spf fail 2",
           src=EXT_IP, helo="mail.dmarcrej.test", filters={"spf": "fail (reject)"})
    rc = ["alice@example.test", "nobody@example.test", "bob@bbb.test"]
    exp = same(rc, "delivered", "SPF pass, DKIM pass, DMARC pass")
    exp["nobody@example.test"] = ("rejected", "reject_unlisted_recipient 550 5.1.1")
    g.smtp("ext_signed_mixed_rcpts", "news@partner.test", rc, exp, "partner to three",
           src=EXT_IP, helo="mail.partner.test", sign="partner.test",
           filters={"spf": "pass", "dkim": "pass", "dmarc": "pass"})

    # ---------------------------------------------------------------- outbound / internal: opendkim signs example.test
    rc = ["carol@example.test"]
    g.smtp("dkim_sign_local", "alice@example.test", rc, same(rc, "delivered", "opendkim signs (d=example.test), lmtp"),
           "signed locally", filters={"dkim": "signed"})
    rc = ["henry@relay.test"]
    g.smtp("dkim_sign_relay", "alice@example.test", rc,
           same(rc, "delivered", "signed at hop 1, relayed to 127.0.0.1:2525 (signed again there), rewritten @bbb.test"),
           "signed, relayed", filters={"dkim": "signed (twice: both hops are internal clients)"})
    rc = ["dave@example.test"]
    g.sendmail("dkim_sign_sendmail", "carol@example.test", rc, same(rc, "delivered", "pickup; non_smtpd_milters: opendkim signs"),
               "signed via sendmail", filters={"dkim": "signed"})
    rc = ["bob@example.test"]
    g.smtp("dkim_no_signing_table_match", "j.doe@example.com", rc,
           same(rc, "delivered", "internal client, From domain not in the SigningTable -> not signed"),
           "not ours to sign", filters={"dkim": "not signed"})

    # ---------------------------------------------------------------- amavisd-new (content_filter via FILTER for *.scan.lan.example.net)
    rc = ["alice@example.test", "bob@bbb.test"]
    g.smtp("amavis_clean", "carol@example.test", rc,
           same(rc, "delivered", "amavis Passed CLEAN, re-injected on 127.0.0.1:10025"), "clean content",
           helo=ehelo(g.idx + 1, "scan"), filters={"amavis": "Passed CLEAN"})
    rc = ["dave@example.test"]
    g.smtp("amavis_banned", "carol@example.test", rc,
           same(rc, "bounced", "amavis Blocked BANNED (.exe), D_REJECT -> 554 to Postfix -> status=bounced + NDR"),
           "your invoice", helo=ehelo(g.idx + 1, "scan"), attachment=("invoice.exe", b"MZ" + os.urandom(300)),
           filters={"amavis": "Blocked BANNED"})
    rc = ["erin@example.test"]
    g.smtp("amavis_gtube", "judy@bbb.test", rc,
           same(rc, "discarded", "amavis Blocked SPAM (GTUBE), D_DISCARD -> Postfix logs status=sent (250 ... discarded)"),
           "gtube", helo=ehelo(g.idx + 1, "scan"), body="Hello\n\n%s\n" % GTUBE, filters={"amavis": "Blocked SPAM"})
    rc = ["henry@bbb.test"]
    g.smtp("amavis_spammy", "offers@example.net", rc,
           same(rc, "delivered", "amavis Passed SPAMMY (score_sender_maps +5 for offers@; tag2 3.0 < score < kill 9.0)"),
           "special offers for you", helo=ehelo(g.idx + 1, "scan"), filters={"amavis": "Passed SPAMMY"})
    rc = ["ivan@bbb.test", "nobody@example.test", "fa@deferred.test"]
    exp = {"ivan@bbb.test": ("delivered", "amavis Passed CLEAN"),
           "nobody@example.test": ("rejected", "reject_unlisted_recipient 550 5.1.1"),
           "fa@deferred.test": ("expired", "amavis Passed CLEAN, then smtp:[127.0.0.1]:2599 refused -> deferred, forced expiry")}
    g.smtp("amavis_clean_mixed", "alice@example.test", rc, exp, "clean, mixed rcpts",
           helo=ehelo(g.idx + 1, "scan"), filters={"amavis": "Passed CLEAN"})

    # ---------------------------------------------------------------- random filler
    kinds = ["ext_good"] * 4 + ["ext_plain"] * 3 + ["ext_spf_soft"] * 2 + ["spf_fail"] * 2 + ["dmarc_reject"] * 2 + \
            ["int_sign"] * 4 + ["amavis_clean"] * 4 + ["amavis_gtube"] + ["amavis_banned"]
    for i in range(a.count):
        k = R.choice(kinds)
        rc = R.sample(LOCAL_OK, R.randint(1, 2))
        subj = "filter filler %d (%s)" % (i, k)
        if k == "ext_good":
            g.smtp("ff_ext_good", "news@partner.test", rc, same(rc, "delivered", "SPF/DKIM/DMARC pass"), subj,
                   src=EXT_IP, helo="mail.partner.test", sign="partner.test",
                   filters={"spf": "pass", "dkim": "pass", "dmarc": "pass"})
        elif k == "ext_plain":
            g.smtp("ff_ext_plain", "info@nodmarc.test", rc, same(rc, "delivered", "SPF none, no DKIM, DMARC none"), subj,
                   src=EXT_IP, helo="mail.nodmarc.test", filters={"spf": "none", "dkim": "none", "dmarc": "none"})
        elif k == "ext_spf_soft":
            g.smtp("ff_spf_softfail", "billing@spfsoft.test", rc, same(rc, "delivered", "SPF softfail"), subj,
                   src=EXT_IP, helo="mail.spfsoft.test", filters={"spf": "softfail"})
        elif k == "spf_fail":
            g.smtp("ff_spf_fail", "billing@spffail.test", rc, same(rc, "rejected", "SPF fail -> 550 5.7.23 at RCPT"), subj,
                   src=EXT_IP, helo="mail.spffail.test", filters={"spf": "fail (reject)"})
        elif k == "dmarc_reject":
            g.smtp("ff_dmarc_reject", "bounce@nodmarc.test", rc,
                   same(rc, "rejected", "unsigned From: partner.test, SPF none -> DMARC fail, p=reject"), subj,
                   hdr_from="billing@partner.test", src=EXT_IP, helo="relay.nodmarc.test",
                   filters={"spf": "none", "dkim": "none", "dmarc": "fail (reject)"})
        elif k == "int_sign":
            g.smtp("ff_dkim_sign", R.choice(["alice@example.test", "carol@example.test"]), rc,
                   same(rc, "delivered", "opendkim signs"), subj, filters={"dkim": "signed"})
        elif k == "amavis_clean":
            g.smtp("ff_amavis_clean", R.choice(["alice@example.test", "judy@bbb.test"]), rc,
                   same(rc, "delivered", "amavis Passed CLEAN"), subj, helo=ehelo(g.idx + 1, "scan"),
                   filters={"amavis": "Passed CLEAN"})
        elif k == "amavis_gtube":
            g.smtp("ff_amavis_gtube", "judy@bbb.test", rc, same(rc, "discarded", "amavis Blocked SPAM, D_DISCARD"), subj,
                   helo=ehelo(g.idx + 1, "scan"), body="Hi\n\n%s\n" % GTUBE, filters={"amavis": "Blocked SPAM"})
        elif k == "amavis_banned":
            g.smtp("ff_amavis_banned", "carol@example.test", rc,
                   same(rc, "bounced", "amavis Blocked BANNED, D_REJECT -> status=bounced"), subj,
                   helo=ehelo(g.idx + 1, "scan"), attachment=("setup.scr", b"MZ" + os.urandom(200)),
                   filters={"amavis": "Blocked BANNED"})

    # ---------------------------------------------------------------- greylist retries
    wait = t_grey + a.grey_delay + 3 - time.time()
    if wait > 0:
        time.sleep(wait)
    for rec in grey:
        rec["smtp_replies"]["attempts"].append(g.attempt(rec))
        g.finish(rec)
    g.out.close()


if __name__ == "__main__":
    main()
