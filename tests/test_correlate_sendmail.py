"""Sendmail and qmail message documents (maillog2json/correlate_sendmail.py through MessageTracker).

The lines are written from Sendmail's and qmail-send's log formats (the shapes of the real
lines in tests/test_parsers_sendmail.py and tests/test_parsers_qmail.py).
"""

from __future__ import annotations

from typing import Any

from helpers import docs_for, pipeline_docs

from maillog2json.correlate import MessageTracker

Doc = dict[str, Any]

SENT = [
    "Nov 28 10:00:00 mx sm-mta[100]: q1SA00a0000100: from=<ann@example.org>, size=1234, class=0, nrcpts=2, msgid=<m1@example.org>, proto=ESMTP, daemon=MTA, relay=mx.example.org [192.0.2.7]",
    "Nov 28 10:00:01 mx sm-mta[101]: q1SA00a0000100: to=<bob@example.net>,<carl@example.net>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=121234, relay=mx.example.net. [198.51.100.9], dsn=2.0.0, stat=Sent (Ok: queued as 4ABC)",
]
BOUNCED = [
    "Nov 28 10:00:10 mx sm-mta[102]: q1SA00b0000102: from=<dan@example.org>, size=99, class=0, nrcpts=1, msgid=<m2@example.org>, proto=ESMTP, daemon=MTA, relay=[192.0.2.8]",
    "Nov 28 10:00:11 mx sm-mta[103]: q1SA00b0000102: to=<nobody@example.net>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120099, relay=mx.example.net. [198.51.100.9], dsn=5.1.1, stat=User unknown",
    "Nov 28 10:00:11 mx sm-mta[103]: q1SA00b0000102: q1SA00c0000103: DSN: User unknown",
    "Nov 28 10:00:11 mx sm-mta[103]: q1SA00c0000103: to=<dan@example.org>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30000, relay=[192.0.2.8] [192.0.2.8], dsn=2.0.0, stat=Sent (Ok)",
]
DEFERRED_THEN_SENT = [
    "Nov 28 10:30:00 mx sm-mta[104]: q1SA00d0000104: from=<eve@example.org>, size=5, class=0, nrcpts=1, msgid=<m3@example.org>, proto=SMTP, daemon=MTA, relay=[192.0.2.9]",
    "Nov 28 10:30:05 mx sm-mta[105]: q1SA00d0000104: to=<fay@example.net>, delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=120005, relay=mx.example.net. [198.51.100.9], dsn=4.0.0, stat=Deferred: Connection refused by mx.example.net.",
    "Nov 28 11:30:05 mx sm-mta[106]: q1SA00d0000104: to=<fay@example.net>, delay=01:00:05, xdelay=00:00:01, mailer=esmtp, pri=210005, relay=mx.example.net. [198.51.100.9], dsn=2.0.0, stat=Sent (Ok)",
]
REJECTED = [
    "Nov  3 11:35:30 Microsoft sendmail[26254]: rA37ZTSC026254: <davaojk25@domain.com>... No such user here",
    "Nov  3 11:35:30 Microsoft sendmail[26254]: rA37ZTSC026254: from=<davaojk25@domain.com>, size=0, class=0, nrcpts=0, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=163.23.32.95.dsl-dynamic.vsi.ru [95.32.23.163]",
]
QMAIL = [
    "Nov 28 12:00:00 mx qmail: 1196354400.000001 new msg 100",
    "Nov 28 12:00:00 mx qmail: 1196354400.000002 info msg 100: bytes 456 from <a@example.org> qp 789 uid 1000",
    "Nov 28 12:00:00 mx qmail: 1196354400.000003 starting delivery 1: msg 100 to local a@example.org",
    "Nov 28 12:00:00 mx qmail: 1196354400.000004 starting delivery 2: msg 100 to remote x@example.net",
    "Nov 28 12:00:00 mx qmail: 1196354400.000005 starting delivery 3: msg 100 to remote y@example.net",
    "Nov 28 12:00:01 mx qmail: 1196354401.000001 delivery 1: success: did_0+0+1/",
    "Nov 28 12:00:02 mx qmail: 1196354402.000001 delivery 2: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/",
    "Nov 28 12:00:02 mx qmail: 1196354402.000002 delivery 3: deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/",
    "Nov 28 12:10:02 mx qmail: 1196355002.000001 starting delivery 4: msg 100 to remote y@example.net",
    "Nov 28 12:10:03 mx qmail: 1196355003.000001 delivery 4: success: 198.51.100.9_accepted_message./Remote_host_said:_250_ok_1234_qp_5678/",
    "Nov 28 12:10:03 mx qmail: 1196355003.000002 bounce msg 100 qp 790",
    "Nov 28 12:10:03 mx qmail: 1196355003.000003 end msg 100",
    "Nov 28 12:10:03 mx qmail: 1196355003.000004 new msg 101",
    "Nov 28 12:10:03 mx qmail: 1196355003.000005 info msg 101: bytes 900 from <> qp 790 uid 64011",
    "Nov 28 12:10:03 mx qmail: 1196355003.000006 starting delivery 5: msg 101 to local a@example.org",
    "Nov 28 12:10:04 mx qmail: 1196355004.000001 delivery 5: success: did_0+0+1/",
    "Nov 28 12:10:04 mx qmail: 1196355004.000002 end msg 101",
]


