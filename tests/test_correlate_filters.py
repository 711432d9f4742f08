"""Filter verdicts in message documents: amavis, milters, policy servers, spam scanners (maillog2json.correlate).

Each log below is written in the order the programs really log: milters and policy servers
before Postfix's line for the same step, amavis after re-injecting and before Postfix's
``status=sent (... queued as ...)`` line of the first hop.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import make_pipeline, pipeline_docs
from test_correlate import messages
from test_groundtruth import _split_run


def lines_of(text: str) -> list[str]:
    return [ln.strip() for ln in text.strip().splitlines() if ln.strip()]


def by_qid(docs: list[dict[str, Any]], qid: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["queue_id"] == qid]
    return doc


def counters(text: str) -> dict[str, int]:
    p, _ = make_pipeline(emit="messages")
    p.time.start_source(None)
    p.process([x.encode() for x in lines_of(text)])
    p.finish()
    return p.tracker.counters


# -- amavis as an after-queue content filter: two queue ids, one message ------------------------
AMAVIS_FIRST_HOP = """
Nov 28 10:00:00 mx postfix/smtpd[2001]: connect from mail.example.org[192.0.2.7]
Nov 28 10:00:01 mx postfix/smtpd[2001]: 4ABC000001: client=mail.example.org[192.0.2.7]
Nov 28 10:00:01 mx postfix/cleanup[2002]: 4ABC000001: message-id=<a1@example.org>
Nov 28 10:00:01 mx postfix/qmgr[2003]: 4ABC000001: from=<ann@example.org>, size=1234, nrcpt=1 (queue active)
Nov 28 10:00:01 mx postfix/smtpd[2001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
"""
AMAVIS_REINJECTED = """
Nov 28 10:00:02 mx postfix/smtpd[2010]: connect from localhost[127.0.0.1]
Nov 28 10:00:02 mx postfix/smtpd[2010]: 5DEF000002: client=localhost[127.0.0.1]
Nov 28 10:00:02 mx postfix/cleanup[2002]: 5DEF000002: message-id=<a1@example.org>
Nov 28 10:00:02 mx postfix/qmgr[2003]: 5DEF000002: from=<ann@example.org>, size=1800, nrcpt=1 (queue active)
Nov 28 10:00:02 mx postfix/smtpd[2010]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
"""
AMAVIS_LINE = ("Nov 28 10:00:02 mx amavis[2222]: (02222-01) Passed CLEAN {RelayedInbound}, [192.0.2.7]:5678 [192.0.2.7] "
               "<ann@example.org> -> <bob@example.net>, Queue-ID: 4ABC000001, Message-ID: <a1@example.org>, "
               "mail_id: abc, Hits: -1.2, size: 1234, queued_as: 5DEF000002, 1234 ms")
AMAVIS_HANDOFF = """
Nov 28 10:00:02 mx postfix/smtp[2004]: 4ABC000001: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.3, delays=0.1/0/0/1.2, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5DEF000002)
Nov 28 10:00:02 mx postfix/qmgr[2003]: 4ABC000001: removed
"""
AMAVIS_DELIVERY = """
Nov 28 10:00:03 mx postfix/local[2005]: 5DEF000002: to=<bob@example.net>, relay=local, delay=0.5, delays=0/0/0/0.5, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 10:00:03 mx postfix/qmgr[2003]: 5DEF000002: removed
"""
# where amavis's line can be among the Postfix lines
AMAVIS_ORDERS = {
    "usual": AMAVIS_FIRST_HOP + AMAVIS_REINJECTED + AMAVIS_LINE + AMAVIS_HANDOFF + AMAVIS_DELIVERY,
    "before_reinjection": AMAVIS_FIRST_HOP + AMAVIS_LINE + AMAVIS_REINJECTED + AMAVIS_HANDOFF + AMAVIS_DELIVERY,
    "after_handoff": AMAVIS_FIRST_HOP + AMAVIS_REINJECTED + AMAVIS_HANDOFF + AMAVIS_LINE + AMAVIS_DELIVERY,
    "after_all": AMAVIS_FIRST_HOP + AMAVIS_REINJECTED + AMAVIS_HANDOFF + AMAVIS_DELIVERY + AMAVIS_LINE,
    "first_of_all": AMAVIS_LINE + AMAVIS_FIRST_HOP + AMAVIS_REINJECTED + AMAVIS_HANDOFF + AMAVIS_DELIVERY,
}

AMAVIS_BLOCKED = """
Nov 28 10:10:00 mx postfix/smtpd[2001]: connect from bad.example.com[203.0.113.50]
Nov 28 10:10:01 mx postfix/smtpd[2001]: 6A0000000A: client=bad.example.com[203.0.113.50]
Nov 28 10:10:01 mx postfix/cleanup[2002]: 6A0000000A: message-id=<v1@example.com>
Nov 28 10:10:01 mx postfix/qmgr[2003]: 6A0000000A: from=<x@example.com>, size=28646, nrcpt=1 (queue active)
Nov 28 10:10:01 mx postfix/smtpd[2001]: disconnect from bad.example.com[203.0.113.50] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 10:10:02 mx amavis[2222]: (02222-02) Blocked INFECTED (Eicar-Signature,Eicar-Test-Signature) {DiscardedInbound,Quarantined}, [203.0.113.50]:1434 [203.0.113.50] <x@example.com> -> <bob@example.net>, quarantine: virus-26W2lJY63nCZ, Queue-ID: 6A0000000A, Message-ID: <v1@example.com>, mail_id: 26W2lJY63nCZ, Hits: -, size: 28646, 104 ms
Nov 28 10:10:02 mx postfix/smtp[2004]: 6A0000000A: to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=02222-02 - INFECTED: Eicar-Signature)
Nov 28 10:10:02 mx postfix/qmgr[2003]: 6A0000000A: removed
"""

# an amavis template without Queue-ID: the Message-ID finds the message
AMAVIS_NO_QUEUE_ID = """
Nov 28 10:20:00 mx postfix/pickup[2006]: 6B0000000B: uid=1000 from=<ann>
Nov 28 10:20:00 mx postfix/cleanup[2002]: 6B0000000B: message-id=<old1@example.org>
Nov 28 10:20:00 mx postfix/qmgr[2003]: 6B0000000B: from=<ann@example.org>, size=300, nrcpt=1 (queue active)
Nov 28 10:20:01 mx amavis[2222]: (02222-03) Passed SPAMMY {RelayedOutbound}, LOCAL [127.0.0.1] [127.0.0.1] <ann@example.org> -> <dan@example.net>, Message-ID: <old1@example.org>, mail_id: q9, Hits: 6.1, size: 300, 90 ms
Nov 28 10:20:01 mx postfix/smtp[2004]: 6B0000000B: to=<dan@example.net>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok, id=02222-03, from MTA: 250 2.0.0 Ok: queued as 77AA)
Nov 28 10:20:01 mx postfix/qmgr[2003]: 6B0000000B: removed
"""


class TestAmavis:
    @pytest.mark.parametrize("order", list(AMAVIS_ORDERS))
    def test_two_hop_message_carries_the_verdict(self, order: str) -> None:
        """Wherever amavis's line falls among the Postfix lines, its verdict is on the one message of both hops."""
        docs = messages(AMAVIS_ORDERS[order])
        (m,) = docs
        assert m["queue_ids"] == ["4ABC000001", "5DEF000002"]
        assert m["status"] == "sent"
        assert m["filters"] == [{"program": "amavis", "check": "content", "kind": "amavis.passed",
                                 "timestamp": "2026-11-28T10:00:02+00:00", "result": "clean", "action": "passed",
                                 "score": -1.2}]

    def test_blocked_infected(self) -> None:
        """A blocked virus: result infected, action blocked, the virus names and quarantine."""
        (m,) = messages(AMAVIS_BLOCKED)
        (f,) = m["filters"]
        assert f["result"] == "infected" and f["action"] == "blocked"
        assert f["virus"] == ["Eicar-Signature", "Eicar-Test-Signature"]
        assert f["quarantine"] == "virus-26W2lJY63nCZ"
        assert "score" not in f          # Hits: - (not checked)

    def test_message_id_when_no_queue_id(self) -> None:
        """Without Queue-ID in amavis's template, the Message-ID finds the message."""
        (m,) = messages(AMAVIS_NO_QUEUE_ID)
        (f,) = m["filters"]
        assert (f["result"], f["action"], f["score"]) == ("spammy", "passed", 6.1)

    def test_lines_count_the_verdict(self) -> None:
        """The verdict's line is one of the message's lines."""
        without = messages(AMAVIS_FIRST_HOP + AMAVIS_REINJECTED + AMAVIS_HANDOFF + AMAVIS_DELIVERY)[0]
        with_it = messages(AMAVIS_ORDERS["usual"])[0]
        assert with_it["lines"] == without["lines"] + 1
        assert "filters" not in without


