"""The message tracker: line documents in, one message document per message out.

A *message* is one piece of mail's life on one host. It starts at ``smtpd client=``,
``pickup uid=`` (or the first line seen for a queue id) and may pass through several
queue ids on that host, which are joined into the same message:

* after-queue content filters and relays to a second instance: ``status=sent (250 ...
  queued as NEWID)`` where NEWID is logged by the same host, and XFORWARD's
  ``orig_queue_id=`` on the re-injecting smtpd's ``client=`` line;
* before-queue proxies: ``proxy-accept: END-OF-MESSAGE: ... queued as NEWID``;
* local(8) forwarding: ``status=sent (forwarded as NEWID)``;
* ``postsuper -r``: ``postsuper: OLD: requeued`` then ``pickup: NEW: ... orig_id=OLD``;
  MailScanner taking a held message back to Postfix: ``MailScanner: Requeue: OLD to NEW``.

Bounce, delay and success notices are messages of their own, linked both ways
(``bounce_of`` / ``bounces``).

A message ends with ``qmgr: removed``, ``postsuper: removed`` (deleted), a reject or
discard by cleanup, or an over-size abort; it is written after a short *linger* in log
time, so lines that belong to it but come a moment later (a notice, a hop's link) are
still joined. Recipients rejected during the SMTP session before the queue file
existed (``NOQUEUE: reject: RCPT``) belong to the message the same session queues
next (same smtpd process, same sender); a transaction whose every recipient was
rejected gives a message document of its own with status ``rejected`` and no queue id.

Filter verdicts (amavisd-new, OpenDKIM, OpenDMARC, policyd-spf, postgrey, spamd, rspamd,
clamav-milter, MailScanner) join the message they judged, as its ``filters``: by the Postfix queue id the
filter logs (amavis's ``Queue-ID``, then its ``queued_as``), else by Message-ID; the policy
servers, which answer during the SMTP session before there is a queue id, by the client's
address to the open smtpd session of that host, whose message (or rejected transaction) then
takes them. A verdict logged before its message is held a while (``PENDING_WINDOW``).

Memory is bounded: at most ``max_inflight`` messages and sessions, and none older
than ``expire_after`` seconds of log time; what is evicted is written with
``complete: false`` (and counted), never dropped. The whole state can be saved to a
file and restored, so a log read in two runs gives the same message documents as one.

Sendmail and qmail lines go to their own trackers (:mod:`maillog2json.correlate_sendmail`),
which share the output list, the counters, expiry and the state file; the Postfix path
does not look at them.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any, Callable, Optional

from maillog2json.state import read_state, write_state

Doc = dict[str, Any]

CLOCK_STEP_BACK = 3600.0     # log time going back further than this starts a new timeline
LOOPBACK_PREFIXES = ("127.", "::1", "::ffff:127.")
PENDING_WINDOW = 300.0       # log seconds a verdict waits for a message not yet in view

# delivery status -> recipient outcome
_FINAL = {
    "sent": "sent",
    "bounced": "bounced",
    "undeliverable": "bounced",
    "undeliverable-but-not-cached": "bounced",
    "deferred": "deferred",
    "expired": "expired",
    "deliverable": "sent",
}


_EPOCHS: dict[str, float] = {}     # a small memo: lines of one second share their timestamp


def _epoch(ts: Optional[str]) -> Optional[float]:
    if ts is None:
        return None
    _cache = _EPOCHS
    v = _cache.get(ts)
    if v is None:
        try:
            v = datetime.fromisoformat(ts).timestamp()
        except ValueError:
            return None
        if len(_cache) > 256:
            _cache.clear()
        _cache[ts] = v
    return v


def _is_loopback(ip: Optional[str]) -> bool:
    return bool(ip) and ip.startswith(LOOPBACK_PREFIXES)  # type: ignore[union-attr]


# -- filter verdicts ------------------------------------------------------------------------
# A verdict is one entry of a message's ``filters`` (docs/schema.md, "Filter verdicts"):
# program, check, kind, timestamp, result and/or action, then the verdict's own fields.
_RE_SPF_WORD = re.compile(r"\bSPF (pass|fail|softfail|neutral|none|temperror|permerror)\b", re.IGNORECASE)
_RE_WHY_IP = re.compile(r"[?;&]ip=([0-9A-Fa-f:.]+)")


def _lower(v: Any) -> Optional[str]:
    return v.lower() if isinstance(v, str) and v else None


def _spam(d: Doc) -> Optional[str]:
    v = d.get("is_spam")
    return None if v is None else ("spam" if v else "clean")


def _spf_answer(d: Doc) -> Optional[str]:
    if d.get("spf_result"):         # the parser read it from the answer's explanation
        return d["spf_result"]
    m = _RE_SPF_WORD.search(d.get("reason") or "")
    return m.group(1).lower() if m else None


def _dkim_signature(d: Doc) -> Optional[str]:
    """OpenDKIM's per-signature result text (``LogResults``) -> the DKIM result."""
    text = d.get("result")
    if not text:
        return None
    if text == "no signature error":
        return "pass"
    return "temperror" if text in ("key DNS query failed", "key unavailable") else "fail"


_AMAVIS = (("hits", "score"), ("virus", "virus"), ("banned", "banned"), ("detail", "detail"),
           ("quarantine", "quarantine"))
_DKIM = (("domain", "domain"), ("selector", "selector"), ("error", "error"), ("reason", "reason"))
_SPAM = (("score", "score"), ("required_score", "required"), ("symbols", "symbols"))
_SPF_ANSWER = (("code", "code"), ("dsn", "dsn"), ("reason", "reason"), ("identity", "identity"), ("from", "from"),
               ("helo", "helo"))
_GREY = (("reason", "reason"), ("delay", "delay"), ("from", "from"), ("to", "to"))
_MAILSCANNER = (*_SPAM, ("spam_reason", "reason"))
# kind -> (program, check, matched through the smtpd session?, (native field, entry field)...,
#          line document -> (result, action))
VERDICTS: dict[str, tuple[str, str, bool, tuple[tuple[str, str], ...],
                           Callable[[Doc], tuple[Optional[str], Optional[str]]]]] = {
    "amavis.passed": ("amavis", "content", False, _AMAVIS, lambda d: (_lower(d.get("content_category")), "passed")),
    "amavis.blocked": ("amavis", "content", False, _AMAVIS, lambda d: (_lower(d.get("content_category")), "blocked")),
    "opendkim.signed": ("opendkim", "dkim", False, _DKIM, lambda d: (None, "signed")),
    "opendkim.verified": ("opendkim", "dkim", False, _DKIM, lambda d: ("pass", None)),
    "opendkim.ssl_error": ("opendkim", "dkim", False, _DKIM, lambda d: ("fail", None)),
    "opendkim.bad_signature": ("opendkim", "dkim", False, _DKIM, lambda d: ("fail", None)),
    "opendkim.key_retrieval_failed": ("opendkim", "dkim", False, _DKIM, lambda d: ("temperror", None)),
    "opendkim.no_signature": ("opendkim", "dkim", False, _DKIM, lambda d: ("none", None)),
    "opendkim.signature": ("opendkim", "dkim", False,
                           (("domain", "domain"), ("selector", "selector"), ("signature", "signature"),
                            ("result", "reason")), lambda d: (_dkim_signature(d), None)),
    "opendkim.key_revoked": ("opendkim", "dkim", False, _DKIM, lambda d: ("fail", None)),
    "opendmarc.result": ("opendmarc", "dmarc", False, (("from_domain", "domain"),),
                         lambda d: (_lower(d.get("dmarc_result")), None)),
    "opendmarc.spf": ("opendmarc", "spf", False, (("domain", "domain"), ("spf_identity", "identity")),
                      lambda d: (_lower(d.get("spf_result")), None)),
    "policyd_spf.result": ("policyd_spf", "spf", True,
                           (("identity", "identity"), ("mechanism", "mechanism"), ("from", "from"), ("helo", "helo")),
                           lambda d: (_lower(d.get("spf_result")), d.get("action"))),
    "policyd_spf.reject": ("policyd_spf", "spf", True, _SPF_ANSWER, lambda d: (_spf_answer(d), "reject")),
    "policyd_spf.defer": ("policyd_spf", "spf", True, _SPF_ANSWER, lambda d: (_spf_answer(d), "defer")),
    "postgrey.greylist": ("postgrey", "greylist", True, _GREY, lambda d: (None, "greylist")),
    "postgrey.pass": ("postgrey", "greylist", True, _GREY, lambda d: (None, "pass")),
    "spamd.result": ("spamd", "spam", False, _SPAM, lambda d: (_spam(d), None)),
    "rspamd.result": ("rspamd", "spam", False, _SPAM, lambda d: (_spam(d), d.get("action"))),
    "mailscanner.spam": ("mailscanner", "spam", False, _MAILSCANNER, lambda d: ("spam", None)),
    "mailscanner.not_spam": ("mailscanner", "spam", False, _MAILSCANNER, lambda d: ("clean", None)),
    "clamav.milter_infected": ("clamav", "virus", False, (("virus", "virus"),), lambda d: ("infected", None)),
}