def messages(lines: list[str], **options: Any) -> list[Doc]:
    return pipeline_docs(lines, emit="messages", **options)


def by_qid(docs: list[Doc]) -> dict[str, Doc]:
    return {d["queue_id"]: d for d in docs}


def row(doc: Doc, to: str) -> Doc:
    (r,) = [r for r in doc["recipients"] if r["to"] == to]
    return r


def test_sent_to_two_recipients_on_one_line() -> None:
    """A to= line naming two recipients gives two recipient entries; nrcpts reached: complete."""
    (m,) = messages(SENT)
    assert m["type"] == "message" and m["mta"] == "sendmail"
    assert (m["status"], m["complete"], m["queue_id"], m["queue_ids"]) == ("sent", True, "q1SA00a0000100", ["q1SA00a0000100"])
    assert (m["from"], m["message_id"], m["size"], m["nrcpt"], m["origin"]) == (
        "ann@example.org", "m1@example.org", 1234, 2, "smtp")
    assert m["client"] == {"host": "mx.example.org", "ip": "192.0.2.7", "service": "MTA", "proto": "ESMTP"}
    assert [r["to"] for r in m["recipients"]] == ["bob@example.net", "carl@example.net"]
    r = row(m, "bob@example.net")
    assert (r["status"], r["dsn"], r["relay"], r["reply"], r["delay"]) == (
        "sent", "2.0.0", "mx.example.net. [198.51.100.9]", "Ok: queued as 4ABC", 1.0)
    assert r["attempts"][0]["mailer"] == "esmtp" and r["attempts"][0]["kind"] == "delivery"
    assert (m["lines"], m["duration"], m["first_seen"], m["last_seen"]) == (
        2, 1.0, "2026-11-28T10:00:00+00:00", "2026-11-28T10:00:01+00:00")


def test_bounced_with_dsn_linked_both_ways() -> None:
    """A bounce and its DSN: bounces on the original, bounce_of on the notice (null sender)."""
    ms = by_qid(messages(BOUNCED))
    orig, notice = ms["q1SA00b0000102"], ms["q1SA00c0000103"]
    assert orig["status"] == "bounced"
    assert row(orig, "nobody@example.net")["reply"] == "User unknown"
    assert orig["bounces"] == [{"queue_id": "q1SA00c0000103", "notice": "non_delivery"}]
    assert notice["bounce_of"] == {"queue_id": "q1SA00b0000102", "message_id": "m2@example.org",
                                   "notice": "non_delivery"}
    assert (notice["origin"], notice["from"], notice["status"]) == ("bounce", "", "sent")


def test_deferred_then_sent() -> None:
    """A deferral keeps the message in flight; the later queue run decides it."""
    (m,) = messages(DEFERRED_THEN_SENT)
    r = row(m, "fay@example.net")
    assert (m["status"], m["complete"], r["status"], r["delay"]) == ("sent", True, "sent", 3605.0)
    assert [a["status"] for a in r["attempts"]] == ["deferred", "sent"]


def test_still_deferred_at_end_of_input_is_incomplete() -> None:
    (m,) = messages(DEFERRED_THEN_SENT[:2])
    assert (m["status"], m["complete"]) == ("deferred", False)


def test_rejected_transaction() -> None:
    """nrcpts=0 after rejected recipients: status rejected, the reject as the recipient's attempt."""
    (m,) = messages(REJECTED, year=2026)
    assert (m["status"], m["complete"]) == ("rejected", True)
    r = row(m, "davaojk25@domain.com")
    assert (r["status"], r["reply"], r["attempts"][0]["kind"]) == ("rejected", "No such user here", "reject")


