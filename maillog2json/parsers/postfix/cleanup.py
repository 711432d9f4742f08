"""cleanup(8): message-id, header/body checks, milter actions on queued mail."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import QUEUE_ID_PREFIX, Doc, Shapes, addr, client_from
from maillog2json.parsers.postfix.smtpd import ACTIONS, RE_ACTION, envelope_into, fill_action, reason_into

# 0F5383D: message-id=<544D2523.30609@rhsoft.net>   (also message-id=<> and unbracketed junk)
RE_MESSAGE_ID = re.compile(r"(?P<key>message-id|resent-message-id)=(?P<v>.*)\Z", re.S)

# 4BDA1642D1: reject: header Subject: spam marker from localhost[127.0.0.1]; from=<a@b> to=<c@d>
#   proto=ESMTP helo=<h>: 5.7.1 message content rejected
# D95341E50350: info: header Subject: hello from local; from=<a@b> to=<c@d>
RE_CHECK = re.compile(
    r"(?P<check>header|body) (?P<content>.*?) from (?P<source>[^\s;]+); "
    r"(?P<env>(?:(?:from|to|proto|helo)=(?:<[^>]*>|[^\s<>:;]*)(?: |(?=:)|\Z))+)"
    r"(?::\s?(?P<text>.*))?\Z", re.S)

_ACTION_WORDS = frozenset(ACTIONS.split("|")) | {"replace", "info", "warning"}

# What follows the envelope is the action's argument: a reason for reject/warn/hold/discard
# ("5.7.1 message content rejected"), else the action's operand:
# 4104E3D: milter-header-redirect: header X-Spam-Status: Yes ... helo=<ecsolved.com>: tom@example.com
# 48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 ... helo=<mx2.example.org>: X-Spam-Status: Yes
_ACTION_ARGUMENT = {
    "redirect": "redirect_to", "milter-redirect": "redirect_to", "milter-header-redirect": "redirect_to",
    "bcc": "bcc_to", "prepend": "prepend", "replace": "replacement", "filter": "filter",
}


def parse_cleanup(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    m = RE_MESSAGE_ID.match(msg)
    if m is not None:
        v = m.group("v").strip()
        if v[-2:] == '>"':          # real-world damage: a stray quote after the id
            v = v[:-1]
        elif v[:1] == "<" and ">" not in v:     # cut by the syslog line length: <DM2PR08...@DM2PR0801MB602.namp
            v = v[1:]
        doc["message_id" if m.group("key") == "message-id" else "resent_message_id"] = addr(v)
        return "cleanup.message_id" if m.group("key") == "message-id" else "cleanup.resent_message_id"
    action = level
    rest = msg
    if level is None:
        word, sep, tail = msg.partition(": ")
        if sep and word in _ACTION_WORDS:
            action, rest = word, tail
    if action is not None and (rest.startswith("header ") or rest.startswith("body ")):
        c = RE_CHECK.match(rest)
        if c is not None:
            doc["action"] = action
            doc["check"] = c.group("check")
            doc["content"] = c.group("content")
            source = c.group("source")
            if not client_from(doc, source):
                doc["source"] = source
            envelope_into(doc, c.group("env"))
            text = c.group("text")
            if text is not None:
                field = _ACTION_ARGUMENT.get(action)
                if field is None:
                    reason_into(doc, text)
                else:
                    doc[field] = addr(text) if field in ("redirect_to", "bcc_to") else text
            return "cleanup." + action.replace("-", "_")
    if level is None:
        a = RE_ACTION.match(msg)        # milter-reject: END-OF-MESSAGE from x[1.2.3.4]: 5.7.1 ...
        if a is not None:
            return fill_action(doc, a, "cleanup")
    if msg == "queue file size limit exceeded" or msg == "message file too big":
        return "cleanup.size_limit_exceeded"
    return None


# the usual message-id line, in one match (a shape, see SHAPES in parsers/postfix/__init__.py):
# what parse_cleanup would read, with nothing to repair
RE_PLAIN_MESSAGE_ID = re.compile(QUEUE_ID_PREFIX + r"message-id=<([^>]*)>\Z")


def _message_id(msg: str, doc: Doc) -> Optional[str]:
    m = RE_PLAIN_MESSAGE_ID.match(msg)
    if m is None:
        return None
    doc["queue_id"], doc["message_id"] = m.groups()
    return "cleanup.message_id"


SHAPES: Shapes = {"cleanup": ({}, _message_id)}

DAEMONS = {"cleanup": parse_cleanup}