def verdict_of(doc: Doc) -> Optional[tuple[str, Optional[str], Optional[str]]]:
    """(check, result, action) of a verdict's line document; None for a line of another kind."""
    spec = VERDICTS.get(doc["kind"])
    if spec is None:
        return None
    result, action = spec[4](doc)
    return spec[1], result, action


def verdict_entry(doc: Doc) -> dict[str, Any]:
    """The ``filters`` entry for a verdict's line document (a kind of ``VERDICTS``)."""
    program, check, _, fields, decide = VERDICTS[doc["kind"]]
    e: dict[str, Any] = {"program": program, "check": check, "kind": doc["kind"], "timestamp": doc["timestamp"]}
    result, action = decide(doc)
    if result is not None:
        e["result"] = result
    if action is not None:
        e["action"] = action
    for src, dst in fields:
        v = doc.get(src)
        if v is not None:
            e[dst] = v
    return e


class SlotState:
    """Plain-data state of a ``__slots__`` class for the state file (``--state``): every slot
    (its own and its bases') by name; a slot missing from an older state file comes back as
    ``[]`` (the lists added since, like ``filters``)."""

    __slots__: tuple[str, ...] = ()
    _state_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._state_fields = tuple(name for c in reversed(cls.__mro__) for name in c.__dict__.get("__slots__", ()))

    def to_state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._state_fields}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Any:
        obj = cls.__new__(cls)
        for k in cls._state_fields:
            setattr(obj, k, d.get(k, []))
        return obj


class InFlight(SlotState):
    """What every MTA's message in flight holds: Postfix's :class:`Message` and Sendmail's and
    qmail's ``MtaMessage`` (maillog2json.correlate_sendmail) add their own fields to it."""

    __slots__ = ("host", "queue_ids", "first_seen", "last_seen", "last_epoch", "first_line_id", "message_id",
                 "sender", "size", "nrcpt", "client", "origin", "uid", "events", "flags", "reason", "links",
                 "lines", "done", "complete", "deadline")

    def __init__(self, host: Optional[str], qid: str, doc: Doc) -> None:
        self.host = host
        self.queue_ids: list[str] = [qid]
        self.first_seen = doc["timestamp"]
        self.last_seen = doc["timestamp"]
        self.last_epoch = _epoch(doc["timestamp"]) or 0.0
        self.first_line_id = doc["_id"]
        self.message_id: Optional[str] = None
        self.sender: Optional[str] = None
        self.size: Optional[int] = None
        self.nrcpt: Optional[int] = None
        self.client: dict[str, Any] = {}
        self.origin: Optional[str] = None
        self.uid: Optional[int] = None
        self.events: list[dict[str, Any]] = []      # recipient events in log order
        self.flags: dict[str, Any] = {}             # held, rejected, discarded, deleted, expired...
        self.reason: Optional[str] = None
        self.links: dict[str, Any] = {}
        self.lines = 0
        self.done = False
        self.complete = False
        self.deadline = 0.0


class Message(InFlight):
    """Mutable state of one Postfix message while it is in flight (plain data, for snapshots)."""

    __slots__ = ("live", "handoffs", "mailbox", "pending_rejects", "session_key", "filters")

    def __init__(self, host: Optional[str], qid: str, doc: Doc) -> None:
        super().__init__(host, qid, doc)
        self.live: list[str] = [qid]           # queue ids not yet removed
        self.handoffs: dict[str, list[str]] = {}    # child qid -> parent recipient addresses
        self.mailbox: list[dict[str, Any]] = []     # Dovecot saves
        self.pending_rejects: list[dict[str, Any]] = []
        self.session_key: Optional[str] = None
        self.filters: list[dict[str, Any]] = []     # filter verdicts (amavis, milters, policy servers...)



class Session(SlotState):
    """An smtpd connection: the client, and rejects waiting for the message they belong to."""

    __slots__ = ("host", "pid", "client", "helo", "tls", "rejects", "actions", "last_epoch", "first_line_id",
                 "last_seen", "current", "filters")

    def __init__(self, host: Optional[str], pid: Optional[int], doc: Doc) -> None:
        self.host = host
        self.pid = pid
        self.client: dict[str, Any] = {}
        self.helo: Optional[str] = None
        self.tls: Optional[dict[str, Any]] = None
        self.rejects: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.last_epoch = _epoch(doc["timestamp"]) or 0.0
        self.first_line_id = doc["_id"]
        self.last_seen = doc["timestamp"]
        self.current: Optional[str] = None      # queue id of the transaction in progress
        self.filters: list[dict[str, Any]] = []  # policy servers' verdicts waiting for the message



def _key(host: Optional[str], qid: str) -> str:
    return f"{host}\x00{qid}"