def test_lost_connection_without_delivery_is_aborted() -> None:
    lines = [
        "Jul 31 13:03:40 alarmpi sm-mta[24291]: 56VFYCxS024291: from=<a@example.org>, size=0, class=0, nrcpts=1, proto=ESMTP, daemon=MTA-v4, relay=mail.aqicn.org [139.162.120.196]",
        "Jul 31 13:03:43 alarmpi sm-mta[24291]: 56VFYCxS024291: lost input channel from mail.aqicn.org [139.162.120.196] to MTA-v4 after rcpt",
    ]
    (m,) = messages(lines)
    assert (m["status"], m["complete"], m["flags"]) == ("aborted", True, {"aborted": "lost input channel after rcpt"})


def test_messages_interleaved_and_several_hosts() -> None:
    """All the stories at once, and the same queue id on two hosts: separate messages."""
    other = [line.replace(" mx sm-mta", " mx2 sm-mta") for line in SENT]
    ms = messages(SENT + BOUNCED + DEFERRED_THEN_SENT + other)
    assert sorted((m["host"], m["queue_id"], m["status"]) for m in ms) == [
        ("mx", "q1SA00a0000100", "sent"), ("mx", "q1SA00b0000102", "bounced"), ("mx", "q1SA00c0000103", "sent"),
        ("mx", "q1SA00d0000104", "sent"), ("mx2", "q1SA00a0000100", "sent")]


def test_qmail_success_failure_deferral_and_bounce() -> None:
    """qmail: deliveries mapped to their message, a deferral decided later, the bounce linked by qp."""
    ms = by_qid(messages(QMAIL))
    m, b = ms["100"], ms["101"]
    assert m["mta"] == "qmail"
    assert (m["status"], m["complete"], m["from"], m["size"], m["uid"]) == ("mixed", True, "a@example.org", 456, 1000)
    assert {r["to"]: r["status"] for r in m["recipients"]} == {
        "a@example.org": "sent", "x@example.net": "bounced", "y@example.net": "sent"}
    x = row(m, "x@example.net")
    assert (x["dsn"], x["reply"], x["delay"]) == ("5.1.1", "Sorry, no mailbox here by that name. (#5.1.1)", 2.0)
    y = row(m, "y@example.net")
    assert [a["status"] for a in y["attempts"]] == ["deferred", "sent"]
    assert y["relay"] == "198.51.100.9"
    assert row(m, "a@example.org")["relay"] == "local"
    assert m["bounces"] == [{"queue_id": "101", "notice": "non_delivery"}]
    assert b["bounce_of"]["queue_id"] == "100" and (b["origin"], b["from"], b["status"]) == ("bounce", "", "sent")


def test_postfix_untouched_beside_sendmail() -> None:
    """A Postfix message in the same log still gives its own document (mta absent)."""
    from helpers import SESSION_LINES
    ms = messages([x.decode().rstrip("\n") for x in SESSION_LINES] + SENT)
    assert sorted(m.get("mta", "postfix") for m in ms) == ["postfix", "sendmail"]


def test_snapshot_restore_gives_the_same_documents() -> None:
    """A log read in two runs (state saved in between) gives the same message documents as one run."""
    lines = SENT + BOUNCED + DEFERRED_THEN_SENT + QMAIL
    docs = docs_for(lines)

    one = MessageTracker()
    whole = [d for doc in docs for d in one.feed(doc)] + one.finish()

    for cut in (1, 3, 7, 12, 20):
        first = MessageTracker()
        out = [d for doc in docs[:cut] for d in first.feed(doc)]
        state = first.snapshot()
        second = MessageTracker()
        second.restore(state)
        out += [d for doc in docs[cut:] for d in second.feed(doc)] + second.finish()
        assert sorted(out, key=lambda d: d["_id"]) == sorted(whole, key=lambda d: d["_id"]), cut


def test_expiry_writes_incomplete() -> None:
    """A deferred message idle past expire_after is written with complete=false."""
    lines = DEFERRED_THEN_SENT[:2] + [
        "Nov 28 18:00:00 mx sm-mta[107]: starting daemon (8.17.1.9): SMTP+queueing@00:10:00"]
    t = MessageTracker(expire_after=3600)
    out = [d for doc in docs_for(lines) for d in t.feed(doc)]
    assert [(d["queue_id"], d["complete"], d["status"]) for d in out] == [("q1SA00d0000104", False, "deferred")]
    assert t.finish() == []
    assert t.counters["expired"] == 1


