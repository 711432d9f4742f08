"""postscreen(8), tlsproxy(8) and dnsblog(8): the zombie-blocking front door."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import CLIENT, TLS_DETAILS, Doc, Shapes, fill_tls, rules, run_rules
from maillog2json.parsers.postfix.smtpd import RE_ACTION, fill_action, noqueue_action

# postscreen writes clients as [ip]:port
PS_CLIENT = r"\[(?P<client_ip>[^\]]*)\]:(?P<client_port>\d+)"

POSTSCREEN = rules(
    # CONNECT from [61.238.241.86]:53024 to [89.105.204.244]:25
    (r"CONNECT from " + PS_CLIENT + r" to \[(?P<server_ip>[^\]]*)\]:(?P<server_port>\d+)\Z", "postscreen.connect"),
    # DISCONNECT [216.81.72.72]:43421
    (r"DISCONNECT " + PS_CLIENT + r"\Z", "postscreen.disconnect"),
    # PASS NEW [2607:f8b0:4003:c01::23a]:36051
    (r"PASS (?P<pass_type>NEW|OLD) " + PS_CLIENT + r"\Z", "postscreen.pass"),
    # WHITELISTED / ALLOWLISTED / BLACKLISTED / DENYLISTED [61.238.241.86]:53024
    (r"(?P<access>WHITELISTED|ALLOWLISTED|BLACKLISTED|DENYLISTED) " + PS_CLIENT + r"\Z", "postscreen.access"),
    # WHITELIST VETO / ALLOWLIST VETO [61.238.241.86]:53024
    (r"(?P<access>WHITELIST VETO|ALLOWLIST VETO) " + PS_CLIENT + r"\Z", "postscreen.access"),
    # PREGREET 6 after 1.2 from [216.81.72.72]:43421: RSET\r\n
    (r"(?P<violation>PREGREET) (?P<pregreet_bytes>\d+) after (?P<after>[\d.]+) from " + PS_CLIENT
     + r": ?(?P<text>.*)\Z", "postscreen.violation"),
    # HANGUP after 63 from [111.73.45.149]:1038 in tests after SMTP handshake
    (r"(?P<violation>HANGUP) after (?P<after>[\d.]+) from " + PS_CLIENT + r" in (?P<test_stage>.*)\Z",
     "postscreen.violation"),
    # DNSBL rank 3 for [111.73.45.149]:1038
    (r"DNSBL rank (?P<rank>\d+) for " + PS_CLIENT + r"\Z", "postscreen.dnsbl"),
    # COMMAND TIME LIMIT from [182.246.250.243]:51799 after RCPT
    # NON-SMTP COMMAND from [93.174.93.51]:45284 after CONNECT: GET http://... HTTP/1.1
    # COMMAND PIPELINING from [88.208.233.4]:42606 after .: \r\n
    # BARE NEWLINE from [88.208.233.4]:42606 after .
    # COMMAND PIPELINING from [123.45.67.89]:12345 after : \r\n          (no command yet: an empty stage)
    (r"(?P<violation>COMMAND TIME LIMIT|COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT|NON-SMTP COMMAND"
     r"|COMMAND PIPELINING|BARE NEWLINE) from " + PS_CLIENT + r"(?: after (?P<stage>[^:\s]*))?(?:: ?(?P<text>.*))?\Z",
     "postscreen.violation"),
    # cache btree:/var/lib/postfix/postscreen_cache full cleanup: retained=242 dropped=7 entries
    (r"cache (?P<cache>\S+) (?P<cleanup>full|partial) cleanup: retained=(?P<retained>\d+) dropped=(?P<dropped>\d+)"
     r" entries\Z", "postscreen.cache_cleanup"),
    # DATA without valid RCPT from [1.2.3.4]:5678 / BDAT without valid RCPT
    (r"(?P<violation>[A-Z]+ without valid RCPT) from " + PS_CLIENT + r"\Z", "postscreen.violation"),
)


def parse_postscreen(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is None and msg[:1].islower():
        m = RE_ACTION.match(msg)            # NOQUEUE: reject: RCPT from [1.2.3.4]:5678: 550 5.5.1 ...
        if m is not None:
            return fill_action(doc, m, "postscreen")
    return run_rules(POSTSCREEN, msg, doc)


TLSPROXY = rules(
    (r"CONNECT from " + PS_CLIENT + r"\Z", "tlsproxy.connect"),
    (r"DISCONNECT " + PS_CLIENT + r"\Z", "tlsproxy.disconnect"),
    (r"(?P<tls_trust>Anonymous|Untrusted|Trusted|Verified) TLS connection established from " + CLIENT
     + r": " + TLS_DETAILS + r"\Z", "tlsproxy.tls", fill_tls),
)

DNSBLOG = rules(
    # addr 61.238.241.86 listed by domain psbl.surriel.com as 127.0.0.2
    (r"addr (?P<client_ip>\S+) listed by domain (?P<dnsbl_domain>\S+) as (?P<dnsbl_result>\S+)\Z", "dnsblog.listed"),
)

# -- shapes: the commonest postscreen lines, each in one match (see SHAPES in
# parsers/postfix/__init__.py): the rule's own pattern, read by position, filled as the rule does.
RE_CONNECT = re.compile(r"CONNECT from " + PS_CLIENT + r" to \[(?P<server_ip>[^\]]*)\]:(?P<server_port>\d+)\Z", re.S)
RE_DISCONNECT = re.compile(r"DISCONNECT " + PS_CLIENT + r"\Z", re.S)
RE_PASS = re.compile(r"PASS (?P<pass_type>NEW|OLD) " + PS_CLIENT + r"\Z", re.S)
RE_DNSBL = re.compile(r"DNSBL rank (?P<rank>\d+) for " + PS_CLIENT + r"\Z", re.S)


def _connect(msg: str, doc: Doc) -> Optional[str]:
    m = RE_CONNECT.match(msg)
    if m is None:
        return None
    ip, port, server_ip, server_port = m.groups()
    doc["client_ip"] = None if ip == "unknown" else ip
    doc["client_port"] = int(port)
    doc["server_ip"] = server_ip
    doc["server_port"] = int(server_port)
    return "postscreen.connect"


def _disconnect(msg: str, doc: Doc) -> Optional[str]:
    m = RE_DISCONNECT.match(msg)
    if m is None:
        return None
    ip, port = m.groups()
    doc["client_ip"] = None if ip == "unknown" else ip
    doc["client_port"] = int(port)
    return "postscreen.disconnect"


def _pass(msg: str, doc: Doc) -> Optional[str]:
    m = RE_PASS.match(msg)
    if m is None:
        return None
    pass_type, ip, port = m.groups()
    doc["pass_type"] = pass_type
    doc["client_ip"] = None if ip == "unknown" else ip
    doc["client_port"] = int(port)
    return "postscreen.pass"


def _dnsbl(msg: str, doc: Doc) -> Optional[str]:
    m = RE_DNSBL.match(msg)
    if m is None:
        return None
    rank, ip, port = m.groups()
    doc["rank"] = int(rank)
    doc["client_ip"] = None if ip == "unknown" else ip
    doc["client_port"] = int(port)
    return "postscreen.dnsbl"


SHAPES: Shapes = {"postscreen": ({"CONN": _connect, "DISC": _disconnect, "PASS": _pass, "DNSB": _dnsbl,
                          "NOQU": lambda msg, doc: noqueue_action(msg, doc, "postscreen")}, None)}

DAEMONS = {
    "postscreen": parse_postscreen,
    "tlsproxy": lambda msg, doc, level: run_rules(TLSPROXY, msg, doc),
    "dnsblog": lambda msg, doc, level: run_rules(DNSBLOG, msg, doc),
}