# -- milters: OpenDKIM and OpenDMARC log the queue id ------------------------------------------------
MILTERS = """
Nov 28 11:00:00 mx postfix/smtpd[3001]: connect from mail.example.org[192.0.2.7]
Nov 28 11:00:01 mx postfix/smtpd[3001]: 6A1B2C3D4E: client=mail.example.org[192.0.2.7]
Nov 28 11:00:01 mx postfix/cleanup[3002]: 6A1B2C3D4E: message-id=<d1@example.org>
Nov 28 11:00:01 mx opendkim[311]: 6A1B2C3D4E: DKIM verification successful (s=mail, d=example.org)
Nov 28 11:00:01 mx opendmarc[312]: 6A1B2C3D4E: SPF(mailfrom): example.org pass
Nov 28 11:00:01 mx opendmarc[312]: 6A1B2C3D4E: example.org pass
Nov 28 11:00:01 mx postfix/qmgr[3003]: 6A1B2C3D4E: from=<ann@example.org>, size=2000, nrcpt=1 (queue active)
Nov 28 11:00:01 mx postfix/smtpd[3001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 11:00:02 mx postfix/local[3004]: 6A1B2C3D4E: to=<bob@example.net>, relay=local, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 11:00:02 mx postfix/qmgr[3003]: 6A1B2C3D4E: removed
Nov 28 11:00:05 mx postfix/smtpd[3001]: connect from unknown[203.0.113.9]
Nov 28 11:00:05 mx postfix/smtpd[3001]: 6A1B2C3D4F: client=unknown[203.0.113.9]
Nov 28 11:00:06 mx postfix/cleanup[3002]: 6A1B2C3D4F: message-id=<spoof1@example.com>
Nov 28 11:00:06 mx opendkim[311]: 6A1B2C3D4F: s=sel1 d=example.com SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
Nov 28 11:00:06 mx opendmarc[312]: 6A1B2C3D4F: example.com fail
Nov 28 11:00:06 mx postfix/cleanup[3002]: 6A1B2C3D4F: milter-reject: END-OF-MESSAGE from unknown[203.0.113.9]: 5.7.1 rejected by DMARC policy for example.com; from=<x@example.com> to=<bob@example.net> proto=ESMTP helo=<spoof.test>
Nov 28 11:00:06 mx postfix/smtpd[3001]: disconnect from unknown[203.0.113.9] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5
"""


