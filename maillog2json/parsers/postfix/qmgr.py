"""qmgr(8): a message enters the active queue, expires, or leaves the queue."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import Doc, kv_into

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
        q = RE_QUEUED_FAST.match(msg)
        if q is not None:
            sender, size, nrcpt, queue = q.groups()
            doc["from"] = sender
            doc["size"] = int(size)
            doc["nrcpt"] = int(nrcpt)
            doc["queue"] = queue
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


DAEMONS = {"qmgr": parse_qmgr, "nqmgr": parse_qmgr}
