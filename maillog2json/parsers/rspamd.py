"""rspamd: the per-message summary its task logger writes (``rspamd_task_write_log``).

In rspamd's default log format (fields it lacks are just absent)::

    <8d7f2a>; task; rspamd_task_write_log: id: <id@example.org>, qid: <4ABC>, ip: 192.0.2.7, from: <ann@example.org>, (default: F (no action): [1.23/15.00] [BAYES_HAM(-3.00){99.9%;},R_SPF_ALLOW(-0.20){+ip4:192.0.2.0/24;}]), len: 1234, time: 56.789ms, dns req: 3, digest: <0f2c9a>, rcpts: <bob@example.net>, mime_rcpts: <bob@example.net>
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from maillog2json.parsers.postfix.grammar import addr, int_or_text

Doc = dict[str, Any]

# <8d7f2a>; task; rspamd_task_write_log: ...   ((normal) and other prefixes of rspamd's own log allowed)
RE_WRITE_LOG = re.compile(r"(?:.*?<(?P<task>[0-9a-f]+)>; task; )?rspamd_task_write_log: (?P<rest>.*)\Z", re.S)
# (default: F (no action): [1.23/15.00] [SYM1(1.00){opt;},SYM2(0.50){}])
RE_METRIC = re.compile(
    r"\((?P<metric>[^:()]+): (?P<spam>[TFS]) \((?P<action>[^()]*)\): \[(?P<score>-?\d+(?:\.\d+)?|nan)/(?P<required>-?\d+(?:\.\d+)?|nan)\]"
    r" \[(?P<symbols>.*?)\]\)(?=, [a-z_ ]+: |\Z)", re.S)
# the other items: key: value (value up to the next ", key: ")
RE_ITEM = re.compile(r"(?:\A|, )(?P<k>[a-z][a-z_ ]*): (?P<v>.*?)(?=, [a-z][a-z_ ]*: |\Z)", re.S)
# SYMBOL(1.00){options;} at the top level of the symbol list
RE_SYMBOL = re.compile(r"(?P<name>[A-Z0-9_]+)(?:\((?P<score>-?\d+(?:\.\d+)?)\))?(?:\{[^{}]*\})?")
RE_ELAPSED = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s)?\Z")


def _list(v: str) -> list[str]:
    """``<a@b,c@d>`` (one pair of brackets) or ``<a@b>,<c@d>``."""
    return [addr(x) for x in addr(v).split(",") if x and x != "<>"]


def _elapsed_ms(v: str) -> Any:
    m = RE_ELAPSED.match(v)
    if m is None:
        return v
    n = float(m.group("n"))
    return n * 1000 if m.group("unit") == "s" else n


ITEMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "id": ("message_id", addr), "qid": ("queue_id", addr), "ip": ("client_ip", str),
    "user": ("user", addr), "from": ("from", addr), "len": ("size", int_or_text),
    "time": ("elapsed_ms", _elapsed_ms), "dns req": ("dns_requests", int_or_text),
    "digest": ("digest", addr), "rcpts": ("to", _list), "mime_rcpts": ("mime_to", _list),
    "mid": ("message_id", addr), "forced_action": ("forced_action", str),
}


def parse_rspamd(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    w = RE_WRITE_LOG.match(msg)
    if w is None:
        return None
    rest = w.group("rest")
    m = RE_METRIC.search(rest)
    if m is None:
        return None
    if w.group("task"):
        doc["task_id"] = w.group("task")
    doc["metric"] = m.group("metric")
    doc["is_spam"] = m.group("spam") == "T"
    doc["action"] = m.group("action")
    doc["score"] = float(m.group("score"))
    doc["required_score"] = float(m.group("required"))
    doc["symbols"] = [s.group("name") for s in RE_SYMBOL.finditer(m.group("symbols"))]
    for part in (rest[:m.start()].rstrip(", "), rest[m.end():].lstrip(", ")):
        for item in RE_ITEM.finditer(part):
            k, v = item.group("k"), item.group("v")
            rule = ITEMS.get(k)
            if rule is None or (addr(v) in ("", "(null)", "undef") and k != "from"):
                continue
            doc[rule[0]] = rule[1](v)
    return "rspamd.result"


TAGS = ("rspamd",)
