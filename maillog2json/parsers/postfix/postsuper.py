"""postsuper(1): the administrator's queue operations, per message and summed up."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import Doc

# D4F2023DB: removed / requeued / placed on hold / released from hold / expired
_ACTIONS = {
    "removed": "postsuper.removed",
    "requeued": "postsuper.requeued",
    "placed on hold": "postsuper.held",
    "released from hold": "postsuper.released",
    "expired": "postsuper.expired",
}
# Deleted: 115 messages / Requeued: 1 message / Placed on hold: 67 messages / Released from hold: 13 messages
RE_SUMMARY = re.compile(r"(?P<action>Deleted|Requeued|Placed on hold|Released from hold|Expired): "
                        r"(?P<count>\d+) messages?\Z")


def parse_postsuper(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is not None:
        return None
    kind = _ACTIONS.get(msg)
    if kind is not None:
        doc["action"] = msg
        return kind
    m = RE_SUMMARY.match(msg)
    if m is not None:
        doc["action"] = m.group("action").lower()
        doc["count"] = int(m.group("count"))
        return "postsuper.summary"
    return None


DAEMONS = {"postsuper": parse_postsuper}
