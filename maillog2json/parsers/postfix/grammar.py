"""Shared pieces of Postfix's log grammar: small named fragments and the helpers that
turn their captures into typed fields. Each fragment has a real line above it.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

Doc = dict[str, Any]
# A shape reads one common kind of line in one match (see SHAPES in parsers/postfix/__init__.py);
# a daemon's shapes are (by the message's first 4 characters, for its "QUEUEID: ..." lines).
Shape = Callable[[str, Doc], Optional[str]]
Shapes = dict[str, tuple[dict[str, Shape], Optional[Shape]]]

# Queue ids. Short: hex (``B5A021642D1``); long (enable_long_queue_ids): base-52 time,
# 'z', base-51 inode (``4YbMwz0Xnnz9sW8``). ``NOQUEUE`` before a queue file exists.
QUEUE_ID = r"(?:[0-9A-F]{6,}|[0-9BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy]{10,}z[0-9BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy]+|[0-9A-Za-z]{12,})"
# (A message's "[level: ][QUEUEID: ][level: ]" prefixes are read with str.find in
# parsers/postfix/__init__.py: same grammar, no pattern on the per-line path.)

# The queue-id prefix as that reading accepts it, for the shapes (patterns of whole common
# lines): the text before the first ": " within the first 24 characters, 6+ upper-case hex
# characters or 12+ ASCII letters and digits (neither can hold ": ", so the first one ends it).
QUEUE_ID_PREFIX = r"([0-9A-F]{6,22}|[0-9A-Za-z]{12,22}): "

# localhost[127.0.0.1], unknown[::1], mail.example.com[192.0.2.1]:25, [192.0.2.1]:25
CLIENT = r"(?P<client_host>[^\s\[\]]*)\[(?P<client_ip>[^\]]*)\](?::(?P<client_port>\d+))?"

# relay=mx.example.test[private/dovecot-lmtp], relay=127.0.0.1[127.0.0.1]:2525, relay=none
RE_HOST_ADDR = re.compile(r"(?P<host>[^\s\[\]]*)\[(?P<addr>[^\]]*)\](?::(?P<port>\d+))?\Z")

# 250 2.0.0 Ok: queued as 153053D        550-5.7.1 [1.2.3.4] text
RE_REPLY = re.compile(r"(?P<code>[2-5]\d\d)(?:[ -](?P<enh>[245]\.\d{1,3}\.\d{1,3}))?(?:[ -]+(?P<text>.*))?\Z", re.S)

# host mx.example.com[192.0.2.1] said: 550 5.1.1 <x@y>: user unknown (in reply to RCPT TO command)
RE_HOST_SAID = re.compile(
    r"host (?P<remote_host>[^\s\[\]]*)\[(?P<remote_ip>[^\]]*)\](?::(?P<remote_port>\d+))? said: (?P<said>.*?)"
    r"(?: \(in reply to (?P<in_reply_to>.+?) command\))?\Z", re.S)

RE_QUEUED_AS = re.compile(r"queued as (?P<qid>" + QUEUE_ID + r")")

# delays=0.2/0.02/0.04/3.3
DELAY_PARTS = ("before_qmgr", "in_qmgr", "conn_setup", "transmission")

_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")


def is_ip(s: str) -> bool:
    """True for IPv4/IPv6 literals (not for 'unknown', 'private/dovecot-lmtp', ...)."""
    if ":" in s:
        return not s.strip("0123456789abcdefABCDEF:.") and s.count(":") >= 2
    return s.count(".") == 3 and s.replace(".", "").isdigit() and _IPV4.match(s) is not None


def flt(s: str) -> Any:
    """A number as a float (``delay=2`` is 2.0, a score ``-1.5``); anything else stays text."""
    try:
        return float(s)
    except ValueError:
        return s


def set_client(doc: Doc, host: Optional[str], ip: Optional[str], port: Optional[str]) -> None:
    """``unknown[unknown]`` (no address known) gives client_ip None: the field stays an IP;
    postscreen's bare ``[1.2.3.4]:5678`` gives client_host None."""
    doc["client_host"] = host or None
    doc["client_ip"] = None if ip == "unknown" else ip
    if port is not None:
        doc["client_port"] = int(port)


def client_from(doc: Doc, text: str) -> bool:
    """Split ``host[ip]:port`` (the whole text) into the client fields."""
    m = RE_HOST_ADDR.match(text)
    if m is None:
        return False
    set_client(doc, m.group("host"), m.group("addr"), m.group("port"))
    return True


def relay_from(doc: Doc, relay: str) -> None:
    """relay= value: kept whole, and split where it has the host[ip]:port shape."""
    doc["relay"] = relay
    m = RE_HOST_ADDR.match(relay)
    if m is None:
        doc["relay_host"] = relay
        return
    doc["relay_host"] = m.group("host")
    addr = m.group("addr")
    if is_ip(addr):
        doc["relay_ip"] = addr
    else:
        doc["relay_socket"] = addr          # private/dovecot-lmtp, a unix socket path
    port = m.group("port")
    if port is not None:
        doc["relay_port"] = int(port)


