"""OpenDMARC: the DMARC verdict per message and the SPF result it saw, prefixed by the queue id.

Lines in OpenDMARC's format (``<job id>: text``)::

    4ABC: example.org pass
    4ABC: SPF(mailfrom): example.org pass
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

RESULTS = r"pass|fail|none|bestguesspass|temperror|permerror|softfail|neutral|unknown|policy|reject|quarantine"
# 4ABC: example.org pass
RE_RESULT = re.compile(r"(?P<job>[0-9A-Za-z]{5,20}): (?P<domain>[^\s:()]+) (?P<result>" + RESULTS + r")\Z")
# 4ABC: SPF(mailfrom): example.org pass / 4ABC: SPF(helo): mx.example.org none
RE_SPF = re.compile(r"(?P<job>[0-9A-Za-z]{5,20}): SPF\((?P<identity>[a-z]+)\): (?P<domain>\S+) (?P<result>" + RESULTS + r")\Z")
# OpenDMARC Filter v1.4.2 starting (args: -c /etc/opendmarc.conf)
RE_START = re.compile(r"OpenDMARC Filter v(?P<version>\S+) (?P<what>starting|terminating)(?: \((?P<text>.*)\))?\Z")


def parse_opendmarc(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_RESULT.match(msg)
    if m is not None:
        doc["queue_id"] = m.group("job")
        doc["from_domain"] = m.group("domain")
        doc["dmarc_result"] = m.group("result")
        return "opendmarc.result"
    m = RE_SPF.match(msg)
    if m is not None:
        doc["queue_id"] = m.group("job")
        doc["spf_identity"] = m.group("identity")
        doc["domain"] = m.group("domain")
        doc["spf_result"] = m.group("result")
        return "opendmarc.spf"
    m = RE_START.match(msg)
    if m is not None:
        doc["version"] = m.group("version")
        if m.group("text") is not None:
            doc["text"] = m.group("text")
        return "opendmarc." + ("start" if m.group("what") == "starting" else "stop")
    return None


TAGS = ("opendmarc",)
