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
