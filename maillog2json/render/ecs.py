"""The Elastic Common Schema (ECS 8.x) spelling of line and message documents.

Each native field goes to its ECS field where ECS has one (``client_ip`` -> ``source.ip``,
``queue_id`` -> ``email.local_id``, ...) and, under its native name, to the family's
namespace otherwise (``postfix.*``, ``dovecot.*``, ``maillog2json.*``): nothing is dropped.
``null`` fields are left out (Elasticsearch indexes a null as a missing field). The
document's ``_id`` cannot be in the source sent to Elasticsearch: it is written as
``maillog2json.id``, and :func:`ecs_id` gives it to the sinks for the bulk action.
docs/ecs.md documents the mapping field by field.

The input document is never modified (the message tracker may still hold it). The
per-document work is a loop over its fields with one dict lookup each; everything that
depends only on the kind is computed once per kind and cached.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import orjson

from maillog2json.correlate import VERDICTS, verdict_of
from maillog2json.parsers.postfix.grammar import is_ip

Doc = dict[str, Any]

_OPTS = orjson.OPT_APPEND_NEWLINE

# -- event categorisation, keyed by kind ----------------------------------------------------
# (event.category, event.type, event.outcome); outcome ``_STATUS`` reads the line's status.
_STATUS = "status"
_EMAIL = ["email"]
_NET = ["network"]
_AUTH = ["authentication"]
_PROC = ["process"]
_CONF = ["configuration"]
_SESSION = ["session"]
_THREAT = ["threat"]
_INFO = ["info"]
_DENIED = ["denied"]
_CHANGE = ["change"]
_CREATION = ["creation"]
_DELETION = ["deletion"]
_ERROR = ["error"]
_CONN_START = ["connection", "start"]
_CONN_END = ["connection", "end"]
_CONN_ERROR = ["connection", "error"]
_PROTO = ["protocol"]
_PROTO_ERROR = ["protocol", "error"]
_START = ["start"]
_END = ["end"]

_Cat = tuple[Optional[list[str]], list[str], Optional[str]]

# By the kind's last part (after the last dot): covers every daemon that logs it.
_BY_SUFFIX: dict[str, _Cat] = {
    # connections
    "connect": (_NET, _CONN_START, None),
    "lmtp_connect": (_NET, _CONN_START, None),
    "disconnect": (_NET, _CONN_END, None),
    "lmtp_disconnect": (_NET, _CONN_END, None),
    "lost_connection": (_NET, _CONN_END, "failure"),
    "timeout": (_NET, _CONN_END, "failure"),
    "too_many_errors": (_NET, _CONN_END, "failure"),
    "connect_error": (_NET, _CONN_ERROR, "failure"),
    "refused": (_NET, _DENIED, "failure"),
    "limit_exceeded": (_NET, _DENIED, "failure"),
    "pass": (_NET, ["allowed"], "success"),
    "access": (_NET, _INFO, None),
    "violation": (_NET, _DENIED, "failure"),
    "pipelining": (_NET, _PROTO_ERROR, None),
    "bare_newline": (_NET, _PROTO_ERROR, None),
    "non_smtp_command": (_NET, _PROTO_ERROR, None),
    "illegal_address": (_EMAIL, _ERROR, None),
    # TLS
    "tls": (_NET, _PROTO, "success"),
    "tls_error": (_NET, _PROTO_ERROR, "failure"),
    "tls_verify_failed": (_NET, _PROTO_ERROR, "failure"),
    "starttls_failed": (_NET, _PROTO_ERROR, "failure"),
    "starttls_offered": (_NET, _PROTO, None),
    # authentication
    "sasl_auth_failed": (_AUTH, _START, "failure"),
    "sasl_failure": (_AUTH, _START, "failure"),
    "auth_failed": (_AUTH, _START, "failure"),
    "auth_failure": (_AUTH, _START, "failure"),
    "login": (_AUTH, _START, "success"),
    "login_aborted": (_AUTH, _END, "failure"),
    "auth": (_AUTH, _INFO, None),
    "logout": (_SESSION, _END, None),
    # access decisions (smtpd, postscreen, cleanup, milters, proxy filter)
    "reject": (_EMAIL, _DENIED, "failure"),
    "milter_reject": (_EMAIL, _DENIED, "failure"),
    "proxy_reject": (_EMAIL, _DENIED, "failure"),
    "defer": (_EMAIL, _DENIED, "failure"),
    "defer_if_permit": (_EMAIL, _DENIED, "failure"),
    "discard": (_EMAIL, _DENIED, "failure"),
    "milter_discard": (_EMAIL, _DENIED, "failure"),
    "size_limit_exceeded": (_EMAIL, _DENIED, "failure"),
    "proxy_accept": (_EMAIL, ["allowed"], "success"),
    "reject_warning": (_EMAIL, _INFO, None),
    "warn": (_EMAIL, _INFO, None),
    "hold": (_EMAIL, _CHANGE, None),
    "milter_hold": (_EMAIL, _CHANGE, None),
    "filter": (_EMAIL, _CHANGE, None),
    "redirect": (_EMAIL, _CHANGE, None),
    "milter_redirect": (_EMAIL, _CHANGE, None),
    "milter_header_redirect": (_EMAIL, _CHANGE, None),
    "bcc": (_EMAIL, _CHANGE, None),
    "prepend": (_EMAIL, _CHANGE, None),
    "replace": (_EMAIL, _CHANGE, None),
    # a message's life
    "client": (_EMAIL, _CREATION, None),
    "submit": (_EMAIL, _CREATION, None),
    "notice": (_EMAIL, _CREATION, None),
    "queued": (_EMAIL, _INFO, None),
    "removed": (_EMAIL, _DELETION, None),
    "expired": (_EMAIL, _INFO, "failure"),
    "requeued": (_EMAIL, _CHANGE, None),
    "held": (_EMAIL, _CHANGE, None),
    "released": (_EMAIL, _CHANGE, None),
    "saved": (_EMAIL, _INFO, "success"),
    "save_failed": (_EMAIL, _INFO, "failure"),
    # threat intelligence
    "dnsbl": (_THREAT, ["indicator"], None),
    "listed": (_THREAT, ["indicator"], None),
    # processes and configuration
    "start": (_PROC, _START, None),
    "stop": (_PROC, _END, None),
    "reload": (_CONF, _CHANGE, None),
    "control": (_PROC, _CHANGE, None),
    "process_died": (_PROC, _END, "failure"),
    "throttling": (_PROC, _ERROR, "failure"),
    "process_limit": (_PROC, _INFO, None),
    "table_changed": (_CONF, _CHANGE, None),
    # <daemon>.<level>
    "error": (_EMAIL, _ERROR, None),
    "fatal": (_EMAIL, _ERROR, None),
    "panic": (_EMAIL, _ERROR, None),
}
# Whole kinds that the suffix does not describe well.
_BY_KIND: dict[str, _Cat] = {
    "delivery": (_EMAIL, _INFO, _STATUS),
    "unparsed": (None, _INFO, None),
    "syslog.repeated": (None, _INFO, None),
    "postsuper.summary": (_EMAIL, _CHANGE, None),
    "smtp.reply": (_EMAIL, _INFO, None),
    "smtpd.client": (_EMAIL, _CREATION, None),
    "dovecot.disconnect": (_NET, _CONN_END, None),
    "amavis.passed": (_EMAIL, ["allowed"], "success"),
    "amavis.blocked": (_EMAIL, _DENIED, "failure"),
    "postgrey.greylist": (_EMAIL, _DENIED, "failure"),
    "postgrey.pass": (_EMAIL, ["allowed"], "success"),
    # what the filters log as they start: their set-up, not mail
    "amavis.decoder": (_PROC, _INFO, None),
    "amavis.external_program": (_PROC, _INFO, None),
    "amavis.module": (_PROC, _INFO, None),
    "amavis.av_scanner": (_PROC, _INFO, None),
    "amavis.info": (_PROC, _INFO, None),
    "postgrey.info": (_PROC, _INFO, None),
    "opendmarc.authserv_ids": (_CONF, _INFO, None),
    "clamav.found": (["malware"], _INFO, None),
    "clamav.milter_infected": (["email", "malware"], _INFO, None),
    # MailScanner: the re-queue hands the message back to the MTA; batch and start-up lines are its process
    "mailscanner.requeue": (_EMAIL, _CHANGE, None),
    "mailscanner.infected": (["email", "malware"], _INFO, None),
    "mailscanner.virus": (["malware"], _INFO, None),
    "mailscanner.rbl": (_THREAT, ["indicator"], None),
    "mailscanner.batch": (_PROC, _INFO, None),
    "mailscanner.batch_done": (_PROC, _INFO, None),
    "mailscanner.checks_started": (_PROC, _INFO, None),
    "mailscanner.checks_found": (_PROC, _INFO, None),
    "mailscanner.delivered": (_PROC, _INFO, None),
    "mailscanner.cache_expired": (_PROC, _INFO, None),
    "mailscanner.info": (_PROC, _INFO, None),
    # Sendmail and qmail (their fields go under ``sendmail.*`` / ``qmail.*``)
    "sendmail.from": (_EMAIL, _CREATION, None),
    "sendmail.to": (_EMAIL, _INFO, _STATUS),
    "sendmail.dsn": (_EMAIL, _CREATION, None),
    "sendmail.done": (_EMAIL, _DELETION, None),
    "sendmail.lost": (_NET, _CONN_END, "failure"),
    "sendmail.no_transaction": (_NET, _CONN_END, None),
    "sendmail.null_connection": (_NET, _CONN_END, None),
    "sendmail.collect": (_EMAIL, _ERROR, "failure"),
    "sendmail.auth": (_AUTH, _START, "success"),
    "sendmail.starttls": (_NET, _PROTO, "success"),
    "sendmail.starttls_error": (_NET, _PROTO_ERROR, "failure"),
    "sendmail.attack": (_NET, _DENIED, "failure"),
    "sendmail.pregreet": (_NET, _DENIED, "failure"),
    "sendmail.expn": (_NET, _PROTO, None),
    "sendmail.vrfy": (_NET, _PROTO, None),
    "sendmail.address_error": (_EMAIL, _DENIED, "failure"),
    "sendmail.size_exceeded": (_EMAIL, _DENIED, "failure"),
    "sendmail.quarantine": (_EMAIL, _CHANGE, None),
    "sendmail.syserr": (_EMAIL, _ERROR, None),
    "sendmail.throttle": (_PROC, _ERROR, "failure"),
    "sendmail.unthrottle": (_PROC, _CHANGE, None),
    "qmail.new": (_EMAIL, _CREATION, None),
    "qmail.delivery": (_EMAIL, _INFO, _STATUS),
    "qmail.end": (_EMAIL, _DELETION, None),
    "qmail.bounce": (_EMAIL, _CREATION, None),
    "qmail.triple_bounce": (_EMAIL, _DELETION, "failure"),
    "qmail.status": (_PROC, _INFO, None),
    "qmail.alert": (_EMAIL, _ERROR, None),
}
_DEFAULT: _Cat = (_EMAIL, _INFO, None)

# Delivery ``status=`` -> event.outcome (a deferral is a failed attempt).
_DELIVERY_OUTCOME = {
    "sent": "success", "deliverable": "success",
    "bounced": "failure", "deferred": "failure", "expired": "failure", "undeliverable": "failure",
    "undeliverable-but-not-cached": "failure",
}
# Message ``status`` -> event.outcome.
MESSAGE_OUTCOME = {
    "sent": "success",
    "bounced": "failure", "rejected": "failure", "expired": "failure", "discarded": "failure",
    "deleted": "failure", "aborted": "failure",
    "mixed": "unknown", "deferred": "unknown", "held": "unknown", "unknown": "unknown",
}

# -- families: the kind's first part -> (namespace, event.module) ------------------------------
_FAMILY: dict[str, tuple[str, Optional[str]]] = {
    "dovecot": ("dovecot", "dovecot"),
    "pam": ("dovecot", "dovecot"),
    "unparsed": ("maillog2json", None),
    "syslog": ("maillog2json", None),
}
for _name in ("amavis", "spamd", "rspamd", "clamav", "opendkim", "opendmarc", "policyd_spf", "postgrey",
              "mailscanner", "sendmail", "qmail"):
    _FAMILY[_name] = (_name, _name)
_POSTFIX = ("postfix", "postfix")
_POSTFIX_LEVELS = frozenset(("warning", "error", "fatal", "panic", "info"))

# -- filter verdicts (amavis, milters, policy servers, spam and virus scanners) -----------------
# An authentication result -> event.outcome (none, neutral, policy...: no outcome).
_AUTH_OUTCOME = {"pass": "success", "bestguesspass": "success", "fail": "failure", "softfail": "failure",
                 "permerror": "failure", "temperror": "failure", "reject": "failure", "quarantine": "failure"}
# rspamd's action -> event.outcome: did the message go on?
_RSPAMD_OUTCOME = {"no action": "success", "add header": "success", "rewrite subject": "success",
                   "greylist": "failure", "soft reject": "failure", "reject": "failure"}
_SPAM_SCORE = {"spam": "score", "content": "score"}     # check -> the entry field with its spam score


def _malware(g: dict[str, dict[str, Any]], event: dict[str, Any], viruses: Any) -> None:
    """A virus was found: event.category malware, the names in threat.software.name."""
    names = [viruses] if isinstance(viruses, str) else list(viruses)
    g["threat"] = {"software": {"name": names, "type": "Malware"}}
    cat = event.get("category") or []
    if "malware" not in cat:
        event["category"] = [*cat, "malware"]
    if "info" not in event["type"]:
        event["type"] = [*event["type"], "info"]


def _verdict_fields(doc: Doc, g: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    """The ECS fields of a filter's line (see docs/ecs.md, "Filter verdicts")."""
    v = verdict_of(doc)
    if v is not None:
        check, result, action = v
        verdict: dict[str, Any] = {"check": check}
        if result is not None:
            verdict["result"] = result
        if action is not None:
            verdict["action"] = action
        g["maillog2json"]["verdict"] = verdict
        if check in ("dkim", "dmarc", "spf") and "outcome" not in event:
            o = _AUTH_OUTCOME.get(result) if result is not None else ("success" if action == "signed" else None)
            if o is not None:
                event["outcome"] = o
        elif doc["kind"] == "rspamd.result":
            o = _RSPAMD_OUTCOME.get(action)  # type: ignore[arg-type]
            if o is not None:
                event["outcome"] = o
    score = doc.get("hits") if doc["kind"].startswith("amavis.") else doc.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and score == score:   # not NaN
        event["risk_score"] = float(score)
    virus = doc.get("virus")
    if virus:
        _malware(g, event, virus)


