"""SpamAssassin's spamd: per-message results, the summary after each check, connections.

Real line (msimerson log-ship-elastic-postfix / postfix-parser test data)::

    spamd: identified spam (9.3/5.0) for nagios:1209 in 0.8 seconds, 5 bytes.

and in spamd's format::

    spamd: result: Y 9 - BAYES_99,HTML_MESSAGE scantime=0.5,size=1234,user=nagios,uid=1209,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=41234,mid=<id@example.org>,autolearn=no
    spamd: connection from localhost [127.0.0.1]:41234 to port 783, fd 5
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from maillog2json.parsers.postfix.grammar import addr, flt, int_or_text

Doc = dict[str, Any]

# result: Y 9 - BAYES_99,HTML_MESSAGE scantime=0.5,size=1234,user=...,mid=<id@x>,autolearn=no
RE_RESULT = re.compile(r"result: (?P<flag>[Y.]) (?P<score>-?\d+(?:\.\d+)?) - (?P<symbols>\S*) (?P<kv>\S*=.*)\Z", re.S)
# (3.4 writes "autolearn=ham autolearn_force=no": a space before the last key)
RE_KV = re.compile(r"(?:\A|[, ])(?P<k>[a-z_]+)=(?P<v><[^>]*>|[^,\s]*)")
# identified spam (9.3/5.0) for nagios:1209 in 0.8 seconds, 5 bytes.
# clean message (-1.2/5.0) for alice:1000 in 0.3 seconds, 1234 bytes.
RE_SUMMARY = re.compile(
    r"(?P<what>identified spam|clean message) \((?P<score>-?\d+(?:\.\d+)?)/(?P<required>-?\d+(?:\.\d+)?)\) "
    r"for (?P<user>[^:\s]*)(?::(?P<uid>\d+))? in (?P<seconds>\d+(?:\.\d+)?) seconds, (?P<size>\d+) bytes\.?\Z")
# connection from localhost [127.0.0.1]:41234 to port 783, fd 5       (3.4: "[127.0.0.1]:41234 to port")
# connection from localhost [127.0.0.1] at port 41234                 (3.3 and older)
RE_CONNECTION = re.compile(
    r"connection from (?P<host>\S+) \[(?P<ip>[^\]\s]*)\](?::(?P<port>\d+)| at port (?P<port2>\d+))?"
    r"(?: to port (?P<server_port>\d+))?(?:, fd (?P<fd>\d+))?\Z")
# processing message <id@x> for alice:1000 / checking message <id@x> for alice:1000
RE_PROCESSING = re.compile(r"(?P<what>processing|checking) message (?P<mid><[^>]*>|\(unknown\)) for (?P<user>[^:\s]*)(?::(?P<uid>\d+))?\Z")


# spamd's result keys -> (our field, conversion)
RESULT_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "scantime": ("scantime", flt), "size": ("size", int_or_text), "user": ("user", str), "uid": ("uid", int_or_text),
    "required_score": ("required_score", flt), "rhost": ("client_host", str), "raddr": ("client_ip", str),
    "rport": ("client_port", int_or_text), "mid": ("message_id", addr), "autolearn": ("autolearn", str),
    "bayes": ("bayes", flt), "autolearn_force": ("autolearn_force", str), "shortcircuit": ("shortcircuit", str),
}


def parse_spamd(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    if msg.startswith("spamd: "):
        msg = msg[7:]
    if msg.startswith("result: "):
        m = RE_RESULT.match(msg)
        if m is None:
            return None
        doc["is_spam"] = m.group("flag") == "Y"
        doc["score"] = float(m.group("score"))
        doc["symbols"] = [s for s in m.group("symbols").split(",") if s]
        for kv in RE_KV.finditer(m.group("kv")):
            rule = RESULT_KEYS.get(kv.group("k"))
            if rule is not None:
                doc[rule[0]] = rule[1](kv.group("v"))
        return "spamd.result"
    m = RE_SUMMARY.match(msg)
    if m is not None:
        doc["is_spam"] = m.group("what") == "identified spam"
        doc["score"] = float(m.group("score"))
        doc["required_score"] = float(m.group("required"))
        doc["user"] = m.group("user")
        if m.group("uid") is not None:
            doc["uid"] = int(m.group("uid"))
        doc["scantime"] = float(m.group("seconds"))
        doc["size"] = int(m.group("size"))
        return "spamd.spam" if doc["is_spam"] else "spamd.clean"
    m = RE_CONNECTION.match(msg)
    if m is not None:
        doc["client_host"] = m.group("host")
        doc["client_ip"] = m.group("ip")
        port = m.group("port") or m.group("port2")
        if port is not None:
            doc["client_port"] = int(port)
        if m.group("server_port") is not None:
            doc["server_port"] = int(m.group("server_port"))
        return "spamd.connection"
    m = RE_PROCESSING.match(msg)
    if m is not None:
        if m.group("mid") != "(unknown)":
            doc["message_id"] = addr(m.group("mid"))
        doc["user"] = m.group("user")
        if m.group("uid") is not None:
            doc["uid"] = int(m.group("uid"))
        return "spamd.processing"
    return None


TAGS = ("spamd",)