class TestMilters:
    def test_dkim_and_dmarc_by_queue_id(self) -> None:
        """OpenDKIM's and OpenDMARC's verdicts join the message of the queue id they log, in log order."""
        docs = messages(MILTERS)
        ok = by_qid(docs, "6A1B2C3D4E")
        assert [(f["program"], f["check"], f["result"], f["domain"]) for f in ok["filters"]] == [
            ("opendkim", "dkim", "pass", "example.org"),
            ("opendmarc", "spf", "pass", "example.org"),
            ("opendmarc", "dmarc", "pass", "example.org")]
        assert ok["filters"][0]["selector"] == "mail"
        assert ok["filters"][1]["identity"] == "mailfrom"

    def test_rejected_message_keeps_the_failed_checks(self) -> None:
        """A message the DMARC milter rejected has the failed DKIM and DMARC verdicts."""
        bad = by_qid(messages(MILTERS), "6A1B2C3D4F")
        assert bad["status"] == "rejected"
        dkim, dmarc = bad["filters"]
        assert (dkim["check"], dkim["result"], dkim["domain"], dkim["selector"]) == ("dkim", "fail", "example.com", "sel1")
        assert dkim["error"].startswith("error:04091068")
        assert (dmarc["check"], dmarc["result"]) == ("dmarc", "fail")