# the kinds _verdict_fields looks at: every verdict the tracker knows, and the scanners' lines
# that name a virus or a score without being a verdict of their own
_VERDICT_KINDS = frozenset(VERDICTS) | {"spamd.spam", "spamd.clean", "clamav.found", "clamav.smtp_verdict"}


def _message_filters(filters: list[dict[str, Any]], out: Doc, event: dict[str, Any]) -> dict[str, list[str]]:
    """A message's verdicts: ``maillog2json.message.verdicts`` (check -> results), the highest
    spam score as event.risk_score, the viruses in threat.software.name."""
    verdicts: dict[str, list[str]] = {}
    viruses: list[str] = []
    risk: Optional[float] = None
    for f in filters:
        check = f.get("check")
        value = f.get("result") or f.get("action")
        if check and value:
            seen = verdicts.setdefault(check, [])
            if value not in seen:
                seen.append(value)
        score = f.get(_SPAM_SCORE.get(check, ""))      # type: ignore[arg-type]
        if (isinstance(score, (int, float)) and not isinstance(score, bool) and score == score
                and (risk is None or score > risk)):
            risk = float(score)
        for name in f.get("virus") or ():
            if name not in viruses:
                viruses.append(name)
    if risk is not None:
        event["risk_score"] = risk
    if viruses:
        out["threat"] = {"software": {"name": viruses, "type": "Malware"}}
        event["category"] = [*event["category"], "malware"]
    return verdicts


