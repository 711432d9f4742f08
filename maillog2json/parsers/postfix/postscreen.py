"""postscreen(8), tlsproxy(8) and dnsblog(8): the zombie-blocking front door."""

from __future__ import annotations

from typing import Optional

from maillog2json.parsers.postfix.grammar import CLIENT, TLS_DETAILS, Doc, fill_tls, rules, run_rules
from maillog2json.parsers.postfix.smtpd import RE_ACTION, fill_action

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

DAEMONS = {
    "postscreen": parse_postscreen,
    "tlsproxy": lambda msg, doc, level: run_rules(TLSPROXY, msg, doc),
    "dnsblog": lambda msg, doc, level: run_rules(DNSBLOG, msg, doc),
}
