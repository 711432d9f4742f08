"""pickup(8), postdrop(1) and Postfix's sendmail(1): locally submitted mail."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import RE_KV_SPACE, Doc, kv_into

# D2FAE20586: uid=0 from=<fail2ban>
# 5C4A21642E1: uid=0 from=<alice@example.test> orig_id=4BDA21642D1      (postsuper -r)
RE_PICKUP = re.compile(r"(?P<kv>uid=\d+ .*)\Z", re.S)


def parse_pickup(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is None and msg.startswith("uid="):
        m = RE_PICKUP.match(msg)
        if m is not None:
            kv_into(doc, m.group("kv"), RE_KV_SPACE)
            return "pickup.submit"
    return None


# sendmail: fatal: alice@example.test(0): message file too big / postdrop: warning: uid=0: File too large
RE_SUBMITTER = re.compile(r"(?P<submitter>[^\s()]+)\((?P<uid>\d+)\): (?P<text>.*)\Z", re.S)


def parse_submitter(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is not None:
        m = RE_SUBMITTER.match(msg)
        if m is not None:
            doc["submitter"] = m.group("submitter")
            doc["uid"] = int(m.group("uid"))
    return None     # the generic level handling names the kind and keeps the text


DAEMONS = {"pickup": parse_pickup, "sendmail": parse_submitter, "postdrop": parse_submitter}
