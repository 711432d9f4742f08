"""OpenDKIM: what the milter did to a message, one line per event, prefixed by the queue id.

Lines in OpenDKIM's format (``<job id>: text``, the job id being the MTA's queue id)::

    4ABC: DKIM-Signature field added (s=mail, d=example.org)
    4ABC: s=mail d=example.org SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
    4ABC: key retrieval failed (s=mail, d=example.org)
    4ABC: s=mail d=example.org a=rsa-sha256 SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
    4ABC: signature=AbCdEfGh domain=example.org selector=mail result="signature verification failed"

Their texts are OpenDKIM 2.11's syslog() formats (``"%s: s=%s d=%s a=%s SSL %s"``, ...).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

Doc = dict[str, Any]

# 4ABC: text     (NOQUEUE-less: OpenDKIM logs the job id it got from the MTA, or "(unknown-jobid)")
RE_JOB = re.compile(r"(?P<job>[0-9A-Za-z]{5,20}|\(unknown-jobid\)|NOQUEUE): (?P<text>.*)\Z", re.S)
# DKIM-Signature field added (s=mail, d=example.org)
RE_ADDED = re.compile(r"DKIM-Signature (?:field|header) added \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^)\s]*)\)\Z")
# key retrieval failed (s=mail, d=example.org)[: reason]     key retrieval failed[: reason]
RE_KEY_FAILED = re.compile(r"key retrieval failed(?: \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^)\s]*)\))?(?:: (?P<reason>.*))?\Z")
# s=mail d=example.org SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature
# s=mail d=example.org a=rsa-sha256 SSL         (2.11: the algorithm; the library's error may be empty)
RE_SSL = re.compile(r"(?:s=(?P<selector>\S*) d=(?P<domain>\S*) (?:a=(?P<algorithm>\S*) )?)?SSL(?: +(?P<error>.*?))? *\Z")
# signature=AbCdEfGh domain=example.org selector=mail result="no signature error"   (LogResults: one per signature)
RE_SIGNATURE = re.compile(r'signature=(?P<signature>\S*) domain=(?P<domain>\S*) selector=(?P<selector>\S*) result="(?P<result>[^"]*)"\Z')
# key revoked (s=mail, d=example.org, a=rsa-sha256)
RE_REVOKED = re.compile(r"key revoked \(s=(?P<selector>[^,\s]*), d=(?P<domain>[^,\s]*), a=(?P<algorithm>[^)\s]*)\)\Z")
# no signing domain match for 'example.org'   no signing subdomain match for 'example.org'
RE_NO_DOMAIN = re.compile(r"no signing (?:sub)?domain match for '(?P<domain>[^']*)'\Z")
# external host mx.example.org attempted to send as example.org
RE_EXTERNAL = re.compile(r"external host (?P<host>\S+) attempted to send as (?P<domain>\S+)\Z")
# domain 'example.org' exempted, accepting
RE_EXEMPTED = re.compile(r"domain '(?P<domain>[^']*)' exempted, accepting\Z")
# can't determine message sender; accepting
RE_NO_SENDER = re.compile(r"can't determine message sender; accepting\Z")
# RFC5322 header requirement error: multiple From fields
RE_HEADER_ERROR = re.compile(r"(?:RFC5322 header requirement error|syntax error|failed to parse \S+ header field)(?:: (?P<reason>.*))?\Z")
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
# OpenDKIM Filter v2.11.0 terminating with status 0, errno = 0
RE_START = re.compile(r"OpenDKIM Filter v(?P<version>\S+) (?P<what>starting|terminating)(?: \((?P<text>.*)\)"
                      r"| with status (?P<status>-?\d+), errno = (?P<errno>-?\d+))?\Z")


def _sd(m: re.Match, doc: Doc) -> None:
    if m.group("selector") is not None:
        doc["selector"] = m.group("selector")
        doc["domain"] = m.group("domain")


def _ssl(m: re.Match, doc: Doc) -> None:
    _sd(m, doc)
    if m.group("algorithm") is not None:
        doc["algorithm"] = m.group("algorithm")
    if m.group("error"):
        doc["error"] = m.group("error")


def _signature(m: re.Match, doc: Doc) -> None:
    doc["signature"] = m.group("signature")
    doc["domain"] = m.group("domain")
    doc["selector"] = m.group("selector")
    doc["result"] = m.group("result")


def _revoked(m: re.Match, doc: Doc) -> None:
    _sd(m, doc)
    doc["algorithm"] = m.group("algorithm")


def _external(m: re.Match, doc: Doc) -> None:
    doc["client_host"] = m.group("host")
    doc["domain"] = m.group("domain")


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
    (RE_SSL, "opendkim.ssl_error", _ssl),       # "opendkim.ssl" when the library had no error to tell
    (RE_BAD, "opendkim.bad_signature", lambda m, d: None),
    (RE_KEY_FAILED, "opendkim.key_retrieval_failed", _key),
    (RE_NO_MATCH, "opendkim.no_signing_table_match", lambda m, d: d.update(address=m.group("address"))),
    (RE_NOT_INTERNAL, "opendkim.not_internal", _internal),
    (RE_NOT_AUTH, "opendkim.not_authenticated", lambda m, d: None),
    (RE_NO_SIG, "opendkim.no_signature", lambda m, d: None),
    (RE_SIGNATURE, "opendkim.signature", _signature),
    (RE_REVOKED, "opendkim.key_revoked", _revoked),
    (RE_NO_DOMAIN, "opendkim.no_signing_domain_match", lambda m, d: d.update(domain=m.group("domain"))),
    (RE_EXTERNAL, "opendkim.external_host", _external),
    (RE_EXEMPTED, "opendkim.exempted", lambda m, d: d.update(domain=m.group("domain"))),
    (RE_NO_SENDER, "opendkim.no_sender", lambda m, d: None),
    (RE_HEADER_ERROR, "opendkim.header_error", lambda m, d: d.update(reason=m.group("reason")) if m.group("reason") else None),
]


def parse_opendkim(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    s = RE_START.match(msg)
    if s is not None:
        doc["version"] = s.group("version")
        if s.group("text") is not None:
            doc["text"] = s.group("text")
        if s.group("status") is not None:
            doc["exit_status"] = int(s.group("status"))
            doc["errno"] = int(s.group("errno"))
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
            if kind == "opendkim.ssl_error" and "error" not in doc:
                return "opendkim.ssl"       # logged for a good signature too (2.11: "a=rsa-sha256 SSL ")
            return kind
    return None


TAGS = ("opendkim",)