# -- real line shapes from samples/realsendmail-seed3 (Sendmail 8.17, MTA sm-mta, MSP sendmail) ---------
EXPIRED = [
    "Nov 29 01:23:13 smhost sm-mta[21784]: 6AT1NDmk021784: from=<smcarol@sm.example.test>, size=328, class=0, nrcpts=2, msgid=<sm00008.795b929e@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
    "Nov 29 01:23:13 smhost sm-mta[21787]: 6AT1NDmk021784: to=<b@deferred.test>,<a@deferred.test>, ctladdr=<smcarol@sm.example.test> (992/991), delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=60328, relay=[127.0.0.1] [127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]",
    "Nov 29 01:24:28 smhost sendmail[22557]: 6AT1NDmk021784: to=<a@deferred.test>,<b@deferred.test>, ctladdr=<smcarol@sm.example.test> (992/991), delay=00:01:15, xdelay=00:00:00, mailer=esmtp, pri=330328, relay=[127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]",
    "Nov 29 01:24:28 smhost sendmail[22557]: 6AT1NDmk021784: 6AT1OSwc022557: sender notify: Warning: could not send message for past 1 minute",
    "Nov 29 01:24:28 smhost sendmail[22557]: 6AT1OSwc022557: to=<smcarol@sm.example.test>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=31544, relay=local, dsn=2.1.5, stat=Sent",
    "Nov 29 01:26:19 smhost sendmail[27828]: 6AT1NDmk021784: to=<a@deferred.test>,<b@deferred.test>, ctladdr=<smcarol@sm.example.test> (992/991), delay=00:03:06, xdelay=00:00:00, mailer=esmtp, pri=420328, relay=[127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]",
    "Nov 29 01:26:19 smhost sendmail[27828]: 6AT1NDmk021784: 6AT1QJQP027828: sender notify: Cannot send message for 3 minutes",
    "Nov 29 01:26:19 smhost sendmail[27828]: 6AT1QJQP027828: to=<smcarol@sm.example.test>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=31544, relay=local, dsn=2.1.5, stat=Sent",
]


def test_expired_at_queuereturn_with_its_notices() -> None:
    """Deferred, a delay warning, then ``sender notify: Cannot send message for 3 minutes``: the
    recipients still deferred are expired, the message is over (complete) and both notices are linked."""
    ms = by_qid(messages(EXPIRED, year=2026))
    m = ms["6AT1NDmk021784"]
    assert (m["status"], m["complete"], m["flags"]) == ("expired", True, {"expired": "expired"})
    assert {r["to"]: r["status"] for r in m["recipients"]} == {"b@deferred.test": "expired", "a@deferred.test": "expired"}
    assert m["bounces"] == [{"queue_id": "6AT1OSwc022557", "notice": "delay"},
                            {"queue_id": "6AT1QJQP027828", "notice": "non_delivery"}]
    warning, ret = ms["6AT1OSwc022557"], ms["6AT1QJQP027828"]
    assert warning["bounce_of"]["notice"] == "delay" and ret["bounce_of"]["notice"] == "non_delivery"
    assert ret["bounce_of"]["queue_id"] == "6AT1NDmk021784"
    assert (ret["origin"], ret["from"], ret["status"]) == ("bounce", "", "sent")


def test_warning_alone_keeps_the_message_deferred() -> None:
    """The delay warning is no end: still deferred, written incomplete at end of input."""
    m = by_qid(messages(EXPIRED[:5], year=2026))["6AT1NDmk021784"]
    assert (m["status"], m["complete"]) == ("deferred", False)