# -- spamd (Message-ID only) and rspamd --------------------------------------------------------------
SPAMD = """
Nov 28 13:00:00 mx postfix/smtpd[4001]: connect from mail.example.org[192.0.2.7]
Nov 28 13:00:00 mx postfix/smtpd[4001]: 8C9D0E1F2A: client=mail.example.org[192.0.2.7]
Nov 28 13:00:00 mx postfix/cleanup[4002]: 8C9D0E1F2A: message-id=<s1@example.org>
Nov 28 13:00:00 mx postfix/qmgr[4003]: 8C9D0E1F2A: from=<ann@example.org>, size=2345, nrcpt=1 (queue active)
Nov 28 13:00:00 mx postfix/smtpd[4001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 13:00:01 mx spamd[4100]: spamd: connection from localhost [127.0.0.1]:41234 to port 783, fd 5
Nov 28 13:00:01 mx spamd[4100]: spamd: processing message <s1@example.org> for spamfilter:1001
Nov 28 13:00:01 mx spamd[4100]: spamd: identified spam (9.3/5.0) for spamfilter:1001 in 0.8 seconds, 2345 bytes.
Nov 28 13:00:01 mx spamd[4100]: spamd: result: Y 9 - BAYES_99,HTML_MESSAGE scantime=0.8,size=2345,user=spamfilter,uid=1001,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=41234,mid=<s1@example.org>,autolearn=no
Nov 28 13:00:01 mx postfix/pickup[4004]: 8C9D0E1F2B: uid=1001 from=<ann@example.org>
Nov 28 13:00:01 mx postfix/cleanup[4002]: 8C9D0E1F2B: message-id=<s1@example.org>
Nov 28 13:00:01 mx postfix/qmgr[4003]: 8C9D0E1F2B: from=<ann@example.org>, size=2900, nrcpt=1 (queue active)
Nov 28 13:00:01 mx postfix/pipe[4005]: 8C9D0E1F2A: to=<bob@example.net>, relay=spamassassin, delay=1.1, delays=0.1/0/0/1, dsn=2.0.0, status=sent (delivered via spamassassin service)
Nov 28 13:00:01 mx postfix/qmgr[4003]: 8C9D0E1F2A: removed
Nov 28 13:00:02 mx postfix/local[4006]: 8C9D0E1F2B: to=<bob@example.net>, relay=local, delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 13:00:02 mx postfix/qmgr[4003]: 8C9D0E1F2B: removed
"""

RSPAMD = """
Nov 28 13:30:00 mx postfix/smtpd[4001]: connect from mail.example.org[192.0.2.7]
Nov 28 13:30:00 mx postfix/smtpd[4001]: 9D0E1F2A3B: client=mail.example.org[192.0.2.7]
Nov 28 13:30:00 mx postfix/cleanup[4002]: 9D0E1F2A3B: message-id=<r1@example.org>
Nov 28 13:30:00 mx rspamd[317]: <8d7f2a>; task; rspamd_task_write_log: id: <r1@example.org>, qid: <9D0E1F2A3B>, ip: 192.0.2.7, from: <ann@example.org>, (default: F (no action): [1.23/15.00] [BAYES_HAM(-3.00){99.9%;},R_SPF_ALLOW(-0.20){+ip4:192.0.2.0/24;}]), len: 1234, time: 56.789ms, dns req: 3, digest: <0f2c9a>, rcpts: <bob@example.net>, mime_rcpts: <bob@example.net>
Nov 28 13:30:00 mx postfix/qmgr[4003]: 9D0E1F2A3B: from=<ann@example.org>, size=1234, nrcpt=1 (queue active)
Nov 28 13:30:00 mx postfix/smtpd[4001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 13:30:01 mx postfix/local[4006]: 9D0E1F2A3B: to=<bob@example.net>, relay=local, delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 13:30:01 mx postfix/qmgr[4003]: 9D0E1F2A3B: removed
"""


class TestSpamScanners:
    def test_spamd_by_message_id(self) -> None:
        """spamd's result names only the Message-ID: it joins the message that had it when spamd ran."""
        docs = messages(SPAMD)
        scanned = by_qid(docs, "8C9D0E1F2A")
        assert scanned["filters"] == [{"program": "spamd", "check": "spam", "kind": "spamd.result",
                                       "timestamp": "2026-11-28T13:00:01+00:00", "result": "spam", "score": 9.0,
                                       "required": 5.0, "symbols": ["BAYES_99", "HTML_MESSAGE"]}]
        assert "filters" not in by_qid(docs, "8C9D0E1F2B")     # the re-submitted copy was not scanned

    def test_rspamd_by_queue_id(self) -> None:
        """rspamd's qid finds the message; its action and score are kept."""
        (m,) = messages(RSPAMD)
        (f,) = m["filters"]
        assert (f["program"], f["result"], f["action"], f["score"], f["required"]) == (
            "rspamd", "clean", "no action", 1.23, 15.0)