# kind -> (namespace, event template without action/outcome-from-status, outcome source)
# (the outcome source is _STATUS, a fixed outcome, None, or _verdict_fields for the filters' kinds)
_KIND_CACHE: dict[str, tuple[str, dict[str, Any], Any]] = {}


def _kind_info(kind: str) -> tuple[str, dict[str, Any], Any]:
    """A kind's namespace, its event fields, and where its outcome comes from (cached)."""
    family, _, suffix = kind.rpartition(".")
    if not family:
        family = suffix
    first = family.split(".", 1)[0]
    ns, module = _FAMILY.get(first, _POSTFIX)
    if first == "sendmail" and suffix in _POSTFIX_LEVELS:     # Postfix's sendmail(1): sendmail.fatal
        ns, module = _POSTFIX
    cat = _BY_KIND.get(kind) or _BY_SUFFIX.get(suffix) or _DEFAULT
    if cat is _DEFAULT and ns == "maillog2json":
        cat = (None, _INFO, None)
    event: dict[str, Any] = {"kind": "event", "dataset": "maillog2json.line"}
    if module is not None:
        event["module"] = module
    event["action"] = kind
    if cat[0] is not None:
        event["category"] = cat[0]
    event["type"] = cat[1]
    outcome: Any = cat[2]
    if outcome is not None and outcome != _STATUS:
        event["outcome"] = outcome
    if kind in _VERDICT_KINDS:
        outcome = _verdict_fields
    info = (ns, event, outcome)
    if len(_KIND_CACHE) < 4096:
        _KIND_CACHE[kind] = info
    return info


