"""The message tracker: message documents from line documents (maillog2json.correlate)."""

from __future__ import annotations

from typing import Any

import pytest

from maillog2json.correlate import MessageTracker
from helpers import make_pipeline, pipeline_docs


def messages(lines: str, **kw: Any) -> list[dict[str, Any]]:
    """Message documents for a block of log lines (one per text line, leading blanks stripped)."""
    raw = [ln.strip() for ln in lines.strip().splitlines() if ln.strip()]
    return [d for d in pipeline_docs(raw, emit="messages", **kw) if d["type"] == "message"]


def rcpt(doc: dict[str, Any], to: str) -> dict[str, Any]:
    rows = [r for r in doc["recipients"] if r["to"] == to]
    assert rows, f"no recipient {to} in {doc['recipients']}"
    return rows[0]


SIMPLE = """
Mar  3 10:00:00 mx postfix/smtpd[100]: connect from client.example.net[192.0.2.10]
Mar  3 10:00:01 mx postfix/smtpd[100]: 1A2B3C4D5E: client=client.example.net[192.0.2.10], sasl_method=PLAIN, sasl_username=ann
Mar  3 10:00:01 mx postfix/cleanup[101]: 1A2B3C4D5E: message-id=<m1@example.net>
Mar  3 10:00:01 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<ann@example.net>, size=1234, nrcpt=2 (queue active)
Mar  3 10:00:01 mx postfix/smtpd[100]: disconnect from client.example.net[192.0.2.10] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6
Mar  3 10:00:02 mx postfix/smtp[103]: 1A2B3C4D5E: to=<bob@remote.example>, relay=mx.remote.example[198.51.100.7]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99XYZ)
Mar  3 10:00:02 mx postfix/smtp[103]: 1A2B3C4D5E: to=<carl@remote.example>, relay=mx.remote.example[198.51.100.7]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.remote.example[198.51.100.7] said: 550 5.1.1 <carl@remote.example>: unknown (in reply to RCPT TO command))
Mar  3 10:00:02 mx postfix/cleanup[101]: 2B3C4D5E6F: message-id=<20260303100002.2B3C4D5E6F@mx.example.net>
Mar  3 10:00:02 mx postfix/bounce[104]: 1A2B3C4D5E: sender non-delivery notification: 2B3C4D5E6F
Mar  3 10:00:02 mx postfix/qmgr[102]: 2B3C4D5E6F: from=<>, size=3000, nrcpt=1 (queue active)
Mar  3 10:00:02 mx postfix/qmgr[102]: 1A2B3C4D5E: removed
Mar  3 10:00:03 mx postfix/local[105]: 2B3C4D5E6F: to=<ann@example.net>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Mar  3 10:00:03 mx postfix/qmgr[102]: 2B3C4D5E6F: removed
"""


class TestBasicLifecycle:
    def test_one_document_per_message_with_outcomes(self):
        """A message with a sent and a bounced recipient is 'mixed', with each outcome."""
        docs = messages(SIMPLE)
        orig = next(d for d in docs if d["queue_id"] == "1A2B3C4D5E")
        assert orig["status"] == "mixed"
        assert orig["complete"] is True
        assert orig["from"] == "ann@example.net"
        assert orig["message_id"] == "m1@example.net"
        assert orig["size"] == 1234 and orig["nrcpt"] == 2
        assert orig["client"]["ip"] == "192.0.2.10"
        assert orig["client"]["sasl_username"] == "ann"
        assert rcpt(orig, "bob@remote.example")["status"] == "sent"
        carl = rcpt(orig, "carl@remote.example")
        assert carl["status"] == "bounced" and carl["dsn"] == "5.1.1"
        assert orig["first_seen"] == "2026-03-03T10:00:01+00:00"

    def test_bounce_notice_is_linked_both_ways(self):
        """The non-delivery notice is its own message, linked to the original and back."""
        docs = messages(SIMPLE)
        orig = next(d for d in docs if d["queue_id"] == "1A2B3C4D5E")
        notice = next(d for d in docs if d["queue_id"] == "2B3C4D5E6F")
        assert orig["bounces"] == [{"queue_id": "2B3C4D5E6F", "notice": "non_delivery"}]
        assert notice["bounce_of"]["queue_id"] == "1A2B3C4D5E"
        assert notice["from"] == "" and notice["origin"] == "bounce"
        assert notice["status"] == "sent"

    def test_remote_queued_as_is_not_a_hop(self):
        """A 'queued as' id never seen on this host is a remote id, not a hop of ours."""
        orig = next(d for d in messages(SIMPLE) if d["queue_id"] == "1A2B3C4D5E")
        assert orig["queue_ids"] == ["1A2B3C4D5E"]

    def test_ids_are_stable_across_replays(self):
        """Replaying the same log gives the same message _ids, all distinct."""
        a = [d["_id"] for d in messages(SIMPLE)]
        b = [d["_id"] for d in messages(SIMPLE)]
        assert a == b and len(set(a)) == len(a)


