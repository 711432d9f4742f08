"""smtpd(8): SMTP sessions (connect, client=, rejects and other access actions, TLS,
SASL, lost connections, disconnect command counts) and the before-queue proxy."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import (
    CLIENT, QUEUE_ID_PREFIX, TLS_DETAILS, Doc, RE_QUEUED_AS, RE_REPLY, Shapes, addr, fill_groups, fill_tls, kv_into,
    rules, run_rules, set_client, tls_details,
)

# Access actions logged by smtpd and cleanup. ``reject_warning`` is a would-be reject.
ACTIONS = (r"reject|reject_warning|hold|discard|filter|redirect|warn|bcc|prepend|defer|defer_if_permit"
           r"|milter-reject|milter-discard|milter-hold|milter-redirect|milter-header-redirect")

# NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <nobody@example.test>: Recipient
#   address rejected: User unknown in local recipient table; from=<alice@example.test>
#   to=<nobody@example.test> proto=ESMTP helo=<ws0003.lan.example.net>
RE_ACTION = re.compile(
    r"(?P<action>" + ACTIONS + r"): (?P<stage>[A-Z][A-Z-]*|\.) from " + CLIENT + r": (?P<rest>.*)\Z", re.S)

# the trailing envelope: "; from=<a> to=<b> proto=ESMTP helo=<h>" (postscreen: with commas)
RE_ENVELOPE_KV = re.compile(r"(?P<k>from|to|proto|helo)=(?P<v><[^>]*>|[^\s,;<>]*)(?:,? |,?\Z)")
RE_ENVELOPE = re.compile(r"(?:(?:from|to|proto|helo)=(?:<[^>]*>|[^\s,;<>]*)(?:,? |,?\Z))+\Z")

# "<nobody@example.test>: Recipient address rejected: ...", "unknown[1.2.3.4]: Client host rejected: ...",
# "ecsolved.com: Helo command rejected: ..." (a bare target has a '.', '@' or '[': "Error: x" is no target)
RE_REASON_TARGET = re.compile(
    r"(?P<target><[^>]*>|[^\s:<>]*[.@\[][^\s:<>]*): (?P<text>.*)\Z", re.S)

# Service unavailable; Client host [27.157.200.233] blocked using zen.spamhaus.org; http://...
# Service unavailable; Helo command [news.zihan-promo.com] blocked using dbl.spamhaus.org
# Service unavailable; client [27.157.200.233] blocked using zen.spamhaus.org          (postscreen)
RE_DNSBL_REASON = re.compile(
    r"[^;]*; (?P<check>Client host|Unverified Client host|Helo command|Sender address|Recipient address|client) "
    r"\[(?P<target>[^\]]*)\] (?P<text>blocked using (?P<dnsbl_domain>[^\s;,]+).*)\Z", re.S)

# cleanup's milter and header-check replies may carry only the enhanced status: "5.7.1 Blocked by SpamAssassin"
RE_ENHANCED_ONLY = re.compile(r"(?P<enh>[245]\.\d{1,3}\.\d{1,3}) (?P<text>.*)\Z", re.S)


def split_envelope(rest: str) -> tuple[str, Optional[str]]:
    """``text; from=<a> to=<b> ...`` -> (text, "from=<a> to=<b> ...").

    The envelope is the tail after the last "; " that is followed by nothing but
    from/to/proto/helo pairs; looking further left covers a "; " inside an address.
    """
    end = len(rest)
    for _ in range(8):
        i = rest.rfind("; ", 0, end)
        if i < 0:
            break
        tail = rest[i + 2:]
        if RE_ENVELOPE.match(tail) is not None:
            return rest[:i], tail
        end = i
    return rest, None


def envelope_into(doc: Doc, env: str) -> None:
    for m in RE_ENVELOPE_KV.finditer(env):
        k, v = m.group("k"), m.group("v")
        doc[k] = addr(v) if k != "proto" else v


def reason_into(doc: Doc, text: str) -> None:
    """``550 5.1.1 <a@b>: Recipient address rejected: ...`` -> code, dsn, reason, reason_target.

    The target (the address, HELO name or client the check was about) is split off the
    reason, so that reasons group: ``Recipient address rejected: User unknown in ...``.
    A DNSBL reject the same way: ``reason`` is ``blocked using zen.spamhaus.org[; text]``,
    the listed name or address is the target, ``dnsbl_check`` says what was looked up
    (``Client host``, ``Helo command``, ...) and ``dnsbl_domain`` names the list.
    """
    m = RE_REPLY.match(text)
    if m is not None:
        doc["code"] = int(m.group("code"))
        if m.group("enh"):
            doc["dsn"] = m.group("enh")
        text = m.group("text") or ""
    else:
        m = RE_ENHANCED_ONLY.match(text)
        if m is not None:
            doc["dsn"] = m.group("enh")
            text = m.group("text")
    t = RE_REASON_TARGET.match(text)
    if t is not None:
        doc["reason_target"] = addr(t.group("target"))
        text = t.group("text")
    elif "blocked using " in text:
        d = RE_DNSBL_REASON.match(text)
        if d is not None:
            doc["reason_target"] = d.group("target")
            doc["dnsbl_check"] = d.group("check")
            doc["dnsbl_domain"] = d.group("dnsbl_domain")
            text = d.group("text")
    doc["reason"] = text


def fill_action(doc: Doc, m: re.Match, daemon: str = "smtpd") -> str:
    """Fill a reject/hold/discard/... line and return its kind (``<daemon>.<action>``)."""
    action = m.group("action")
    doc["action"] = action
    doc["stage"] = m.group("stage")
    set_client(doc, m.group("client_host"), m.group("client_ip"), m.group("client_port"))
    text, env = split_envelope(m.group("rest"))
    reason_into(doc, text)
    if env is not None:
        envelope_into(doc, env)
    return daemon + "." + action.replace("-", "_")


RE_COUNTS = re.compile(r"([a-z_-]+)=([0-9]+)(?:/([0-9]+))?")

# The command counts of a disconnect line repeat ("ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"
# for most clean sessions): read once per distinct text
_COUNTS_SEEN: dict[str, tuple] = {}


def read_counts(counts: str) -> tuple[Optional[tuple[int, int]], dict[str, int], dict[str, int]]:
    """``ehlo=1 mail=1 rcpt=5/8 commands=7/10`` -> ((commands_ok, commands) or None, all, ok)."""
    seen = _COUNTS_SEEN.get(counts)
    if seen is not None:
        return seen
    commands = None
    total: dict[str, int] = {}
    ok: dict[str, int] = {}
    for name, good, all_ in RE_COUNTS.findall(counts):
        g = int(good)
        if name == "commands":
            commands = (g, int(all_) if all_ else g)
            continue
        ok[name] = g
        total[name] = int(all_) if all_ else g
    if len(_COUNTS_SEEN) >= 1024:
        _COUNTS_SEEN.clear()
    seen = _COUNTS_SEEN[counts] = (commands, total, ok)
    return seen


def fill_disconnect(doc: Doc, m: re.Match) -> None:
    host, ip, port, counts = m.groups()
    set_client(doc, host, ip, port)
    if not counts:
        return
    commands, total, ok = read_counts(counts)
    if commands is not None:
        doc["commands_ok"], doc["commands"] = commands
    doc["command_counts"] = dict(total)         # each document its own (the cached ones are shared)
    doc["command_counts_ok"] = dict(ok)


# client=localhost[127.0.0.1] (the usual case; with SASL or XFORWARD the key=value reader)
RE_CLIENT_ONLY = re.compile(r"client=([^\s\[\],]*)\[([^\],]*)\](?::([0-9]+))?\Z")


def fill_client_kv(doc: Doc, m: re.Match) -> None:
    c = RE_CLIENT_ONLY.match(m.string)
    if c is not None:
        set_client(doc, *c.groups())
        return
    kv_into(doc, m.string)          # the whole text: client=..., sasl_method=..., orig_queue_id=...


def fill_sasl_failed(doc: Doc, m: re.Match) -> None:
    fill_groups(doc, m)
    reason = m.group("sasl_reason")
    if reason is not None:
        # "(reason unavailable), sasl_username=postmaster@example.org" (Postfix >= 3.7)
        i = reason.rfind(", sasl_username=")
        if i >= 0:
            doc["sasl_username"] = reason[i + 16:]
            doc["sasl_reason"] = reason[:i]


RE_PROXY_MTA = re.compile(r"from MTA\((?P<mta>[^)]*)\): (?P<mta_reply>.*)\Z", re.S)


def fill_proxy(doc: Doc, m: re.Match) -> str:
    """proxy-accept / proxy-reject (before-queue content filter): stage, reply, MTA, queue id."""
    doc["stage"] = m.group("stage")
    text, env = split_envelope(m.group("rest"))
    if env is not None:
        envelope_into(doc, env)
    doc["reply"] = text
    r = RE_REPLY.match(text)
    if r is not None:
        doc["code"] = int(r.group("code"))
        if r.group("enh"):
            doc["dsn"] = r.group("enh")
        doc["reason"] = r.group("text") or ""
    else:
        doc["reason"] = text
    mta = RE_PROXY_MTA.search(text)
    if mta is not None:
        doc["proxy_mta"] = mta.group("mta")
        doc["proxy_reply"] = mta.group("mta_reply")
    q = RE_QUEUED_AS.search(text)
    if q is not None:
        doc["queued_as"] = q.group("qid")
    return "smtpd.proxy_" + m.group("_a")


# Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd
RE_LIMIT = (r"(?P<limit_type>Connection rate|Connection concurrency|Message delivery request rate|Recipient address rate"
            r"|New TLS session rate|Connection|SASL authentication failure|Command count|Auth rate) limit exceeded: "
            r"(?P<count>\d+) from " + CLIENT + r" for service (?P<service>\S+)\Z")

SMTPD = rules(
    # 7B1C41642D1: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=u@x
    # 7B1C41642D1: client=localhost[127.0.0.1], orig_queue_id=B5A021642D1, orig_client=localhost[127.0.0.1]
    (r"client=", "smtpd.client", fill_client_kv),
    # connect from localhost[127.0.0.1]
    (r"connect from " + CLIENT + r"\Z", "smtpd.connect"),
    # disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=5/8 data=1 quit=1 commands=9/12
    (r"disconnect from " + CLIENT + r"(?: (?P<counts>.*))?\Z", "smtpd.disconnect", fill_disconnect),
    # lost connection after DATA (56 bytes) from localhost[127.0.0.1]
    (r"lost connection after (?P<stage>\S+)(?: \((?P<bytes>\d+) bytes\))? from " + CLIENT + r"(?P<_r>.*)\Z",
     "smtpd.lost_connection"),
    # timeout after END-OF-MESSAGE from unknown[72.13.58.7]
    (r"timeout after (?P<stage>\S+)(?: \((?P<bytes>\d+) bytes\))? from " + CLIENT + r"\Z", "smtpd.timeout"),
    # too many errors after RCPT from unknown[1.2.3.4]
    (r"too many errors after (?P<stage>\S+)(?: \((?P<bytes>\d+) bytes\))? from " + CLIENT + r"\Z",
     "smtpd.too_many_errors"),
    # Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher ...
    (r"(?P<tls_trust>Anonymous|Untrusted|Trusted|Verified) TLS connection established from " + CLIENT
     + r": " + TLS_DETAILS + r"\Z", "smtpd.tls", fill_tls),
    # improper command pipelining after EHLO from unknown[2001:db8::1]: MAIL FROM:<>\r\nRCPT TO...
    (r"improper command pipelining after (?P<stage>\S+) from " + CLIENT + r":? ?(?P<command>.*)\Z",
     "smtpd.pipelining"),
    # SSL_accept error from unknown[72.13.58.7]: lost connection
    (r"SSL_accept error from " + CLIENT + r": (?P<error>.*)\Z", "smtpd.tls_error"),
    # proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as X; from=<..>
    (r"proxy-(?P<_a>accept|reject): (?P<stage>[A-Z][A-Z-]*): (?P<rest>.*)\Z", "smtpd.proxy",
     fill_proxy),
    # bare <LF> received after CONNECT from example.net[1.2.3.4]
    (r"bare <(?P<bare>LF|CR)> received after (?P<stage>\S+) from " + CLIENT + r"\Z", "smtpd.bare_newline"),
    # discarding EHLO keywords: CHUNKING ETRN DSN 8BITMIME
    (r"discarding EHLO keywords: (?P<keywords>.*)\Z", "smtpd.ehlo_keywords",
     lambda d, m: d.__setitem__("discarded_ehlo_keywords", m.group("keywords").split())),
    # Connection concurrency limit exceeded: 51 from x[1.2.3.4] for service smtp (also as a warning)
    (RE_LIMIT, "smtpd.limit_exceeded"),
    # reject: header Subject: ... (smtpd running header checks with receive_override_options)
)

SMTPD_WARNINGS = rules(
    # warning: unknown[203.0.113.10]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=x
    # warning: unknown[192.0.2.150]: SASL PLAIN authentication failed:
    (CLIENT + r": SASL (?P<sasl_method>\S+) authentication failed(?::(?: (?P<sasl_reason>.*))?)?\Z",
     "smtpd.sasl_auth_failed", fill_sasl_failed),
    # warning: SASL authentication failure: Password verification failed
    (r"SASL authentication failure: (?P<sasl_reason>.*)\Z", "smtpd.sasl_failure"),
    # warning: hostname exemple.com does not resolve to address 185.14.29.32: Name or service not known
    (r"hostname (?P<client_host>\S+) does not resolve to address (?P<client_ip>[^\s:]+(?::[0-9a-fA-F]*)*?)"
     r"(?:: (?P<dns_error>.*))?\Z", "smtpd.dns_mismatch"),
    # warning: 1.2.3.4: address not listed for hostname mail.example.com
    (r"(?P<client_ip>\S+): address not listed for hostname (?P<client_host>\S+)\Z", "smtpd.dns_mismatch"),
    # warning: non-SMTP command from unknown[1.2.3.4]: GET / HTTP/1.1
    (r"non-SMTP command from " + CLIENT + r": (?P<command>.*)\Z", "smtpd.non_smtp_command"),
    # warning: Illegal address syntax from unknown[1.2.3.4] in MAIL command: <a@b
    (r"Illegal address syntax from " + CLIENT + r" in (?P<stage>\S+) command: (?P<address>.*)\Z",
     "smtpd.illegal_address"),
    # warning: TLS library problem: error:0A000126:SSL routines::unexpected eof while reading
    (r"TLS library problem: (?P<error>.*)\Z", "smtpd.tls_error"),
    # warning: B8C4F1642F1: queue file size limit exceeded
    (r"queue file size limit exceeded\Z", "smtpd.size_limit_exceeded"),
    # warning: unknown[1.2.3.4]: hostname x verification failed: Name or service not known
    (CLIENT + r": hostname (?P<hostname>\S+) verification failed: (?P<dns_error>.*)\Z", "smtpd.dns_mismatch"),
    # warning: Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd
    # warning: Message delivery request rate limit exceeded: 334 from spam.example.com[192.0.2.227] for service submission
    (RE_LIMIT, "smtpd.limit_exceeded"),
)


def parse_smtpd(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is not None:
        return run_rules(SMTPD_WARNINGS, msg, doc)
    if msg[:4] in _ACTION_PREFIXES:
        m = RE_ACTION.match(msg)
        if m is not None:
            return fill_action(doc, m)
        if msg.split(":", 1)[0] in _ACTION_WORDS:
            return None
    return run_rules(SMTPD, msg, doc)


_ACTION_WORDS = frozenset(ACTIONS.split("|"))
_ACTION_PREFIXES = frozenset(w[:4] for w in _ACTION_WORDS)

DAEMONS = {"smtpd": parse_smtpd}


# -- shapes: the commonest smtpd lines, each in one match (see SHAPES in parsers/postfix/__init__.py).
# Each pattern is its rule's pattern above, read by position; the fields and their order are
# those the rule's fill gives.

RE_CONNECT = re.compile(r"connect from " + CLIENT + r"\Z", re.S)
RE_DISCONNECT = re.compile(r"disconnect from " + CLIENT + r"(?: (?P<counts>.*))?\Z", re.S)
# the part before the TLS summary (read by grammar.tls_details): the whole rule's pattern
# splits the text only there (the client part cannot end anywhere else)
RE_TLS_CLIENT = re.compile(r"(?P<tls_trust>Anonymous|Untrusted|Trusted|Verified) TLS connection established from "
                           + CLIENT + r": ", re.S)


def _connect(msg: str, doc: Doc) -> Optional[str]:
    m = RE_CONNECT.match(msg)
    if m is None:
        return None
    host, ip, port = m.groups()
    doc["client_host"] = host
    doc["client_ip"] = None if ip == "unknown" else ip
    if port is not None:
        doc["client_port"] = int(port)
    return "smtpd.connect"


def _disconnect(msg: str, doc: Doc) -> Optional[str]:
    m = RE_DISCONNECT.match(msg)
    if m is None:
        return None
    fill_disconnect(doc, m)
    return "smtpd.disconnect"


# 7B1C41642D1: client=localhost[127.0.0.1]
RE_QUEUED_CLIENT = re.compile(QUEUE_ID_PREFIX + RE_CLIENT_ONLY.pattern)
# 7B1C41642D1: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=u@x   (what the key=value
# reader makes of it when no value holds a comma or angle brackets: the same fields, in this order)
RE_QUEUED_SASL_CLIENT = re.compile(QUEUE_ID_PREFIX + RE_CLIENT_ONLY.pattern[:-2]
                                   + r", sasl_method=([^,<>]*), sasl_username=([^,<>]*)\Z")


def _client(msg: str, doc: Doc) -> Optional[str]:
    c = RE_QUEUED_CLIENT.match(msg)
    if c is not None:
        queue_id, host, ip, port = c.groups()
        doc["queue_id"] = queue_id
        set_client(doc, host, ip, port)
        return "smtpd.client"
    c = RE_QUEUED_SASL_CLIENT.match(msg)
    if c is None:
        return None         # other fields (XFORWARD, orig_queue_id, ...): the rule reads them
    queue_id, host, ip, port, method, username = c.groups()
    doc["queue_id"] = queue_id
    set_client(doc, host, ip, port)
    doc["sasl_method"] = method
    doc["sasl_username"] = username
    return "smtpd.client"


def _tls(msg: str, doc: Doc) -> Optional[str]:
    m = RE_TLS_CLIENT.match(msg)
    if m is None:
        return None
    details = tls_details(msg[m.end():])
    if details is None:
        return None
    trust, host, ip, port = m.groups()
    doc["tls_trust"] = trust
    doc["client_host"] = host
    doc["client_ip"] = None if ip == "unknown" else ip
    if port is not None:
        doc["client_port"] = int(port)
    doc.update(details)
    return "smtpd.tls"


def noqueue_action(msg: str, doc: Doc, daemon: str = "smtpd") -> Optional[str]:
    """NOQUEUE: reject: RCPT from ...: the access action of a client that has no queue file yet."""
    if msg[4:9] != "EUE: ":
        return None
    m = RE_ACTION.match(msg, 9)
    return None if m is None else fill_action(doc, m, daemon)


SHAPES: Shapes = {"smtpd": ({
    "conn": _connect, "disc": _disconnect, "NOQU": noqueue_action,
    "Anon": _tls, "Untr": _tls, "Trus": _tls, "Veri": _tls,
}, _client)}