# -- MailScanner: the verdict by queue id, and the re-queue from the hold queue ---------------------
# Postfix holds every message (header_checks "/^Received:/ HOLD"); MailScanner scans the held queue
# file, logs its verdict under that queue id (Postfix short ids get MailScanner's ".A" suffix) and
# moves the file into the incoming queue under a new queue id ("Requeue: OLD to NEW").
MAILSCANNER = """
Nov 28 14:00:00 mx postfix/smtpd[6001]: connect from mail.example.org[192.0.2.7]
Nov 28 14:00:00 mx postfix/smtpd[6001]: 3A4B5C6D7E: client=mail.example.org[192.0.2.7]
Nov 28 14:00:00 mx postfix/cleanup[6002]: 3A4B5C6D7E: hold: header Received: from mail.example.org (mail.example.org [192.0.2.7]) by mx.example.net (Postfix) with ESMTP id 3A4B5C6D7E for <bob@example.net>; Sat, 28 Nov 2026 14:00:00 +0000 (UTC) from mail.example.org[192.0.2.7]; from=<ann@example.org> to=<bob@example.net> proto=ESMTP helo=<mail.example.org>
Nov 28 14:00:00 mx postfix/cleanup[6002]: 3A4B5C6D7E: message-id=<ms1@example.org>
Nov 28 14:00:00 mx postfix/smtpd[6001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 14:00:05 mx MailScanner[6100]: New Batch: Scanning 1 messages, 2345 bytes
Nov 28 14:00:06 mx MailScanner[6100]: Message 3A4B5C6D7E.A1B2C from 192.0.2.7 (ann@example.org) to example.net is spam, SpamAssassin (not cached, score=7.181, required 4, BAYES_99 3.50, HTML_MESSAGE 0.00)
Nov 28 14:00:06 mx MailScanner[6100]: Spam Actions: message 3A4B5C6D7E.A1B2C actions are deliver,header
Nov 28 14:00:07 mx MailScanner[6100]: Requeue: 3A4B5C6D7E.A1B2C to 8F9A0B1C2D
Nov 28 14:00:07 mx MailScanner[6100]: Uninfected: Delivered 1 messages
Nov 28 14:00:07 mx postfix/qmgr[6003]: 8F9A0B1C2D: from=<ann@example.org>, size=2900, nrcpt=1 (queue active)
Nov 28 14:00:08 mx postfix/local[6004]: 8F9A0B1C2D: to=<bob@example.net>, relay=local, delay=8, delays=7.9/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 14:00:08 mx postfix/qmgr[6003]: 8F9A0B1C2D: removed
"""
# Postfix long queue ids (as in crowdsec's MailScanner lines): the id is logged as it is
MAILSCANNER_CLEAN = """
Nov 28 14:10:00 mx postfix/smtpd[6001]: 4bsM5k4xJmz4rT6: client=mail.example.org[192.0.2.7]
Nov 28 14:10:00 mx postfix/cleanup[6002]: 4bsM5k4xJmz4rT6: message-id=<ms2@example.org>
Nov 28 14:10:06 mx MailScanner[6100]: Message 4bsM5k4xJmz4rT6 from 192.0.2.7 (ann@example.org) to example.net,example.com is not spam, SpamAssassin (cached, score=-0.5, required 5, autolearn=not spam, BAYES_00 -1.90, SPF_PASS -0.00)
Nov 28 14:10:07 mx MailScanner[6100]: Requeue: 4bsM5k4xJmz4rT6 to 5ctN6m5yKmz5sU7
Nov 28 14:10:07 mx postfix/qmgr[6003]: 5ctN6m5yKmz5sU7: from=<ann@example.org>, size=2900, nrcpt=2 (queue active)
Nov 28 14:10:08 mx postfix/local[6004]: 5ctN6m5yKmz5sU7: to=<bob@example.net>, relay=local, delay=8, delays=7.9/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 14:10:08 mx postfix/smtp[6005]: 5ctN6m5yKmz5sU7: to=<carl@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=8, delays=7.9/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7A8B9C)
Nov 28 14:10:08 mx postfix/qmgr[6003]: 5ctN6m5yKmz5sU7: removed
"""