CONTENT_FILTER = """
Mar  3 11:00:00 mx postfix/submission/smtpd[200]: connect from laptop[203.0.113.5]
Mar  3 11:00:01 mx postfix/submission/smtpd[200]: AAAA11111: client=laptop[203.0.113.5], sasl_method=LOGIN, sasl_username=ann
Mar  3 11:00:01 mx postfix/cleanup[201]: AAAA11111: message-id=<cf1@example.net>
Mar  3 11:00:01 mx postfix/qmgr[202]: AAAA11111: from=<ann@example.net>, size=800, nrcpt=1 (queue active)
Mar  3 11:00:02 mx postfix/reinject/smtpd[203]: connect from localhost[127.0.0.1]
Mar  3 11:00:02 mx postfix/reinject/smtpd[203]: BBBB22222: client=localhost[127.0.0.1], orig_queue_id=AAAA11111, orig_client=laptop[203.0.113.5]
Mar  3 11:00:02 mx postfix/cleanup[201]: BBBB22222: message-id=<cf1@example.net>
Mar  3 11:00:02 mx postfix/qmgr[202]: BBBB22222: from=<ann@example.net>, size=1100, nrcpt=1 (queue active)
Mar  3 11:00:02 mx postfix/scan/smtp[204]: AAAA11111: to=<dan@example.org>, relay=127.0.0.1[127.0.0.1]:10025, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB22222)
Mar  3 11:00:02 mx postfix/qmgr[202]: AAAA11111: removed
Mar  3 11:00:03 mx postfix/smtp[205]: BBBB22222: to=<dan@example.org>, relay=mx.example.org[198.51.100.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.example.org[198.51.100.9] said: 450 4.7.1 greylisted (in reply to RCPT TO command))
Mar  3 11:05:03 mx postfix/smtp[205]: BBBB22222: to=<dan@example.org>, relay=mx.example.org[198.51.100.9]:25, delay=301, delays=300/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok id=xyz)
Mar  3 11:05:03 mx postfix/qmgr[202]: BBBB22222: removed
"""