def relay_parts(doc: Doc, relay: str, host: str, address: Optional[str], port: Optional[str]) -> None:
    """relay_from() for a value already split by a pattern into host, [address] and :port."""
    doc["relay"] = relay
    doc["relay_host"] = host
    if address is None:
        return
    if is_ip(address):
        doc["relay_ip"] = address
    else:
        doc["relay_socket"] = address
    if port is not None:
        doc["relay_port"] = int(port)


def delays_from(doc: Doc, text: str) -> None:
    parts = text.split("/")
    if len(parts) == 4:
        try:
            doc["delays"] = {name: float(p) for name, p in zip(DELAY_PARTS, parts)}
            return
        except ValueError:
            pass
    doc["delays_text"] = text       # damaged: kept aside, so `delays` is always an object


# tls=dane/!requiretls:nostarttls (Postfix >= 3.11, smtp_log_tls_feature_status): the TLS
# security level, '?' when the policy was undecided, ':level' after a downgrade; then the
# REQUIRETLS status the same way, '!' marking a policy violation.
RE_TLS_FEATURES = re.compile(
    r"(?P<tls_level>[a-z-]+)(?P<_undecided>\?)?(?::(?P<tls_downgrade_level>[a-z-]+))?"
    r"(?:/(?P<_violation>!)?requiretls(?P<_rt_undecided>\?)?(?::(?P<requiretls_downgrade_level>[a-z-]+))?)?\Z")


def tls_features_from(doc: Doc, text: str) -> None:
    """``tls=`` value: kept whole, and split into level, downgrade and REQUIRETLS status."""
    doc["tls_status"] = text
    m = RE_TLS_FEATURES.match(text)
    if m is None:
        return
    doc["tls_level"] = m.group("tls_level")
    if m.group("_undecided"):
        doc["tls_policy_undecided"] = True
    if m.group("tls_downgrade_level"):
        doc["tls_downgrade_level"] = m.group("tls_downgrade_level")
    if "/" in text:
        doc["requiretls"] = True
        if m.group("_violation"):
            doc["requiretls_violation"] = True
        if m.group("_rt_undecided"):
            doc["requiretls_policy_undecided"] = True
        if m.group("requiretls_downgrade_level"):
            doc["requiretls_downgrade_level"] = m.group("requiretls_downgrade_level")


def reply_from(doc: Doc, text: str) -> None:
    """The text in ``status=... (text)`` or after ``said:``: whole, and split if it is an SMTP reply."""
    doc["reply"] = text
    if text.startswith("host "):
        m = RE_HOST_SAID.match(text)
        if m is not None:
            remote_host, remote, _port, said, in_reply_to = m.groups()
            doc["remote_host"] = remote_host
            doc["remote_ip" if is_ip(remote) else "remote_socket"] = remote    # [private/dovecot-lmtp]
            if in_reply_to:
                doc["in_reply_to"] = in_reply_to
            text = said
    if text[:1] in "2345":
        m = RE_REPLY.match(text)
        if m is not None:
            code, enh, rest = m.groups()
            doc["reply_code"] = int(code)
            if enh:
                doc["reply_enhanced"] = enh
            doc["reply_text"] = rest or ""
    if "queued as " in text:
        q = RE_QUEUED_AS.search(text)
        if q is not None:
            doc["queued_as"] = q.group("qid")


def addr(v: str) -> str:
    """``<a@b>`` -> ``a@b``; ``<>`` -> ``""``; bare addresses stay as they are."""
    if v[:1] == "<" and v[-1:] == ">":
        return v[1:-1]
    return v


# key=value lists: ``to=<a@b>, orig_to=<c@d>, relay=x[1.2.3.4]:25, delay=3.6, ...`` and the
# space-separated ``from=<a> to=<b> proto=ESMTP helo=<h>``. A value in <> may hold commas
# and blanks; others end at ", " (comma list) or a blank.
RE_KV_COMMA = re.compile(r"(?P<k>[a-z_]+)=(?P<v><[^>]*>|[^,]*?)(?:, |,?\Z)")
RE_KV_SPACE = re.compile(r"(?P<k>[a-z_]+)=(?P<v><[^>]*>|\S*)(?: |\Z)")

ADDRESS_KEYS = frozenset(("from", "to", "orig_to", "helo"))
INT_KEYS = frozenset(("size", "nrcpt", "conn_use", "uid", "client_port", "port"))
FLOAT_KEYS = frozenset(("delay",))