class MessageTracker:
    """Correlates line documents into message documents (see the module docstring)."""

    def __init__(self, expire_after: float = 7 * 86400, max_inflight: int = 100_000, linger: float = 2.0,
                 stats: Any = None) -> None:
        self.expire_after = expire_after
        self.max_inflight = max_inflight
        self.linger = linger
        self.stats = stats
        self.messages: OrderedDict[str, Message] = OrderedDict()   # by (host, qid), oldest activity first
        self.sessions: OrderedDict[str, Session] = OrderedDict()   # by (host, smtpd pid)
        self.by_message_id: dict[str, Message] = {}                # (host, message-id) -> latest message
        self.pending_links: dict[str, tuple[str, str]] = {}        # child key -> (parent key, link kind)
        self.lingering: OrderedDict[int, Message] = OrderedDict()  # done, waiting out the linger
        self.qmgr_pids: dict[str, Optional[int]] = {}     # host -> qmgr pid (for daemon-less logs)
        self.notices: dict[str, dict[str, Any]] = {}               # notice key -> its original, until it shows
        self.counters = {"messages": 0, "incomplete": 0, "expired": 0, "evicted": 0, "rejected_sessions": 0,
                         "merged_hops": 0, "mailbox_unmatched": 0, "without_queue_id": 0}
        self._now = 0.0
        self._last_ts: Optional[str] = None
        self._out: list[Doc] = []
        self._handlers: dict[str, Callable[[Doc], None]] = {
            "smtpd.client": self._client,
            "pickup.submit": self._pickup,
            "cleanup.message_id": self._message_id,
            "qmgr.queued": self._queued,
            "delivery": self._delivery,
            "qmgr.removed": self._removed,
            "qmgr.expired": self._expired,
            "postsuper.removed": self._deleted,
            "postsuper.requeued": self._requeued,
            "mailscanner.requeue": self._mailscanner_requeue,
            "postsuper.held": self._held,
            "postsuper.released": self._released,
            "bounce.notice": self._bounce_notice,
            "smtpd.connect": self._connect,
            "smtpd.disconnect": self._disconnect,
            "smtpd.lost_connection": self._lost,
            "smtpd.timeout": self._lost,
            "smtpd.tls": self._session_tls,
            "smtpd.reject": self._smtpd_action,
            "smtpd.hold": self._smtpd_action,
            "smtpd.discard": self._smtpd_action,
            "smtpd.milter_reject": self._smtpd_action,
            "smtpd.milter_discard": self._smtpd_action,
            "smtpd.milter_hold": self._smtpd_action,
            "smtpd.filter": self._smtpd_action,
            "smtpd.redirect": self._smtpd_action,
            "smtpd.proxy_accept": self._proxy_accept,
            "smtpd.proxy_reject": self._proxy_reject,
            "smtpd.size_limit_exceeded": self._size_limit,
            "cleanup.size_limit_exceeded": self._size_limit,
            "cleanup.reject": self._cleanup_action,
            "cleanup.discard": self._cleanup_action,
            "cleanup.hold": self._cleanup_action,
            "cleanup.milter_reject": self._cleanup_action,
            "cleanup.milter_discard": self._cleanup_action,
            "cleanup.milter_hold": self._cleanup_action,
            "cleanup.redirect": self._cleanup_action,
            "dovecot.saved": self._mailbox,
            "dovecot.save_failed": self._mailbox,
        }
        # filter verdicts (amavis, milters, policy servers, spam and virus scanners): see _filter
        for _kind in VERDICTS:
            self._handlers.setdefault(_kind, self._filter)
        self.pending_filters: OrderedDict[str, list[Any]] = OrderedDict()  # line _id -> [epoch, keys, entry]
        self._pending_index: dict[str, list[str]] = {}                     # "q"/"m" key -> line _ids
        self.counters.setdefault("filters", 0)
        self.counters.setdefault("filters_unmatched", 0)
        # other MTAs (maillog2json.correlate_sendmail): their kinds go to their own trackers,
        # which write into the same output list and counters
        from maillog2json.correlate_sendmail import QmailTracker, SendmailTracker
        from maillog2json.parsers import qmail as _qmail, sendmail as _sendmail
        args = (self._out_append, self.counters, expire_after, max_inflight, linger)
        self.sendmail = SendmailTracker(*args)
        self.qmail = QmailTracker(*args)
        self._subtrackers = (self.sendmail, self.qmail)
        for _kinds, _sub in ((_sendmail.KINDS, self.sendmail), (_qmail.KINDS, self.qmail)):
            for _kind in _kinds:
                self._handlers[_kind] = _sub.feed

    def _out_append(self, doc: Doc) -> None:
        self._out.append(doc)

    # ------------------------------------------------------------------ entry points
    def feed(self, doc: Doc) -> list[Doc]:
        """Take one line document; return the message documents that ended with it."""
        ts = doc["timestamp"]
        if ts is not None and ts != self._last_ts:      # log time moved: expiries may be due
            self._last_ts = ts
            e = _epoch(ts)
            if e is not None:
                self._advance(e)
        handler = self._handlers.get(doc["kind"])
        if handler is not None:
            handler(doc)
        elif doc["queue_id"] is not None:
            msg = self._get(doc)
            if msg is not None:
                self._touch(msg, doc)
        return self._drain() if self._out else []

    def finish(self) -> list[Doc]:
        """End of input: everything still held is written (in-flight ones as incomplete)."""
        for msg in list(self.lingering.values()):
            self._emit(msg)
        self.lingering.clear()
        for key in list(self.sessions):
            self._close_session(key)
        seen: set[int] = set()
        for msg in list(self.messages.values()):
            if id(msg) not in seen:
                seen.add(id(msg))
                self._emit(msg)
        self.messages.clear()
        self.by_message_id.clear()
        self.pending_links.clear()
        self.counters["filters_unmatched"] += len(self.pending_filters)
        self.pending_filters.clear()
        self._pending_index.clear()
        for sub in self._subtrackers:
            sub.finish()
        return self._drain()

    # ------------------------------------------------------------------ bookkeeping
    def _drain(self) -> list[Doc]:
        if not self._out:
            return []
        out = self._out
        self._out = []
        return out

    def _advance(self, now: float) -> None:
        if now > self._now:
            self._now = now
        elif now < self._now - CLOCK_STEP_BACK:
            self._rebase(now)
        now = self._now
        lingering = self.lingering
        while lingering:
            k, msg = next(iter(lingering.items()))
            if msg.deadline > now:
                break
            del lingering[k]
            self._emit(msg)
        limit = now - self.expire_after
        messages = self.messages
        while messages:
            key, msg = next(iter(messages.items()))
            if msg.last_epoch >= limit:
                break
            self.counters["expired"] += 1
            self._evict(msg)
        sessions = self.sessions
        session_limit = now - min(self.expire_after, 3600.0)
        while sessions:
            key, s = next(iter(sessions.items()))
            if s.last_epoch >= session_limit:
                break
            self._close_session(key)
        pending = self.pending_filters
        while pending:
            line_id, rec = next(iter(pending.items()))
            if rec[0] >= now - PENDING_WINDOW:
                break
            self._drop_pending(line_id)
        for sub in self._subtrackers:
            if sub.messages:
                sub.advance(now)

    def _rebase(self, now: float) -> None:
        """Log time went back by more than CLOCK_STEP_BACK (a clock step, logs of two periods
        concatenated): continue from the new time. What was waiting out its linger is
        written now, and what is in flight is aged from the new time, so that expiry and the
        linger keep working instead of waiting for the old time to come round again."""
        self.counters["clock_steps_back"] = self.counters.get("clock_steps_back", 0) + 1
        self._now = now
        for msg in list(self.lingering.values()):
            self._emit(msg)
        self.lingering.clear()
        for msg in self.messages.values():
            if msg.last_epoch > now:
                msg.last_epoch = now
        for sess in self.sessions.values():
            if sess.last_epoch > now:
                sess.last_epoch = now
        for rec in self.pending_filters.values():
            rec[0] = min(rec[0], now)
        for sub in self._subtrackers:
            sub.rebase(now)

    def _evict(self, msg: Message) -> None:
        """Forced flush: write the message as it is, with complete=false."""
        for qid in msg.queue_ids:
            self.messages.pop(_key(msg.host, qid), None)
        self._emit(msg)

    def _enforce_cap(self) -> None:
        while len(self.messages) > self.max_inflight:
            key, msg = next(iter(self.messages.items()))
            self.counters["evicted"] += 1
            self._evict(msg)
        while len(self.sessions) > self.max_inflight:
            key = next(iter(self.sessions))
            self.counters["evicted"] += 1
            self._close_session(key)

    def _touch(self, msg: Message, doc: Doc) -> None:
        msg.lines += 1
        ts = doc["timestamp"]
        if ts is not None:
            msg.last_seen = ts
            msg.last_epoch = max(msg.last_epoch, _epoch(ts) or 0.0)
        for qid in msg.live:
            key = _key(msg.host, qid)
            if key in self.messages:
                self.messages.move_to_end(key)

    def _get(self, doc: Doc) -> Optional[Message]:
        qid = doc["queue_id"]
        if qid is None:
            return None
        return self.messages.get(_key(doc["host"], qid))

    def _get_or_new(self, doc: Doc, origin: Optional[str] = None) -> Optional[Message]:
        """The message of doc's queue id, started if new; None for a line without one."""
        if self._without_queue_id(doc):
            return None
        return self._get(doc) or self._new(doc, origin)

    def _without_queue_id(self, doc: Doc) -> bool:
        """A line that would start a message but carries no queue id (a damaged one) cannot
        be joined: it stays a line document only, counted, rather than start a message keyed
        by None."""
        if doc["queue_id"] is None:
            self.counters["without_queue_id"] += 1
            return True
        return False

    def _new(self, doc: Doc, origin: Optional[str]) -> Message:
        host, qid = doc["host"], doc["queue_id"]
        key = _key(host, qid)
        old = self.messages.get(key)
        if old is not None:           # a queue id logged again from the start: the old story is over
            self._evict(old)
        msg = Message(host, qid, doc)
        msg.origin = origin
        self.messages[key] = msg
        link = self.pending_links.pop(key, None)
        if link is not None:
            parent = self.messages.get(link[0])
            if parent is not None:
                self._merge(parent, msg, link[1])
                msg = parent
        if self._pending_index:
            self._claim_filters(msg, f"q\x00{host}\x00{qid}")
        if link is None or msg.queue_ids[0] == qid:
            self._enforce_cap()
        return msg

    def _finish_qid(self, msg: Message, qid: str) -> None:
        """``qid`` left the queue; the message is done when no queue id of it is left."""
        if qid in msg.live:
            msg.live.remove(qid)
        self.messages.pop(_key(msg.host, qid), None)
        if not msg.live and not msg.done:
            msg.done = True
            msg.complete = True
            if self.linger > 0:
                msg.deadline = msg.last_epoch + self.linger
                self.lingering[id(msg)] = msg
                # keep the ids reachable while lingering, so late lines still join
                for q in msg.queue_ids:
                    self.messages.setdefault(_key(msg.host, q), msg)
                    self.messages.move_to_end(_key(msg.host, q))
            else:
                self._emit(msg)

    # ------------------------------------------------------------------ merging hops
    def _link(self, parent: Message, child_qid: str, kind: str, recipients: list[str]) -> None:
        """``parent`` handed ``recipients`` to ``child_qid`` on the same host."""
        parent.handoffs.setdefault(child_qid, [])
        for r in recipients:
            if r not in parent.handoffs[child_qid]:
                parent.handoffs[child_qid].append(r)
        child_key = _key(parent.host, child_qid)
        child = self.messages.get(child_key)
        if child is parent:
            return
        if child is not None:       # in flight, or done and lingering (its ids stay reachable)
            self._merge(parent, child, kind)
            return
        self.pending_links[child_key] = (_key(parent.host, parent.queue_ids[0]), kind)

    def _merge(self, parent: Message, child: Message, kind: str) -> None:
        """Join ``child`` (a later queue id of the same mail) into ``parent``."""
        self.counters["merged_hops"] += 1
        self.lingering.pop(id(child), None)
        if kind in ("requeue", "content_filter"):
            # the whole message moved to the new queue id: every recipient goes with it
            parent.handoffs.setdefault(child.queue_ids[0], []).append("*")
        for qid in child.queue_ids:
            if qid not in parent.queue_ids:
                parent.queue_ids.append(qid)
            self.messages[_key(parent.host, qid)] = parent
        for qid in child.live:
            if qid not in parent.live:
                parent.live.append(qid)
        parent_done_now = bool(child.done) and not parent.live
        child.done = None   # type: ignore[assignment]  # consumed: never written on its own
        parent.events.extend(child.events)
        for q, addrs in child.handoffs.items():
            parent.handoffs.setdefault(q, []).extend(addrs)
        parent.mailbox.extend(child.mailbox)
        parent.pending_rejects.extend(child.pending_rejects)
        parent.filters.extend(child.filters)
        parent.lines += child.lines
        hops = parent.links.setdefault("hops", [])
        hops.append({"queue_id": child.queue_ids[0], "via": kind})
        for k, v in child.links.items():
            if k == "hops":
                hops.extend(v)
            elif isinstance(v, list):
                parent.links.setdefault(k, []).extend(v)
            else:
                parent.links.setdefault(k, v)
        for k, v in child.flags.items():
            if k not in ("held",):
                parent.flags.setdefault(k, v)
        if parent.message_id is None:
            parent.message_id = child.message_id
        if child.last_epoch > parent.last_epoch:
            parent.last_epoch = child.last_epoch
            parent.last_seen = child.last_seen
        if child.message_id is not None:
            self.by_message_id[f"{parent.host}\x00{child.message_id}"] = parent
        if parent_done_now and not parent.done:
            parent.done = True
            parent.complete = True
            parent.deadline = parent.last_epoch + self.linger
            self.lingering[id(parent)] = parent

    # ------------------------------------------------------------------ handlers
    def _client(self, doc: Doc) -> None:
        qid = doc["queue_id"]
        if qid is None:
            return
        msg = self._new(doc, "smtp")
        self._touch(msg, doc)
        if msg.queue_ids[0] != qid:          # joined a parent through a pending link
            return
        c = msg.client
        for src, dst in (("client_host", "host"), ("client_ip", "ip"), ("client_port", "port"),
                         ("sasl_method", "sasl_method"), ("sasl_username", "sasl_username")):
            v = doc.get(src)
            if v is not None:
                c[dst] = v
        if doc.get("syslog_name"):
            c["service"] = doc["syslog_name"]
        skey = f"{doc['host']}\x00{doc['pid']}"
        sess = self.sessions.get(skey)
        if sess is not None:
            if sess.helo:
                c["helo"] = sess.helo
            if sess.tls:
                c["tls"] = sess.tls
            c.setdefault("port", sess.client.get("port"))
            if c.get("port") is None:
                c.pop("port")
            if sess.rejects:
                msg.pending_rejects.extend(sess.rejects)
                sess.rejects = []
            if sess.filters:
                self._session_filters(msg, sess)
            for action in sess.actions:
                if msg.sender is None and action.get("from") is not None:
                    msg.sender = action["from"]
                if action["action"] in ("hold", "milter-hold"):
                    msg.flags["held"] = True
                elif action["action"] in ("discard", "milter-discard"):
                    msg.flags["discarded"] = action.get("reason") or True
                elif action["action"] in ("filter", "redirect"):
                    msg.flags[action["action"]] = action.get("reason")
            sess.actions = []
            sess.current = qid
            msg.session_key = skey
        orig = doc.get("orig_queue_id")
        if orig:
            c["orig_queue_id"] = orig
            parent = self.messages.get(_key(doc["host"], orig))
            if parent is not None and parent is not msg:
                self._merge(parent, msg, "content_filter")
            else:
                msg.links["orig_queue_id"] = orig

    def _pickup(self, doc: Doc) -> None:
        if self._without_queue_id(doc):
            return
        msg = self._new(doc, "pickup")
        self._touch(msg, doc)
        if doc.get("uid") is not None:
            msg.uid = doc["uid"]
        if msg.sender is None and doc.get("from") is not None:
            msg.sender = doc["from"]
        orig = doc.get("orig_id")
        if orig:
            old = self.messages.get(_key(doc["host"], orig))
            if old is not None and old is not msg:
                # postsuper -r: the old queue id was waiting for this
                if orig in old.live:
                    old.live.remove(orig)
                old.links.setdefault("requeued_as", []).append(doc["queue_id"])
                self._merge(old, msg, "requeue")
            else:
                msg.links["requeued_from"] = orig

    def _message_id(self, doc: Doc) -> None:
        msg = self._get_or_new(doc, None)
        if msg is None:
            return
        self._touch(msg, doc)
        mid = doc.get("message_id")
        if msg.message_id is None:
            msg.message_id = mid
        if mid:
            self.by_message_id[f"{msg.host}\x00{mid}"] = msg
            if self._pending_index:
                self._claim_filters(msg, f"m\x00{msg.host}\x00{mid}")

    def _queued(self, doc: Doc) -> None:
        self.qmgr_pids[str(doc["host"])] = doc["pid"]
        msg = self._get_or_new(doc, None)
        if msg is None:
            return
        self._touch(msg, doc)
        if doc.get("from") is not None and (msg.sender is None or "@" not in msg.sender):
            msg.sender = doc["from"]
        if msg.queue_ids[0] == doc["queue_id"] or msg.size is None:
            if doc.get("size") is not None:
                msg.size = doc["size"]
            if doc.get("nrcpt") is not None:
                msg.nrcpt = doc["nrcpt"]
        if "held" in msg.flags:
            msg.flags["released"] = True

    def _delivery(self, doc: Doc) -> None:
        msg = self._get_or_new(doc, None)
        if msg is None:
            return
        self._touch(msg, doc)
        ev = {
            "kind": "delivery",
            "timestamp": doc["timestamp"],
            "queue_id": doc["queue_id"],
            "daemon": doc["daemon"],
            "to": doc.get("to"),
            "orig_to": doc.get("orig_to"),
            "status": doc.get("status"),
            "dsn": doc.get("dsn"),
            "relay": doc.get("relay"),
            "delay": doc.get("delay"),
            "delays": doc.get("delays"),
            "reply": doc.get("reply"),
        }
        msg.events.append(ev)
        child = doc.get("queued_as") or doc.get("forwarded_as")
        if child and doc.get("status") == "sent":
            ev["handoff"] = child
            via = "forward" if doc.get("forwarded_as") else "relay"
            self._link(msg, child, via, [doc.get("to") or ""])
            if via == "forward":
                msg.links.setdefault("forwarded_as", []).append(child)

    def _removed(self, doc: Doc) -> None:
        if doc["daemon"] is None and doc["pid"] != self.qmgr_pids.get(str(doc["host"]), doc["pid"]):
            # RFC 5424 logs without the daemon name: "QID: removed" from a pid that is not the
            # queue manager's is postsuper deleting the message (the line document is left as
            # the parser read it, so --emit lines and --emit all agree)
            return self._deleted(doc)
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        self._finish_qid(msg, doc["queue_id"])

    def _expired(self, doc: Doc) -> None:
        msg = self._get_or_new(doc, None)
        if msg is None:
            return
        self._touch(msg, doc)
        msg.flags["expired"] = doc.get("status") or "expired"
        if msg.sender is None and doc.get("from") is not None:
            msg.sender = doc["from"]

    def _deleted(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        msg.flags["deleted"] = True
        self._finish_qid(msg, doc["queue_id"])

    def _requeued(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        msg.flags["requeued"] = True   # the queue id stays live until pickup's orig_id= names it

    def _mailscanner_requeue(self, doc: Doc) -> None:
        """MailScanner moved the held queue file (``queue_id``) into Postfix's incoming queue
        under a new queue id (``queued_as``): one message, linked like ``postsuper -r``."""
        msg = self._get(doc)
        new = doc.get("queued_as")
        if msg is None or not new:
            return
        self._touch(msg, doc)
        old = doc["queue_id"]
        if old in msg.live:             # MailScanner deleted the old file: no "removed" comes for it
            msg.live.remove(old)
        if "held" in msg.flags:
            msg.flags["released"] = True
        msg.links.setdefault("requeued_as", []).append(new)
        self._link(msg, new, "requeue", [])

    def _held(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is not None:
            self._touch(msg, doc)
            msg.flags["held"] = True

    def _released(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is not None:
            self._touch(msg, doc)
            msg.flags["released"] = True

    def _bounce_notice(self, doc: Doc) -> None:
        msg = self._get(doc)
        notice_qid = doc.get("bounce_queue_id")
        if msg is None or not notice_qid:
            return
        self._touch(msg, doc)
        entry = {"queue_id": notice_qid, "notice": doc.get("notice")}
        msg.links.setdefault("bounces", []).append(entry)
        notice = self.messages.get(_key(msg.host, notice_qid))
        if notice is not None and notice is not msg:
            notice.links["bounce_of"] = {"queue_id": msg.queue_ids[0], "message_id": msg.message_id,
                                         "notice": doc.get("notice")}
            if notice.origin is None:
                notice.origin = "bounce"
        else:
            # the notice's first line may come later: remember the link for it
            self.notices[_key(msg.host, notice_qid)] = {
                "queue_id": msg.queue_ids[0], "message_id": msg.message_id, "notice": doc.get("notice")}

    # -- smtpd sessions -------------------------------------------------------------
    def _session(self, doc: Doc, create: bool = True) -> Optional[Session]:
        key = f"{doc['host']}\x00{doc['pid']}"
        s = self.sessions.get(key)
        if s is None and create:
            s = self.sessions[key] = Session(doc["host"], doc["pid"], doc)
            self._enforce_cap()
        elif s is not None:
            self.sessions.move_to_end(key)
            s.last_epoch = _epoch(doc["timestamp"]) or s.last_epoch
            s.last_seen = doc["timestamp"]
        return s

    def _connect(self, doc: Doc) -> None:
        key = f"{doc['host']}\x00{doc['pid']}"
        if key in self.sessions:
            self._close_session(key)
        s = self._session(doc)
        assert s is not None
        s.client = {"host": doc.get("client_host"), "ip": doc.get("client_ip")}
        if doc.get("client_port") is not None:
            s.client["port"] = doc["client_port"]

    def _disconnect(self, doc: Doc) -> None:
        key = f"{doc['host']}\x00{doc['pid']}"
        if key in self.sessions:
            self._close_session(key)

    def _lost(self, doc: Doc) -> None:
        """The client went away in the middle of DATA: smtpd discards the queue file, and
        qmgr never hears of the message."""
        if doc.get("stage") not in ("DATA", "BDAT"):
            return
        s = self._session(doc, create=False)
        if s is None or s.current is None:
            return
        qid = s.current
        s.current = None
        msg = self.messages.get(_key(doc["host"], qid))
        if msg is None or msg.size is not None or msg.done:
            return
        self._touch(msg, doc)
        what = "lost connection" if doc["kind"] == "smtpd.lost_connection" else "timeout"
        msg.flags["aborted"] = f"{what} after {doc['stage']}"
        msg.reason = msg.flags["aborted"] + (f" ({doc['bytes']} bytes)" if doc.get("bytes") is not None else "")
        self._finish_qid(msg, qid)

    def _session_tls(self, doc: Doc) -> None:
        s = self._session(doc)
        if s is not None:
            s.tls = {k[4:]: doc[k] for k in ("tls_version", "tls_cipher", "tls_trust") if doc.get(k) is not None}

    def _reject_event(self, doc: Doc) -> dict[str, Any]:
        return {
            "kind": "reject",
            "timestamp": doc["timestamp"],
            "queue_id": doc["queue_id"],
            "daemon": doc["daemon"],
            "action": doc.get("action"),
            "to": doc.get("to"),
            "from": doc.get("from"),
            "stage": doc.get("stage"),
            "code": doc.get("code"),
            "dsn": doc.get("dsn"),
            "reason": doc.get("reason"),
            "reason_target": doc.get("reason_target"),
            "helo": doc.get("helo"),
            "client": {"host": doc.get("client_host"), "ip": doc.get("client_ip")},
            "line_id": doc["_id"],
        }

    def _smtpd_action(self, doc: Doc) -> None:
        action = doc.get("action")
        if doc["queue_id"] is not None:
            msg = self._get(doc)
            if msg is not None:
                self._touch(msg, doc)
                if action in ("reject", "milter-reject"):
                    msg.events.append(self._reject_event(doc))
                    if not (doc.get("stage") == "RCPT" and doc.get("to")):
                        # not one recipient but the whole transaction (DATA, END-OF-MESSAGE ...)
                        msg.flags["rejected"] = True
                        msg.reason = doc.get("reason")
                        if doc.get("stage") in ("DATA", "END-OF-MESSAGE", "BDAT"):
                            self._finish_qid(msg, doc["queue_id"])
                elif action in ("hold", "milter-hold"):
                    msg.flags["held"] = True
                elif action in ("discard", "milter-discard"):
                    msg.flags["discarded"] = doc.get("reason") or True
                if doc.get("helo"):
                    msg.client.setdefault("helo", doc["helo"])
                if msg.sender is None and doc.get("from") is not None:
                    msg.sender = doc["from"]    # RFC 5424 without the daemon: cleanup's milter-reject reads as smtpd's
                return
        s = self._session(doc)
        if s is None:
            return
        if doc.get("helo"):
            s.helo = doc["helo"]
        if not s.client:
            s.client = {"host": doc.get("client_host"), "ip": doc.get("client_ip")}
        if action in ("reject", "milter-reject"):
            s.rejects.append(self._reject_event(doc))
        else:
            s.actions.append({"action": action, "reason": doc.get("reason"), "to": doc.get("to"),
                              "from": doc.get("from")})

    def _proxy_accept(self, doc: Doc) -> None:
        qid = doc.get("queued_as")
        if not qid:
            return
        s = self._session(doc, create=False)
        msg = self.messages.get(_key(doc["host"], qid))
        if msg is not None:
            self._touch(msg, doc)
            if s is not None:
                if s.helo:
                    msg.client.setdefault("helo", s.helo)
                if s.rejects:
                    msg.pending_rejects.extend(s.rejects)
                    s.rejects = []
                if s.filters:
                    self._session_filters(msg, s)
            msg.links["proxy"] = doc.get("proxy_mta")

    def _proxy_reject(self, doc: Doc) -> None:
        s = self._session(doc)
        if s is not None:
            ev = self._reject_event(doc)
            ev["action"] = "proxy-reject"
            s.rejects.append(ev)

    def _size_limit(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        if "rejected" not in msg.flags:
            msg.flags["rejected"] = True
            msg.reason = "queue file size limit exceeded"
            self._finish_qid(msg, doc["queue_id"])

    def _cleanup_action(self, doc: Doc) -> None:
        msg = self._get_or_new(doc, None)
        if msg is None:
            return
        self._touch(msg, doc)
        action = doc.get("action") or ""
        if doc.get("helo"):
            msg.client.setdefault("helo", doc["helo"])
        if msg.sender is None and doc.get("from") is not None:
            msg.sender = doc["from"]
        if action in ("reject", "milter-reject"):
            msg.flags["rejected"] = True
            msg.reason = doc.get("reason")
            ev = self._reject_event(doc)
            msg.events.append(ev)
            self._finish_qid(msg, doc["queue_id"])
        elif action in ("discard", "milter-discard"):
            msg.flags["discarded"] = doc.get("reason") or True
            self._finish_qid(msg, doc["queue_id"])
        elif action in ("hold", "milter-hold"):
            msg.flags["held"] = True
        elif action == "redirect":
            msg.flags["redirect"] = doc.get("redirect_to") or doc.get("reason")

    def _close_session(self, key: str) -> None:
        s = self.sessions.pop(key, None)
        if s is None:
            return
        if not s.rejects:
            if s.filters:       # verdicts of a session that queued and rejected nothing
                self.counters["filters_unmatched"] += len(s.filters)
            return
        # rejects that no message claimed: one "rejected" document per transaction (by sender)
        groups: list[list[dict[str, Any]]] = []
        for ev in s.rejects:
            if groups and groups[-1][0].get("from") == ev.get("from"):
                groups[-1].append(ev)
            else:
                groups.append([ev])
        verdicts: list[list[dict[str, Any]]] = [[] for _ in groups]
        for f in s.filters:
            # the transaction of the verdict's sender; else the first one not over before it
            i = next((i for i, g in enumerate(groups) if "from" in f and g[0].get("from") == f["from"]), None)
            if i is None:
                ts = f["timestamp"] or ""
                i = next((i for i, g in enumerate(groups) if (g[-1]["timestamp"] or "") >= ts), len(groups) - 1)
            verdicts[i].append(f)
        for group, filters in zip(groups, verdicts):
            self._emit_rejected(s, group, filters=filters)

    def _emit_rejected(self, s: Any, events: list[dict[str, Any]], host: Optional[str] = None,
                       client: Optional[dict[str, Any]] = None,
                       filters: Optional[list[dict[str, Any]]] = None) -> None:
        first = events[0]
        self.counters["rejected_sessions"] += 1
        c = dict(client if client is not None else s.client)
        helo = next((e["helo"] for e in events if e.get("helo")), None)
        if helo:
            c["helo"] = helo
        doc: Doc = {
            "type": "message",
            "_id": _msg_id("reject", first["line_id"]),
            "status": "rejected",
            "complete": True,
            "host": host if host is not None else s.host,
            "queue_id": None,
            "queue_ids": [],
            "first_seen": first["timestamp"],
            "last_seen": events[-1]["timestamp"],
            "message_id": None,
            "from": first.get("from"),
            "size": None,
            "nrcpt": None,
            "client": c,
            "origin": "smtp",
            "recipients": _recipient_rows([dict(e) for e in events], {}, []),
            "reason": first.get("reason"),
            "smtpd_pid": s.pid if s is not None else None,
        }
        f, l_ = _epoch(first["timestamp"]), _epoch(events[-1]["timestamp"])
        if f is not None and l_ is not None:
            doc["duration"] = round(l_ - f, 6)
        doc["lines"] = len(events)
        if filters:
            doc["filters"] = _filters_out(filters)
            doc["lines"] += len(filters)
            self.counters["filters"] += len(filters)
        self.counters["messages"] += 1
        self._out.append(doc)

    def _mailbox(self, doc: Doc) -> None:
        mid = doc.get("message_id")
        if not mid:
            return
        msg = self.by_message_id.get(f"{doc['host']}\x00{mid}")
        if msg is None:
            self.counters["mailbox_unmatched"] += 1
            return
        ev = {"user": doc.get("user"), "mailbox": doc.get("mailbox"), "timestamp": doc["timestamp"],
              "status": "saved" if doc["kind"] == "dovecot.saved" else "save_failed"}
        if doc.get("error"):
            ev["error"] = doc["error"]
        if doc.get("session"):
            ev["session"] = doc["session"]
        msg.mailbox.append(ev)

    # ------------------------------------------------------------------ filter verdicts
    def _filter(self, doc: Doc) -> None:
        """A filter's verdict (kinds of ``VERDICTS``): into the ``filters`` of its message."""
        entry = verdict_entry(doc)
        host = doc["host"]
        messages = self.messages
        qid = doc["queue_id"]
        msg = messages.get(_key(host, qid)) if qid is not None else None
        queued_as = doc.get("queued_as") or ()
        if msg is None:
            for q in queued_as:         # amavis: the re-injected copy's queue id
                msg = messages.get(_key(host, q))
                if msg is not None:
                    break
        mid = doc.get("message_id")
        if mid and mid[0] == "(":       # spamd's mid=(unknown)
            mid = None
        if msg is None and mid:
            msg = self.by_message_id.get(f"{host}\x00{mid}")
        if msg is not None and msg.done is not None:
            self._touch(msg, doc)
            msg.filters.append(entry)
            self.counters["filters"] += 1
            return
        if qid is None and VERDICTS[doc["kind"]][2]:
            return self._filter_session(doc, entry)
        keys = [f"q\x00{host}\x00{q}" for q in (qid, *queued_as) if q]
        if mid:
            keys.append(f"m\x00{host}\x00{mid}")
        if not keys:
            self.counters["filters_unmatched"] += 1
            return
        # the message may show up a moment later (logs of several programs are not strictly ordered)
        self.pending_filters[doc["_id"]] = [_epoch(doc["timestamp"]) or self._now, keys, entry]
        for k in keys:
            self._pending_index.setdefault(k, []).append(doc["_id"])
        if len(self.pending_filters) > self.max_inflight:
            self._drop_pending(next(iter(self.pending_filters)))

    def _filter_session(self, doc: Doc, entry: dict[str, Any]) -> None:
        """A policy server's verdict: to the open smtpd session of the client's address (the
        most recently active one), for the message that session queues."""
        ip = doc.get("client_ip")
        if ip is None and doc.get("reason"):
            m = _RE_WHY_IP.search(doc["reason"])      # policyd-spf's reject names it in its URL
            ip = m.group(1) if m else None
        host = doc["host"]
        sess = None
        if ip:
            for s in reversed(self.sessions.values()):
                if s.host == host and s.client.get("ip") == ip:
                    sess = s
                    break
        if sess is None:
            self.counters["filters_unmatched"] += 1
            return
        sender = entry.get("from")
        if sess.current is not None:
            # a further recipient of the transaction in progress (its message has no size yet)
            msg = self.messages.get(_key(host, sess.current))
            if (msg is not None and not msg.done and msg.size is None
                    and (sender is None or msg.sender is None or sender == msg.sender)):
                self._touch(msg, doc)
                msg.filters.append(entry)
                self.counters["filters"] += 1
                return
        sess.filters.append(entry)

    def _claim_filters(self, msg: Message, key: str) -> None:
        """Verdicts that were waiting for ``key`` (a queue id or Message-ID) join ``msg``."""
        ids = self._pending_index.pop(key, None)
        if not ids:
            return
        for line_id in ids:
            rec = self.pending_filters.pop(line_id, None)
            if rec is None:
                continue
            self._unindex_pending(line_id, rec[1])
            msg.filters.append(rec[2])
            msg.lines += 1
            self.counters["filters"] += 1

    def _unindex_pending(self, line_id: str, keys: list[str]) -> None:
        for k in keys:
            ids = self._pending_index.get(k)
            if ids is not None and line_id in ids:
                ids.remove(line_id)
                if not ids:
                    del self._pending_index[k]

    def _drop_pending(self, line_id: str) -> None:
        """A waiting verdict that no message claimed in time."""
        rec = self.pending_filters.pop(line_id)
        self._unindex_pending(line_id, rec[1])
        self.counters["filters_unmatched"] += 1

    def _session_filters(self, msg: Message, s: Session) -> None:
        """The session's waiting verdicts go to the message it queued."""
        msg.filters.extend(s.filters)
        msg.lines += len(s.filters)
        self.counters["filters"] += len(s.filters)
        s.filters = []

    # ------------------------------------------------------------------ output
    def _emit(self, msg: Message) -> None:
        if msg.done is None:     # already written (a message reachable by several ids)
            return
        for qid in msg.queue_ids:
            if self.messages.get(_key(msg.host, qid)) is msg:
                del self.messages[_key(msg.host, qid)]
            self.pending_links.pop(_key(msg.host, qid), None)
        for q in msg.handoffs:
            self.pending_links.pop(_key(msg.host, q), None)
        if msg.message_id is not None:
            k = f"{msg.host}\x00{msg.message_id}"
            if self.by_message_id.get(k) is msg:
                del self.by_message_id[k]
        if not msg.complete:
            self.counters["incomplete"] += 1
        self.counters["messages"] += 1
        notice = self.notices.pop(_key(msg.host, msg.queue_ids[0]), None)
        if notice is not None:
            msg.links.setdefault("bounce_of", notice)
            if msg.origin is None:
                msg.origin = "bounce"
        msg.done = None  # type: ignore[assignment]
        # rejects that were waiting for this message but belong to another transaction
        stray = [e for e in msg.pending_rejects
                 if msg.sender is not None and e.get("from") is not None and e.get("from") != msg.sender]
        stray_filters: list[dict[str, Any]] = []
        if stray and msg.filters:
            # a policy server's verdicts on that other transaction's sender go with it
            other = {e["from"] for e in stray}
            stray_filters = [f for f in msg.filters if f.get("from") in other]
            if stray_filters:
                msg.filters = [f for f in msg.filters if f.get("from") not in other]
                msg.lines -= len(stray_filters)
                self.counters["filters"] -= len(stray_filters)     # counted again with the stray document
        self._out.append(render_message(msg, self))
        if stray:
            self._emit_rejected(None, stray, host=msg.host, client=stray[0].get("client") or {},
                                filters=stray_filters)

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict[str, Any]:
        """The whole in-flight state as plain data (see :mod:`maillog2json.state`)."""
        seen: dict[int, int] = {}
        messages: list[dict[str, Any]] = []
        index = {}
        for key, msg in self.messages.items():
            if id(msg) not in seen:
                seen[id(msg)] = len(messages)
                messages.append(msg.to_state())
            index[key] = seen[id(msg)]
        lingering = []
        for msg in self.lingering.values():
            if id(msg) not in seen:
                seen[id(msg)] = len(messages)
                messages.append(msg.to_state())
            lingering.append(seen[id(msg)])
        by_mid = {k: seen[id(m)] for k, m in self.by_message_id.items() if id(m) in seen}
        return {
            "now": self._now,
            "messages": messages,
            "index": index,
            "lingering": lingering,
            "by_message_id": by_mid,
            "sessions": [s.to_state() for s in self.sessions.values()],
            "pending_links": self.pending_links,
            "notices": self.notices,
            "qmgr_pids": self.qmgr_pids,
            "counters": self.counters,
            "pending_filters": [[k, *rec] for k, rec in self.pending_filters.items()],
            "sendmail": self.sendmail.snapshot(),
            "qmail": self.qmail.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`snapshot` gave."""
        msgs = [Message.from_state(d) for d in state["messages"]]
        self._now = state["now"]
        self.messages = OrderedDict((k, msgs[i]) for k, i in state["index"].items())
        self.lingering = OrderedDict((id(msgs[i]), msgs[i]) for i in state["lingering"])
        self.by_message_id = {k: msgs[i] for k, i in state["by_message_id"].items()}
        self.sessions = OrderedDict()
        for d in state["sessions"]:
            s = Session.from_state(d)
            self.sessions[f"{s.host}\x00{s.pid}"] = s
        self.pending_links = {k: tuple(v) for k, v in state["pending_links"].items()}  # type: ignore[misc]
        self.notices = state["notices"]
        self.qmgr_pids = state.get("qmgr_pids", {})
        self.counters.update(state["counters"])
        self.pending_filters = OrderedDict()
        self._pending_index = {}
        for line_id, epoch, keys, entry in state.get("pending_filters", ()):
            self.pending_filters[line_id] = [epoch, keys, entry]
            for k in keys:
                self._pending_index.setdefault(k, []).append(line_id)
        for name, sub in (("sendmail", self.sendmail), ("qmail", self.qmail)):
            if state.get(name):
                sub.restore(state[name])

    def save(self, path: str) -> None:
        """Write the in-flight state to ``path`` atomically (the tracker part of a state file)."""
        write_state(path, {"tracker": self.snapshot()})

    def load(self, path: str) -> None:
        """Restore from a state file written by :meth:`save` (or by the CLI)."""
        tracker = read_state(path).get("tracker")
        if tracker:
            self.restore(tracker)


def _filters_out(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A document's ``filters``: in log-time order (log order within a timestamp)."""
    if len(filters) < 2:
        return list(filters)
    return sorted(filters, key=lambda f: _epoch(f["timestamp"]) or 0.0)


def _msg_id(prefix: str, first_line_id: str) -> str:
    return hashlib.blake2b(f"{prefix}:{first_line_id}".encode(), digest_size=12).hexdigest()


# amavisd-new's answer for mail it discards (D_DISCARD): "250 2.7.0 Ok, discarded, id=27438-03 - spam"
_RE_FILTER_DISCARD = re.compile(r"2\d\d 2\.\d{1,3}\.\d{1,3} Ok, discarded\b")


def _recipient_rows(events: list[dict[str, Any]], handoffs: dict[str, list[str]],
                    queue_ids: list[str], flags: Optional[dict[str, Any]] = None,
                    mailbox: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Recipient entries from the message's events, following hops (see module docstring)."""
    flags = flags or {}
    rows: dict[str, dict[str, Any]] = {}
    # the parent's recipient addresses each child queue id took over, and who claimed them
    claims: dict[tuple[str, str], str] = {}
    by_addr: dict[str, dict[str, Any]] = {}
    order = {q: i for i, q in enumerate(queue_ids)}
    events = sorted(events, key=lambda e: order.get(e.get("queue_id") or "", -1))  # stable: log order within a hop
    first_qid = queue_ids[0] if queue_ids else None
    for ev in events:
        to = ev.get("to")
        if to is None:
            continue
        orig = ev.get("orig_to")
        qid = ev.get("queue_id")
        row = None
        takes_all = qid is not None and "*" in handoffs.get(qid, ())
        if qid is not None and qid != first_qid and qid in handoffs and not takes_all:
            for cand in (orig, to):
                if cand is not None and cand in handoffs[qid] and cand in by_addr:
                    claimer = claims.get((qid, cand))
                    if claimer is None or claimer == to:
                        claims[(qid, cand)] = to
                        row = by_addr[cand]
                        if to != cand:
                            row["final_to"] = to
                        break
        if row is None and qid is not None and qid != first_qid and to in by_addr and not takes_all:
            # a later hop's view of a recipient it was not handed (the receiving side of a
            # relay that refused it): history only, the sending side's outcome stands
            by_addr[to]["attempts"].append(
                {k: v for k, v in ev.items() if v is not None and k not in ("line_id", "client", "helo")})
            continue
        if row is None:
            key = to if orig is None or orig == to else f"{to}\x00{orig}"
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"to": to, "orig_to": orig, "status": None, "dsn": None, "relay": None,
                                   "reply": None, "delay": None, "attempts": []}
                by_addr.setdefault(to, row)
        attempt = {k: v for k, v in ev.items() if v is not None and k not in ("line_id", "client", "helo")}
        row["attempts"].append(attempt)
        if ev["kind"] == "reject":
            row["status"] = "rejected"
            row["dsn"] = ev.get("dsn")
            row["reply"] = _smtp_reply(ev)
            continue
        status = ev.get("status") or ""
        outcome = _FINAL.get(status, status)
        if outcome == "sent" and (ev.get("daemon") == "discard" or ev.get("relay") == "none"):
            outcome = "discarded"       # discard(8) is the only agent that reports sent via relay=none
        elif outcome == "sent" and _RE_FILTER_DISCARD.match(ev.get("reply") or ""):
            outcome = "discarded"       # a content filter took it and threw it away (amavis D_DISCARD)
        elif outcome == "bounced" and flags.get("rejected") and ev.get("daemon") in ("cleanup", None):
            outcome = "rejected"        # cleanup's own bounce of mail it rejected (pickup submissions)
        if ev.get("handoff") and row["status"] not in (None, "deferred", "sent"):
            continue    # a hop's later outcome already decided this recipient
        row["status"] = outcome
        row["dsn"] = ev.get("dsn")
        row["relay"] = ev.get("relay")
        row["reply"] = ev.get("reply")
        row["delay"] = ev.get("delay")
    out = list(rows.values())
    for row in out:
        st = row["status"]
        if flags.get("expired") and st in (None, "deferred"):
            row["status"] = "expired"
        elif flags.get("deleted") and st in (None, "deferred"):
            row["status"] = "deleted"
        elif flags.get("discarded") and st in (None, "deferred"):
            row["status"] = "discarded"
        elif flags.get("rejected") and st in (None, "deferred"):
            row["status"] = "rejected"
    if mailbox:
        for mb in mailbox:
            user = mb.get("user")
            for row in out:
                if user in (row.get("final_to"), row["to"]):
                    row.setdefault("mailbox", []).append({k: v for k, v in mb.items() if k != "user"})
                    break
    return out


def _smtp_reply(ev: dict[str, Any]) -> str:
    """The reply the client was given, as Postfix wrote it: ``550 5.1.1 <a@b>: reason``."""
    parts = [str(ev["code"])] if ev.get("code") else []
    if ev.get("dsn"):
        parts.append(ev["dsn"])
    target = ev.get("reason_target")
    reason = ev.get("reason") or ""
    if target is not None and not reason.startswith(("<", target)):
        reason = (f"<{target}>" if "@" in target or not target else target) + ": " + reason
    parts.append(reason)
    return " ".join(parts)


def _overall(statuses: list[str], flags: dict[str, Any], complete: bool) -> str:
    if flags.get("rejected") and not statuses:
        return "rejected"
    if flags.get("deleted") and not statuses:
        return "deleted"
    if flags.get("discarded") and not statuses:
        return "discarded"
    if flags.get("expired") and not statuses:
        return "expired"
    if flags.get("aborted") and not statuses:
        return "aborted"
    if not statuses:
        if flags.get("held") and not flags.get("released"):
            return "held"
        return "deferred" if not complete else "unknown"
    distinct = set(statuses)
    if len(distinct) == 1:
        s = statuses[0]
        return s if s is not None else ("held" if flags.get("held") and not flags.get("released") else "unknown")
    return "mixed"


def render_message(msg: Message, tracker: Optional[MessageTracker] = None) -> Doc:
    """The message document (native spelling) for a finished or flushed message."""
    # rejects of the same transaction join the recipients, in front (they happened first)
    own_rejects = [e for e in msg.pending_rejects
                   if msg.sender is None or e.get("from") is None or e.get("from") == msg.sender]
    events = own_rejects + msg.events
    for e in own_rejects:
        e.setdefault("queue_id", None)
    queue_ids = msg.queue_ids
    rows = _recipient_rows([dict(e, queue_id=e.get("queue_id") or queue_ids[0]) for e in events],
                           msg.handoffs, queue_ids, msg.flags, msg.mailbox)
    statuses = [r["status"] for r in rows]
    complete = bool(msg.complete)
    status = _overall(statuses, msg.flags, complete)
    if own_rejects and not msg.client.get("helo"):
        helo = next((e["helo"] for e in own_rejects if e.get("helo")), None)
        if helo:
            msg.client["helo"] = helo
    doc: Doc = {
        "type": "message",
        "_id": _msg_id("msg", msg.first_line_id),
        "status": status,
        "complete": complete,
        "host": msg.host,
        "queue_id": queue_ids[0],
        "queue_ids": list(queue_ids),
        "first_seen": msg.first_seen,
        "last_seen": msg.last_seen,
        "message_id": msg.message_id,
        "from": msg.sender,
        "size": msg.size,
        "nrcpt": msg.nrcpt,
        "client": msg.client or None,
        "origin": msg.origin or "unknown",
        "recipients": rows,
    }
    if msg.uid is not None:
        doc["uid"] = msg.uid
    if msg.reason:
        doc["reason"] = msg.reason
    flags = {k: v for k, v in msg.flags.items()}
    if flags:
        doc["flags"] = flags
    if msg.filters:
        doc["filters"] = _filters_out(msg.filters)
    for k, v in msg.links.items():
        doc[k] = v
    f, l_ = _epoch(msg.first_seen), _epoch(msg.last_seen)
    if f is not None and l_ is not None:
        doc["duration"] = round(l_ - f, 6)
    doc["lines"] = msg.lines
    return doc
