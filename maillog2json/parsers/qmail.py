"""qmail-send (through ``splogger qmail`` or multilog): line documents.

qmail-send's log is a small fixed vocabulary, one event per line, optionally led by a
timestamp (splogger's ``1234567890.123456``, multilog's TAI64N ``@4000000049...``)::

    new msg 123
    info msg 123: bytes 456 from <a@b> qp 789 uid 1000
    starting delivery 1: msg 123 to local a@b
    delivery 1: success: did_0+0+1/
    delivery 2: deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/
    delivery 3: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/
    end msg 123
    bounce msg 123 qp 790
    triple bounce: discarding bounce/123
    status: local 0/10 remote 1/20

The message number (the queue file's inode) is the ``queue_id``; deliveries carry their
delivery number only, which the message tracker maps back to the message. Delivery
reports are written by qmail with ``_`` for blanks and ``/`` for line ends: ``reply`` keeps
them as written, ``reply_text`` reads them back. The line's first word picks the pattern
(dict dispatch); anything else returns None (``unparsed``).
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

TAGS = ("qmail", "qmail-send", "splogger")

RE_STAMP = re.compile(r"(?:(?P<unix>\d{9,10}\.\d+)|@(?P<tai>[0-9a-f]{24})) ")
RE_NEW = re.compile(r"new msg (?P<queue_id>\d+)\Z")
RE_INFO = re.compile(r"info msg (?P<queue_id>\d+): bytes (?P<size>\d+) from <(?P<from>[^>]*)> qp (?P<qp>\d+) uid (?P<uid>\d+)\Z")
RE_START = re.compile(r"starting delivery (?P<delivery_id>\d+): msg (?P<queue_id>\d+) to (?P<channel>local|remote) (?P<to>.*)\Z", re.S)
RE_DELIVERY = re.compile(r"delivery (?P<delivery_id>\d+): (?P<result>success|deferral|failure): ?(?P<reply>.*)\Z", re.S)
RE_MANGLED = re.compile(r"delivery (?P<delivery_id>\d+): report mangled, will defer\Z")
RE_END = re.compile(r"end msg (?P<queue_id>\d+)\Z")
RE_BOUNCE = re.compile(r"bounce msg (?P<queue_id>\d+) qp (?P<qp>\d+)\Z")
RE_TRIPLE = re.compile(r"triple bounce: discarding bounce/(?P<queue_id>\d+)\Z")
RE_STATUS = re.compile(r"status: local (?P<local_used>\d+)/(?P<local_max>\d+) remote (?P<remote_used>\d+)/(?P<remote_max>\d+)(?P<exitasap> exitasap)?\Z")
RE_DSN = re.compile(r"\(#(?P<dsn>[245]\.\d{1,3}\.\d{1,3})\)")
RE_REMOTE_IP = re.compile(r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3})_(?:accepted_message|does_not_like_recipient|failed_after_I_sent_the_message)")
RE_SAID = re.compile(r"Remote_host_said:_(?P<code>[2-5]\d\d)")

RESULTS = {"success": "sent", "deferral": "deferred", "failure": "bounced"}


def _int_groups(doc: Doc, m: re.Match, names: tuple[str, ...]) -> None:
    for name in names:
        v = m.group(name)
        if v is not None:
            doc[name] = int(v)


def parse_qmail(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    """Fill ``doc`` from a qmail-send message text; return the kind, or None."""
    text = msg
    if text[:1] in "0123456789@":
        s = RE_STAMP.match(text)
        if s is not None:
            if s.group("unix"):
                doc["qmail_time"] = float(s.group("unix"))
            else:
                doc["tai64n"] = "@" + s.group("tai")
            text = text[s.end():]
    word = text[:5]
    if word == "new m":
        m = RE_NEW.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        return "qmail.new"
    if word == "info ":
        m = RE_INFO.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        doc["size"] = int(m.group("size"))
        doc["from"] = m.group("from")
        _int_groups(doc, m, ("qp", "uid"))
        return "qmail.info"
    if word == "start":
        m = RE_START.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        doc["delivery_id"] = int(m.group("delivery_id"))
        doc["channel"] = m.group("channel")
        doc["to"] = m.group("to")
        return "qmail.starting_delivery"
    if word == "deliv":
        m = RE_DELIVERY.match(text)
        if m is None:
            m = RE_MANGLED.match(text)
            if m is None:
                return None
            doc["delivery_id"] = int(m.group("delivery_id"))
            doc["status"] = "deferred"
            doc["reply"] = "report mangled, will defer"
            return "qmail.delivery"
        doc["delivery_id"] = int(m.group("delivery_id"))
        doc["result"] = m.group("result")
        doc["status"] = RESULTS[m.group("result")]
        reply = m.group("reply")
        doc["reply"] = reply
        doc["reply_text"] = reply.rstrip("/").replace("/", " / ").replace("_", " ")
        d = RE_DSN.search(reply)
        if d is not None:
            doc["dsn"] = d.group("dsn")
        r = RE_REMOTE_IP.match(reply)
        if r is not None:
            doc["relay_ip"] = r.group("ip")
        s2 = RE_SAID.search(reply)
        if s2 is not None:
            doc["reply_code"] = int(s2.group("code"))
        return "qmail.delivery"
    if word == "end m":
        m = RE_END.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        return "qmail.end"
    if word == "bounc":
        m = RE_BOUNCE.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        doc["qp"] = int(m.group("qp"))
        return "qmail.bounce"
    if word == "tripl":
        m = RE_TRIPLE.match(text)
        if m is None:
            return None
        doc["queue_id"] = m.group("queue_id")
        return "qmail.triple_bounce"
    if word == "statu":
        m = RE_STATUS.match(text)
        if m is None:
            return None
        _int_groups(doc, m, ("local_used", "local_max", "remote_used", "remote_max"))
        if m.group("exitasap"):
            doc["exitasap"] = True
        return "qmail.status"
    if word in ("warni", "alert"):
        level, sep, rest = text.partition(": ")
        if not sep or level not in ("warning", "alert"):
            return None
        doc["level"] = level
        doc["text"] = rest
        return "qmail." + level
    return None


# every kind this module gives (the message tracker routes them to its qmail part)
KINDS = ("qmail.new", "qmail.info", "qmail.starting_delivery", "qmail.delivery", "qmail.end", "qmail.bounce",
         "qmail.triple_bounce", "qmail.status", "qmail.warning", "qmail.alert")
