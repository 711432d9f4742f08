"""amavisd-new: the one summary line per message (``Passed``/``Blocked``) of its main log template,
and what it logs at level 0/1 when it starts (amavisd-new 2.13's ``do_log`` formats: ``starting.``,
``No decoder for ...``, ``Found decoder for ...``, ``Module ...``, ``Net::Server: ...``).

Real lines (crowdsec-hub amavis-blocked; the Passed one in amavisd-new's default template)::

    (4051607-09) Blocked INFECTED (Porcupine.Phishing.55542.UNOFFICIAL) {DiscardedInbound,Quarantined}, [192.168.0.1]:1434 [192.168.0.1] <someone1@something1.com> -> <someon2@something2.com>, quarantine: 2/virus-26W2lJY63nCZ, Queue-ID: 83B741009CD35, Message-ID: <20240223075525.8CD9941B67@xxx.xxx.shop>, mail_id: 26W2lJY63nCZ, Hits: -, size: 28646, 104 ms
    (12345-01) Passed CLEAN {RelayedInbound}, [192.0.2.7]:5678 [192.0.2.7] <ann@example.org> -> <bob@example.net>, Queue-ID: 4ABC, Message-ID: <id@example.org>, mail_id: abc, Hits: -1.2, size: 1234, queued_as: 5DEF, 1234 ms
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from maillog2json.parsers.postfix.grammar import addr, flt, int_or_text

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
_RE_QUEUED_AS_SEP = re.compile(r"[ ,/]+")
RE_TO = re.compile(r"<([^>]*)>")
RE_QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,20}\Z")

# key of the tail -> (our field, conversion)
ITEMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "Queue-ID": ("queue_id", str),
    "Message-ID": ("message_id", addr),
    "Resent-Message-ID": ("resent_message_id", addr),
    "mail_id": ("mail_id", str),
    "Hits": ("hits", lambda v: None if v == "-" else flt(v)),
    "size": ("size", int_or_text),
    "queued_as": ("queued_as", lambda v: [x for x in _RE_QUEUED_AS_SEP.split(v) if x]),
    "quarantine": ("quarantine", str),
    "Subject": ("subject", lambda v: v[1:-1] if len(v) > 1 and v[0] == v[-1] == '"' else v),
    "From": ("header_from", str),
    "dkim_sd": ("dkim_sd", str),
    "dkim_id": ("dkim_id", str),
    "Tests": ("tests", lambda v: v.strip("[]").split(",") if v.strip("[]") else []),
    "autolearn": ("autolearn", str),
}


# -- start-up and process lines ------------------------------------------------------------
# starting. /usr/sbin/amavisd at mx.example.net amavis-2.13.0 (20230106), Unicode aware, LANG="C.UTF-8"
RE_START = re.compile(r"starting\.(?P<warm> \(warm\))? (?P<path>\S+) at (?P<server>\S+) "
                      r"(?:amavisd?(?:-new)?-)?(?P<version>\S+)(?: \((?P<date>\d+)\))?(?:, (?P<text>.*))?\Z")
# No ext program for   .zoo, tried: zoo / No decoder for       .rar / Found decoder for    .gz   at /usr/bin/gzip -d
# Internal decoder for .mail
RE_DECODER = re.compile(
    r"(?:(?P<none>No ext program for) +\.(?P<ext1>\S+?), tried: (?P<tried>.*)"
    r"|No decoder for +\.(?P<ext2>\S+)"
    r"|Found decoder for +\.(?P<ext3>\S+) +at (?P<path>.*?)(?P<backup> \(backup, not used\))?"
    r"|Internal decoder for +\.(?P<ext4>\S+?)(?P<backup2> \(backup, not used\))?) *\Z")
# No $altermime,         not using it / Found $file            at /usr/bin/file
RE_PROGRAM = re.compile(r"(?:No \$(?P<missing>\w+), +not using it|Found \$(?P<found>\w+) +at (?P<path>.*?)) *\Z")
# Module Amavis::Conf         2.412 / SQL base code        NOT loaded / Lookup::LDAP code    loaded
RE_MODULE = re.compile(r"(?:Module (?P<module>\S+) +(?P<version>\S+)"
                       r"|(?P<code>[\w:.-]+(?: [\w:.-]+){0,2}?) +(?P<not>NOT )?loaded) *\Z")
# Found primary av scanner ClamAV-clamd at /var/run/clamav/clamd.ctl / Using primary internal av scanner code for ClamAV-clamd
RE_AV = re.compile(r"(?:Found (?P<tier>\w+) av scanner (?P<scanner>.+?) +at (?P<path>.*?)"
                   r"|Using (?P<tier2>\w+) internal av scanner code for (?P<scanner2>.+?)) *\Z")
# perl=5.036000, user=, EUID: 994 (994);  group=(), EGID: 994 994 (994 994) / Net::Server: ... / SpamControl: ...
RE_INFO = re.compile(
    r"(?:perl=(?P<perl>[^,\s]+), |Net::Server: |SpamControl: |extra modules loaded|Requesting process rundown"
    r"|initializing Mail::SpamAssassin|Creating db in |Deleting db files )")
RE_LOG_ID = re.compile(r"\((?P<log_id>[0-9]+-[0-9]+(?:-[0-9]+)*)\) ")


def _startup(msg: str, doc: Doc) -> Optional[str]:
    """What amavisd logs as it starts (and a few lines about its child processes)."""
    m = RE_START.match(msg)
    if m is not None:
        doc["version"] = m.group("version")
        doc["path"] = m.group("path")
        doc["server_name"] = m.group("server")
        if m.group("warm"):
            doc["warm"] = True
        doc["text"] = msg[len("starting. "):]
        return "amavis.start"
    m = RE_DECODER.match(msg)
    if m is not None:
        doc["extension"] = m.group("ext1") or m.group("ext2") or m.group("ext3") or m.group("ext4")
        doc["found"] = bool(m.group("ext3") or m.group("ext4"))
        if m.group("tried") is not None:
            doc["tried"] = m.group("tried")
        if m.group("path") is not None:
            doc["path"] = m.group("path")
        if m.group("backup") or m.group("backup2"):
            doc["backup"] = True
        return "amavis.decoder"
    m = RE_PROGRAM.match(msg)
    if m is not None:
        doc["program_name"] = m.group("missing") or m.group("found")
        doc["found"] = m.group("found") is not None
        if m.group("path") is not None:
            doc["path"] = m.group("path")
        return "amavis.external_program"
    m = RE_AV.match(msg)
    if m is not None:
        doc["tier"] = m.group("tier") or m.group("tier2")
        doc["scanner"] = m.group("scanner") or m.group("scanner2")
        if m.group("path") is not None:
            doc["path"] = m.group("path")
        return "amavis.av_scanner"
    m = RE_MODULE.match(msg)
    if m is not None:
        if m.group("module") is not None:
            doc["module"] = m.group("module")
            doc["version"] = m.group("version")
        else:
            doc["module"] = m.group("code")
            doc["loaded"] = m.group("not") is None
        return "amavis.module"
    m = RE_INFO.match(msg)
    if m is not None:
        if m.group("perl") is not None:
            doc["perl_version"] = m.group("perl")
        doc["text"] = msg
        return "amavis.info"
    return None


def parse_amavis(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_SUMMARY.match(msg)
    if m is None:
        lid = RE_LOG_ID.match(msg)
        kind = _startup(msg[lid.end():] if lid is not None else msg, doc)
        if kind is not None and lid is not None:
            doc["log_id"] = lid.group("log_id")
        return kind
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
