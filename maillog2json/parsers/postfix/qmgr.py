"""qmgr(8): a message enters the active queue, expires, or leaves the queue."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import QUEUE_ID_PREFIX, Doc, Shapes, kv_into

# B5A021642D1: from=<alice@example.test>, size=541, nrcpt=1 (queue active)
RE_QUEUED = re.compile(r"(?P<kv>from=.*?)(?: \(queue (?P<queue>\w+)\))?\Z", re.S)
RE_QUEUED_FAST = re.compile(r"from=<([^<>]*)>, size=([0-9]+), nrcpt=([0-9]+) \(queue (\w+)\)\Z")
# 4FAE3164311: from=<carol@example.test>, status=expired, returned to sender
RE_EXPIRED = re.compile(r"from=(?P<from><[^>]*>|\S*), status=(?P<status>expired|force-expired), (?P<text>.*)\Z",
                        re.S)


def parse_qmgr(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is not None:
        return None
    if msg == "removed" or msg == 'removed"':      # (a stray quote: real-world damage)
        return "qmgr.removed"
    if msg.startswith("from="):
        if _queued(msg, doc) is not None:
            return "qmgr.queued"
        e = RE_EXPIRED.match(msg)
        if e is not None:
            f = e.group("from")
            doc["from"] = f[1:-1] if f[:1] == "<" else f
            doc["status"] = e.group("status")
            doc["text"] = e.group("text")
            return "qmgr.expired"
        m = RE_QUEUED.match(msg)
        if m is not None:
            kv_into(doc, m.group("kv"))
            if m.group("queue"):
                doc["queue"] = m.group("queue")
            return "qmgr.queued"
    if msg == "skipped, still being delivered":
        return "qmgr.skipped"
    return None


def _queued(msg: str, doc: Doc) -> Optional[str]:
    q = RE_QUEUED_FAST.match(msg)
    if q is None:
        return None
    sender, size, nrcpt, queue = q.groups()
    doc["from"] = sender
    doc["size"] = int(size)
    doc["nrcpt"] = int(nrcpt)
    doc["queue"] = queue
    return "qmgr.queued"


# the two lines of every message, in one match (a shape, see SHAPES in parsers/postfix/__init__.py):
# 4FAE3164311: removed / B5A021642D1: from=<alice@example.test>, size=541, nrcpt=1 (queue active)
RE_QUEUE_LINE = re.compile(QUEUE_ID_PREFIX + r"(?:(removed)\Z|" + RE_QUEUED_FAST.pattern + ")")


def _queue_line(msg: str, doc: Doc) -> Optional[str]:
    m = RE_QUEUE_LINE.match(msg)
    if m is None:
        return None
    queue_id, removed, sender, size, nrcpt, queue = m.groups()
    doc["queue_id"] = queue_id
    if removed is not None:
        return "qmgr.removed"
    doc["from"] = sender
    doc["size"] = int(size)
    doc["nrcpt"] = int(nrcpt)
    doc["queue"] = queue
    return "qmgr.queued"


SHAPES: Shapes = {name: ({}, _queue_line) for name in ("qmgr", "nqmgr")}

DAEMONS = {"qmgr": parse_qmgr, "nqmgr": parse_qmgr}
