"""OpenDKIM: what the milter did to a message, one line per event, prefixed by the queue id.

Lines in OpenDKIM's format (``<job id>: text``, the job id being the MTA's queue id)::

    4ABC: DKIM-Signature field added (s=mail, d=example.org)
    4ABC: s=mail d=example.org SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
    4ABC: key retrieval failed (s=mail, d=example.org)
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

Doc = dict[str, Any]

# 4ABC: text     (NOQUEUE-less: OpenDKIM logs the job id it got from the MTA, or "(unknown-jobid)")
RE_JOB = re.compile(r"(?P<job>[0-9A-Za-z]{5,20}|\(unknown-jobid\)|NOQUEUE): (?P<text>.*)\Z", re.S)
# DKIM-Signature field added (s=mail, d=example.org)
RE_ADDED = re.compile(r"DKIM-Signature (?:field|header) added \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^)\s]*)\)\Z")
# key retrieval failed (s=mail, d=example.org)[: reason]
RE_KEY_FAILED = re.compile(r"key retrieval failed \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^)\s]*)\)(?:: (?P<reason>.*))?\Z")
# s=mail d=example.org SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
RE_SSL = re.compile(r"s=(?P<selector>\S*) d=(?P<domain>\S*) SSL (?P<error>error:.*)\Z")
# DKIM verification successful / DKIM verification successful (s=mail, d=example.org)  (2.11)
RE_VERIFIED = re.compile(r"DKIM verification successful(?: \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^)\s]*)\))?\Z")
# bad signature data
RE_BAD = re.compile(r"bad signature data\Z")
# no signing table match for 'alice@example.org'
RE_NO_MATCH = re.compile(r"no signing table match for '(?P<address>[^']*)'\Z")
# mx.example.net [192.0.2.7] not internal / [192.0.2.7] [192.0.2.7] not internal
RE_NOT_INTERNAL = re.compile(r"(?P<host>\S+) \[(?P<ip>[^\]\s]*)\] not internal\Z")
# not authenticated
RE_NOT_AUTH = re.compile(r"not authenticated\Z")
# no signature data / no signatures
RE_NO_SIG = re.compile(r"no signature data\Z")
# OpenDKIM Filter v2.11.0 starting (args: -P /run/opendkim/opendkim.pid -p local:/run/opendkim/opendkim.sock)
RE_START = re.compile(r"OpenDKIM Filter v(?P<version>\S+) (?P<what>starting|terminating)(?: \((?P<text>.*)\))?\Z")


def _sd(m: re.Match, doc: Doc) -> None:
    if m.group("selector") is not None:
        doc["selector"] = m.group("selector")
        doc["domain"] = m.group("domain")


def _ssl(m: re.Match, doc: Doc) -> None:
    _sd(m, doc)
    doc["error"] = m.group("error")


def _key(m: re.Match, doc: Doc) -> None:
    _sd(m, doc)
    if m.group("reason"):
        doc["reason"] = m.group("reason")


def _internal(m: re.Match, doc: Doc) -> None:
    host = m.group("host")
    doc["client_host"] = None if host == f"[{m.group('ip')}]" else host
    doc["client_ip"] = m.group("ip")


# (regex, kind, filler) tried in order on the text after the job id
RULES: list[tuple[re.Pattern, str, Callable[[re.Match, Doc], None]]] = [
    (RE_ADDED, "opendkim.signed", _sd),
    (RE_VERIFIED, "opendkim.verified", _sd),
    (RE_SSL, "opendkim.ssl_error", _ssl),
    (RE_BAD, "opendkim.bad_signature", lambda m, d: None),
    (RE_KEY_FAILED, "opendkim.key_retrieval_failed", _key),
    (RE_NO_MATCH, "opendkim.no_signing_table_match", lambda m, d: d.update(address=m.group("address"))),
    (RE_NOT_INTERNAL, "opendkim.not_internal", _internal),
    (RE_NOT_AUTH, "opendkim.not_authenticated", lambda m, d: None),
    (RE_NO_SIG, "opendkim.no_signature", lambda m, d: None),
]


def parse_opendkim(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    s = RE_START.match(msg)
    if s is not None:
        doc["version"] = s.group("version")
        if s.group("text") is not None:
            doc["text"] = s.group("text")
        return "opendkim." + ("start" if s.group("what") == "starting" else "stop")
    j = RE_JOB.match(msg)
    if j is None:
        return None
    text = j.group("text")
    for rx, kind, fill in RULES:
        m = rx.match(text)
        if m is not None:
            job = j.group("job")
            if job[0] != "(" and job != "NOQUEUE":
                doc["queue_id"] = job
            fill(m, doc)
            return kind
    return None


TAGS = ("opendkim",)
