"""Postfix: every daemon's lines. One module per daemon family, one registry here.

A Postfix message text is ``[level: ][QUEUEID: ][level: ]text``; the prefixes are read
here once, then the daemon's handler (found by name in :data:`DAEMONS`) reads the text.
The commonest kinds of line are read before that, each by one pattern (:data:`SHAPES`).
What no handler recognises but has a level (warning, error, fatal, panic) is still a
typed ``<daemon>.<level>`` event with its text; a per-recipient ``to=..., status=``
line is understood whichever daemon wrote it. Every line with a level keeps its
``text`` (the message after the prefixes), also when a rule typed it further.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from maillog2json.parsers.postfix import (
    bounce, cleanup, delivery, misc, pickup, postscreen, postsuper, qmgr, smtpd,
)
from maillog2json.parsers.postfix.grammar import Doc, Shapes

Handler = Callable[[str, Doc, Optional[str]], Optional[str]]

LEVELS = frozenset(("warning", "error", "fatal", "panic", "info"))
_HEX = "0123456789ABCDEF"

DAEMONS: dict[str, Optional[Handler]] = {}
for _module in (smtpd, postscreen, cleanup, qmgr, delivery, bounce, pickup, postsuper, misc):
    DAEMONS.update(_module.DAEMONS)

# The per-line fast path, tried before anything else: daemon -> (shapes by the first 4
# characters of the message, the shape of the daemon's "QUEUEID: ..." lines). A shape reads
# one common kind of line (queue-id prefix included) with a single pattern and fills the
# fields exactly as the general path below would (same fields, same order); it returns None,
# having set nothing, when the line is not that shape, and the general path then reads it.
# Only shapes that the daemon's handler would itself try first for such a text may be listed
# (first match wins), and none that may start with a level.
SHAPES: Shapes = {}
for _module in (smtpd, postscreen, cleanup, qmgr, delivery):
    SHAPES.update(_module.SHAPES)

# Lines any daemon writes (msg_info from the shared libraries):
# table hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix) has changed -- restarting
RE_TABLE_CHANGED = re.compile(r"table (?P<table>\S+) has changed -- restarting\Z")

# When the daemon is unknown (RFC 5424 with app-name "postfix"), these are tried in turn;
# the most frequent kinds of line come first.
_GUESS_ORDER = ("qmgr", "smtpd", "cleanup", "smtp", "bounce", "pickup", "postscreen", "postsuper", "master",
                "postfix-script", "anvil", "scache", "verify")


def parse(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    """Fill ``doc`` from a Postfix message text; return the kind, or None if not understood."""
    shapes = SHAPES.get(daemon)     # type: ignore[arg-type]  # (no daemon: no shapes)
    if shapes is not None:
        by_start, queued = shapes
        shape = by_start.get(msg[:4], queued)
        if shape is not None:
            kind = shape(msg, doc)
            if kind is not None:
                return kind
    # The lines no shape took. "[level: ][QUEUEID: ][level: ]": read with str.find, not a
    # pattern. A queue id is QUEUE_ID: 6+ upper-case hex characters (short ids) or 12+ ASCII
    # letters and digits (long ids), or NOQUEUE.
    level = None
    i = msg.find(": ", 0, 24)
    if i > 0:
        head = msg[:i]
        if head in LEVELS:
            level = head
            msg = msg[i + 2:]
            i = msg.find(": ", 0, 24)
            head = msg[:i] if i > 0 else ""
        if i > 0 and (head == "NOQUEUE" or (len(head) >= 6 and not head.strip(_HEX))
                      or (len(head) >= 12 and head.isascii() and head.isalnum())):
            if head != "NOQUEUE":
                doc["queue_id"] = head
            msg = msg[i + 2:]
            if level is None:
                j = msg.find(": ", 0, 9)
                if j > 0 and msg[:j] in LEVELS:
                    level = msg[:j]
                    msg = msg[j + 2:]
        if level is not None:
            doc["level"] = level

    if daemon is None:
        kind = _guess(msg, doc, level)
        daemon = "postfix"
    else:
        handler = DAEMONS.get(daemon)
        kind = handler(msg, doc, level) if handler is not None else None
    if kind is not None:
        if level is not None and "text" not in doc:
            doc["text"] = msg
        return kind
    if level is None:
        if ", status=" in msg:
            kind = delivery.parse_delivery_line(msg, doc)
            if kind is not None:
                return kind
        elif msg.startswith("table "):
            m = RE_TABLE_CHANGED.match(msg)
            if m is not None:
                doc["table"] = m.group("table")
                return daemon.replace("-", "_") + ".table_changed"
    if level is not None:
        doc["text"] = msg
        return daemon.replace("-", "_") + "." + level
    return None


def _guess(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    for name in _GUESS_ORDER:
        handler = DAEMONS[name]
        if handler is None:
            continue
        trial: Doc = {}
        kind = handler(msg, trial, level)
        if kind is not None:
            doc.update(trial)
            return kind
    return None


def is_postfix_daemon(name: str) -> bool:
    return name in DAEMONS
