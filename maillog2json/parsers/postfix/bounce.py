"""bounce(8): the notices Postfix sends back, each a new message with its own queue id."""

from __future__ import annotations

import re
from typing import Optional

from maillog2json.parsers.postfix.grammar import QUEUE_ID, Doc

# 17CCA8044: sender non-delivery notification: ADD2F8052
# 264FE1A18: sender delay notification: 0A87A1A08
# 65AFB8B5: sender delivery status notification: 1DF35917
# 482E4404AC8: postmaster non-delivery notification: 47335405A44
RE_NOTICE = re.compile(r"(?P<notice_to>sender|postmaster) (?P<notice>non-delivery|delay|delivery status|success)"
                       r" notification: (?P<bounce_queue_id>" + QUEUE_ID + r")\Z")

# fatal: append file defer 3lyw0Z2NdSz2xGb: No space left on device     (the message's logfile in defer/)
# warning: lock trace 4E5F61642D1: Resource temporarily unavailable
RE_LOGFILE_ERROR = re.compile(r"(?P<operation>append file|lock|open|read|write|close|flush) "
                              r"(?P<logfile>bounce|defer|trace) (?P<qid>" + QUEUE_ID + r"): ")

_NOTICE_NAMES = {"non-delivery": "non_delivery", "delay": "delay", "delivery status": "success", "success": "success"}


def parse_bounce(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    if level is None:
        m = RE_NOTICE.match(msg)
        if m is not None:
            doc["notice_to"] = m.group("notice_to")
            doc["notice"] = _NOTICE_NAMES[m.group("notice")]
            doc["bounce_queue_id"] = m.group("bounce_queue_id")
            return "bounce.notice"
        return None
    m = RE_LOGFILE_ERROR.match(msg)
    if m is not None and doc.get("queue_id") is None:
        # the failure concerns that message: keep its queue id (the kind stays bounce.<level>)
        doc["queue_id"] = m.group("qid")
        doc["logfile"] = m.group("logfile")
    return None


DAEMONS = {"bounce": parse_bounce, "defer": parse_bounce, "trace": parse_bounce}
