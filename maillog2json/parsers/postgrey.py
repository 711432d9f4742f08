"""postgrey: the greylisting policy server's decision per delivery attempt, and its start and stop.

Lines in postgrey's format (postgrey 1.37's ``mylog_action``: the queue id in front when
Postfix gave one)::

    action=greylist, reason=new, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net
    action=pass, reason=triplet found, delay=300, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net
    4ABC: action=pass, reason=triplet found, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net
    2026/11/29-01:05:12 postgrey (type Net::Server::Multiplex) starting! pid(27220)
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# [4ABC: ]action=greylist, reason=new, client_name=..., ...   (the whole text is ", "-separated key=value)
RE_DECISION = re.compile(r"(?:(?P<qid>[0-9A-Za-z]{5,20}): )?action=(?P<action>greylist|pass), (?P<kv>.*)\Z", re.S)
RE_ITEM = re.compile(r"(?:\A|, )(?P<k>[a-z_]+)=(?P<v>.*?)(?=, [a-z_]+=|\Z)", re.S)
# postgrey's key -> ours
KEYS = {"client_name": "client_host", "client_address": "client_ip", "sender": "from", "recipient": "to",
        "reason": "reason", "delay": "delay", "queue_id": "queue_id"}
# 2026/11/29-01:05:12 postgrey (type Net::Server::Multiplex) starting! pid(27220)      (Net::Server's own lines)
RE_START = re.compile(r"(?:\d{4}/\d\d/\d\d-\d\d:\d\d:\d\d )?(?P<name>\S+) \(type (?P<server>[\w:]+)\) starting! pid\((?P<pid>\d+)\)\Z")
# 2026/11/29-01:07:56 Server closing!    /   Exiting!
RE_STOP = re.compile(r"(?:\d{4}/\d\d/\d\d-\d\d:\d\d:\d\d )?(?:Server closing!|Exiting!)\Z")
# Setting uid to "108" / Setting gid to "112 112" / Process Backgrounded / Binding to TCP port 10023 on host 127.0.0.1 with IPv4
# cleaning up old logs... / cleaning main database finished. before: 4, after: 4 / whitelisted: mx.example.org / HUP received: ...
RE_INFO = re.compile(
    r"(?:Setting [ug]id to |Process Backgrounded|Binding to |Group Not Defined|User Not Defined|cleaning |rm "
    r"|whitelisted: |HUP received|correcting date)")
RE_CLEANED = re.compile(r"cleaning (?P<db>\w+) database finished\. before: (?P<before>\d+), after: (?P<after>\d+)\Z")


def parse_postgrey(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_DECISION.match(msg)
    if m is None:
        return _process(msg, doc)
    doc["action"] = action = m.group("action")
    if m.group("qid") is not None:
        doc["queue_id"] = m.group("qid")
    for item in RE_ITEM.finditer(m.group("kv")):
        k, v = item.group("k"), item.group("v")
        field = KEYS.get(k, k)
        if field == "delay":
            doc["delay"] = int(v) if v.isdecimal() else v
        else:
            doc[field] = v
    return "postgrey." + action


def _process(msg: str, doc: Doc) -> Optional[str]:
    m = RE_START.match(msg)
    if m is not None:
        doc["server_type"] = m.group("server")
        doc["server_pid"] = int(m.group("pid"))
        return "postgrey.start"
    if RE_STOP.match(msg):
        return "postgrey.stop"
    if RE_INFO.match(msg):
        doc["text"] = msg
        c = RE_CLEANED.match(msg)
        if c is not None:
            doc["database"] = c.group("db")
            doc["entries_before"] = int(c.group("before"))
            doc["entries_after"] = int(c.group("after"))
        return "postgrey.info"
    return None


TAGS = ("postgrey",)