def test_rejected_transactions_are_message_documents() -> None:
    """Transactions that accepted nothing (nrcpts=0) are documents with status rejected, under the
    queue id the MTA gave the transaction: a relaying denial at RCPT, an unknown user, a sender
    refused at MAIL, and MAIL refused for its SIZE= (no reject line at all)."""
    lines = [
        "Nov 29 01:23:13 smhost sm-mta[21776]: 6AT1NDQq021776: ruleset=check_rcpt, arg1=<friend@example.com>, relay=[127.0.0.2], reject=550 5.7.1 <friend@example.com>... Relaying denied. IP name lookup failed [127.0.0.2]",
        "Nov 29 01:23:13 smhost sm-mta[21776]: 6AT1NDQq021776: from=<x@example.net>, size=313, class=0, nrcpts=0, proto=ESMTP, daemon=MTA-v4, relay=[127.0.0.2]",
        "Nov 29 01:23:13 smhost sm-mta[21772]: 6AT1NCMk021772: <nouser@sm.example.test>... User unknown",
        "Nov 29 01:23:13 smhost sm-mta[21772]: 6AT1NCMk021772: from=<smalice@sm.example.test>, size=332, class=0, nrcpts=0, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:14 smhost sm-mta[21813]: 6AT1NEoi021813: ruleset=check_mail, arg1=<spammer@bad.test>, relay=localhost [127.0.0.1], reject=550 5.7.1 <spammer@bad.test>... Access denied",
        "Nov 29 01:23:14 smhost sm-mta[21813]: 6AT1NEoi021813: from=<spammer@bad.test>, size=322, class=0, nrcpts=0, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:14 smhost sm-mta[21818]: 6AT1NE1Q021818: from=<smalice@sm.example.test>, size=303977, class=0, nrcpts=0, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
    ]
    ms = by_qid(messages(lines, year=2026))
    assert {q: (m["status"], m["complete"]) for q, m in ms.items()} == {
        q: ("rejected", True) for q in ("6AT1NDQq021776", "6AT1NCMk021772", "6AT1NEoi021813", "6AT1NE1Q021818")}
    relay = row(ms["6AT1NDQq021776"], "friend@example.com")
    assert (relay["status"], relay["dsn"], relay["reply"]) == (
        "rejected", "5.7.1", "550 5.7.1 Relaying denied. IP name lookup failed [127.0.0.2]")
    assert ms["6AT1NDQq021776"]["client"]["ip"] == "127.0.0.2"
    assert row(ms["6AT1NCMk021772"], "nouser@sm.example.test")["status"] == "rejected"
    assert (ms["6AT1NEoi021813"]["reason"], ms["6AT1NEoi021813"]["recipients"]) == ("Access denied", [])
    assert ms["6AT1NE1Q021818"]["recipients"] == []


def test_rejected_recipient_beside_accepted_ones() -> None:
    """A recipient refused at RCPT joins the message of the same transaction (same queue id)."""
    lines = [
        "Nov 29 01:23:14 smhost sm-mta[21816]: 6AT1NElb021816: <blocked@sm.example.test>... User unknown",
        "Nov 29 01:23:14 smhost sm-mta[21816]: 6AT1NElb021816: from=<smalice@sm.example.test>, size=342, class=0, nrcpts=1, msgid=<sm00019.3bfd1d33@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:14 smhost sm-mta[21817]: 6AT1NElb021816: to=<smbob@sm.example.test>, ctladdr=<smalice@sm.example.test> (995/993), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30534, relay=local, dsn=2.1.5, stat=Sent",
    ]
    (m,) = messages(lines, year=2026)
    assert (m["status"], m["complete"]) == ("mixed", True)
    assert {r["to"]: r["status"] for r in m["recipients"]} == {
        "blocked@sm.example.test": "rejected", "smbob@sm.example.test": "sent"}


def test_message_too_big_at_data_is_rejected() -> None:
    """``message size (N) exceeds maximum (M)``, then a to= line without mailer: refused at DATA (552)."""
    lines = [
        "Nov 29 01:23:14 smhost sm-mta[21820]: 6AT1NE4s021820: from=<smalice@sm.example.test>, size=300002, class=0, nrcpts=1, msgid=<sm00021.fee29476@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:14 smhost sm-mta[21820]: 6AT1NE4s021820: message size (300002) exceeds maximum (200000)",
        "Nov 29 01:23:14 smhost sm-mta[21820]: 6AT1NE4s021820: to=<smbob@sm.example.test>, delay=00:00:00, pri=330002, stat=Message exceeds maximum fixed size (200000)",
    ]
    (m,) = messages(lines, year=2026)
    assert (m["status"], m["complete"], m["flags"]) == ("rejected", True, {"rejected": True})
    assert m["reason"] == "message size (300002) exceeds maximum (200000)"
    assert row(m, "smbob@sm.example.test")["status"] == "rejected"