# -- TLS versions: "TLSv1.3" -> ("tls", "1.3") ------------------------------------------------
_RE_TLS_VERSION = re.compile(r"(TLS|SSL|DTLS)v(\d+(?:\.\d+)?)\Z")
_TLS_CACHE: dict[str, Optional[tuple[str, str]]] = {}


def tls_version(v: str) -> Optional[tuple[str, str]]:
    """``TLSv1.3`` -> ``("tls", "1.3")``; None for a text of another shape."""
    r = _TLS_CACHE.get(v, False)
    if r is False:
        m = _RE_TLS_VERSION.match(v)
        r = (m.group(1).lower(), m.group(2)) if m else None
        if len(_TLS_CACHE) < 256:
            _TLS_CACHE[v] = r
    return r  # type: ignore[return-value]


# -- line documents ----------------------------------------------------------------------------
# Native fields of line documents with an ECS place: key -> (operation, argument).
# Fields not listed go under the family's namespace with their native name.
_MOVE, _IP, _PORT, _DOMAIN, _USER, _RIP, _RHOST, _SUBMITTER = range(8)
_TIMESTAMP, _RAW, _PROGRAM, _DAEMON, _PID, _SYSLOG, _ADDRESS, _TLS_VERSION, _TLS = range(8, 17)
_OPS: dict[str, tuple[int, Any]] = {
    "host": (_MOVE, ("host", "hostname")),
    "queue_id": (_MOVE, ("email", "local_id")),
    "message_id": (_MOVE, ("email", "message_id")),
    "level": (_MOVE, ("log", "level")),
    "error": (_MOVE, ("error", "message")),
    "tls_cipher": (_MOVE, ("tls", "cipher")),
    "type": (_MOVE, ("maillog2json", "type")),
    "_id": (_MOVE, ("maillog2json", "id")),
    "kind": (_MOVE, ("maillog2json", "kind")),
    "unparsed_reason": (_MOVE, ("maillog2json", "unparsed_reason")),
    "truncated": (_MOVE, ("maillog2json", "truncated")),
    "raw_length": (_MOVE, ("maillog2json", "raw_length")),
    "invalid_utf8": (_MOVE, ("maillog2json", "invalid_utf8")),
    "journal_cursor": (_MOVE, ("maillog2json", "journal_cursor")),
    "structured_data": (_MOVE, ("maillog2json", "structured_data")),
    # addresses: to an ECS ip field when they hold one; every address goes to related.ip
    "client_ip": (_IP, "source"),
    "server_ip": (_IP, "destination"),
    "relay_ip": (_IP, "destination"),
    "client_port": (_PORT, "source"),
    "server_port": (_PORT, "destination"),
    "relay_port": (_PORT, "destination"),
    "client_host": (_DOMAIN, "source"),
    "relay_host": (_DOMAIN, "destination"),
    "sasl_username": (_USER, None),
    "user": (_USER, None),
    "remote_ip": (_RIP, None),
    "orig_client_ip": (_RIP, None),
    "origin_ip": (_RIP, None),
    "remote_host": (_RHOST, None),
    "orig_client_host": (_RHOST, None),
    "helo": (_RHOST, None),
    "submitter": (_SUBMITTER, None),
    "timestamp": (_TIMESTAMP, None),
    "raw": (_RAW, None),
    "program": (_PROGRAM, None),
    "daemon": (_DAEMON, None),
    "pid": (_PID, None),
    "facility": (_SYSLOG, "facility"),
    "severity": (_SYSLOG, "severity"),
    "syslog_msgid": (_SYSLOG, "msgid"),
    "from": (_ADDRESS, "from"),
    "to": (_ADDRESS, "to"),
    "tls_version": (_TLS_VERSION, None),
    "tls": (_TLS, None),
}
# Names that are not host names (Postfix's placeholders): kept, but not in related.hosts.
_NOT_HOSTS = frozenset(("unknown", "", "none", "local"))
_LEVELS_WITH_ERROR = frozenset(("error", "fatal", "panic"))