class TestMailScanner:
    def test_spam_verdict_and_requeue_make_one_message(self) -> None:
        """The verdict joins the held queue id's message, and the re-queued id is the same message."""
        (m,) = messages(MAILSCANNER)
        assert m["queue_ids"] == ["3A4B5C6D7E", "8F9A0B1C2D"]
        assert m["hops"] == [{"queue_id": "8F9A0B1C2D", "via": "requeue"}]
        assert m["requeued_as"] == ["8F9A0B1C2D"]
        assert m["status"] == "sent" and m["complete"] is True
        assert m["flags"] == {"held": True, "released": True}
        assert m["filters"] == [{"program": "mailscanner", "check": "spam", "kind": "mailscanner.spam",
                                 "timestamp": "2026-11-28T14:00:06+00:00", "result": "spam", "score": 7.181,
                                 "required": 4.0, "symbols": ["BAYES_99", "HTML_MESSAGE"]}]

    @pytest.mark.parametrize("move", [-3, -4])     # before the Requeue line; before the verdict too
    def test_requeue_in_any_order(self, move: int) -> None:
        """Postfix's first line of the new queue id may come before MailScanner's Requeue line."""
        lines = lines_of(MAILSCANNER)
        i = next(n for n, x in enumerate(lines) if "8F9A0B1C2D: from=" in x)
        lines.insert(i + move, lines.pop(i))
        (m,) = messages("\n".join(lines))
        assert m["queue_ids"] == ["3A4B5C6D7E", "8F9A0B1C2D"] and m["status"] == "sent"
        assert len(m["filters"]) == 1

    def test_not_spam_with_long_queue_ids(self) -> None:
        """'is not spam' is a clean verdict; the recipients' domains stay on the line document."""
        (m,) = messages(MAILSCANNER_CLEAN)
        assert m["queue_ids"] == ["4bsM5k4xJmz4rT6", "5ctN6m5yKmz5sU7"]
        (f,) = m["filters"]
        assert (f["result"], f["score"], f["required"], f["symbols"]) == ("clean", -0.5, 5.0, ["BAYES_00", "SPF_PASS"])
        assert {r["to"]: r["status"] for r in m["recipients"]} == {"bob@example.net": "sent", "carl@example.com": "sent"}

    def test_split_anywhere_equals_one_run(self, tmp_path) -> None:
        """The pending re-queue link survives a restart: split anywhere, the same documents."""
        lines = [x.encode() for x in lines_of(MAILSCANNER + MAILSCANNER_CLEAN)]
        p, sink = make_pipeline(emit="messages")
        p.time.start_source(None)
        p.process(lines)
        p.finish()
        whole = sorted(sink.documents(), key=lambda d: d["_id"])
        assert len(whole) == 2
        for cut in range(len(lines) + 1):
            assert _split_run(lines, cut, tmp_path / "state.json") == whole, f"split at line {cut}"


# -- policy servers: matched through the smtpd session --------------------------------------------
POSTGREY = """
Nov 28 12:00:00 mx postfix/smtpd[5001]: connect from mx.sender.test[198.51.100.20]
Nov 28 12:00:01 mx postgrey[900]: action=greylist, reason=new, client_name=mx.sender.test, client_address=198.51.100.20, sender=carl@sender.test, recipient=bob@example.net
Nov 28 12:00:01 mx postfix/smtpd[5001]: NOQUEUE: reject: RCPT from mx.sender.test[198.51.100.20]: 450 4.2.0 <bob@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html; from=<carl@sender.test> to=<bob@example.net> proto=ESMTP helo=<mx.sender.test>
Nov 28 12:00:01 mx postfix/smtpd[5001]: disconnect from mx.sender.test[198.51.100.20] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4
Nov 28 12:05:10 mx postfix/smtpd[5001]: connect from mx.sender.test[198.51.100.20]
Nov 28 12:05:11 mx postgrey[900]: action=pass, reason=triplet found, delay=310, client_name=mx.sender.test, client_address=198.51.100.20, sender=carl@sender.test, recipient=bob@example.net
Nov 28 12:05:11 mx postfix/smtpd[5001]: 7B8C9D0E1F: client=mx.sender.test[198.51.100.20]
Nov 28 12:05:11 mx postfix/cleanup[5002]: 7B8C9D0E1F: message-id=<g1@sender.test>
Nov 28 12:05:11 mx postfix/qmgr[5003]: 7B8C9D0E1F: from=<carl@sender.test>, size=900, nrcpt=1 (queue active)
Nov 28 12:05:11 mx postfix/smtpd[5001]: disconnect from mx.sender.test[198.51.100.20] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 28 12:05:12 mx postfix/local[5004]: 7B8C9D0E1F: to=<bob@example.net>, relay=local, delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 12:05:12 mx postfix/qmgr[5003]: 7B8C9D0E1F: removed
"""