RELAY_RACE = """
Mar  3 12:00:00 mx postfix/smtpd[300]: connect from a[192.0.2.1]
Mar  3 12:00:00 mx postfix/smtpd[300]: CCCC33333: client=a[192.0.2.1]
Mar  3 12:00:00 mx postfix/cleanup[301]: CCCC33333: message-id=<r1@x>
Mar  3 12:00:00 mx postfix/qmgr[302]: CCCC33333: from=<a@x.test>, size=500, nrcpt=2 (queue active)
Mar  3 12:00:01 mx postfix-in/smtpd[310]: connect from localhost[127.0.0.1]
Mar  3 12:00:01 mx postfix-in/smtpd[310]: DDDD44444: client=localhost[127.0.0.1]
Mar  3 12:00:01 mx postfix-in/cleanup[311]: DDDD44444: message-id=<r1@x>
Mar  3 12:00:01 mx postfix-in/smtpd[310]: DDDD44444: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <gone@relay.test>: Recipient address rejected: unknown; from=<a@x.test> to=<gone@relay.test> proto=ESMTP helo=<mx.example.net>
Mar  3 12:00:01 mx postfix-in/qmgr[312]: DDDD44444: from=<a@x.test>, size=700, nrcpt=1 (queue active)
Mar  3 12:00:01 mx postfix-in/lmtp[313]: DDDD44444: to=<bob@bbb.test>, orig_to=<bob@relay.test>, relay=mail[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <bob@bbb.test> Saved)
Mar  3 12:00:01 mx postfix-in/qmgr[312]: DDDD44444: removed
Mar  3 12:00:01 mx postfix/smtp[303]: CCCC33333: to=<bob@relay.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as DDDD44444)
Mar  3 12:00:01 mx postfix/smtp[303]: CCCC33333: to=<gone@relay.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <gone@relay.test>: Recipient address rejected: unknown (in reply to RCPT TO command))
Mar  3 12:00:01 mx postfix/qmgr[302]: CCCC33333: removed
"""

FORWARD = """
Mar  3 13:00:00 mx postfix/pickup[400]: EEEE55555: uid=1000 from=<ann>
Mar  3 13:00:00 mx postfix/cleanup[401]: EEEE55555: message-id=<f1@x>
Mar  3 13:00:00 mx postfix/qmgr[402]: EEEE55555: from=<ann@mx.example.net>, size=300, nrcpt=1 (queue active)
Mar  3 13:00:00 mx postfix/local[403]: EEEE55555: to=<keep@mx.example.net>, orig_to=<list@mx.example.net>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Mar  3 13:00:00 mx postfix/cleanup[401]: FFFF66666: message-id=<f1@x>
Mar  3 13:00:00 mx postfix/qmgr[402]: FFFF66666: from=<ann@mx.example.net>, size=400, nrcpt=1 (queue active)
Mar  3 13:00:00 mx postfix/local[403]: EEEE55555: to=<list@mx.example.net>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (forwarded as FFFF66666)
Mar  3 13:00:00 mx postfix/qmgr[402]: EEEE55555: removed
Mar  3 13:00:01 mx postfix/smtp[404]: FFFF66666: to=<far@remote.test>, orig_to=<list@mx.example.net>, relay=mx.remote.test[198.51.100.3]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.0.0, status=bounced (host mx.remote.test[198.51.100.3] said: 550 no (in reply to RCPT TO command))
Mar  3 13:00:01 mx postfix/qmgr[402]: FFFF66666: removed
"""

REQUEUE = """
Mar  3 14:00:00 mx postfix/smtpd[500]: connect from a[192.0.2.1]
Mar  3 14:00:00 mx postfix/smtpd[500]: 1111AAAA: client=a[192.0.2.1]
Mar  3 14:00:00 mx postfix/cleanup[501]: 1111AAAA: message-id=<q1@x>
Mar  3 14:00:00 mx postfix/qmgr[502]: 1111AAAA: from=<a@x.test>, size=500, nrcpt=1 (queue active)
Mar  3 14:00:01 mx postfix/smtp[503]: 1111AAAA: to=<z@slow.test>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to slow.test[198.51.100.4]:25: Connection timed out)
Mar  3 14:10:00 mx postfix/postsuper[504]: 1111AAAA: requeued
Mar  3 14:10:00 mx postfix/postsuper[504]: Requeued: 1 message
Mar  3 14:10:00 mx postfix/pickup[505]: 2222BBBB: uid=0 from=<a@x.test> orig_id=1111AAAA
Mar  3 14:10:00 mx postfix/cleanup[501]: 2222BBBB: message-id=<q1@x>
Mar  3 14:10:00 mx postfix/qmgr[502]: 2222BBBB: from=<a@x.test>, size=520, nrcpt=1 (queue active)
Mar  3 14:10:02 mx postfix/smtp[503]: 2222BBBB: to=<z@slow.test>, relay=slow.test[198.51.100.4]:25, delay=602, delays=600/0/1/1, dsn=2.0.0, status=sent (250 ok)
Mar  3 14:10:02 mx postfix/qmgr[502]: 2222BBBB: removed
"""