def test_alias_expansion() -> None:
    """Aliases are never named: a program of an alias gives the alias as orig_to (its ctladdr=),
    the other products of an expansion (logged without <> in mail received over SMTP) are marked
    expanded; the recipients the client gave (in <>) are not."""
    lines = [
        "Nov 29 01:23:13 smhost sm-mta[21774]: 6AT1NDcj021774: from=<smalice@sm.example.test>, size=423, class=0, nrcpts=3, msgid=<sm00004.21636369@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:13 smhost sm-mta[21775]: 6AT1NDcj021774: to=<smbob@sm.example.test>, ctladdr=<smalice@sm.example.test> (995/993), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=180623, relay=local, dsn=2.1.5, stat=Sent",
        "Nov 29 01:23:13 smhost sm-mta[21775]: 6AT1NDcj021774: to=\"|exit 1\", ctladdr=<pipefail@sm.example.test> (8/0), delay=00:00:00, xdelay=00:00:00, mailer=prog, pri=180623, dsn=5.3.0, stat=unknown mailer error 1",
        "Nov 29 01:23:13 smhost sm-mta[21775]: 6AT1NDcj021774: to=smcarol, ctladdr=<smalice@sm.example.test> (995/993), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=180623, relay=local, dsn=2.1.5, stat=Sent",
        "Nov 29 01:23:13 smhost sm-mta[21775]: 6AT1NDcj021774: to=smalice, ctladdr=<smalice@sm.example.test> (995/993), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=180623, relay=local, dsn=2.1.5, stat=Sent",
        "Nov 29 01:23:13 smhost sm-mta[21775]: 6AT1NDcj021774: 6AT1NDcj021775: DSN: unknown mailer error 1",
    ]
    m = by_qid(messages(lines, year=2026))["6AT1NDcj021774"]
    rows = {r["to"]: (r["orig_to"], r["status"], r.get("expanded")) for r in m["recipients"]}
    assert rows == {"smbob@sm.example.test": (None, "sent", None),
                    '"|exit 1"': ("pipefail@sm.example.test", "bounced", True),
                    "smcarol": (None, "sent", True), "smalice": (None, "sent", True)}
    assert m["bounces"] == [{"queue_id": "6AT1NDcj021775", "notice": "non_delivery"}]


MSP_TO_MTA = [
    "Nov 29 01:23:14 smhost sendmail[21846]: 6AT1NEFc021846: from=smerin, size=335, class=0, nrcpts=1, msgid=<sm00030.03e0a813@gen.example.test>, relay=smerin@localhost",
    "Nov 29 01:23:14 smhost sm-mta[21847]: 6AT1NEMX021847: from=<smerin@sm.example.test>, size=479, class=0, nrcpts=1, msgid=<sm00030.03e0a813@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
    "Nov 29 01:23:14 smhost sendmail[21846]: 6AT1NEFc021846: to=smbob, ctladdr=smerin (990/989), delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=30335, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (6AT1NEMX021847 Message accepted for delivery)",
    "Nov 29 01:23:14 smhost sm-mta[21848]: 6AT1NEMX021847: to=<smbob@sm.example.test>, ctladdr=<smerin@sm.example.test> (990/989), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30694, relay=local, dsn=2.1.5, stat=Sent",
]


def test_msp_to_mta_handoff_is_one_message() -> None:
    """The MSP's ``Sent (<qid> Message accepted for delivery)`` to the local MTA joins the MTA's
    queue id: one document, the MTA's qualified sender, the MSP's bare recipient as orig_to of
    the MTA's delivery, the MSP's origin."""
    (m,) = messages(MSP_TO_MTA, year=2026)
    assert (m["status"], m["complete"], m["queue_ids"], m["hops"]) == (
        "sent", True, ["6AT1NEFc021846", "6AT1NEMX021847"], [{"queue_id": "6AT1NEMX021847", "via": "relay"}])
    assert (m["from"], m["message_id"], m["origin"], m["nrcpt"], m["size"]) == (
        "smerin@sm.example.test", "sm00030.03e0a813@gen.example.test", "local", 1, 335)
    (r,) = m["recipients"]
    assert (r["to"], r["orig_to"], r["status"], r["relay"]) == ("smbob@sm.example.test", "smbob", "sent", "local")
    assert [(a["queue_id"], a.get("handoff")) for a in r["attempts"]] == [
        ("6AT1NEFc021846", "6AT1NEMX021847"), ("6AT1NEMX021847", None)]