def _line(doc: Doc) -> Doc:
    kind = doc["kind"]
    info = _KIND_CACHE.get(kind) or _kind_info(kind)
    ns_name = info[0]
    event = info[1].copy()
    m2j: dict[str, Any] = {}
    g: dict[str, dict[str, Any]] = {"event": event, "maillog2json": m2j}
    ns: dict[str, Any] = m2j if ns_name == "maillog2json" else {}
    out: Doc = {}
    rel_ip: list[str] = []
    rel_user: list[str] = []
    rel_host: list[str] = []
    syslog: dict[str, Any] = {}
    program = daemon = None
    for k, v in doc.items():
        if v is None:
            continue
        op = _OPS.get(k)
        if op is None:
            ns[k] = v
            continue
        c, a = op
        if c == _MOVE:
            grp = g.get(a[0])
            if grp is None:
                g[a[0]] = {a[1]: v}
            else:
                grp[a[1]] = v
        elif c == _TIMESTAMP:
            out["@timestamp"] = v
        elif c == _RAW:
            event["original"] = v
        elif c == _PROGRAM:
            program = v
            syslog["appname"] = v
        elif c == _DAEMON:
            daemon = v
        elif c == _PID:
            if type(v) is int:
                g["process"] = {"pid": v}
            else:
                ns[k] = v
        elif c == _IP:
            if type(v) is str and is_ip(v):
                rel_ip.append(v)
                grp = g.get(a)
                if grp is None:
                    g[a] = {"ip": v}
                    continue
                if "ip" not in grp:
                    grp["ip"] = v
                    continue
            ns[k] = v
        elif c == _DOMAIN:
            grp = g.get(a)
            if grp is None:
                g[a] = {"domain": v}
            elif "domain" not in grp:
                grp["domain"] = v
            else:
                ns[k] = v
            if v not in _NOT_HOSTS:
                rel_host.append(v)
        elif c == _PORT:
            if type(v) is int:
                grp = g.get(a)
                if grp is None:
                    g[a] = {"port": v}
                    continue
                if "port" not in grp:
                    grp["port"] = v
                    continue
            ns[k] = v
        elif c == _ADDRESS:
            # one address (Postfix, Dovecot) or already a list (amavis' recipients)
            addr = {"address": [v] if type(v) is str else list(v)}
            email = g.get("email")
            if email is None:
                g["email"] = {a: addr}
            else:
                email[a] = addr
        elif c == _USER:
            if "user" in g:
                ns[k] = v
            else:
                g["user"] = {"name": v}
            if v:
                rel_user.append(v)
        elif c == _RHOST:
            ns[k] = v
            if v not in _NOT_HOSTS:
                rel_host.append(v)
        elif c == _RIP:
            ns[k] = v
            if type(v) is str and is_ip(v):
                rel_ip.append(v)
        elif c == _SYSLOG:
            syslog[a] = v if a == "msgid" else {"name": v}
        elif c == _SUBMITTER:
            ns[k] = v
            rel_user.append(v)
        elif c == _TLS_VERSION:
            tv = tls_version(v) if type(v) is str else None
            if tv is None:
                ns[k] = v
            else:
                tls = g.get("tls")
                if tls is None:
                    tls = g["tls"] = {}
                tls["version"] = tv[1]
                tls["version_protocol"] = tv[0]
                tls["established"] = True
        elif c == _TLS:
            if v is True:
                tls = g.get("tls")
                if tls is None:
                    g["tls"] = {"established": True}
                else:
                    tls["established"] = True
            else:
                ns[k] = v
    # what depends on several fields
    name = daemon if daemon is not None else program
    if name is not None:
        proc = g.get("process")
        if proc is None:
            g["process"] = {"name": name}
        else:
            proc["name"] = name
    src = info[2]
    if src == _STATUS:
        o = _DELIVERY_OUTCOME.get(doc.get("status"))  # type: ignore[arg-type]
        if o is not None:
            event["outcome"] = o
    elif src is _verdict_fields:
        _verdict_fields(doc, g, event)
    tls = g.get("tls")
    if tls is not None and "cipher" in tls:
        tls["established"] = True
    if doc.get("level") in _LEVELS_WITH_ERROR and "error" not in g and doc.get("text") is not None:
        g["error"] = {"message": doc["text"]}
    if syslog:
        log = g.get("log")
        if log is None:
            g["log"] = {"syslog": syslog}
        else:
            log["syslog"] = syslog
    if rel_ip or rel_user or rel_host:
        related: dict[str, Any] = {}
        if rel_ip:
            related["ip"] = rel_ip if len(rel_ip) == 1 else list(dict.fromkeys(rel_ip))
        if rel_user:
            related["user"] = rel_user if len(rel_user) == 1 else list(dict.fromkeys(rel_user))
        if rel_host:
            related["hosts"] = rel_host if len(rel_host) == 1 else list(dict.fromkeys(rel_host))
        g["related"] = related
    out.update(g)
    if ns and ns_name != "maillog2json":
        out[ns_name] = ns
    return out