class TestHops:
    def test_content_filter_joins_both_queue_ids(self):
        """XFORWARD orig_queue_id and 'queued as' join the filter's re-injection into one message."""
        docs = messages(CONTENT_FILTER)
        assert len(docs) == 1
        d = docs[0]
        assert d["queue_ids"] == ["AAAA11111", "BBBB22222"]
        assert d["status"] == "sent"
        dan = rcpt(d, "dan@example.org")
        assert [a["status"] for a in dan["attempts"]] == ["sent", "deferred", "sent"]
        assert dan["relay"] == "mx.example.org[198.51.100.9]:25"
        assert d["client"]["sasl_username"] == "ann" and d["client"]["service"] == "postfix/submission"

    def test_relay_to_second_instance_when_the_link_comes_last(self):
        """The second hop finished before the first logged 'queued as': still one message."""
        docs = messages(RELAY_RACE)
        assert len(docs) == 1, [d["queue_ids"] for d in docs]
        d = docs[0]
        assert d["queue_ids"] == ["CCCC33333", "DDDD44444"]
        bob = rcpt(d, "bob@relay.test")
        assert bob["status"] == "sent" and bob["final_to"] == "bob@bbb.test"
        gone = rcpt(d, "gone@relay.test")
        assert gone["status"] == "bounced", "the sending side's outcome stands over the receiver's reject"
        assert d["status"] == "mixed"

    def test_local_forward_follows_the_new_queue_id(self):
        """A local(8) forward is followed: the alias's outcome is the forwarded copy's."""
        docs = messages(FORWARD)
        assert len(docs) == 1
        d = docs[0]
        assert d["queue_ids"] == ["EEEE55555", "FFFF66666"]
        assert d["forwarded_as"] == ["FFFF66666"]
        assert rcpt(d, "keep@mx.example.net")["status"] == "sent"
        lst = rcpt(d, "list@mx.example.net")
        assert lst["status"] == "bounced" and lst["final_to"] == "far@remote.test"
        assert d["origin"] == "pickup" and d["uid"] == 1000

    def test_postsuper_requeue_is_the_same_message(self):
        """postsuper -r gives a new queue id (pickup orig_id=): one message, delivered."""
        docs = messages(REQUEUE)
        assert len(docs) == 1
        d = docs[0]
        assert d["queue_ids"] == ["1111AAAA", "2222BBBB"]
        assert d["status"] == "sent" and d["requeued_as"] == ["2222BBBB"]
        assert [a["status"] for a in rcpt(d, "z@slow.test")["attempts"]] == ["deferred", "sent"]