def test_msp_handoff_before_the_mta_line_and_final_outcome_from_the_mta() -> None:
    """The hand-off may be read before the MTA's first line; the MTA hop's outcome decides
    (deferred there, then expired), not the MSP's ``Sent``."""
    lines = [
        "Nov 29 01:23:15 smhost sendmail[21863]: 6AT1NFfG021863: from=smbob, size=339, class=0, nrcpts=1, msgid=<sm00033.10645d51@gen.example.test>, relay=smbob@localhost",
        "Nov 29 01:23:15 smhost sendmail[21863]: 6AT1NFfG021863: to=friend@example.com, ctladdr=smbob (993/992), delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=30339, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (6AT1NFDE021864 Message accepted for delivery)",
        "Nov 29 01:23:15 smhost sm-mta[21864]: 6AT1NFDE021864: from=<smbob@sm.example.test>, size=472, class=0, nrcpts=1, msgid=<sm00033.10645d51@gen.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:15 smhost sm-mta[21866]: 6AT1NFDE021864: to=<friend@example.com>, ctladdr=<smbob@sm.example.test> (993/992), delay=00:00:00, xdelay=00:00:00, mailer=smtp, pri=30472, relay=[127.0.0.1] [127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]",
        "Nov 29 01:26:19 smhost sendmail[27828]: 6AT1NFDE021864: to=<friend@example.com>, ctladdr=<smbob@sm.example.test> (993/992), delay=00:03:04, xdelay=00:00:00, mailer=smtp, pri=390472, relay=[127.0.0.1] [127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]",
        "Nov 29 01:26:19 smhost sendmail[27828]: 6AT1NFDE021864: 6AT1QJQN027828: sender notify: Cannot send message for 3 minutes",
    ]
    ms = by_qid(messages(lines, year=2026))
    m = ms["6AT1NFfG021863"]
    assert "6AT1NFDE021864" not in ms
    assert (m["status"], m["complete"], m["queue_ids"], m["from"]) == (
        "expired", True, ["6AT1NFfG021863", "6AT1NFDE021864"], "smbob@sm.example.test")
    assert row(m, "friend@example.com")["status"] == "expired"
    assert m["bounces"] == [{"queue_id": "6AT1QJQN027828", "notice": "non_delivery"}]


def test_msp_recipient_refused_by_the_mta_joins_the_refusing_transaction() -> None:
    """The MTA refused the MSP's only recipient at RCPT (a transaction with nrcpts=0 and no
    queue id to follow); the MSP logs the server's reply and bounces it: the reply, the address
    and the time join the two, so the mail is one message (bounced) with the qualified sender."""
    lines = [
        "Nov 29 01:23:14 smhost sendmail[21851]: 6AT1NEC3021851: from=smcarol, size=337, class=0, nrcpts=1, msgid=<sm00031.abe19f58@gen.example.test>, relay=smcarol@localhost",
        "Nov 29 01:23:14 smhost sm-mta[21852]: 6AT1NEE6021852: <nosuch@sm.example.test>... User unknown",
        "Nov 29 01:23:15 smhost sendmail[21851]: 6AT1NEC3021851: to=nosuch@sm.example.test, ctladdr=smcarol (992/991), delay=00:00:01, xdelay=00:00:01, mailer=relay, pri=30337, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 5.1.1 <nosuch@sm.example.test>... User unknown, stat=User unknown",
        "Nov 29 01:23:15 smhost sm-mta[21852]: 6AT1NEE6021852: from=<smcarol@sm.example.test>, size=337, class=0, nrcpts=0, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:15 smhost sendmail[21851]: 6AT1NEC3021851: 6AT1NEC4021851: DSN: User unknown",
        "Nov 29 01:23:15 smhost sm-mta[21852]: 6AT1NEE8021852: from=<>, size=2234, class=0, nrcpts=1, msgid=<202611290123.6AT1NEC4021851@mx.sm.example.test>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]",
        "Nov 29 01:23:15 smhost sendmail[21851]: 6AT1NEC4021851: to=smcarol, delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=31361, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (6AT1NEE8021852 Message accepted for delivery)",
        "Nov 29 01:23:15 smhost sm-mta[21853]: 6AT1NEE8021852: to=<smcarol@sm.example.test>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=32450, relay=local, dsn=2.1.5, stat=Sent",
    ]
    ms = by_qid(messages(lines, year=2026))
    assert sorted(ms) == ["6AT1NEC3021851", "6AT1NEC4021851"]
    m, dsn = ms["6AT1NEC3021851"], ms["6AT1NEC4021851"]
    assert (m["status"], m["complete"], m["from"], m["queue_ids"], m["hops"]) == (
        "bounced", True, "smcarol@sm.example.test", ["6AT1NEC3021851", "6AT1NEE6021852"],
        [{"queue_id": "6AT1NEE6021852", "via": "relay_reject"}])
    r = row(m, "nosuch@sm.example.test")
    assert (r["status"], r["reply"]) == ("bounced", "550 5.1.1 <nosuch@sm.example.test>... User unknown")
    assert [a["kind"] for a in r["attempts"]] == ["delivery", "reject"]
    # the MSP's DSN, relayed through the MTA too: one notice message, linked both ways
    assert m["bounces"] == [{"queue_id": "6AT1NEC4021851", "notice": "non_delivery"}]
    assert dsn["bounce_of"] == {"queue_id": "6AT1NEC3021851", "message_id": "sm00031.abe19f58@gen.example.test",
                                "notice": "non_delivery"}
    assert (dsn["from"], dsn["status"], dsn["queue_ids"]) == ("", "sent", ["6AT1NEC4021851", "6AT1NEE8021852"])
    assert (row(dsn, "smcarol@sm.example.test")["orig_to"], dsn["message_id"]) == (
        "smcarol", "202611290123.6AT1NEC4021851@mx.sm.example.test")


