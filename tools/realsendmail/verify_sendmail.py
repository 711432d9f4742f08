#!/usr/bin/python3
"""Cross-check a realsendmail ground_truth.jsonl against the Sendmail log that was written.

usage: verify_sendmail.py OUTDIR     (reads OUTDIR/mail.traditional.log and OUTDIR/ground_truth.jsonl)

A deliberately small reference reader of the traditional-format log, written to validate the ground
truth (not to be the parser under test).  Per message (found by msgid=) it follows the queue ids,
including the MSP -> MTA hop ("stat=Sent (NEWQID Message accepted for delivery)"), and decides each
recipient's end state from the to=/stat= lines, "sender notify: Cannot send message" (expiry),
"DSN:" lines (bounce) and the SMTP replies the client recorded (rejections happen in the dialogue).
Alias recipients (team@, fwdrelay@, pipe aliases) are judged by the lines of their expansion.
"""
import collections
import json
import re
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "."
TRAD = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\[:]+)(?:\[(\d+)\])?: (.*)$")
QID = r"[0-9A-Za-z]{14}"
ALIASES = {"team": ["smalice", "smbob", "smcarol"], "fwdrelay": ["smdave", "r-fwd@relay.test"],
           "pipeok": ['"|cat >/dev/null"'], "pipefail": ['"|exit 1"'], "pipetemp": ['"|exit 75"'],
           "postmaster": ["smadmin"], "root": ["smadmin"]}


def norm(a):
    a = a.strip().strip("<>").lower()
    return a.split("@")[0] if a.endswith("@sm.example.test") or a.endswith("@localhost") or \
        a.endswith("@mx.sm.example.test") else a


def main():
    lines = open(OUT + "/mail.traditional.log", encoding="utf-8", errors="replace").read().splitlines()
    prog = collections.Counter()
    mid_q = collections.defaultdict(set)
    to_lines = collections.defaultdict(list)      # qid -> [(addr, stat)]
    link = collections.defaultdict(set)           # qid -> next-hop qids
    expired, dsn = set(), set()
    for line in lines:
        m = TRAD.match(line)
        if not m:
            continue
        prog[m.group(1)] += 1
        msg = m.group(3)
        mm = re.match(r"^(%s): from=.*?msgid=(<[^>]*>)" % QID, msg)
        if mm:
            mid_q[mm.group(2)].add(mm.group(1))
            continue
        mm = re.match(r"^(%s): to=(.*?), (?:ctladdr|delay)=.*stat=(.*)$" % QID, msg)
        if mm:
            q, addrs, stat = mm.groups()
            for a in re.findall(r'"[^"]*"|[^,]+', addrs):
                to_lines[q].append((norm(a), stat))
            nx = re.match(r"Sent \((%s) Message accepted" % QID, stat)
            if nx:
                link[q].add(nx.group(1))
            continue
        mm = re.match(r"^(%s): %s: sender notify: Cannot send message" % (QID, QID), msg)
        if mm:
            expired.add(mm.group(1))
            continue
        mm = re.match(r"^(%s): %s: (DSN|return to sender): " % (QID, QID), msg)
        if mm:
            dsn.add(mm.group(1))

    def closure(qs):
        seen, todo = set(), list(qs)
        while todo:
            q = todo.pop()
            if q not in seen:
                seen.add(q)
                todo.extend(link[q])
        return seen

    def state(qs, addr):
        """The last status logged for each (queue id, address) decides; an alias's members combine."""
        targets = [addr] + ALIASES.get(addr, [])
        last = {}
        for q in qs:
            for a, st in to_lines[q]:
                if a in targets:
                    last[(q, a)] = st
        res = []
        for (q, _a), st in last.items():
            if st.startswith("Sent"):
                if not re.match(r"Sent \(%s Message accepted" % QID, st):
                    res.append("delivered")   # else: a hop to the MTA; the next queue id has the result
            elif st.startswith("Deferred") or st == "queued":
                res.append("expired" if q in expired else "deferred")
            else:
                res.append("bounced" if q in dsn else "failed-no-dsn")
        if not res:
            return None
        for s in ("bounced", "expired", "failed-no-dsn", "deferred"):
            if s in res:
                return s
        return "delivered"

    ok = bad = 0
    mism = []
    outcomes = collections.Counter()
    for line in open(OUT + "/ground_truth.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        if rec.get("kind") == "session":
            continue
        qs = closure(mid_q.get(rec["message_id"], set()))
        rr = (rec.get("smtp_replies") or {})
        for r in rec["recipients"]:
            exp = r["expect"]
            outcomes[exp] += 1
            addr = norm(r["rcpt"])
            code = None
            if "mail" in rr and rr["mail"][0] >= 400:
                code = rr["mail"][0]
            elif r["rcpt"] in rr.get("rcpt", {}) and rr["rcpt"][r["rcpt"]][0] >= 400:
                code = rr["rcpt"][r["rcpt"]][0]
            elif "data" in rr and rr["data"][0] >= 400:
                code = rr["data"][0]
            got = "rejected" if code else (state(qs, addr) or "no_evidence")
            if got == exp:
                ok += 1
            else:
                bad += 1
                mism.append((rec["idx"], rec["scenario"], r["rcpt"], exp, got))
    print("== lines per program (syslog tag)")
    for p, n in prog.most_common():
        print("%7d  %s" % (n, p))
    print("\n== expected outcomes (per recipient)")
    for k, n in outcomes.most_common():
        print("%7d  %s" % (n, k))
    print("\n== ground truth vs log: %d recipients agree, %d disagree" % (ok, bad))
    for x in mism:
        print("   MISMATCH idx=%s scenario=%s rcpt=%s expected=%s log=%s" % x)


if __name__ == "__main__":
    main()