# -- message documents -------------------------------------------------------------------------
_MSG_EVENT = {"kind": "event", "dataset": "maillog2json.message", "module": "postfix",
              "category": _EMAIL, "type": _INFO}


def _message(doc: Doc) -> Doc:
    event: dict[str, Any] = dict(_MSG_EVENT)
    mta = doc.get("mta")
    if mta is not None:             # Sendmail and qmail messages
        event["module"] = mta
    out: Doc = {}
    msg: dict[str, Any] = {}
    m2j: dict[str, Any] = {}
    email: dict[str, Any] = {}
    source: dict[str, Any] = {}
    user: Optional[dict[str, Any]] = None
    tls: Optional[dict[str, Any]] = None
    rel_ip: list[str] = []
    rel_host: list[str] = []
    for k, v in doc.items():
        if v is None:
            continue
        if k == "_id":
            m2j["id"] = v
        elif k == "type":
            m2j["type"] = v
        elif k == "first_seen":
            out["@timestamp"] = v
            event["start"] = v
        elif k == "last_seen":
            event["end"] = v
        elif k == "duration":
            if isinstance(v, (int, float)):
                event["duration"] = round(v * 1e9)
            else:
                msg[k] = v
        elif k == "status":
            msg[k] = v
            event["outcome"] = MESSAGE_OUTCOME.get(v, "unknown")
        elif k == "host":
            out["host"] = {"hostname": v}
        elif k == "queue_id":
            email["local_id"] = v
        elif k == "message_id":
            email["message_id"] = v
        elif k == "from":
            email["from"] = {"address": [v]}
        elif k == "recipients":
            msg[k] = v
            to = [r["to"] for r in v if r.get("to") is not None]
            if to:
                email["to"] = {"address": list(dict.fromkeys(to))}
        elif k == "filters":
            msg[k] = v
            verdicts = _message_filters(v, out, event)
            if verdicts:
                msg["verdicts"] = verdicts
        elif k == "client":
            rest: dict[str, Any] = {}
            for ck, cv in v.items():
                if cv is None:
                    continue
                if ck == "ip":
                    if isinstance(cv, str) and is_ip(cv):
                        source["ip"] = cv
                        rel_ip.append(cv)
                    else:
                        rest[ck] = cv
                elif ck == "host":
                    source["domain"] = cv
                    if cv not in _NOT_HOSTS:
                        rel_host.append(cv)
                elif ck == "port" and type(cv) is int:
                    source["port"] = cv
                elif ck == "sasl_username":
                    user = {"name": cv}
                else:
                    rest[ck] = cv
                    if ck == "helo" and cv not in _NOT_HOSTS:
                        rel_host.append(cv)
                    elif ck == "tls" and isinstance(cv, dict):
                        tls = {}
                        tv = cv.get("version")
                        tv = tls_version(tv) if isinstance(tv, str) else None
                        if tv is not None:
                            tls["version"] = tv[1]
                            tls["version_protocol"] = tv[0]
                        if cv.get("cipher") is not None:
                            tls["cipher"] = cv["cipher"]
                        tls["established"] = True
            if rest:
                msg["client"] = rest
        else:
            msg[k] = v
    if source:
        out["source"] = source
    if email:
        out["email"] = email
    if user is not None:
        out["user"] = user
    if tls is not None:
        out["tls"] = tls
    if rel_ip or rel_host or user is not None:
        related: dict[str, Any] = {}
        if rel_ip:
            related["ip"] = rel_ip
        if user is not None and user["name"]:
            related["user"] = [user["name"]]
        if rel_host:
            related["hosts"] = list(dict.fromkeys(rel_host))
        if related:
            out["related"] = related
    out["event"] = event
    if msg:
        m2j["message"] = msg
    out["maillog2json"] = m2j
    return out


# -- the renderer ------------------------------------------------------------------------------
def ecs_document(doc: Doc) -> Doc:
    """The ECS document (a new dict; ``doc`` is not modified) for a line or message document."""
    if doc.get("type") == "message":
        return _message(doc)
    return _line(doc)


def ecs(doc: Doc) -> bytes:
    """One document in the ECS spelling: one JSON object and a newline."""
    return orjson.dumps(ecs_document(doc), option=_OPTS)


def ecs_id(doc: Doc) -> Optional[str]:
    """The id for the Elasticsearch bulk action: the native ``_id`` (not in the ECS source)."""
    return doc.get("_id")
