"""amavisd-new: the one summary line per message (``Passed``/``Blocked``) of its main log template.

Real lines (crowdsec-hub amavis-blocked; the Passed one in amavisd-new's default template)::

    (4051607-09) Blocked INFECTED (Porcupine.Phishing.55542.UNOFFICIAL) {DiscardedInbound,Quarantined}, [192.168.0.1]:1434 [192.168.0.1] <someone1@something1.com> -> <someon2@something2.com>, quarantine: 2/virus-26W2lJY63nCZ, Queue-ID: 83B741009CD35, Message-ID: <20240223075525.8CD9941B67@xxx.xxx.shop>, mail_id: 26W2lJY63nCZ, Hits: -, size: 28646, 104 ms
    (12345-01) Passed CLEAN {RelayedInbound}, [192.0.2.7]:5678 [192.0.2.7] <ann@example.org> -> <bob@example.net>, Queue-ID: 4ABC, Message-ID: <id@example.org>, mail_id: abc, Hits: -1.2, size: 1234, queued_as: 5DEF, 1234 ms
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# (12345-01) Passed CLEAN {RelayedInbound}, ...      (4051607-09) Blocked INFECTED (Eicar-Test-Signature) {...}, ...
# (00807-02) Passed CLEAN, ...                          (amavisd-new 2.6 and older: no {disposition})
RE_SUMMARY = re.compile(
    r"\((?P<log_id>[^()\s]+)\) (?P<action>Passed|Blocked) (?P<category>[A-Z][A-Z0-9-]*)"
    r"(?: \((?P<detail>.*?)\))?(?: \{(?P<disposition>[^}]*)\})?, (?P<rest>.*)\Z", re.S)
# ORIGINATING/LOCAL [192.0.2.7]:5678 [192.0.2.7] <ann@example.org> -> <bob@example.net>,<carl@example.net>
RE_ENVELOPE = re.compile(
    r"(?:(?P<flags>(?:ORIGINATING|LOCAL|MYNETS)(?:/(?:ORIGINATING|LOCAL|MYNETS))*) )?"
    r"(?:\[(?P<client_ip>[^\]\s]*)\](?::(?P<client_port>\d+))? )?(?:\[(?P<origin_ip>[^\]\s]*)\] )?"
    r"<(?P<from>[^>]*)> -> (?P<to><[^>]*>(?:,<[^>]*>)*)")
# , Queue-ID: 4ABC, Message-ID: <id@x>, mail_id: abc, Hits: -1.2, size: 1234, queued_as: 5DEF, 1234 ms
RE_ITEM = re.compile(r", (?=(?:[A-Z][A-Za-z-]*|[a-z][a-z_]*): |\d+ ms\Z)")
RE_ELAPSED = re.compile(r"(?P<ms>\d+) ms\Z")
RE_TO = re.compile(r"<([^>]*)>")
RE_QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,20}\Z")

# key of the tail -> (our field, conversion)
ITEMS = {
    "Queue-ID": ("queue_id", str),
    "Message-ID": ("message_id", lambda v: v[1:-1] if v[:1] == "<" and v[-1:] == ">" else v),
    "Resent-Message-ID": ("resent_message_id", lambda v: v[1:-1] if v[:1] == "<" and v[-1:] == ">" else v),
    "mail_id": ("mail_id", str),
    "Hits": ("hits", lambda v: None if v == "-" else _number(v)),
    "size": ("size", lambda v: int(v) if v.isdigit() else v),
    "queued_as": ("queued_as", lambda v: [x for x in re.split(r"[ ,/]+", v) if x]),
    "quarantine": ("quarantine", str),
    "Subject": ("subject", lambda v: v[1:-1] if len(v) > 1 and v[0] == v[-1] == '"' else v),
    "From": ("header_from", str),
    "dkim_sd": ("dkim_sd", str),
    "dkim_id": ("dkim_id", str),
    "Tests": ("tests", lambda v: v.strip("[]").split(",") if v.strip("[]") else []),
    "autolearn": ("autolearn", str),
}


def _number(v: str) -> Any:
    try:
        return float(v)
    except ValueError:
        return v


def parse_amavis(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_SUMMARY.match(msg)
    if m is None:
        return None
    e = RE_ENVELOPE.match(m.group("rest"))
    if e is None:
        return None
    doc["log_id"] = m.group("log_id")
    category = m.group("category")
    doc["content_category"] = category
    detail = m.group("detail")
    if detail is not None:
        if category == "INFECTED":
            doc["virus"] = [v for v in detail.split(",") if v]
        elif category.startswith("BANNED"):
            doc["banned"] = detail
        else:
            doc["detail"] = detail
    if m.group("disposition") is not None:
        doc["disposition"] = m.group("disposition").split(",")
    if e.group("flags"):
        doc["origin_flags"] = e.group("flags").split("/")
    if e.group("client_ip") is not None:
        doc["client_ip"] = e.group("client_ip")
        if e.group("client_port"):
            doc["client_port"] = int(e.group("client_port"))
    if e.group("origin_ip") is not None:
        doc["origin_ip"] = e.group("origin_ip")
    doc["from"] = e.group("from")
    doc["to"] = RE_TO.findall(e.group("to"))
    tail = m.group("rest")[e.end():]
    for item in RE_ITEM.split(tail)[1:] if tail.startswith(", ") else ():
        t = RE_ELAPSED.match(item)
        if t is not None:
            doc["elapsed_ms"] = int(t.group("ms"))
            continue
        k, sep, v = item.partition(": ")
        if not sep and "queued_as" in doc and RE_QUEUE_ID.match(item):
            doc["queued_as"].append(item)       # queued_as: 5DEF, 6ABC (one per re-injection)
            continue
        rule = ITEMS.get(k)
        if rule is not None:
            doc[rule[0]] = rule[1](v)
    return "amavis." + m.group("action").lower()


TAGS = ("amavis", "amavisd", "amavisd-new")
