"""Dovecot: LMTP/LDA deliveries, IMAP/POP3/submission logins and logouts, auth failures.

Dovecot's text is ``service(ident)<pid><session>: [Level: ]text`` (ident, pid and session
optional), written under the syslog tag ``dovecot`` (or, in old setups, the service's
own tag like ``imap-login``). Real lines::

    lmtp(31093): Connect from local
    lmtp(alice@example.test)<31093><oLvXMjxUCNu1eQAAtrPOsw>: msgid=<rp1@x>: saved mail to INBOX
    imap-login: Disconnected (auth failed, 1 attempts in 6 secs): user=<a@b>, method=PLAIN, rip=1.1.1.1, lip=7.7.7.7, TLS, session=<azdaDADSqqsvf-za>
    auth-worker(24544): pam(toto,1.1.1.1): unknown user
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# service(ident)<pid><session>: / service: / service(ident):
RE_PREFIX = re.compile(
    r"(?P<service>[a-z][a-z0-9-]*)(?:\((?P<ident>[^()]*(?:\([^()]*\))?[^()]*)\))?"
    r"(?:<(?P<spid>\d+)>)?(?:<(?P<session>[^>]*)>)?: ")
RE_LEVEL = re.compile(r"(?P<level>Info|Warning|Error|Fatal|Panic|Debug): ")

# msgid=<rp1@x>: saved mail to INBOX / msgid=<...>: save failed to INBOX: Quota exceeded (...)
RE_SAVED = re.compile(r"(?:msgid=(?P<msgid><[^>]*>|\S+|unspecified): )?(?P<what>saved mail to|save failed to|stored mail into mailbox|sieve: stored mail into mailbox) ['\"]?(?P<mailbox>[^:'\"]+?)['\"]?(?:: (?P<error>.*))?\Z", re.S)
RE_SIEVE = re.compile(r"sieve: msgid=(?P<msgid><[^>]*>|\S+): (?P<text>.*)\Z", re.S)
# Connect from local / Disconnect from local: Logged out (state=READY)
RE_LMTP_CONN = re.compile(r"(?P<what>Connect|Disconnect) from (?P<peer>[^:]+)(?:: (?P<text>.*))?\Z", re.S)
# Logged out in=123 out=456 / Disconnected: Logged out in=37 out=525 deleted=0 ...
RE_LOGOUT = re.compile(r"(?:Disconnected: )?(?:Logged out|Connection closed|Disconnected)(?P<rest>.*)\Z", re.S)
RE_KV_NUM = re.compile(r"(?P<k>[a-z_]+)=(?P<v>\d+)")
# the key list at the end of login-process lines
RE_LOGIN_TAIL = re.compile(r": (?=user=<|method=|rip=)")
RE_ATTEMPTS = re.compile(r"auth failed, (?P<n>\d+) attempts?")
# pam(toto,1.1.1.1,<sess>): unknown user    passwd-file(user,1.2.3.4): unknown user (SHA1 of ...)
# ldap(dog,52.37.139.121,): invalid credentials          (an empty session)
RE_AUTH = re.compile(r"(?:.*?: )?(?P<backend>[a-z][a-z0-9-]*)\((?P<user>[^,()]*),(?P<ip>[^,()]*)"
                     r"(?:,(?:<(?P<session>[^>]*)>)?)?\): (?P<text>.*)\Z", re.S)
# Dovecot >= 2.3 puts the user in the auth prefix and names only the backend after it:
# auth(info@example.com,192.0.2.110,sasl:login)<CvN+E95Uf4e7eEnj>: Info: sql: Password mismatch (given password: x)
RE_AUTH_IDENT = re.compile(r"(?P<user>[^,]*),(?P<ip>[^,]*)(?:,(?P<mech>.*))?\Z")
RE_AUTH_BACKEND = re.compile(r"(?P<backend>[a-z][a-z0-9-]*): (?P<text>.*)\Z", re.S)
# Dovecot v2.3.19.1 (9b53102964) starting up for lmtp (core dumps disabled)
RE_START = re.compile(r"Dovecot v(?P<version>\S+)(?: \((?P<build>[0-9a-f]+)\))? starting up(?: for (?P<protocols>[^(]*?))?"
                      r"(?: \((?P<text>[^)]*)\))?\Z")
# pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=1.2.3.4  user=root
RE_PAM = re.compile(r"pam_unix\((?P<pam_service>[^)]*)\): authentication failure; (?P<kv>.*)\Z", re.S)
RE_PAM_KV = re.compile(r"(?P<k>[a-z]+)=(?P<v>\S*)")

AUTH_FAILURE_HINTS = ("unknown user", "Password mismatch", "password mismatch", "pam_authenticate() failed",
                      "authentication failure", "Authentication failure", "Permission denied", "invalid credentials")
LOGIN_SERVICES = frozenset(("imap-login", "pop3-login", "submission-login", "managesieve-login", "lmtp-login"))


def _user(v: str) -> str:
    return v[1:-1] if v[:1] == "<" and v[-1:] == ">" else v


def _login_tail(doc: Doc, tail: str) -> None:
    """``user=<a>, method=PLAIN, rip=1.1.1.1, lip=7.7.7.7, TLS, session=<x>``."""
    for item in tail.split(", "):
        k, sep, v = item.partition("=")
        if sep and k.isalpha() or k == "mpid":
            if k == "user":
                doc["user"] = _user(v)
            elif k == "rip":
                doc["client_ip"] = v
            elif k == "lip":
                doc["server_ip"] = v
            elif k == "rport":
                doc["client_port"] = int(v) if v.isdecimal() else v
            elif k == "lport":
                doc["server_port"] = int(v) if v.isdecimal() else v
            elif k == "method":
                doc["auth_method"] = v
            elif k == "session":
                doc["session"] = _user(v)
            elif k == "mpid":
                doc["mail_pid"] = int(v) if v.isdecimal() else v
            else:
                doc[k] = _user(v)
        elif item.startswith("TLS"):
            doc["tls"] = True
            if len(item) > 3:
                doc["tls_detail"] = item[3:].lstrip(": ")
        elif item == "secured":
            doc["secured"] = True
        elif item:
            doc.setdefault("login_flags", []).append(item)


def _login_process(doc: Doc, text: str) -> str:
    m = RE_LOGIN_TAIL.search(text)
    if m is not None:
        head, tail = text[:m.start()], text[m.end():]
        _login_tail(doc, tail)
    else:
        head = text
    doc["text"] = head
    if head.startswith("Login"):
        if head == "Login" or head.startswith("Login:"):
            return "dovecot.login"
    a = RE_ATTEMPTS.search(head)
    if a is not None:
        doc["auth_attempts"] = int(a.group("n"))
        return "dovecot.auth_failed"
    return "dovecot.login_aborted" if ("Aborted login" in head or "Login aborted" in head) else "dovecot.disconnect"


# The commonest Dovecot lines, LMTP's, each read in one match (the general path below reads
# them with RE_PREFIX, then RE_SAVED or RE_LMTP_CONN: these are those patterns for the plain
# case, and the fields are set as that path sets them, in its order):
# lmtp(alice@example.test)<4243><xyz>: msgid=<m1@example.test>: saved mail to INBOX
RE_LMTP_SAVED = re.compile(r"lmtp\(([^()]*)\)<([0-9]+)><([^>]*)>: msgid=<([^>]*)>: saved mail to ([^:'\"]+)\Z")
# lmtp(31093): Connect from local / lmtp(31093): Disconnect from local: Logged out (state=READY)
RE_LMTP_SESSION = re.compile(r"lmtp\(([0-9]+)\): (Connect|Disconnect) from ([^:]+)(?:: (.*))?\Z", re.S)


def _lmtp(msg: str, doc: Doc) -> Optional[str]:
    m = RE_LMTP_SAVED.match(msg)
    if m is not None:
        ident, spid, session, msgid, mailbox = m.groups()
        doc["service"] = "lmtp"
        if ident.isdecimal():
            doc["service_pid"] = int(ident)
        else:
            doc["user"] = ident
        doc["service_pid"] = int(spid)
        doc["session"] = session
        doc["message_id"] = msgid
        doc["mailbox"] = mailbox
        return "dovecot.saved"
    m = RE_LMTP_SESSION.match(msg)
    if m is not None:
        ident, what, peer, text = m.groups()
        doc["service"] = "lmtp"
        doc["service_pid"] = int(ident)
        doc["peer"] = peer
        if text:
            doc["text"] = text
        return "dovecot.lmtp_connect" if what == "Connect" else "dovecot.lmtp_disconnect"
    return None


def parse_dovecot(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    """Parse a Dovecot message text; the syslog tag may be ``dovecot`` or the service itself."""
    if msg[:5] == "lmtp(":
        kind = _lmtp(msg, doc)
        if kind is not None:
            return kind
    if msg.startswith("dovecot: "):            # "dovecot[442]: dovecot: auth(default): ..." (old)
        msg = msg[9:]
    m = RE_PREFIX.match(msg)
    if m is not None and m.group("service") not in ("Info", "Warning", "Error", "Fatal", "Panic"):
        service = m.group("service")
        ident = m.group("ident")
        spid = m.group("spid")
        session = m.group("session")
        msg = msg[m.end():]
    else:
        service = daemon if daemon not in (None, "dovecot") else None
        ident = spid = session = None
    lv = RE_LEVEL.match(msg)
    level = None
    if lv is not None:
        level = lv.group("level").lower()
        msg = msg[lv.end():]
        doc["level"] = level
    doc["service"] = service
    if ident is not None:
        if ident.isdecimal():
            doc["service_pid"] = int(ident)
        elif ident == "default" and service.startswith("auth"):
            pass                                # Dovecot 1.x: auth(default) names the auth process
        elif service == "auth" and "," in ident:
            a = RE_AUTH_IDENT.match(ident)
            if a is None:                       # (it matches any text with a comma)
                doc["user"] = ident
            else:
                doc["user"] = a.group("user")
                if a.group("ip"):
                    doc["client_ip"] = a.group("ip")
                if a.group("mech"):
                    doc["auth_mechanism"] = a.group("mech")
        else:
            doc["user"] = ident
    if spid is not None:
        doc["service_pid"] = int(spid)
    if session is not None:
        doc["session"] = session
    return _classify(service, msg, doc, level)


def _classify(service: Optional[str], msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if service in ("lmtp", "lda", "deliver") or msg.startswith("msgid="):
        # lmtp(alice@example.test)<4243><xyz>: sieve: msgid=<m1@example.test>: stored mail into mailbox 'INBOX'
        sieve = msg.startswith("sieve: msgid=")
        m = RE_SAVED.match(msg, 7 if sieve else 0)
        if m is not None:
            if sieve:
                doc["sieve"] = True
            msgid = m.group("msgid")
            if msgid is not None:
                doc["message_id"] = _user(msgid)
            doc["mailbox"] = m.group("mailbox")
            if m.group("what") == "save failed to":
                doc["error"] = m.group("error")
                return "dovecot.save_failed"
            return "dovecot.saved"
        c = RE_LMTP_CONN.match(msg)
        if c is not None:
            doc["peer"] = c.group("peer")
            if c.group("text"):
                doc["text"] = c.group("text")
            return "dovecot.lmtp_" + c.group("what").lower()
    if service in LOGIN_SERVICES:
        return _login_process(doc, msg)
    if msg.startswith("pam_unix("):
        return parse_pam(None, msg, doc)
    if service is not None and (service.startswith("auth") or "(" in msg[:40]):
        a = RE_AUTH.match(msg)
        if a is None and "client_ip" in doc:
            a = RE_AUTH_BACKEND.match(msg)      # auth(user,ip,mech): sql: Password mismatch
            if a is not None:
                doc["auth_backend"] = a.group("backend")
                doc["reason"] = a.group("text")
                if any(h in a.group("text") for h in AUTH_FAILURE_HINTS):
                    return "dovecot.auth_failure"
                return "dovecot.auth"
        if a is not None:
            doc["auth_backend"] = a.group("backend")
            doc["user"] = a.group("user")
            doc["client_ip"] = a.group("ip")
            if a.group("session"):
                doc["session"] = a.group("session")
            doc["reason"] = a.group("text")
            if any(h in a.group("text") for h in AUTH_FAILURE_HINTS):
                return "dovecot.auth_failure"
            return "dovecot.auth"
    if service in ("imap", "pop3", "submission", "managesieve", "lmtp"):
        lo = RE_LOGOUT.match(msg)
        if lo is not None:
            for kv in RE_KV_NUM.finditer(lo.group("rest")):
                k = kv.group("k")
                doc["bytes_" + k if k in ("in", "out") else k] = int(kv.group("v"))
            doc["text"] = msg
            return "dovecot.logout"
        s = RE_SIEVE.match(msg)
        if s is not None:
            doc["message_id"] = _user(s.group("msgid"))
            doc["text"] = s.group("text")
            return "dovecot.sieve"
    if service == "master":
        st = RE_START.match(msg)
        if st is not None:
            doc["version"] = st.group("version")
            if st.group("protocols"):
                doc["protocols"] = st.group("protocols").split()
            return "dovecot.start"
    if level in ("warning", "error", "fatal", "panic"):
        doc["text"] = msg
        return "dovecot." + level
    return None


def parse_pam(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_PAM.match(msg)
    if m is None:
        return None if daemon is None else parse_dovecot(daemon, msg, doc)  # "auth: Info: ldap(...)"
    doc["pam_service"] = m.group("pam_service")
    for kv in RE_PAM_KV.finditer(m.group("kv")):
        k, v = kv.group("k"), kv.group("v")
        if k == "rhost" and v:
            doc["client_ip"] = v
        elif k == "user" and v:
            doc["user"] = v
        elif k == "ruser" and v:
            doc["ruser"] = v
    return "pam.auth_failure"


# syslog tags that carry Dovecot's text
TAGS = ("dovecot", "dovecot-auth", "imap-login", "pop3-login", "imap", "pop3", "managesieve-login",
        "submission-login", "dovecot-lda", "deliver", "lmtp")
