"""Sendmail (``sendmail``, ``sm-mta``, ``sm-msp-queue``, ...): line documents.

A Sendmail message text is ``[QUEUEID: ][QUEUEID2: ]text``. The queue id (``q1ABCdE0012345``:
eight characters of date and sequence, then the pid of at least five digits, longer with
7-digit pids) becomes ``queue_id``; a second queue id (``q1: q2: DSN: User unknown``) is
the notice Sendmail created about the first message. The text is then dispatched on its
first word (a dict lookup: most lines start with a fixed word such as ``from=``, ``to=``,
``ruleset=``, ``STARTTLS=``, ``AUTH``, ``Milter``), and only the few free-form lines are
tried against patterns. Real lines::

    s1P819mk027713: ruleset=check_rcpt, arg1=<a@b.ru>, relay=h.example [128.68.136.133], reject=550 5.7.1 <a@b.ru>... Relaying denied. Proper authentication required.
    rA37ZTSC026254: from=<d@domain.com>, size=0, class=0, nrcpts=0, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=h.vsi.ru [95.32.23.163]
    u31FFPtp032300: to=<s1@example.com>,<s2@example.com>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=245938, relay=[93.184.216.34] [93.184.216.34], dsn=2.0.0, stat=Sent (ok:  Message 40279895 accepted)

``key=value`` lists are read generally: items are separated by ", " outside ``<>``, ``[]``
and ``()`` (so ``to=<a>,<b>`` and ``relay=host [ip] (may be forged)`` stay whole), and
``stat=``/``reject=`` run to the end of the line. Known keys get our names and types
(:data:`RENAMED`, :func:`_kv_into`); any other key is kept under its own name. A line no
rule knows returns None and stays ``unparsed``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from maillog2json.parsers.postfix.grammar import addr, is_ip, reply_from

Doc = dict[str, Any]

TAGS = ("sendmail", "sm-mta", "sm-msp-queue", "sm-msp", "sm-acceptingconnections", "sm-queue")
# multi-instance names: sendmail-in, sendmail-out, sm-mta-in, sm-msp-queue-2 ...
TAG_PREFIXES = ("sendmail-", "sm-mta-", "sm-msp-")

# q1ABCdE0012345 (8.12+: 8 characters, then a pid of 6 digits or more); NAA12345 (8.11)
_QID_OK = re.compile(r"[A-Za-z0-9]{3,}\d{5,}\Z")

# [d+]HH:MM:SS
RE_DELAY = re.compile(r"(?:(?P<d>\d+)\+)?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)\Z")
# relay=user@host [ip] (may be forged), relay=host [IPv6:2001:db8::1], relay=[ip], relay=host., relay=root@localhost
RE_RELAY = re.compile(
    r"(?:(?P<user>[^\s@\[\]]+)@)?(?P<host>\[[^\]]*\]|[^\s\[\]]*?)\.?(?: ?\[(?P<ip>[^\]]*)\])?(?P<forged> \(may be forged\))?\Z")
# host [ip] (may be forged) at the start of a text
RE_PEER = re.compile(
    r"(?:(?P<host>[^\s\[\]]+) )?\[(?P<ip>[^\]]*)\](?P<forged> \(may be forged\))?")
# 550 5.7.1 <a@b>... Relaying denied       421 4.3.2 Connection rate limit exceeded.
RE_REJECT = re.compile(r"(?P<code>[245]\d\d)(?:[ -](?P<dsn>[245]\.\d{1,3}\.\d{1,3}))? ?(?:<(?P<target>[^>]*)>\.\.\. ?)?(?P<reason>.*)\Z", re.S)
# (uid/gid) after ctladdr=
RE_CTLADDR = re.compile(r"(?P<addr>.*?) \((?P<uid>\d+)/(?P<gid>\d+)\)\Z")
# Sent (q1ABCdE0012346 Message accepted for delivery): the next Sendmail's queue id
RE_ACCEPTED = re.compile(r"(?:2\d\d (?:2\.\d\.\d )?)?(?P<qid>[A-Za-z0-9]{8,20}) Message accepted for delivery")

# ruleset -> SMTP stage (as Postfix names its stages)
STAGES = {
    "check_relay": "CONNECT", "check_mail": "MAIL", "check_rcpt": "RCPT", "check_data": "DATA",
    "check_eoh": "END-OF-HEADERS", "check_eom": "END-OF-MESSAGE", "check_etrn": "ETRN",
    "check_expn": "EXPN", "check_vrfy": "VRFY", "check_compat": "RCPT", "tls_client": "STARTTLS",
    "tls_server": "STARTTLS", "tls_rcpt": "RCPT", "trust_auth": "AUTH", "check_hdr": "DATA",
}

# sendmail key -> our field (others keep their name, '-' written '_')
RENAMED = {"msgid": "message_id", "nrcpts": "nrcpt", "daemon": "daemon_name", "cipher": "tls_cipher",
           "version": "tls_version", "verify": "tls_verify", "authid": "sasl_username",
           "mech": "sasl_method", "user": "sasl_username"}
_TWO_WORDS = re.compile(r"[A-Za-z_]+ [A-Za-z_]+\Z")     # "accept failed=-1", "available mech=..."
_NAMES: dict[str, str] = {}     # sendmail key -> our field name (a memo)
INT_KEYS = frozenset(("size", "class", "nrcpt", "pri", "ntries", "count", "bits"))


def seconds(v: str) -> Any:
    """``00:00:05`` -> 5.0, ``4+23:59:59`` -> 431999.0; any other text stays text."""
    m = RE_DELAY.match(v)
    if m is None:
        return v
    d = int(m.group("d") or 0)
    return float(((d * 24 + int(m.group("h"))) * 60 + int(m.group("m"))) * 60 + int(m.group("s")))


def _depth_open(s: str) -> bool:
    return s.count("<") > s.count(">") or s.count("[") > s.count("]") or s.count("(") > s.count(")")


def split_items(text: str) -> list[str]:
    """``a=1, b=<x, y>, c=host [ip]`` -> items, split at ", " outside <>, [] and ()."""
    out: list[str] = []
    joining = False
    for piece in text.split(", "):
        if joining:
            out[-1] += ", " + piece
            joining = _depth_open(out[-1])
        else:
            out.append(piece)
            joining = ("<" in piece or "[" in piece or "(" in piece) and _depth_open(piece)
    return out


def addresses(v: str) -> list[str]:
    """``<a@b>,<c@d>`` or ``a,b`` -> the addresses without brackets."""
    out: list[str] = []
    for piece in v.split(","):
        if out and out[-1].count("<") > out[-1].count(">"):
            out[-1] += "," + piece
        else:
            out.append(piece)
    return [addr(a.strip()) for a in out if a.strip()]


def unbracketed(v: str) -> list[str]:
    """The addresses of a ``to=`` value written without ``<>`` (``to=bob,<c@d>`` -> ``["bob"]``):
    Sendmail logs an SMTP recipient as the client gave it, in brackets, and an address from an
    alias, a ``.forward`` or a command line as written there."""
    if "<" not in v:
        return addresses(v)
    out: list[str] = []
    for piece in v.split(","):
        if out and out[-1].count("<") > out[-1].count(">"):
            out[-1] += "," + piece
        else:
            out.append(piece)
    return [a.strip() for a in out if a.strip() and a.strip()[:1] != "<"]


def relay_into(doc: Doc, v: str, side: str) -> None:
    """``relay=`` value: kept whole, and split into ``<side>_host``/``<side>_ip`` (``client``
    for the sending side of a received message, ``relay`` for a delivery's next hop)."""
    doc["relay"] = v
    m = RE_RELAY.match(v)
    if m is None:
        return
    host, ip = m.group("host"), m.group("ip")
    if m.group("user"):
        doc["relay_user"] = m.group("user")
    if ip is None and host[:1] == "[":        # relay=[192.0.2.1]: an address, no name
        host, ip = "", host[1:-1]
    if host:
        if host[:1] == "[" and host[-1:] == "]":
            host = host[1:-1]
        doc[side + "_host"] = host
    elif side == "client":
        doc["client_host"] = None
    if ip is not None:
        if ip.startswith("IPv6:"):
            ip = ip[5:]
        if is_ip(ip):
            doc[side + "_ip"] = ip
        else:
            doc[side + "_address"] = ip
    if m.group("forged"):
        doc["forged"] = True


def peer_into(doc: Doc, m: re.Match) -> None:
    """``host [ip] (may be forged)`` at the start of a text: the client fields."""
    host, ip = m.group("host"), m.group("ip")
    doc["client_host"] = host
    if ip.startswith("IPv6:"):
        ip = ip[5:]
    valid = is_ip(ip)
    doc["client_ip"] = ip if valid else None
    if not valid:
        doc["client_address"] = ip
    if m.group("forged"):
        doc["forged"] = True


def reject_into(doc: Doc, v: str) -> None:
    """``reject=550 5.7.1 <a@b>... Relaying denied``: code, dsn, target, reason."""
    m = RE_REJECT.match(v)
    if m is None:
        doc["reason"] = v
        return
    doc["code"] = int(m.group("code"))
    if m.group("dsn"):
        doc["dsn"] = m.group("dsn")
    if m.group("target") is not None:
        doc["reason_target"] = m.group("target")
    doc["reason"] = m.group("reason")


def stat_into(doc: Doc, stat: str) -> None:
    """``stat=`` (to the end of the line): the whole text, our ``status`` and the reply."""
    doc["stat"] = stat
    dsn = doc.get("dsn") or ""
    if stat.startswith("Sent"):
        doc["status"] = "sent"
        rest = stat[4:].strip()
        if rest[:1] == "(" and rest[-1:] == ")":
            rest = rest[1:-1]
        if rest:
            reply_from(doc, rest)
            m = RE_ACCEPTED.match(rest)
            if m is not None:
                doc["queued_as"] = m.group("qid")
        return
    if stat.startswith(("Deferred", "deferred")):
        doc["status"] = "deferred"
        rest = stat[8:].lstrip(":").strip()
        if rest and "reply" not in doc:
            reply_from(doc, rest)
        return
    if stat == "queued" or stat.startswith("queued"):
        doc["status"] = "queued"
        return
    if stat.startswith("Cannot send message for"):
        doc["status"] = "expired"       # returned: still undelivered at Timeout.queuereturn
    elif dsn.startswith("4"):
        doc["status"] = "deferred"
    else:
        doc["status"] = "bounced"
    if "reply" not in doc:          # a reply= key before stat= is the server's own reply
        reply_from(doc, stat)


def _kv_into(doc: Doc, text: str, side: str) -> int:
    """Apply a key=value list; returns how many items it had."""
    tail_key = tail = None
    for key in ("stat=", "reject="):
        i = text.find(key)
        if i == 0 or (i > 1 and text[i - 2:i] == ", "):
            tail_key, tail = key[:-1], text[i + len(key):]
            text = text[:max(i - 2, 0)]
            break
    items = split_items(text) if text else []
    n = 0
    extra = []
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k or (" " in k and _TWO_WORDS.match(k) is None):
            extra.append(item)
            continue
        n += 1
        name = _NAMES.get(k)
        if name is None:            # accept failed= -> accept_failed; SSL_error= -> ssl_error
            name = RENAMED.get(k) or k.replace("-", "_").replace(" ", "_").lower()
            if len(_NAMES) < 1024:
                _NAMES[k] = name
        k = name
        if k == "from":
            doc["from"] = addr(v)
        elif k == "to":
            doc["to"] = addresses(v)
            plain = unbracketed(v)
            if plain:
                doc["to_unbracketed"] = plain
        elif k == "relay":
            relay_into(doc, v, side)
        elif k in ("delay", "xdelay"):
            doc[k] = seconds(v)
        elif k == "reply":          # 8.17: the server's reply to a failed attempt (kept over stat=)
            reply_from(doc, v)
        elif k == "message_id":
            doc[k] = addr(v)
        elif k == "ctladdr":
            m = RE_CTLADDR.match(v)
            if m is not None:
                doc["ctladdr"] = addr(m.group("addr"))
                doc["ctladdr_uid"] = int(m.group("uid"))
                doc["ctladdr_gid"] = int(m.group("gid"))
            else:
                doc["ctladdr"] = addr(v)
        elif k == "bits" and "/" in v:
            a, _, b = v.partition("/")
            doc["tls_cipher_bits"] = int(a) if a.isdecimal() else a
            doc["tls_cipher_alg_bits"] = int(b) if b.isdecimal() else b
        elif k in INT_KEYS:
            doc[k] = int(v) if v.isdecimal() else v
        else:
            doc[k] = v
    if extra:
        doc["extra"] = extra
    if tail_key == "stat":
        n += 1
        stat_into(doc, tail)  # type: ignore[arg-type]
    elif tail_key == "reject":
        n += 1
        reject_into(doc, tail)  # type: ignore[arg-type]
    return n


# -- handlers by first word ---------------------------------------------------------------------
Handler = Callable[[str, Doc], Optional[str]]


def _from(text: str, doc: Doc) -> Optional[str]:
    _kv_into(doc, text, "client")
    return "sendmail.from"


def _to(text: str, doc: Doc) -> Optional[str]:
    _kv_into(doc, text, "relay")
    return "sendmail.to"


def _ruleset(text: str, doc: Doc) -> Optional[str]:
    _kv_into(doc, text, "client")
    ruleset = doc.get("ruleset")
    stage = STAGES.get(ruleset)  # type: ignore[arg-type]
    if stage is not None:
        doc["stage"] = stage
    arg1 = doc.get("arg1")
    if isinstance(arg1, str):
        if ruleset == "check_rcpt":
            doc["to"] = addr(arg1)
        elif ruleset == "check_mail":
            doc["from"] = addr(arg1)
    if "code" in doc or "reason" in doc:
        return "sendmail.reject"
    extra = doc.pop("extra", None) or []
    for word in extra:                 # ..., relay=..., discard      ..., quarantine=text
        if word in ("discard", "discarded"):
            return "sendmail.discard"
        doc.setdefault("extra", []).append(word)
    if "quarantine" in doc:
        return "sendmail.quarantine"
    return "sendmail.ruleset"


def _starttls(text: str, doc: Doc) -> Optional[str]:
    # STARTTLS=server, relay=h [ip], version=TLSv1.2, verify=NO, cipher=..., bits=256/256
    # STARTTLS=client, error: connect failed=-1, reason=..., SSL_error=1, errno=0, retry=-1, relay=...
    # STARTTLS=server: 1234:error:14094418:SSL routines:...     STARTTLS: write error=...
    head, sep, rest = text.partition(", ")
    role = head[9:] if head.startswith("STARTTLS=") else None
    if role is not None and ":" in role:
        role, _, err = role.partition(":")
        doc["tls_role"] = role
        doc["error"] = err.strip()
        return "sendmail.starttls_error"
    if role:
        doc["tls_role"] = role
    if role is None or not sep:
        doc["error"] = text.partition(": ")[2] or text
        return "sendmail.starttls_error"
    side = "client" if role == "server" else "relay"
    if rest.startswith("error:"):
        _kv_into(doc, rest[6:].strip(), side)
        return "sendmail.starttls_error"
    _kv_into(doc, rest, side)
    return "sendmail.starttls"


RE_AUTH_FAILURE = re.compile(r"AUTH failure \((?P<sasl_method>[^)]*)\): (?P<error>.*?)(?:, (?P<kv>(?:user|relay)=.*))?\Z", re.S)


def _auth(text: str, doc: Doc) -> Optional[str]:
    # AUTH=server, relay=h [ip], authid=u, mech=PLAIN, bits=0       AUTH=client, relay=..., mech=..., bits=...
    if text.startswith("AUTH="):
        head, _, rest = text.partition(", ")
        doc["auth_role"] = head[5:]
        _kv_into(doc, rest, "client" if head == "AUTH=server" else "relay")
        return "sendmail.auth"
    if text.startswith("AUTH failure"):
        m = RE_AUTH_FAILURE.match(text)
        if m is None:
            return None
        doc["sasl_method"] = m.group("sasl_method")
        doc["error"] = m.group("error")
        if m.group("kv"):
            kv = m.group("kv")
            # an injected user name may hold another relay=: the last one is Sendmail's
            i = kv.rfind("relay=")
            _kv_into(doc, kv[:i].rstrip(", ") if i > 0 else kv, "client")
            if i > 0:
                relay_into(doc, kv[i + 6:], "client")
        return "sendmail.auth_failure"
    if text.startswith("AUTH: "):
        _kv_into(doc, text[6:], "client")      # AUTH: available mech=..., allowed mech=...
        doc["text"] = text[6:]
        return "sendmail.auth_info"
    return None


# Milter: data, reject=554 5.7.1 ...    Milter: to=<a@b>, reject=550 ...    Milter (spamass): timeout before data read
# Milter accept: message     Milter add: header: X-Spam: yes     Milter: no active filter
RE_MILTER = re.compile(r"[Mm]ilter(?: \((?P<milter>[^)]*)\))?(?: (?P<op>[a-z]+(?: \(\d+\))?))?: (?P<text>.*)\Z", re.S)


def _milter(text: str, doc: Doc) -> Optional[str]:
    if text.startswith("milter="):            # milter=name, action=..., reject=...
        _kv_into(doc, text, "client")
        return "sendmail.milter_reject" if "code" in doc else "sendmail.milter"
    m = RE_MILTER.match(text)
    if m is None:
        return None
    if m.group("milter"):
        doc["milter"] = m.group("milter")
    if m.group("op"):
        doc["milter_action"] = m.group("op")
    rest = m.group("text")
    doc["text"] = rest
    i = rest.find("reject=")
    if i >= 0 and (i == 0 or rest[i - 2:i] == ", "):
        head = rest[:max(i - 2, 0)]
        if head.startswith(("to=", "from=")):
            _kv_into(doc, head, "client")
            doc["to" if head.startswith("to=") else "from"] = addr(head.partition("=")[2])
        elif head:
            doc["milter_stage"] = head
        reject_into(doc, rest[i + 7:])
        return "sendmail.milter_reject"
    if rest.endswith(", discard") or rest == "discard":
        if rest != "discard":
            doc["milter_stage"] = rest[:-9]
        return "sendmail.milter_discard"
    return "sendmail.milter"


RE_SYSERR = re.compile(r"SYSERR\((?P<user>[^)]*)\): (?P<text>.*)\Z", re.S)


def _syserr(text: str, doc: Doc) -> Optional[str]:
    m = RE_SYSERR.match(text)
    if m is None:
        return None
    doc["user"] = m.group("user")
    doc["text"] = m.group("text")
    return "sendmail.syserr"


# lost input channel from h [ip] to MTA after rcpt
RE_LOST = re.compile(r"lost input channel from (?P<peer>.*?)(?: to (?P<daemon_name>\S+))?(?: after (?P<after>\S+))?\Z", re.S)
# timeout waiting for input from h [ip] during server cmd read
RE_TIMEOUT = re.compile(r"timeout waiting for input from (?P<peer>.*?) (?:during|before|while) (?P<during>.*)\Z", re.S)


def _peer_text(doc: Doc, peer: str) -> None:
    peer = peer.strip()
    m = RE_PEER.fullmatch(peer)
    if m is not None:
        peer_into(doc, m)
    elif peer:
        doc["peer"] = peer


def _lost(text: str, doc: Doc) -> Optional[str]:
    m = RE_LOST.match(text)
    if m is None:
        return None
    _peer_text(doc, m.group("peer"))
    if m.group("daemon_name"):
        doc["daemon_name"] = m.group("daemon_name")
    if m.group("after"):
        doc["after"] = m.group("after")
    return "sendmail.lost"


def _timeout(text: str, doc: Doc) -> Optional[str]:
    m = RE_TIMEOUT.match(text)
    if m is None:
        return None
    _peer_text(doc, m.group("peer"))
    doc["during"] = m.group("during")
    return "sendmail.timeout"


def _collect(text: str, doc: Doc) -> Optional[str]:
    # collect: premature EOM: unexpected close    collect: I/O error on connection from h [ip], from=<a>
    rest = text[9:]
    doc["error"] = rest
    i = rest.find(" from ")
    j = rest.find(", from=")
    if i >= 0:
        peer = rest[i + 6:j] if j > i else rest[i + 6:]
        m = RE_PEER.fullmatch(peer)
        if m is not None:
            peer_into(doc, m)
    if j >= 0:
        doc["from"] = addr(rest[j + 7:])
    return "sendmail.collect"


RE_DONE = re.compile(r"done; (?P<kv>.*)\Z", re.S)


def _done(text: str, doc: Doc) -> Optional[str]:
    m = RE_DONE.match(text)
    if m is None:
        return None
    _kv_into(doc, m.group("kv"), "relay")
    return "sendmail.done"


RE_START = re.compile(r"starting daemon \((?P<version>[^)]*)\): (?P<mode>.*)\Z", re.S)


def _starting(text: str, doc: Doc) -> Optional[str]:
    m = RE_START.match(text)
    if m is None:
        return None
    doc["version"] = m.group("version")
    doc["mode"] = m.group("mode")
    return "sendmail.start"


def _stopping(text: str, doc: Doc) -> Optional[str]:
    if not text.startswith("stopping daemon"):
        return None
    _, _, reason = text.partition("reason=")
    if reason:
        doc["reason"] = reason
    return "sendmail.stop"


def _restarting(text: str, doc: Doc) -> Optional[str]:
    if not text.startswith("restarting "):
        return None
    doc["text"] = text
    return "sendmail.start"


RE_PREGREET = re.compile(r"rejecting commands from (?P<peer>.*?) due to pre-greeting traffic after (?P<after>\d+) seconds?\Z")


def _rejecting(text: str, doc: Doc) -> Optional[str]:
    m = RE_PREGREET.match(text)
    if m is not None:
        _peer_text(doc, m.group("peer"))
        doc["after"] = float(m.group("after"))
        return "sendmail.pregreet"
    if text.startswith("rejecting connections on daemon "):     # ... MTA: load average: 12
        name, _, reason = text[32:].partition(": ")
        doc["daemon_name"] = name
        doc["reason"] = reason
        return "sendmail.throttle"
    return None


def _accepting(text: str, doc: Doc) -> Optional[str]:
    if text.startswith("accepting connections again for daemon "):
        doc["daemon_name"] = text[39:]
        return "sendmail.unthrottle"
    return None


RE_CONNECT = re.compile(r"connect from (?P<peer>.*)\Z", re.S)


def _connect(text: str, doc: Doc) -> Optional[str]:
    m = RE_CONNECT.match(text)
    if m is None:
        return None
    _peer_text(doc, m.group("peer"))
    return "sendmail.connect"


def _null(text: str, doc: Doc) -> Optional[str]:
    if not text.startswith("Null connection from "):
        return None
    _peer_text(doc, text[21:])
    return "sendmail.null_connection"


RE_ALIASES = re.compile(r"(?P<file>\S+): (?P<aliases>\d+) aliases, longest (?P<longest>\d+) bytes, (?P<bytes>\d+) bytes total\Z")


def _alias(text: str, doc: Doc) -> Optional[str]:
    if text.startswith("alias database "):
        db, _, by = text[15:].partition(" rebuilt by ")
        doc["file"] = db
        if by:
            doc["user"] = by
        return "sendmail.aliases"
    return None


def _auth_warning(text: str, doc: Doc) -> Optional[str]:
    doc["text"] = text[24:]
    return "sendmail.auth_warning"


def _outgoing(text: str, doc: Doc) -> Optional[str]:
    if text.startswith("SMTP outgoing connect on "):
        doc["source_address"] = text[25:].strip("[]")
        return "sendmail.outgoing_connect"
    return None


RE_TCPWRAPPERS = re.compile(r"tcpwrappers \((?P<h>[^,]*), (?P<ip>[^)]*)\) rejection\Z")


def _tcpwrappers(text: str, doc: Doc) -> Optional[str]:
    # tcpwrappers (host.example, 192.0.2.1) rejection
    m = RE_TCPWRAPPERS.match(text)
    if m is None:
        return None
    doc["client_host"] = m.group("h")
    doc["client_ip"] = m.group("ip") if is_ip(m.group("ip")) else None
    doc["stage"] = "CONNECT"
    doc["reason"] = "tcpwrappers"
    return "sendmail.reject"


RE_SIZE = re.compile(r"message size \((?P<size>\d+)\) exceeds maximum \((?P<max>\d+)\)\Z")


def _message(text: str, doc: Doc) -> Optional[str]:
    # message size (300002) exceeds maximum (200000): refused at the end of DATA (552)
    m = RE_SIZE.match(text)
    if m is None:
        return None
    doc["size"] = int(m.group("size"))
    doc["max_size"] = int(m.group("max"))
    return "sendmail.size_exceeded"


def _warning(text: str, doc: Doc) -> Optional[str]:
    doc["text"] = text
    return "sendmail.notice"


# first word (up to '=', ':', ' ' or '(') -> handler
WORDS: dict[str, Handler] = {
    "from": _from, "to": _to, "ruleset": _ruleset, "STARTTLS": _starttls, "AUTH": _auth,
    "Milter": _milter, "milter": _milter, "SYSERR": _syserr, "lost": _lost, "timeout": _timeout,
    "collect": _collect, "done;": _done, "starting": _starting, "stopping": _stopping,
    "restarting": _restarting, "rejecting": _rejecting, "accepting": _accepting, "connect": _connect,
    "Null": _null, "alias": _alias, "Authentication-Warning": _auth_warning, "SMTP": _outgoing,
    "tcpwrappers": _tcpwrappers, "message": _message,
    "Warning": _warning, "WARNING": _warning, "runqueue": _warning, "unable": _warning, "My": _warning,
    "low": _warning, "gethostbyaddr": _warning, "grew": _warning, "Losing": _warning,
    "Saved": _warning, "setsender": _warning, "Too": _warning, "headers": _warning,
}
_SEPARATORS = re.compile(r"[=:( ]")

# the lines that start with an address or a peer
# <a@b>... User unknown
RE_ADDRESS_ERROR = re.compile(r"<(?P<address>[^>]*)>\.\.\. (?P<reason>.*)\Z", re.S)
# [ip]: possible SMTP attack: command=AUTH, count=5      h [ip]: EXPN root [rejected]
RE_PEER_TEXT = re.compile(r"(?P<peer>(?:[^\s\[\]]+ )?\[[^\]]*\](?: \(may be forged\))?)(?::| did not issue) ?(?P<rest>.*)\Z", re.S)
RE_ATTACK = re.compile(r"(?P<attack>possible SMTP attack|probable open proxy): command=(?P<command>[^,]*)(?:, count=(?P<count>\d+))?\Z")
RE_VRFY = re.compile(r"(?P<command>EXPN|VRFY|expn|vrfy) (?P<argument>.*?)(?P<rejected> \[rejected\])?\Z")
RE_NO_MAIL = re.compile(r"MAIL/EXPN/VRFY/ETRN during connection to (?P<daemon_name>.*)\Z")
# q1: q2: DSN: User unknown       q1: q2: sender notify: Warning: could not send message for past 4 hours
# after a SYSERR, Sendmail dumps its open files and its connection cache:
#   q1:   5: fl=0x8000, mode=100640: dev=254/0, ino=1507540, nlink=1, u/gid=0/115, size=94
#   q1: MCI@0x55850fc087d8: flags=6004c<CACHED,ESMTP>, errno=0, ... host=local, lastuse=...
RE_FD_DUMP = re.compile(r" *(?P<fd>\d+): fl=(?P<fl>0x[0-9A-Fa-f]+), mode=(?P<mode>[0-7]+): ?(?P<text>.*)\Z", re.S)
RE_MCI_DUMP = re.compile(r"MCI@(?P<mci>0x[0-9A-Fa-f]+): (?P<text>.*)\Z", re.S)
RE_NOTICE = re.compile(r"(?P<label>DSN|sender notify|postmaster notify|return to sender|clone|return to postmaster): ?(?P<text>.*)\Z", re.S)


def _qid(head: str) -> bool:
    return 8 <= len(head) <= 20 and head.isascii() and head.isalnum() and _QID_OK.match(head) is not None


def parse_sendmail(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    """Fill ``doc`` from a Sendmail message text; return the kind, or None if not understood."""
    text = msg
    i = text.find(": ", 0, 22)
    if i > 0:
        head = text[:i]
        if head == "NOQUEUE":
            text = text[i + 2:]
        elif _qid(head):
            doc["queue_id"] = head
            text = text[i + 2:]
            j = text.find(": ", 0, 22)
            if j > 0 and _qid(text[:j]):              # q1: q2: DSN: ...
                m = RE_NOTICE.match(text, j + 2)
                if m is None:
                    return None
                doc["notice_queue_id"] = text[:j]
                label = m.group("label")
                doc["notice_label"] = label
                body = m.group("text")
                if label == "clone":
                    doc["text"] = body
                    return "sendmail.clone"
                doc["reason"] = body
                doc["notice"] = ("success" if body.startswith("Return receipt") else
                                 "delay" if body.startswith("Warning:") else "non_delivery")
                return "sendmail.dsn"
    if not text:
        return None
    c = text[0]
    if c == " " or c.isdigit():
        m = RE_FD_DUMP.match(text)
        if m is not None:
            doc["fd"] = int(m.group("fd"))
            doc["fd_flags"] = m.group("fl")
            doc["file_mode"] = m.group("mode")
            doc["text"] = m.group("text")
            return "sendmail.fd_dump"
    elif c == "M" and text.startswith("MCI@"):
        m = RE_MCI_DUMP.match(text)
        if m is not None:
            doc["mci"] = m.group("mci")
            doc["text"] = m.group("text")
            return "sendmail.mci_dump"
    word = _SEPARATORS.split(text, 1)[0]
    handler = WORDS.get(word)
    if handler is not None:
        kind = handler(text, doc)
        if kind is not None:
            return kind
    if c == "/":                    # /etc/mail/aliases: 12 aliases, longest 10 bytes, 200 bytes total
        m = RE_ALIASES.match(text)
        if m is None:
            return None
        doc["file"] = m.group("file")
        for k in ("aliases", "longest", "bytes"):
            doc[k] = int(m.group(k))
        return "sendmail.aliases"
    if c == "<":
        m = RE_ADDRESS_ERROR.match(text)
        if m is not None:
            doc["address"] = m.group("address")
            reason = m.group("reason")
            doc["reason"] = reason
            r = RE_REJECT.match(reason)
            if r is not None and reason[:1] in "245":
                doc["code"] = int(r.group("code"))
                if r.group("dsn"):
                    doc["dsn"] = r.group("dsn")
                doc["reason"] = r.group("reason")
            return "sendmail.address_error"
        return None
    m = RE_PEER_TEXT.match(text)
    if m is not None:
        p = RE_PEER.fullmatch(m.group("peer"))
        if p is None:
            return None
        rest = m.group("rest")
        if " did not issue" in text[:m.start("rest")]:
            n = RE_NO_MAIL.match(rest)
            if n is None:
                return None
            peer_into(doc, p)
            doc["daemon_name"] = n.group("daemon_name")
            return "sendmail.no_transaction"
        a = RE_ATTACK.match(rest)
        if a is not None:
            peer_into(doc, p)
            doc["attack"] = a.group("attack")
            doc["command"] = a.group("command")
            if a.group("count"):
                doc["count"] = int(a.group("count"))
            return "sendmail.attack"
        v = RE_VRFY.match(rest)
        if v is not None:
            peer_into(doc, p)
            doc["command"] = v.group("command").upper()
            doc["argument"] = v.group("argument")
            doc["rejected"] = bool(v.group("rejected"))
            return "sendmail." + doc["command"].lower()
    return None


def is_sendmail_tag(tag: str) -> bool:
    """Multi-instance names (``sendmail-in``, ``sm-mta-out``) read as Sendmail."""
    return tag.startswith(TAG_PREFIXES)


# every kind this module gives (the message tracker routes them to its Sendmail part)
KINDS = tuple("sendmail." + k for k in (
    "from", "to", "reject", "discard", "quarantine", "ruleset", "dsn", "clone", "done", "address_error",
    "lost", "timeout", "collect", "milter", "milter_reject", "milter_discard", "auth", "auth_failure",
    "auth_info", "starttls", "starttls_error", "syserr", "start", "stop", "pregreet", "throttle",
    "unthrottle", "notice", "connect", "null_connection", "aliases", "auth_warning", "outgoing_connect",
    "no_transaction", "attack", "expn", "vrfy", "size_exceeded", "fd_dump", "mci_dump"))