def kv_into(doc: Doc, text: str, rx: re.Pattern = RE_KV_COMMA) -> int:
    """Apply ``key=value`` pairs to doc with our names and types; returns how many were read."""
    n = 0
    for m in rx.finditer(text):
        k, v = m.group("k"), m.group("v")
        n += 1
        if k in ADDRESS_KEYS:
            doc[k] = addr(v)
        elif k in INT_KEYS:
            doc[k] = int(v) if v.isdecimal() else v
        elif k in FLOAT_KEYS:
            doc[k] = flt(v)
        elif k == "relay":
            relay_from(doc, v)
        elif k == "delays":
            delays_from(doc, v)
        elif k == "tls":
            tls_features_from(doc, v)
        elif k == "message-id":
            doc["message_id"] = addr(v)
        elif k == "client":
            if not client_from(doc, v):
                doc["client"] = v
        elif k == "orig_client":
            m2 = RE_HOST_ADDR.match(v)
            if m2:
                doc["orig_client_host"] = m2.group("host")
                doc["orig_client_ip"] = m2.group("addr")
                if m2.group("port"):
                    doc["orig_client_port"] = int(m2.group("port"))
            else:
                doc["orig_client"] = v
        else:
            doc[k] = v
    return n


# ---------------------------------------------------------------------------------------
# Rule tables: each daemon is an ordered list of (pattern, kind, fill). The first pattern
# that matches decides the kind; ``fill`` (or the default, which copies the named groups
# with their types) sets the fields.

INT_GROUPS = frozenset((
    "client_port", "relay_port", "remote_port", "server_port", "size", "nrcpt", "bytes", "count",
    "conn_use", "uid", "tls_cipher_bits", "tls_cipher_alg_bits", "rank", "retained", "dropped",
    "signal", "cache_size", "conn_count", "conn_rate", "hits", "miss", "domains", "addresses",
    "connections", "pregreet_bytes", "pid_killed", "limit", "exit_status", "success_pct",
))
FLOAT_GROUPS = frozenset(("delay", "after", "hangup_after", "pregreet_after"))


def int_or_text(v: str) -> Any:
    """Digits as an int; anything else stays text."""
    return int(v) if v.isdecimal() else v


def _ip(v: str) -> Optional[str]:
    return None if v == "unknown" else v       # unknown[unknown]: no address known


_CONVERTERS: dict[str, Any] = {name: int_or_text for name in INT_GROUPS}
_CONVERTERS.update({name: flt for name in FLOAT_GROUPS})
_CONVERTERS["client_ip"] = _ip
_SPECS: dict[re.Pattern, tuple] = {}


def _spec(rx: re.Pattern) -> tuple:
    """(group index, field name, converter) for each named group that is a field, in order."""
    spec = _SPECS.get(rx)
    if spec is None:
        spec = _SPECS[rx] = tuple((i - 1, name, _CONVERTERS.get(name))
                                  for name, i in sorted(rx.groupindex.items(), key=lambda kv: kv[1])
                                  if name[0] != "_")
    return spec


def fill_groups(doc: Doc, m: re.Match) -> None:
    """Copy the named groups that matched into doc, typed (INT_GROUPS, FLOAT_GROUPS)."""
    g = m.groups()
    for i, name, conv in _spec(m.re):
        v = g[i]
        if v is not None:
            doc[name] = v if conv is None else conv(v)


Rule = tuple  # (compiled pattern, kind, fill or None, group spec)

_SPECIAL = set("\\.^$*+?{}[]|()")


def _literal_prefix(pattern: str, n: int = 4) -> Optional[str]:
    """The first ``n`` characters every match must start with, if the pattern says so plainly."""
    depth = 0
    for i, c in enumerate(pattern):        # a top-level alternative: no common prefix
        if c == "\\":
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0 and (i == 0 or pattern[i - 1] != "\\"):
            return None
    lit = []
    for c in pattern:
        if c in _SPECIAL:
            break
        lit.append(c)
    if len(lit) >= n and pattern[len(lit):len(lit) + 1] not in ("*", "?", "{"):
        return "".join(lit[:n])
    return None


class RuleTable(list):
    """An ordered rule list, indexed by each rule's literal 4-character prefix so that a
    message is tried only against the rules it could match (first match wins, in order)."""

    def __init__(self, rows: list[Rule]) -> None:
        super().__init__(rows)
        prefixes = [_literal_prefix(row[0].pattern) for row in rows]
        self.wild = [r for r, p in zip(rows, prefixes) if p is None]
        self.by_prefix = {p: [r for r, q in zip(rows, prefixes) if q is None or q == p]
                      for p in set(prefixes) if p is not None}


def rules(*table: tuple) -> RuleTable:
    """Compile a rule table: (regex text, kind[, fill])."""
    out = []
    for row in table:
        pattern, kind = row[0], row[1]
        fill = row[2] if len(row) > 2 else None
        rx = re.compile(pattern, re.S)
        out.append((rx, kind, fill, _spec(rx)))
    return RuleTable(out)


