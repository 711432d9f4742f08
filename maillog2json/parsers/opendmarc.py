"""OpenDMARC: the DMARC verdict per message and the SPF result it saw, prefixed by the queue id.

Lines in OpenDMARC's format (``<job id>: text``; OpenDMARC 1.4's syslog() formats)::

    4ABC: example.org pass
    4ABC: SPF(mailfrom): example.org pass
    4ABC: ignoring mail from example.org
    4ABC: RFC5322 requirement error: missing From field; accepting
    ignoring connection from localhost
    additional trusted authentication services: mx.example.net, mx2.example.net
    OpenDMARC Filter v1.4.2 terminating with status 0, errno = 0
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
# OpenDMARC Filter v1.4.2 terminating with status 0, errno = 0
RE_START = re.compile(r"OpenDMARC Filter v(?P<version>\S+) (?P<what>starting|terminating)(?: \((?P<text>.*)\)"
                      r"| with status (?P<status>-?\d+), errno = (?P<errno>-?\d+))?\Z")
# ignoring connection from localhost / [::1] / mx.example.org     (a client in IgnoreHosts)
_RE_ID_SEP = re.compile(r"[\s,]+")
RE_IGNORED_CONNECTION = re.compile(r"ignoring connection from (?P<host>\S+)\Z")
# 4ABC: ignoring mail from example.org                              (a From domain in IgnoreMailFrom)
RE_IGNORED_DOMAIN = re.compile(r"(?P<job>[0-9A-Za-z]{5,20}): ignoring mail from (?P<domain>\S+)\Z")
# additional trusted authentication services: mx.example.net, ...   implicit authentication service: mx.example.net
RE_AUTHSERV = re.compile(r"(?:(?P<additional>additional trusted authentication services)"
                         r"|implicit authentication service): (?P<ids>.+)\Z")
# 4ABC: RFC5322 requirement error: missing From field; accepting / 4ABC: multi-valued From field detected /
# 4ABC: unable to parse From header field / 4ABC: can't extract SPF address from Authentication-Results /
# 4ABC: ignoring invalid Authentication-Results header "..."
RE_HEADER_ERROR = re.compile(
    r"(?P<job>[0-9A-Za-z]{5,20}): (?P<reason>RFC5322 requirement error: .*|multi-valued From field detected"
    r"|unable to parse From header field|can't extract SPF address from Authentication-Results"
    r"|unable to parse validated SPF address .*|ignoring invalid \S+ header .*)\Z")


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
    m = RE_IGNORED_CONNECTION.match(msg)
    if m is not None:
        host = m.group("host")
        if host[:1] == "[" and host[-1:] == "]":
            doc["client_host"] = None
            doc["client_ip"] = host[1:-1]
        else:
            doc["client_host"] = host
        return "opendmarc.ignored_connection"
    m = RE_IGNORED_DOMAIN.match(msg)
    if m is not None:
        doc["queue_id"] = m.group("job")
        doc["from_domain"] = m.group("domain")
        return "opendmarc.ignored_domain"
    m = RE_HEADER_ERROR.match(msg)
    if m is not None:
        doc["queue_id"] = m.group("job")
        doc["reason"] = m.group("reason")
        return "opendmarc.header_error"
    m = RE_START.match(msg)
    if m is not None:
        doc["version"] = m.group("version")
        if m.group("text") is not None:
            doc["text"] = m.group("text")
        if m.group("status") is not None:
            doc["exit_status"] = int(m.group("status"))
            doc["errno"] = int(m.group("errno"))
        return "opendmarc." + ("start" if m.group("what") == "starting" else "stop")
    m = RE_AUTHSERV.match(msg)
    if m is not None:
        ids = m.group("ids")
        doc["authserv_ids"] = [] if ids == "(none)" else [x for x in _RE_ID_SEP.split(ids) if x]
        doc["implicit"] = m.group("additional") is None
        return "opendmarc.authserv_ids"
    return None


TAGS = ("opendmarc",)