REJECTS = """
Mar  4 09:00:00 mx postfix/smtpd[600]: connect from bad[192.0.2.66]
Mar  4 09:00:01 mx postfix/smtpd[600]: NOQUEUE: reject: RCPT from bad[192.0.2.66]: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in local recipient table; from=<s@spam.test> to=<nobody@example.net> proto=ESMTP helo=<spam.test>
Mar  4 09:00:01 mx postfix/smtpd[600]: NOQUEUE: reject: RCPT from bad[192.0.2.66]: 554 5.7.1 <x@elsewhere.test>: Relay access denied; from=<s@spam.test> to=<x@elsewhere.test> proto=ESMTP helo=<spam.test>
Mar  4 09:00:02 mx postfix/smtpd[600]: disconnect from bad[192.0.2.66] ehlo=1 mail=1 rcpt=0/2 quit=1 commands=3/5
Mar  4 09:01:00 mx postfix/smtpd[600]: connect from good[192.0.2.77]
Mar  4 09:01:01 mx postfix/smtpd[600]: NOQUEUE: reject: RCPT from good[192.0.2.77]: 550 5.1.1 <typo@example.net>: Recipient address rejected: User unknown in local recipient table; from=<g@good.test> to=<typo@example.net> proto=ESMTP helo=<good.test>
Mar  4 09:01:01 mx postfix/smtpd[600]: 3333CCCC: client=good[192.0.2.77]
Mar  4 09:01:01 mx postfix/smtpd[600]: 3333CCCC: reject: RCPT from good[192.0.2.77]: 450 4.2.0 <busy@example.net>: Recipient address rejected: try later; from=<g@good.test> to=<busy@example.net> proto=ESMTP helo=<good.test>
Mar  4 09:01:01 mx postfix/cleanup[601]: 3333CCCC: message-id=<ok1@good.test>
Mar  4 09:01:01 mx postfix/qmgr[602]: 3333CCCC: from=<g@good.test>, size=900, nrcpt=1 (queue active)
Mar  4 09:01:01 mx postfix/smtpd[600]: disconnect from good[192.0.2.77] ehlo=1 mail=1 rcpt=1/3 data=1 quit=1 commands=5/7
Mar  4 09:01:02 mx postfix/lmtp[603]: 3333CCCC: to=<ann@example.net>, relay=mail[private/dovecot-lmtp], delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <ann@example.net> Saved)
Mar  4 09:01:02 mx postfix/qmgr[602]: 3333CCCC: removed
"""


class TestRejects:
    def test_fully_rejected_session_is_a_rejected_message(self):
        """A transaction whose every recipient was rejected is a message document with status rejected."""
        docs = messages(REJECTS)
        rej = [d for d in docs if d["queue_id"] is None]
        assert len(rej) == 1
        r = rej[0]
        assert r["status"] == "rejected" and r["from"] == "s@spam.test"
        assert [x["to"] for x in r["recipients"]] == ["nobody@example.net", "x@elsewhere.test"]
        assert {x["status"] for x in r["recipients"]} == {"rejected"}
        assert r["client"] == {"host": "bad", "ip": "192.0.2.66", "helo": "spam.test"}

    def test_noqueue_reject_joins_the_message_its_session_queued(self):
        """NOQUEUE and queue-id rejects of a session become rejected recipients of its message."""
        docs = messages(REJECTS)
        m = next(d for d in docs if d["queue_id"] == "3333CCCC")
        assert [x["to"] for x in m["recipients"]] == ["typo@example.net", "busy@example.net", "ann@example.net"]
        assert rcpt(m, "typo@example.net")["status"] == "rejected"
        busy = rcpt(m, "busy@example.net")
        assert busy["status"] == "rejected" and busy["dsn"] == "4.2.0"
        assert rcpt(m, "ann@example.net")["status"] == "sent"
        assert m["status"] == "mixed"
        assert m["client"]["helo"] == "good.test"


