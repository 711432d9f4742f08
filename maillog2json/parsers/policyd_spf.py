"""SPF policy servers for Postfix: python ``policyd-spf`` and the Perl ``postfix/policy-spf``.

Both put the queue id in front when they log (``QID: text``), which is empty while Postfix
asks at RCPT time (``: text``). Lines in their formats::

    : prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=bob@example.net
    : prepend X-Comment: SPF check N/A for local connections - client-ip=127.0.0.1; helo=ws1.example.net; envelope-from=ann@example.org; receiver=bob@example.net
    Softfail; identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=bob@example.net
    : 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=ann@example.org;ip=192.0.2.7;r=bob@example.net
    : defer_if_permit 4.7.24 Message deferred due to: SPF Temporary Error: DNS Timeout. Please see http://www.openspf.net/Why?s=mfrom;id=ann@example.org;ip=192.0.2.7;r=bob@example.net
    : Policy action=PREPEND Received-SPF: pass (example.org: 192.0.2.7 is authorized to use 'ann@example.org' in 'mfrom' identity (mechanism 'ip4:192.0.2.0/24' matched)) receiver=mx.example.net; identity=mailfrom; envelope-from="ann@example.org"; helo=mx.example.org; client-ip=192.0.2.7
    : Policy action=550 Please see http://www.openspf.org/Why?s=mfrom;id=ann@example.org;ip=192.0.2.7;r=mx.example.net
    : Policy action=DEFER_IF_PERMIT SPF-Result=example.org: 'SERVFAIL' error on DNS 'TXT' lookup of 'example.org'
    handler sender_policy_framework: is decisive.
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# the queue id in front: "4ABC: text", or ": text" while there is none yet (RCPT time)
RE_QID = re.compile(r"(?P<qid>[0-9A-Za-z]{5,20})?: (?=\S)")
SPF_RESULTS = r"[Pp]ass|[Ff]ail|[Ss]oft[Ff]ail|[Nn]eutral|[Nn]one|[Tt]emp[Ee]rror|[Pp]erm[Ee]rror"
# key=value; key=value; ...   (a value holds no space or ';', so the items split one way only)
KV = r"[a-z-]+=[^\s;]*(?:(?:; ?| )[a-z-]+=[^\s;]*)*;? ?"
# [prepend ]Received-SPF: Pass (mailfrom) identity=...   /   Policy action=PREPEND Received-SPF: pass (...) receiver=...
# Softfail; identity=mailfrom; client-ip=...             (python, the result alone when it does not prepend)
# Header field not prepended: Received-SPF: ...          (python with Header_Type = None)
RE_RESULT = re.compile(
    r"(?:(?:Policy action=(?P<action>\S+)|(?P<py_action>prepend)|(?P<not_prepended>Header field not prepended):) )?"
    r"(?:Received-SPF: (?P<result>" + SPF_RESULTS + r")(?: \((?P<comment>(?:[^()]|\([^()]*(?:\([^()]*\))?[^()]*\))*)\))?"
    r"|(?P<result2>" + SPF_RESULTS + r");) (?P<kv>" + KV + r")\Z")
RE_KV = re.compile(r"(?P<k>[a-z-]+)=(?P<v>\"[^\"]*\"|[^;\s]*)")
# prepend X-Comment: SPF check N/A for local connections - client-ip=...; helo=...; envelope-from=...; receiver=...
# (python: no check for a local or whitelisted client; the Perl server: X-Comment SPF not applicable to localhost ...)
RE_SKIPPED = re.compile(
    r"(?:(?:Policy action=(?P<action>PREPEND)|(?P<py_action>prepend)) )?X-Comment:? (?P<comment>[^=]*?)"
    r"(?: - |, )?(?P<kv>(?:" + KV + r")?)\Z")
# 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://...
# defer_if_permit 4.7.24 Message deferred due to: SPF Temporary Error: ... Please see http://...
# Policy action=550 Please see http://www.openspf.org/Why?s=mfrom;id=ann%40example.org;ip=192.0.2.7;r=...
# Policy action=DEFER_IF_PERMIT SPF-Result=...
RE_REJECT = re.compile(
    r"(?:Policy action=)?(?:(?P<code>[45]\d\d)|(?P<defer>(?i:defer_if_permit|defer)))"
    r"(?: (?P<dsn>[45]\.\d{1,3}\.\d{1,3}))?(?: (?P<reason>.*))?\Z", re.S)
RE_WHY = re.compile(r"Why\?s=(?P<s>[a-z]+);id=(?P<id>[^;\s]*);ip=(?P<ip>[^;\s]*);r=(?P<r>\S*)")
# Policy action=DUNNO       (the Perl server's answer when it adds nothing)
RE_ACTION = re.compile(r"Policy action=(?P<action>[A-Za-z_]+)\Z")
# handler exempt_localhost: is decisive.     (the Perl server: which check gave the answer)
RE_HANDLER = re.compile(r"handler (?P<handler>\S+): is decisive\.\Z")
KEYS = {"client-ip": "client_ip", "helo": "helo", "envelope-from": "from", "receiver": "receiver",
        "identity": "identity", "mechanism": "mechanism", "problem": "problem"}
# the explanation in a rejection or deferral -> the SPF result (pyspf's and Mail::SPF's texts)
EXPLAINED = (("SPF fail", "fail"), ("SPF Permanent Error", "permerror"), ("SPF Temporary Error", "temperror"),
             ("permanent error in processing", "permerror"), ("temporary DNS error", "temperror"),
             ("domain owner discourages", "softfail"), ("neither permitted nor denied", "neutral"),
             ("SPF softfail", "softfail"), ("SPF neutral", "neutral"), ("SPF none", "none"),
             ("SPF-Result=", "temperror"))
IDENTITIES = {"mfrom": "mailfrom", "mailfrom": "mailfrom", "helo": "helo"}


def _kv(text: str, doc: Doc) -> None:
    for kv in RE_KV.finditer(text):
        k, v = kv.group("k"), kv.group("v").strip('"')
        field = KEYS.get(k, k.replace("-", "_"))
        if field in ("from", "receiver") and v == "<UNKNOWN>":
            v = None
        doc[field] = v


def parse_policyd_spf(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    q = RE_QID.match(msg)
    qid = None
    if q is not None:
        qid = q.group("qid")
        msg = msg[q.end():]
    kind = _parse(msg, doc)
    if kind is not None and qid is not None:
        doc["queue_id"] = qid
    return kind


def _parse(msg: str, doc: Doc) -> Optional[str]:
    m = RE_RESULT.match(msg)
    if m is not None:
        action = m.group("action") or m.group("py_action")     # none for "Header field not prepended"
        if action is not None:
            doc["action"] = action.lower()
        doc["spf_result"] = (m.group("result") or m.group("result2")).lower()
        if m.group("comment") is not None:
            doc["comment"] = m.group("comment")
        _kv(m.group("kv"), doc)
        return "policyd_spf.result"
    m = RE_SKIPPED.match(msg)
    if m is not None:
        action = m.group("action") or m.group("py_action")
        if action is not None:
            doc["action"] = action.lower()
        doc["comment"] = m.group("comment")
        _kv(m.group("kv"), doc)
        return "policyd_spf.skipped"
    m = RE_ACTION.match(msg)
    if m is not None and not m.group("action").lower().startswith("defer"):
        doc["action"] = m.group("action").lower()
        return "policyd_spf.action"
    m = RE_REJECT.match(msg)
    if m is not None:
        reason = m.group("reason") or ""
        if m.group("code") is not None:
            doc["code"] = int(m.group("code"))
            kind = "policyd_spf.reject" if m.group("code")[0] == "5" else "policyd_spf.defer"
        else:
            doc["action"] = m.group("defer").lower()
            kind = "policyd_spf.defer"
        if m.group("dsn") is not None:
            doc["dsn"] = m.group("dsn")
        doc["reason"] = reason
        for text, result in EXPLAINED:
            if text in reason:
                doc["spf_result"] = result
                break
        w = RE_WHY.search(reason)
        if w is not None:
            identity = IDENTITIES.get(w.group("s"), w.group("s"))
            doc["identity"] = identity
            doc["helo" if identity == "helo" else "from"] = w.group("id").replace("%40", "@")
            doc["client_ip"] = w.group("ip")
            r = w.group("r").rstrip(".")
            doc["receiver"] = None if r in ("<UNKNOWN>", "") else r
        return kind
    m = RE_HANDLER.match(msg)
    if m is not None:
        doc["handler"] = m.group("handler")
        return "policyd_spf.handler"
    return None


TAGS = ("policyd-spf", "policy-spf", "policyd-spf-perl")
