"""Delivery agents: smtp(8), lmtp(8), local(8), virtual(8), pipe(8), error(8), discard(8),
retry: one ``to=..., relay=..., status=...`` line per recipient attempt, plus the SMTP
client's connection events."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import (
    QUEUE_ID_PREFIX, TLS_DETAILS, Doc, Shapes, addr, fill_groups, fill_reply_groups, fill_tls, kv_into, relay_parts,
    reply_from, rules,
    run_rules, tls_features_from,
)

# 3E29: to=<u@yahoo.com>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (...)
RE_STATUS = re.compile(r"(?P<status>[a-z][a-z-]*)(?: \((?P<reply>.*)\))?\s*\Z", re.S)
RE_FORWARDED = re.compile(r"forwarded as (?P<qid>[0-9A-Za-z]+)")
# a damaged line that lost its "to=": 123456789AB: user@example.com, relay=example.com[...]:25, ...
RE_BARE_RCPT = re.compile(r"(?P<to><[^>]*>|[^\s,=<>]+@[^\s,=<>]+), relay=")


# The usual layout, read in one match (anything else goes through the key=value reader):
# 3E29: to=<u@example.com>, orig_to=<a@example.com>, relay=mx.example.com[192.0.2.7]:25,
#   conn_use=2, delay=1.2, delays=0.1/0/0.5/0.6, tls=may, dsn=2.0.0, status=sent (250 2.0.0 Ok)
RE_DELIVERY = re.compile(
    r"to=<([^<>]*)>, (?:orig_to=<([^<>]*)>, )?"
    r"relay=(([^\s,\[\]]*)(?:\[([^\]]*)\](?::([0-9]+))?)?), (?:conn_use=([0-9]+), )?"
    r"delay=([0-9]+(?:\.[0-9]+)?), delays=([0-9]+(?:\.[0-9]+)?)/([0-9]+(?:\.[0-9]+)?)/([0-9]+(?:\.[0-9]+)?)/([0-9]+(?:\.[0-9]+)?), "
    r"(?:tls=([^\s,]+), )?dsn=([0-9.]+), status=([a-z][a-z-]*)(?: \((.*)\))?\s*\Z", re.S)


# the same with its queue id, for the shape (see SHAPES in parsers/postfix/__init__.py)
RE_QUEUED_DELIVERY = re.compile(QUEUE_ID_PREFIX + RE_DELIVERY.pattern, re.S)


def _queued_delivery(msg: str, doc: Doc) -> Optional[str]:
    m = RE_QUEUED_DELIVERY.match(msg)
    if m is None:
        return None
    g = m.groups()
    doc["queue_id"] = g[0]
    return _fill_delivery(doc, g[1:])


def _delivery(msg: str, doc: Doc) -> Optional[str]:
    """The usual layout (RE_DELIVERY) in one match; None, having set nothing, for any other."""
    m = RE_DELIVERY.match(msg)
    return None if m is None else _fill_delivery(doc, m.groups())


def _fill_delivery(doc: Doc, groups: tuple) -> str:
    (to, orig_to, relay, host, address, port, conn_use, delay, d1, d2, d3, d4, tls, dsn, status,
     reply) = groups
    doc["to"] = to
    if orig_to is not None:
        doc["orig_to"] = orig_to
    relay_parts(doc, relay, host, address, port)
    if conn_use is not None:
        doc["conn_use"] = int(conn_use)
    doc["delay"] = float(delay)
    doc["delays"] = {"before_qmgr": float(d1), "in_qmgr": float(d2), "conn_setup": float(d3),
                     "transmission": float(d4)}
    if tls is not None:
        tls_features_from(doc, tls)
    doc["dsn"] = dsn
    doc["status"] = status
    if reply is not None:
        reply_from(doc, reply)
        if "forwarded as " in reply:
            f = RE_FORWARDED.search(reply)
            if f is not None:
                doc["forwarded_as"] = f.group("qid")
    return "delivery"


def parse_delivery_line(msg: str, doc: Doc) -> Optional[str]:
    """``to=<a>, [orig_to=<b>, ]relay=..., delay=..., delays=..., dsn=..., status=... (reply)``."""
    if _delivery(msg, doc) is not None:
        return "delivery"
    i = msg.find(", status=")
    if i < 0:
        return None
    kv_into(doc, msg[:i])
    if "to" not in doc:
        b = RE_BARE_RCPT.match(msg)
        if b is None or "relay" not in doc:
            return None
        doc["to"] = addr(b.group("to"))
    m = RE_STATUS.match(msg, i + 9)
    if m is None:
        doc["status"] = msg[i + 9:]
        return "delivery"
    doc["status"] = m.group("status")
    reply = m.group("reply")
    if reply is not None:
        reply_from(doc, reply)
        f = RE_FORWARDED.search(reply)
        if f is not None:
            doc["forwarded_as"] = f.group("qid")
    return "delivery"


RELAY = r"(?P<relay_host>[^\s\[\]]*)\[(?P<relay_ip>[^\]]*)\](?::(?P<relay_port>\d+))?"

SMTP = rules(
    # connect to 127.0.0.1[127.0.0.1]:2599: Connection refused
    (r"connect to " + RELAY + r": (?P<error>.*)\Z", "smtp.connect_error"),
    # Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:2525: TLSv1.3 with cipher ...
    (r"(?P<tls_trust>Anonymous|Untrusted|Trusted|Verified) TLS connection established to " + RELAY + r": "
     + TLS_DETAILS + r"\Z", "smtp.tls", fill_tls),
    # B99FE3D: lost connection with mx3.hotmail.com[65.55.37.72] while receiving the initial server greeting
    (r"lost connection with " + RELAY + r" while (?P<stage>.*)\Z", "smtp.lost_connection"),
    # 78D6B41: conversation with mx00.gmx.com[74.208.5.4] timed out while receiving the initial server greeting
    (r"conversation with " + RELAY + r" timed out while (?P<stage>.*)\Z", "smtp.timeout"),
    # ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <u@x>: ... (in reply to RCPT TO command)
    (r"host " + RELAY + r" said: (?P<reply>.*?)(?: \(in reply to (?P<in_reply_to>.+?) command\))?\Z", "smtp.reply",
     fill_reply_groups),
    # 40197AA: host mg2.egov.bg[213.91.191.86] refused to talk to me: 450 4.3.2 try again later
    (r"host " + RELAY + r" refused to talk to me: (?P<reply>.*)\Z", "smtp.refused", fill_reply_groups),
    # certificate verification failed for mail.example.com[113.169.17.115]:25: self-signed certificate.
    (r"(?:server )?certificate verification failed for " + RELAY + r": (?P<error>.*)\Z", "smtp.tls_verify_failed"),
    # SSL_connect error to mail.example.org[112.63.65.2]:25: lost connection
    (r"SSL_connect error to " + RELAY + r": (?P<error>.*)\Z", "smtp.tls_error"),
    # B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25
    (r"enabling PIX workarounds: (?P<pix_workarounds>.*) for " + RELAY + r"\Z", "smtp.pix_workaround"),
    # D0F29603B4: SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: ...
    (r"SASL authentication failed; server " + RELAY + r" said: (?P<reply>.*)\Z", "smtp.sasl_auth_failed",
     fill_reply_groups),
    # 4A1B: breaking line > 998 bytes with <CR><LF>SPACE
    (r"breaking line > (?P<limit>\d+) bytes with (?P<text>.*)\Z", "smtp.line_broken"),
    # Host offered STARTTLS: [mail.example.com]
    (r"Host offered STARTTLS: \[(?P<relay_host>[^\]]*)\]\Z", "smtp.starttls_offered"),
    # 3mPz615lB2z7sZt: Cannot start TLS: handshake failure
    (r"Cannot start TLS: (?P<error>.*)\Z", "smtp.starttls_failed"),
)

SMTP_WARNINGS = rules(
    # warning: TLS library problem: ...
    (r"TLS library problem: (?P<error>.*)\Z", "smtp.tls_error"),
    # warning: 9A3: defer service failure / warning: no MX host for x has a valid address record
)


def parse_smtp(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is not None:
        return run_rules(SMTP_WARNINGS, msg, doc)
    if msg.startswith("to="):
        return parse_delivery_line(msg, doc)
    kind = run_rules(SMTP, msg, doc)
    if kind is not None and doc.get("relay_ip") is not None and ":" not in doc["relay_ip"] \
            and not doc["relay_ip"][:1].isdigit():
        doc["relay_socket"] = doc.pop("relay_ip")   # lmtp: mx.example.test[private/dovecot-lmtp]
    return kind


def parse_agent(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is None and msg.startswith("to="):
        return parse_delivery_line(msg, doc)
    return None


# A delivery line of any delivery agent, in one match (a shape, see SHAPES in
# parsers/postfix/__init__.py): each agent's handler reads "to=..." first, this way.
SHAPES: Shapes = {name: ({}, _queued_delivery) for name in ("smtp", "lmtp", "local", "virtual", "pipe", "error", "discard",
                                                   "retry")}

DAEMONS = {
    "smtp": parse_smtp,
    "lmtp": parse_smtp,
    "local": parse_agent,
    "virtual": parse_agent,
    "pipe": parse_agent,
    "error": parse_agent,
    "discard": parse_agent,
    "retry": parse_agent,
}

__all__ = ["DAEMONS", "parse_delivery_line", "fill_groups"]