ENDINGS = """
Mar  5 08:00:00 mx postfix/smtpd[700]: connect from h[192.0.2.5]
Mar  5 08:00:00 mx postfix/smtpd[700]: NOQUEUE: hold: RCPT from h[192.0.2.5]: <x@held.test>: Sender address held; from=<x@held.test> to=<a@example.net> proto=ESMTP helo=<h>
Mar  5 08:00:00 mx postfix/smtpd[700]: 4444DDDD: client=h[192.0.2.5]
Mar  5 08:00:00 mx postfix/cleanup[701]: 4444DDDD: message-id=<h1@held.test>
Mar  5 08:00:00 mx postfix/smtpd[700]: disconnect from h[192.0.2.5] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Mar  5 08:10:00 mx postfix/postsuper[702]: 4444DDDD: removed
Mar  5 08:10:00 mx postfix/postsuper[702]: Deleted: 1 message
Mar  5 08:20:00 mx postfix/smtpd[700]: connect from h[192.0.2.5]
Mar  5 08:20:00 mx postfix/smtpd[700]: 5555EEEE: client=h[192.0.2.5]
Mar  5 08:20:01 mx postfix/smtpd[700]: lost connection after DATA (512 bytes) from h[192.0.2.5]
Mar  5 08:20:01 mx postfix/smtpd[700]: disconnect from h[192.0.2.5] ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4
Mar  5 08:30:00 mx postfix/pickup[703]: 6666FFFF: uid=0 from=<root>
Mar  5 08:30:00 mx postfix/cleanup[701]: 6666FFFF: reject: header Subject: buy now from local; from=<root@mx> to=<a@example.net>: 5.7.1 spam
Mar  5 08:30:00 mx postfix/cleanup[701]: 6666FFFF: message-id=<p1@mx>
Mar  5 08:30:00 mx postfix/cleanup[701]: 6666FFFF: to=<a@example.net>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.7.1, status=bounced (5.7.1 spam)
Mar  5 08:40:00 mx postfix/smtpd[700]: connect from h[192.0.2.5]
Mar  5 08:40:00 mx postfix/smtpd[700]: 7777AAAA: client=h[192.0.2.5]
Mar  5 08:40:00 mx postfix/cleanup[701]: 7777AAAA: message-id=<e1@x>
Mar  5 08:40:00 mx postfix/qmgr[704]: 7777AAAA: from=<e@x.test>, size=100, nrcpt=1 (queue active)
Mar  5 08:40:01 mx postfix/smtp[705]: 7777AAAA: to=<f@down.test>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to down.test[198.51.100.1]:25: Connection refused)
Mar 10 08:40:01 mx postfix/qmgr[704]: 7777AAAA: from=<e@x.test>, status=expired, returned to sender
Mar 10 08:40:01 mx postfix/qmgr[704]: 7777AAAA: removed
"""


class TestEndings:
    def test_each_way_a_story_can_end(self):
        """Deleted while held, aborted in DATA, rejected by cleanup, and expired."""
        docs = {d["queue_id"]: d for d in messages(ENDINGS)}
        held = docs["4444DDDD"]
        assert held["status"] == "deleted" and held["from"] == "x@held.test" and held["flags"]["held"] is True
        assert docs["5555EEEE"]["status"] == "aborted"
        assert docs["5555EEEE"]["reason"] == "lost connection after DATA (512 bytes)"
        picked = docs["6666FFFF"]
        assert picked["status"] == "rejected" and rcpt(picked, "a@example.net")["status"] == "rejected"
        assert docs["7777AAAA"]["status"] == "expired"
        assert all(d["complete"] for d in docs.values())

    def test_end_of_input_flushes_in_flight_as_incomplete(self):
        """A message whose end is not in the log is written at EOF with complete=false."""
        lines = "\n".join(SIMPLE.strip().splitlines()[:6])
        docs = messages(lines)
        assert len(docs) == 1 and docs[0]["complete"] is False
        assert docs[0]["status"] == "sent" and docs[0]["queue_id"] == "1A2B3C4D5E"


