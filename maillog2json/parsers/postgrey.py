"""postgrey: the greylisting policy server's decision per delivery attempt.

Lines in postgrey's format::

    action=greylist, reason=new, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net
    action=pass, reason=triplet found, delay=300, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# action=greylist, reason=new, client_name=..., ...   (the whole text is ", "-separated key=value)
RE_DECISION = re.compile(r"action=(?P<action>greylist|pass), (?P<kv>.*)\Z", re.S)
RE_ITEM = re.compile(r"(?:\A|, )(?P<k>[a-z_]+)=(?P<v>.*?)(?=, [a-z_]+=|\Z)", re.S)
# postgrey's key -> ours
KEYS = {"client_name": "client_host", "client_address": "client_ip", "sender": "from", "recipient": "to",
        "reason": "reason", "delay": "delay", "queue_id": "queue_id"}


def parse_postgrey(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_DECISION.match(msg)
    if m is None:
        return None
    doc["action"] = action = m.group("action")
    for item in RE_ITEM.finditer(m.group("kv")):
        k, v = item.group("k"), item.group("v")
        field = KEYS.get(k, k)
        if field == "delay":
            doc["delay"] = int(v) if v.isdigit() else v
        else:
            doc[field] = v
    return "postgrey." + action


TAGS = ("postgrey",)
