"""SPF policy servers for Postfix: python ``policyd-spf`` and the Perl ``postfix/policy-spf``.

Lines in their formats::

    prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=<UNKNOWN>
    Softfail; identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=bob@example.net
    Policy action=PREPEND Received-SPF: pass (example.org: 192.0.2.7 is authorized to use 'ann@example.org' in 'mfrom' identity (mechanism 'ip4:192.0.2.0/24' matched)) receiver=mx.example.net; identity=mailfrom; envelope-from="ann@example.org"; helo=mx.example.org; client-ip=192.0.2.7
    550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mailfrom;id=ann@example.org;ip=192.0.2.7;r=<UNKNOWN>
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

SPF_RESULTS = r"[Pp]ass|[Ff]ail|[Ss]oft[Ff]ail|[Nn]eutral|[Nn]one|[Tt]emp[Ee]rror|[Pp]erm[Ee]rror"
# [prepend ]Received-SPF: Pass (mailfrom) identity=...   /   Policy action=PREPEND Received-SPF: pass (...) receiver=...
# Softfail; identity=mailfrom; client-ip=...             (python, the result alone when it does not prepend)
RE_RESULT = re.compile(
    r"(?:(?:Policy action=(?P<action>\S+)|(?P<py_action>prepend)) )?"
    r"(?:Received-SPF: (?P<result>" + SPF_RESULTS + r")(?: \((?P<comment>(?:[^()]|\([^()]*(?:\([^()]*\))?[^()]*\))*)\))?"
    r"|(?P<result2>" + SPF_RESULTS + r");) (?P<kv>(?:[a-z-]+=\S*;? ?)+)\Z")
RE_KV = re.compile(r"(?P<k>[a-z-]+)=(?P<v>\"[^\"]*\"|[^;\s]*)")
# 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://...
# Policy action=550 Please see http://www.openspf.org/why.html?sender=ann%40example.org&ip=192.0.2.7
RE_REJECT = re.compile(r"(?:Policy action=)?(?P<code>[45]\d\d) (?:(?P<dsn>[45]\.\d{1,3}\.\d{1,3}) )?(?P<reason>.*)\Z", re.S)
# Policy action=DUNNO       (the Perl server's answer when it adds nothing)
RE_ACTION = re.compile(r"Policy action=(?P<action>[A-Za-z_]+)\Z")
KEYS = {"client-ip": "client_ip", "helo": "helo", "envelope-from": "from", "receiver": "receiver",
        "identity": "identity", "mechanism": "mechanism", "problem": "problem"}


def parse_policyd_spf(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_RESULT.match(msg)
    if m is not None:
        action = m.group("action") or m.group("py_action")
        if action is not None:
            doc["action"] = action.lower()
        doc["spf_result"] = (m.group("result") or m.group("result2")).lower()
        if m.group("comment") is not None:
            doc["comment"] = m.group("comment")
        for kv in RE_KV.finditer(m.group("kv")):
            k, v = kv.group("k"), kv.group("v").strip('"')
            field = KEYS.get(k, k.replace("-", "_"))
            if field in ("from", "receiver") and v == "<UNKNOWN>":
                v = None
            doc[field] = v
        return "policyd_spf.result"
    m = RE_REJECT.match(msg)
    if m is not None:
        doc["code"] = int(m.group("code"))
        if m.group("dsn") is not None:
            doc["dsn"] = m.group("dsn")
        doc["reason"] = m.group("reason")
        return "policyd_spf.reject" if m.group("code")[0] == "5" else "policyd_spf.defer"
    m = RE_ACTION.match(msg)
    if m is not None:
        doc["action"] = m.group("action").lower()
        return "policyd_spf.action"
    return None


TAGS = ("policyd-spf", "policy-spf", "policyd-spf-perl")