class TestBounds:
    def test_max_inflight_evicts_oldest_as_incomplete(self):
        """Beyond --max-inflight the oldest message is written incomplete, never dropped."""
        lines = [f"Mar  6 10:00:{i % 60:02d} mx postfix/qmgr[1]: {0xA00000 + i:X}: from=<a@x>, size=1, nrcpt=1 (queue active)"
                 for i in range(250)]
        docs = messages("\n".join(lines), max_inflight=100)
        assert len(docs) == 250
        assert sum(1 for d in docs if d["complete"] is False) == 250

    def test_expiry_is_driven_by_log_time(self):
        """A message idle for longer than expire_after (in log time) is written when later lines arrive."""
        p, sink = make_pipeline(emit="messages", expire_after=3600)
        p.time.start_source(None)
        p.process([b"Mar  6 10:00:00 mx postfix/qmgr[1]: ABCDEF123: from=<a@x>, size=1, nrcpt=1 (queue active)"])
        assert sink.documents() == []
        p.process([b"Mar  6 11:00:01 mx postfix/qmgr[1]: ABCDEF999: from=<b@x>, size=1, nrcpt=1 (queue active)"])
        docs = sink.documents()
        assert [d["queue_id"] for d in docs] == ["ABCDEF123"] and docs[0]["complete"] is False
        assert p.tracker.counters["expired"] == 1

    def test_queue_id_reuse_starts_a_new_message(self):
        """A new client= for a queue id already in flight ends the old story (incomplete) and starts a new one."""
        text = SIMPLE.strip().splitlines()[:4] + [
            "Mar  3 18:00:00 mx postfix/smtpd[100]: 1A2B3C4D5E: client=other[192.0.2.99]"]
        docs = messages("\n".join(text))
        assert len(docs) == 2
        assert docs[0]["complete"] is False and docs[0]["client"]["ip"] == "192.0.2.10"
        assert docs[1]["client"]["ip"] == "192.0.2.99"


class TestMailbox:
    def test_dovecot_save_is_attached_to_the_recipient(self):
        """Dovecot's 'saved mail to' and 'save failed' lines land on the recipient's row by message-id."""
        text = """
        Mar  7 10:00:00 mx postfix/smtpd[1]: 8888BBBB: client=a[192.0.2.1]
        Mar  7 10:00:00 mx postfix/cleanup[2]: 8888BBBB: message-id=<mb@x>
        Mar  7 10:00:00 mx postfix/qmgr[3]: 8888BBBB: from=<a@x>, size=10, nrcpt=2 (queue active)
        Mar  7 10:00:01 mx dovecot: lmtp(ann@example.net)<44><s1>: msgid=<mb@x>: saved mail to INBOX
        Mar  7 10:00:01 mx dovecot: lmtp(full@example.net)<44><s2>: msgid=<mb@x>: save failed to INBOX: Quota exceeded (mailbox for user is full)
        Mar  7 10:00:01 mx postfix/lmtp[5]: 8888BBBB: to=<ann@example.net>, relay=m[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 <ann@example.net> s1 Saved)
        Mar  7 10:00:01 mx postfix/lmtp[5]: 8888BBBB: to=<full@example.net>, relay=m[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=5.2.2, status=bounced (host m[private/dovecot-lmtp] said: 552 5.2.2 <full@example.net> Quota exceeded (in reply to end of DATA command))
        Mar  7 10:00:01 mx postfix/qmgr[3]: 8888BBBB: removed
        """
        d = messages(text)[0]
        assert rcpt(d, "ann@example.net")["mailbox"] == [
            {"mailbox": "INBOX", "timestamp": "2026-03-07T10:00:01+00:00", "status": "saved", "session": "s1"}]
        full = rcpt(d, "full@example.net")
        assert full["mailbox"][0]["status"] == "save_failed" and "Quota" in full["mailbox"][0]["error"]


