"""ClamAV around a mail server: clamd's scan results, clamsmtpd's per-message verdicts, clamav-milter.

Lines in their formats::

    clamd: /var/spool/amavisd/tmp/amavis-20261128T100000-02222/parts/p001: Eicar-Signature FOUND
    clamd: SelfCheck: Database status OK.
    clamsmtpd: 100004: from=ann@example.org, to=bob@example.net, status=VIRUS:Eicar-Test-Signature
    clamav-milter: Message 4ABC from <ann@example.org> to <bob@example.net> with subject 'hi' message-id '<id@example.org>' date 'Sat, 28 Nov 2026 10:00:00 +0000' infected by Eicar-Test-Signature
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# Sat Nov 28 10:00:00 2026 -> /tmp/x: Eicar-Signature FOUND       (clamd with LogTime)
RE_LOGTIME = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} -> ")
# /tmp/x: Eicar-Signature FOUND   /   /tmp/x: OK   /   instream(127.0.0.1@41234): Eicar-Signature(hash:size) FOUND
RE_FOUND = re.compile(r"(?P<path>.+?): (?P<virus>\S+?)(?:\((?P<hash>[0-9a-f]+):(?P<hsize>\d+)\))? FOUND\Z")
_RE_BRACKETED = re.compile(r"<([^>]*)>")
RE_OK = re.compile(r"(?P<path>/.+?|instream\([^)]*\)|fd\[\d+\]): OK\Z")
# SelfCheck: Database status OK. / SelfCheck: Database modification detected. Forcing reload.
RE_SELFCHECK = re.compile(r"SelfCheck: (?P<text>.*)\Z")
# Database correctly reloaded (8712345 signatures)
RE_RELOADED = re.compile(r"Database correctly reloaded \((?P<n>\d+) signatures\)\Z")
# 100004: from=a@b, to=c@d, to=e@f, status=VIRUS:Eicar-Test-Signature / status=CLEAN
RE_SMTPD = re.compile(r"(?P<conn>\d{6}): (?P<kv>(?:[a-z]+=[^,]*, )*status=(?P<status>[A-Z]+)(?::(?P<virus>\S+))?)\Z")
RE_KV = re.compile(r"(?P<k>[a-z]+)=(?P<v>[^,]*)")
# Message 4ABC from <a> to <b> [with subject ... date '...' ]infected by Eicar-Test-Signature
RE_MILTER = re.compile(
    r"Message (?P<qid>\S+) (?:from <(?P<from>[^>]*)> to (?P<to>.*?) "
    r"(?:with subject '.*' message-id '<?(?P<mid>[^'>]*)>?' date '[^']*' )?)?infected by (?P<virus>\S+)\Z", re.S)


def parse_clamd(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    t = RE_LOGTIME.match(msg)
    if t is not None:
        msg = msg[t.end():]
    m = RE_FOUND.match(msg)
    if m is not None:
        doc["path"] = m.group("path")
        doc["virus"] = [m.group("virus")]
        return "clamav.found"
    m = RE_OK.match(msg)
    if m is not None:
        doc["path"] = m.group("path")
        return "clamav.clean"
    m = RE_SELFCHECK.match(msg)
    if m is not None:
        doc["text"] = m.group("text")
        return "clamav.selfcheck"
    m = RE_RELOADED.match(msg)
    if m is not None:
        doc["signatures"] = int(m.group("n"))
        return "clamav.reloaded"
    return None


def parse_clamsmtpd(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_SMTPD.match(msg)
    if m is None:
        return None
    doc["connection_id"] = m.group("conn")
    for kv in RE_KV.finditer(m.group("kv")):
        k, v = kv.group("k"), kv.group("v")
        if k == "to":
            doc.setdefault("to", []).append(v)
        elif k == "from":
            doc["from"] = v
    doc["status"] = m.group("status")
    if m.group("virus") is not None:
        doc["virus"] = [m.group("virus")]
    return "clamav.smtp_verdict"


def parse_milter(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_MILTER.match(msg)
    if m is None:
        return None
    if m.group("qid") != "NOQUEUE":
        doc["queue_id"] = m.group("qid")
    if m.group("from") is not None:
        doc["from"] = m.group("from")
        doc["to"] = _RE_BRACKETED.findall(m.group("to")) or [m.group("to")]
    if m.group("mid"):
        doc["message_id"] = m.group("mid")
    doc["virus"] = [m.group("virus")]
    return "clamav.milter_infected"


FAMILIES = {"clamd": parse_clamd, "clamav": parse_clamd, "clamsmtpd": parse_clamsmtpd,
            "clamav-milter": parse_milter}