def run_rules(table: RuleTable, msg: str, doc: Doc) -> Optional[str]:
    for rx, kind, fill, spec in table.by_prefix.get(msg[:4], table.wild):
        m = rx.match(msg)
        if m is not None:
            if fill is None:        # fill_groups(), inline: this is the per-line path
                g = m.groups()
                for i, name, conv in spec:
                    v = g[i]
                    if v is not None:
                        doc[name] = v if conv is None else conv(v)
            else:
                r = fill(doc, m)
                if r is not None:       # a fill may refine the kind
                    return r
            return kind
    return None


# TLS summary (smtpd, smtp, tlsproxy, lmtp):
# Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher
#   TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits)
#   server-digest SHA256
TLS_DETAILS = (
    r"(?P<tls_version>\S+) with cipher (?P<tls_cipher>\S+) \((?P<tls_cipher_bits>\d+)/(?P<tls_cipher_alg_bits>\d+) bits\)"
    r"(?: key-exchange (?P<tls_key_exchange>\S+))?"
    r"(?: server-signature (?P<tls_server_signature>\S+)(?: \((?P<_ssig>[^)]*)\))?)?"
    r"(?: server-digest (?P<tls_server_digest>\S+))?"
    r"(?: client-signature (?P<tls_client_signature>\S+)(?: \((?P<_csig>[^)]*)\))?)?"
    r"(?: client-digest (?P<tls_client_digest>\S+))?"
    r"(?P<_rest>.*)"
)


TLS_GROUPS = 12     # the groups of TLS_DETAILS, always the last ones of a TLS pattern


def fill_tls(doc: Doc, m: re.Match) -> None:
    """The groups before TLS_DETAILS (trust, client or relay) typed as fill_groups() does, then
    the TLS details (tls_details_into)."""
    g = m.groups()
    first = len(g) - TLS_GROUPS
    for i, name, conv in _spec(m.re):
        if i >= first:
            break
        v = g[i]
        if v is not None:
            doc[name] = v if conv is None else conv(v)
    tls_details_into(doc, g[first:])


RE_TLS_DETAILS = re.compile(TLS_DETAILS + r"\Z", re.S)

# TLS summaries repeat (a few protocol/cipher/key combinations): their fields, by text
_TLS_DETAILS_SEEN: dict[str, dict] = {}


def tls_details(text: str) -> Optional[dict]:
    """The fields of a TLS summary (``TLSv1.3 with cipher ... server-digest SHA256``), in the
    order tls_details_into() sets them, or None if it is not one. The dict is shared between
    documents (its values are str and int): merge it into a document, do not keep it."""
    fields = _TLS_DETAILS_SEEN.get(text)
    if fields is None:
        m = RE_TLS_DETAILS.match(text)
        if m is None:
            return None
        fields = {}
        tls_details_into(fields, m.groups())
        if len(_TLS_DETAILS_SEEN) >= 1024:
            _TLS_DETAILS_SEEN.clear()
        _TLS_DETAILS_SEEN[text] = fields
    return fields


def tls_details_into(doc: Doc, g: tuple) -> None:
    """Fill the TLS summary from the groups of TLS_DETAILS (in their order): protocol, cipher
    and bits, then the optional key exchange, signatures and digests, and whatever follows."""
    (version, cipher, bits, alg_bits, kex, ssig, ssig_detail, sdigest, csig, csig_detail, cdigest,
     rest) = g
    doc["tls_version"] = version
    doc["tls_cipher"] = cipher
    doc["tls_cipher_bits"] = int(bits)              # \d+: always a number
    doc["tls_cipher_alg_bits"] = int(alg_bits)
    if kex is not None:
        doc["tls_key_exchange"] = kex
    if ssig is not None:
        doc["tls_server_signature"] = ssig
    if sdigest is not None:
        doc["tls_server_digest"] = sdigest
    if csig is not None:
        doc["tls_client_signature"] = csig
    if cdigest is not None:
        doc["tls_client_digest"] = cdigest
    for detail, prefix in ((ssig_detail, "tls_server_signature"), (csig_detail, "tls_client_signature")):
        if detail:
            if detail.endswith(" bits") and detail[:-5].isdecimal():
                doc[prefix + "_bits"] = int(detail[:-5])
            else:
                doc[prefix + "_curve"] = detail
    rest = rest.strip()
    if rest:
        doc["tls_extra"] = rest


def fill_reply_groups(doc: Doc, m: re.Match) -> None:
    """Groups plus a ``reply`` group split as an SMTP reply."""
    fill_groups(doc, m)
    reply = doc.pop("reply", None)
    if reply is not None:
        reply_from(doc, reply)