def test_unrelated_reject_is_not_joined() -> None:
    """Another client's reject of the same address (other reason text) is not the MSP's."""
    lines = [
        "Nov 29 01:23:14 smhost sendmail[21851]: 6AT1NEC3021851: from=smcarol, size=337, class=0, nrcpts=1, msgid=<sm00031.abe19f58@gen.example.test>, relay=smcarol@localhost",
        "Nov 29 01:23:14 smhost sm-mta[21852]: 6AT1NEE6021852: ruleset=check_rcpt, arg1=<nosuch@sm.example.test>, relay=[127.0.0.2], reject=550 5.7.1 <nosuch@sm.example.test>... Relaying denied",
        "Nov 29 01:23:15 smhost sendmail[21851]: 6AT1NEC3021851: to=nosuch@sm.example.test, ctladdr=smcarol (992/991), delay=00:00:01, xdelay=00:00:01, mailer=relay, pri=30337, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 5.1.1 <nosuch@sm.example.test>... User unknown, stat=User unknown",
    ]
    ms = by_qid(messages(lines, year=2026))
    assert sorted(ms) == ["6AT1NEC3021851", "6AT1NEE6021852"]
    assert ms["6AT1NEC3021851"]["from"] == "smcarol"


def test_snapshot_restore_across_a_handoff() -> None:
    """State saved between the MSP's and the MTA's lines: the same one document."""
    docs = docs_for(MSP_TO_MTA, year=2026)
    one = MessageTracker()
    whole = [d for doc in docs for d in one.feed(doc)] + one.finish()
    for cut in range(1, len(docs)):
        first = MessageTracker()
        out = [d for doc in docs[:cut] for d in first.feed(doc)]
        second = MessageTracker()
        second.restore(first.snapshot())
        out += [d for doc in docs[cut:] for d in second.feed(doc)] + second.finish()
        assert out == whole, cut


def test_lines_without_a_queue_id_start_no_message() -> None:
    """A Sendmail from=, to= or DSN line without a queue id (NOQUEUE, or a damaged line) cannot
    be joined: it is counted and stays a line document, where it used to stop the whole run."""
    from helpers import make_pipeline
    lines = [
        "Nov 28 12:00:00 mx sendmail[123]: NOQUEUE: from=<a@example.org>, size=1, class=0, nrcpts=1",
        "Nov 28 12:00:01 mx sendmail[123]: to=<b@example.org>, delay=00:00:01, mailer=local, stat=Sent",
    ]
    p, sink = make_pipeline("all")
    p.time.start_source(None)
    p.process([ln.encode() for ln in lines + SENT])
    p.finish()
    docs = sink.documents()
    assert [d["kind"] for d in docs if d["type"] == "line"][:2] == ["sendmail.from", "sendmail.to"]
    assert [m["queue_id"] for m in docs if m["type"] == "message"] == ["q1SA00a0000100"]
    assert p.tracker.counters["without_queue_id"] == 2


def test_a_joined_hop_leaves_nothing_behind() -> None:
    """Once the MSP and MTA hops are written as one message, the tracker holds nothing of
    either (a long --follow run must not grow by one entry per hand-off)."""
    from helpers import make_pipeline
    p, sink = make_pipeline("messages", year=2026)
    p.time.start_source(None)
    later = "Nov 29 01:30:00 smhost sm-mta[1]: starting daemon (8.17.1): SMTP+queueing@00:25:00"
    p.process([ln.encode() for ln in MSP_TO_MTA + [later]])    # the later line ends the linger
    tracker = p.tracker.sendmail
    written = [d["queue_ids"] for d in sink.documents()]
    assert ["6AT1NEFc021846", "6AT1NEMX021847"] in written
    assert not any("6AT1NE" in k for k in tracker._summaries)
    assert not any("6AT1NE" in k for k in tracker.messages)