POLICYD_SPF = """
Nov 28 14:00:00 mx postfix/smtpd[6001]: connect from mail.example.org[192.0.2.7]
Nov 28 14:00:00 mx postfix/smtpd[6002]: connect from other.example.net[198.51.100.99]
Nov 28 14:00:01 mx policyd-spf[313]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mail.example.org; envelope-from=ann@example.org; receiver=<UNKNOWN>
Nov 28 14:00:01 mx postfix/smtpd[6001]: 1C2D3E4F5A: client=mail.example.org[192.0.2.7]
Nov 28 14:00:01 mx policyd-spf[313]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mail.example.org; envelope-from=ann@example.org; receiver=<UNKNOWN>
Nov 28 14:00:01 mx postfix/cleanup[6003]: 1C2D3E4F5A: message-id=<p1@example.org>
Nov 28 14:00:01 mx postfix/qmgr[6004]: 1C2D3E4F5A: from=<ann@example.org>, size=700, nrcpt=2 (queue active)
Nov 28 14:00:01 mx postfix/smtpd[6001]: disconnect from mail.example.org[192.0.2.7] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6
Nov 28 14:00:02 mx postfix/local[6005]: 1C2D3E4F5A: to=<bob@example.net>, relay=local, delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 14:00:02 mx postfix/local[6005]: 1C2D3E4F5A: to=<carl@example.net>, relay=local, delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 28 14:00:02 mx postfix/qmgr[6004]: 1C2D3E4F5A: removed
Nov 28 14:00:03 mx postfix/smtpd[6002]: disconnect from other.example.net[198.51.100.99] ehlo=1 quit=1 commands=2
"""

SPF_REJECT = """
Nov 28 14:10:00 mx postfix/smtpd[6001]: connect from forger.example.com[203.0.113.66]
Nov 28 14:10:01 mx policyd-spf[313]: Fail; identity=mailfrom; client-ip=203.0.113.66; helo=forger.example.com; envelope-from=ceo@example.org; receiver=bob@example.net
Nov 28 14:10:01 mx policyd-spf[313]: 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mailfrom;id=ceo@example.org;ip=203.0.113.66;r=<UNKNOWN>
Nov 28 14:10:01 mx postfix/smtpd[6001]: NOQUEUE: reject: RCPT from forger.example.com[203.0.113.66]: 550 5.7.23 <bob@example.net>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mailfrom;id=ceo@example.org;ip=203.0.113.66;r=<UNKNOWN>; from=<ceo@example.org> to=<bob@example.net> proto=ESMTP helo=<forger.example.com>
Nov 28 14:10:01 mx postfix/smtpd[6001]: disconnect from forger.example.com[203.0.113.66] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4
"""


class TestPolicyServers:
    def test_greylist_joins_the_rejected_transaction(self) -> None:
        """postgrey's greylist goes with smtpd's 450 Greylisted reject, in the rejected-transaction document."""
        docs = messages(POSTGREY)
        (rej,) = [d for d in docs if d["status"] == "rejected"]
        assert rej["queue_id"] is None and rej["recipients"][0]["dsn"] == "4.2.0"
        assert rej["filters"] == [{"program": "postgrey", "check": "greylist", "kind": "postgrey.greylist",
                                   "timestamp": "2026-11-28T12:00:01+00:00", "action": "greylist", "reason": "new",
                                   "from": "carl@sender.test", "to": "bob@example.net"}]
        assert rej["lines"] == 2

    def test_later_pass_joins_the_queued_message(self) -> None:
        """The retry's pass, logged before the queue id existed, is in the message that session queued."""
        m = by_qid(messages(POSTGREY), "7B8C9D0E1F")
        (f,) = m["filters"]
        assert (f["action"], f["reason"], f["delay"]) == ("pass", "triplet found", 310)

    def test_spf_pass_joins_the_queued_message(self) -> None:
        """policyd-spf's checks of both recipients (before and after the queue id) join the session's message."""
        docs = messages(POLICYD_SPF)
        m = by_qid(docs, "1C2D3E4F5A")
        assert [(f["program"], f["check"], f["result"], f["action"]) for f in m["filters"]] == [
            ("policyd_spf", "spf", "pass", "prepend")] * 2
        assert m["filters"][0]["from"] == "ann@example.org" and m["filters"][0]["helo"] == "mail.example.org"
        assert len(docs) == 1      # the other client's session gets nothing

    def test_spf_reject_joins_the_rejected_transaction(self) -> None:
        """policyd-spf's fail and its 550 answer (the client named only in the URL) join the rejected transaction."""
        (rej,) = messages(SPF_REJECT)
        assert rej["status"] == "rejected"
        fail, answer = rej["filters"]
        assert (fail["result"], fail["from"]) == ("fail", "ceo@example.org")
        assert (answer["kind"], answer["result"], answer["action"], answer["code"], answer["dsn"]) == (
            "policyd_spf.reject", "fail", "reject", 550, "5.7.23")