class TestState:
    def test_state_roundtrip_equals_one_run(self, tmp_path):
        """Split anywhere, saved and restored through a state file: the same documents as one run."""
        text = [ln.strip() for ln in (SIMPLE + CONTENT_FILTER + RELAY_RACE + FORWARD + REQUEUE + REJECTS
                                      + ENDINGS).strip().splitlines() if ln.strip()]
        whole = sorted(pipeline_docs(text, emit="messages"), key=lambda d: d["_id"])
        state = tmp_path / "state.json"
        for cut in range(0, len(text) + 1):
            if state.exists():
                state.unlink()
            p1, s1 = make_pipeline(emit="messages")
            p1.time.start_source(None)
            p1.process([x.encode() for x in text[:cut]])
            p1.tracker.save(str(state))
            t2 = MessageTracker()
            t2.load(str(state))
            p2, s2 = make_pipeline(emit="messages", tracker=t2)
            p2.time.start_source(None)
            p2.process([x.encode() for x in text[cut:]])
            p2.finish()
            both = sorted(s1.documents() + s2.documents(), key=lambda d: d["_id"])
            assert both == whole, f"split at line {cut}"

    def test_state_file_is_replaced_atomically(self, tmp_path):
        """Saving writes a temporary file and renames it: no partial state file is ever visible."""
        t = MessageTracker()
        path = tmp_path / "s.json"
        path.write_text("old")
        t.save(str(path))
        assert path.read_bytes().startswith(b"{") and not list(tmp_path.glob(".maillog2json-state.*"))

    def test_unknown_state_version_is_refused(self, tmp_path):
        """A state file from another version is refused with a clear error."""
        path = tmp_path / "s.json"
        path.write_text('{"version": 999}')
        with pytest.raises(ValueError, match="version"):
            MessageTracker().load(str(path))


def _lifecycle(day: int, i: int) -> list[str]:
    """One complete message's lines, on March ``day``, number ``i``."""
    qid = f"{0xB00000 + i:X}"
    t = f"Mar {day:2d} 10:{i // 60 % 60:02d}:{i % 60:02d}"
    return [f"{t} mx postfix/smtpd[9]: {qid}: client=c[192.0.2.9]",
            f"{t} mx postfix/qmgr[8]: {qid}: from=<a@x.test>, size=10, nrcpt=1 (queue active)",
            f"{t} mx postfix/local[7]: {qid}: to=<b@mx>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)",
            f"{t} mx postfix/qmgr[8]: {qid}: removed"]


class TestClockSteps:
    def test_log_time_going_back_a_day_keeps_state_bounded(self):
        """After log time steps back a day, finished messages still leave promptly and nothing piles up."""
        p, sink = make_pipeline(emit="messages")
        p.time.start_source(None)
        for i in range(50):
            p.process([x.encode() for x in _lifecycle(2, i)])
        peak = 0
        for i in range(50, 1050):
            p.process([x.encode() for x in _lifecycle(1, i)])
            peak = max(peak, len(p.tracker.lingering), len(p.tracker.messages))
        p.finish()
        docs = sink.documents()
        assert len(docs) == 1050 and all(d["complete"] and d["status"] == "sent" for d in docs)
        assert peak < 20, f"{peak} messages held at once after the step back"
        assert p.tracker.counters["clock_steps_back"] == 1


def test_lines_without_a_queue_id_start_no_message() -> None:
    """A delivery, message-id, queue or pickup line that lost its queue id cannot be joined:
    it stays a line document (and is counted) instead of starting a message with a null id."""
    lines = """
    Mar  3 10:00:00 mx postfix/smtp[1]: to=<a@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)
    Mar  3 10:00:01 mx postfix/smtp[1]: to=<b@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=4.0.0, status=deferred (y)
    Mar  3 10:00:02 mx postfix/cleanup[2]: message-id=<x@example.com>
    Mar  3 10:00:03 mx postfix/qmgr[3]: from=<s@example.com>, size=1, nrcpt=1 (queue active)
    Mar  3 10:00:04 mx postfix/pickup[4]: uid=0 from=<root>
    """
    p, sink = make_pipeline("all")
    p.time.start_source(None)
    p.process([ln.strip().encode() for ln in lines.strip().splitlines()] + [ln.encode() for ln in SIMPLE.strip().splitlines()])
    p.finish()
    docs = sink.documents()
    line_kinds = [d["kind"] for d in docs if d["type"] == "line"][:5]
    assert line_kinds == ["delivery", "delivery", "cleanup.message_id", "qmgr.queued", "pickup.submit"]
    msgs = [d for d in docs if d["type"] == "message"]
    assert [m["queue_id"] for m in msgs] == ["1A2B3C4D5E", "2B3C4D5E6F"]
    assert p.tracker.counters["without_queue_id"] == 5