# -- what finds no message ---------------------------------------------------------------------------
UNMATCHED = """
Nov 28 15:00:00 mx opendkim[311]: 0F0F0F0F0F: DKIM verification successful (s=mail, d=example.org)
Nov 28 15:00:00 mx spamd[4100]: spamd: result: . -1 - ALL_TRUSTED scantime=0.1,size=100,user=u,uid=1,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=1,mid=<nowhere@example.org>,autolearn=ham
Nov 28 15:00:00 mx postgrey[900]: action=greylist, reason=new, client_name=x.test, client_address=192.0.2.200, sender=a@x.test, recipient=b@example.net
Nov 28 15:00:00 mx postfix/smtpd[7001]: connect from y.test[192.0.2.201]
Nov 28 15:00:01 mx policyd-spf[313]: Neutral; identity=mailfrom; client-ip=192.0.2.201; helo=y.test; envelope-from=a@y.test; receiver=b@example.net
Nov 28 15:00:01 mx postfix/smtpd[7001]: disconnect from y.test[192.0.2.201] ehlo=1 mail=1 quit=1 commands=3
"""


class TestUnmatched:
    def test_unmatched_verdicts_are_counted(self) -> None:
        """A verdict without its message stays a line document only and is counted in filters_unmatched."""
        assert messages(UNMATCHED) == []
        c = counters(UNMATCHED)
        assert c["filters_unmatched"] == 4 and c["filters"] == 0
        lines = [d for d in pipeline_docs(lines_of(UNMATCHED), emit="lines") if d["type"] == "line"]
        assert len(lines) == 6

    def test_waiting_verdict_expires_in_log_time(self) -> None:
        """A verdict whose message does not show up within the window is counted when log time moves on."""
        text = UNMATCHED.splitlines()[1] + "\n" + AMAVIS_ORDERS["usual"].replace("Nov 28 10:", "Nov 28 16:")
        p, _ = make_pipeline(emit="messages")
        p.time.start_source(None)
        p.process([x.encode() for x in lines_of(text)])
        assert p.tracker.counters["filters_unmatched"] == 1 and not p.tracker.pending_filters

    def test_matched_are_counted(self) -> None:
        """Verdicts that joined a message are counted in filters."""
        c = counters(MILTERS + POSTGREY)
        assert c["filters"] == 5 + 2 and c["filters_unmatched"] == 0


# -- restart safety -----------------------------------------------------------------------------------
ALL = (AMAVIS_ORDERS["first_of_all"] + AMAVIS_BLOCKED + AMAVIS_NO_QUEUE_ID + MILTERS + POSTGREY + SPAMD + RSPAMD
       + POLICYD_SPF + SPF_REJECT)


class TestState:
    def test_split_anywhere_equals_one_run(self, tmp_path) -> None:
        """Split at every line into two runs joined by the state file: the same documents as one run."""
        lines = [x.encode() for x in lines_of(ALL)]
        p, sink = make_pipeline(emit="messages")
        p.time.start_source(None)
        p.process(lines)
        p.finish()
        whole = sorted(sink.documents(), key=lambda d: d["_id"])
        assert sum(len(d.get("filters", ())) for d in whole) == 16
        for cut in range(len(lines) + 1):
            assert _split_run(lines, cut, tmp_path / "state.json") == whole, f"split at line {cut}"
