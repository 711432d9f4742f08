"""Message documents for Sendmail and qmail: the same contract as Postfix's (see
:func:`maillog2json.correlate.render_message` and docs/schema.md "Message documents").

Sendmail (:class:`SendmailTracker`): a message is keyed by (host, queue id). Its lines are
the session's rejects (``ruleset=check_rcpt ... reject=``, ``<a@b>... User unknown``), the
``from=`` line, then one ``to=`` line per delivery attempt (one line may name several
recipients). Sendmail logs no "removed" line (8.16's ``done;`` when it does), so a message
ends when:

* a ``done;`` line is read;
* every recipient has a final status (sent, bounced, expired, rejected) and there are at
  least ``nrcpts`` of them (``nrcpts=0``: nothing was accepted); ``sender notify: Cannot
  send message for ...`` (returned at Timeout.queuereturn) makes the deferred ones expired,
  ``message size (N) exceeds maximum (M)`` the following mailer-less ``to=`` lines rejected;
* the client went away (``lost input channel``, ``timeout waiting for input``, ``collect:``
  errors) and no delivery was logged;

then it is written after the tracker's *linger* of log time. When every known recipient is
final but fewer than ``nrcpts`` were seen (or ``from=`` was not in view), it is written
after :data:`QUIET` seconds of log time without a line for it. A deferred recipient keeps
the message in flight until a later queue run decides it, or until ``expire_after``
(written with ``complete: false``). DSN notices (``q1: q2: DSN: ...``) link both messages
(``bounces`` / ``bounce_of``).

One mail that Sendmail hands to Sendmail on the same host (the MSP relaying to the MTA on
[127.0.0.1]) is one message: ``stat=Sent (q2 Message accepted for delivery)`` joins queue id
q2 (before or after its first line), and an attempt the local MTA refused at RCPT joins the
transaction that logged that reject (see :meth:`SendmailTracker._reject_link`). The later
hop's attempts decide a recipient it was handed; ``from`` becomes the later hop's qualified
sender when the MSP logged only the login. Aliases are never named: a program's ``ctladdr=``
(when not the sender) is its ``orig_to``, and expansion products are marked ``expanded``.

qmail (:class:`QmailTracker`): keyed by (host, message number); ``starting delivery N:
msg M to ...`` maps the delivery number to the message until ``delivery N:`` reports
its result; ``end msg M`` ends it (after the linger). ``bounce msg M qp P`` is linked to
the bounce message whose ``info msg`` line carries ``qp P``.

Both keep in-flight state as plain data for :meth:`snapshot`/:meth:`restore`, and are
driven by :class:`maillog2json.correlate.MessageTracker` (which owns the output list and the
counters).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any, Callable, Optional

from maillog2json.correlate import InFlight, _epoch, _is_loopback, _key, _msg_id, _smtp_reply

Doc = dict[str, Any]

QUIET = 300.0        # seconds of log time: all known recipients final, but fewer than nrcpts seen
REJECT_LINK_WINDOW = 60.0   # seconds: an SMTP client's refused recipient and the local MTA's reject of it
FINAL = frozenset(("sent", "bounced", "expired", "rejected", "discarded"))


class MtaMessage(InFlight):
    """One Sendmail or qmail message in flight (plain data, for snapshots)."""

    __slots__ = ("extra",)

    def __init__(self, host: Optional[str], qid: str, doc: Doc) -> None:
        super().__init__(host, qid, doc)
        self.extra: dict[str, Any] = {}



class _Base:
    """What both trackers share: messages by key, lingering with deadlines, expiry, output."""

    mta = ""

    def __init__(self, emit: Callable[[Doc], None], counters: dict[str, int], expire_after: float,
                 max_inflight: int, linger: float) -> None:
        self.emit = emit
        self.counters = counters
        self.expire_after = expire_after
        self.max_inflight = max_inflight
        self.linger = linger
        self.messages: OrderedDict[str, MtaMessage] = OrderedDict()   # oldest activity first
        self.pending: list[tuple[float, int, str]] = []               # (deadline, seq, key) heap
        self.seq = 0
        self.notices: dict[str, dict[str, Any]] = {}                  # notice key -> its original

    # -- bookkeeping
    def _touch(self, msg: MtaMessage, doc: Doc) -> None:
        msg.lines += 1
        ts = doc["timestamp"]
        if ts is not None:
            msg.last_seen = ts
            msg.last_epoch = max(msg.last_epoch, _epoch(ts) or 0.0)
        key = _key(msg.host, msg.queue_ids[0])
        if key in self.messages:
            self.messages.move_to_end(key)
        if msg.deadline:            # a line for a message waiting to be written: wait again from it
            self._schedule(msg, msg.extra.get("wait", self.linger))

    def _get(self, doc: Doc, create: bool = True) -> Optional[MtaMessage]:
        """The message of doc's queue id, started if new (``create``). None for a line
        without a queue id (a damaged one): it cannot be joined, and one that would start a
        message is counted (``without_queue_id``) rather than start one keyed by None."""
        qid = doc["queue_id"]
        if qid is None:
            if create:
                self.counters["without_queue_id"] = self.counters.get("without_queue_id", 0) + 1
            return None
        key = _key(doc["host"], qid)
        msg = self.messages.get(key)
        if msg is None and create:
            msg = self.messages[key] = MtaMessage(doc["host"], qid, doc)
            notice = self.notices.pop(key, None)
            if notice is not None:
                msg.links["bounce_of"] = notice
                msg.origin = "bounce"
                msg.sender = ""
            while len(self.messages) > self.max_inflight:
                _, old = next(iter(self.messages.items()))
                self.counters["evicted"] += 1
                self._write(old)
        return msg

    def _schedule(self, msg: MtaMessage, wait: float) -> None:
        msg.extra["wait"] = wait
        msg.deadline = msg.last_epoch + wait
        self.seq += 1
        heapq.heappush(self.pending, (msg.deadline, self.seq, _key(msg.host, msg.queue_ids[0])))

    def _unschedule(self, msg: MtaMessage) -> None:
        msg.deadline = 0.0          # heap entries of it are skipped when they come up
        msg.extra.pop("wait", None)

    def advance(self, now: float) -> None:
        pending = self.pending
        while pending and pending[0][0] <= now:
            _, _, key = heapq.heappop(pending)
            msg = self.messages.get(key)
            if msg is not None and msg.deadline and msg.deadline <= now:
                self._write(msg)
        limit = now - self.expire_after
        while self.messages:
            _, msg = next(iter(self.messages.items()))
            if msg.last_epoch >= limit:
                break
            self.counters["expired"] += 1
            self._write(msg)

    def rebase(self, now: float) -> None:
        """Log time went back (see MessageTracker._rebase): write what waits, age the rest from now."""
        for msg in [m for m in self.messages.values() if m.deadline]:
            self._write(msg)
        self.pending.clear()
        for msg in self.messages.values():
            if msg.last_epoch > now:
                msg.last_epoch = now

    def finish(self) -> None:
        for msg in list(self.messages.values()):
            self._write(msg)
        self.pending.clear()
        self.notices.clear()

    def _end(self, msg: MtaMessage, hard: bool = False) -> None:
        """The MTA said the message is over (``hard``: nothing more can change it): written
        after the linger, which later lines of it restart."""
        msg.extra["ended"] = "hard" if hard else True
        self._schedule(msg, self.linger)
        if self.linger <= 0:
            self._write(msg)

    def _write(self, msg: MtaMessage) -> None:
        key = _key(msg.host, msg.queue_ids[0])
        if self.messages.get(key) is msg:
            del self.messages[key]
        if msg.deadline and msg.extra.get("ended"):
            msg.complete = True
        if not msg.complete:
            self.counters["incomplete"] += 1
        self.counters["messages"] += 1
        self.emit(self.render(msg))

    # -- state
    def snapshot(self) -> dict[str, Any]:
        return {"messages": {k: m.to_state() for k, m in self.messages.items()},
                "pending": [list(p) for p in self.pending], "seq": self.seq, "notices": self.notices,
                "extra": self.extra_state()}

    def restore(self, state: dict[str, Any]) -> None:
        self.messages = OrderedDict((k, MtaMessage.from_state(d)) for k, d in state["messages"].items())
        self.pending = [tuple(p) for p in state["pending"]]  # type: ignore[misc]
        heapq.heapify(self.pending)
        self.seq = state["seq"]
        self.notices = state["notices"]
        self.restore_extra(state.get("extra") or {})

    def extra_state(self) -> dict[str, Any]:
        return {}

    def restore_extra(self, state: dict[str, Any]) -> None:
        pass

    # -- output
    def rows(self, msg: MtaMessage) -> list[dict[str, Any]]:
        """Recipient entries: one per address, the last deciding attempt's outcome (a recipient
        handed to a later queue id of the message is decided there, see SendmailTracker)."""
        rows: dict[str, dict[str, Any]] = {}
        events = msg.events
        deciding: dict[str, Optional[dict[str, Any]]] = {}
        if len(msg.queue_ids) > 1:      # joined hops: each hop's attempts after the one before
            order = {q: i for i, q in enumerate(msg.queue_ids)}
            events = sorted(events, key=lambda e: order.get(e.get("queue_id") or "", 0))
        for ev in events:
            to = ev.get("to")
            if to is None:
                continue
            row = rows.get(to)
            if row is None:
                row = rows[to] = {"to": to, "orig_to": None, "status": None, "dsn": None, "relay": None,
                                  "reply": None, "delay": None, "attempts": []}
            row["attempts"].append({k: v for k, v in ev.items() if v is not None})
            if ev.get("orig_to") and row["orig_to"] is None:
                row["orig_to"] = ev["orig_to"]
            if ev.get("expanded"):
                row["expanded"] = True
            if ev["kind"] == "reject":
                if row["status"] in (None, "deferred", "queued"):
                    row["status"] = "rejected"
                    row["dsn"] = ev.get("dsn")
                    row["reply"] = _smtp_reply(ev)
                continue
            status = ev.get("status")
            if status == "bounced" and msg.flags.get("rejected") and not ev.get("mailer"):
                status = "rejected"     # no delivery agent: refused with the message (size, at DATA)
            row["status"] = status
            deciding[to] = ev
            for f in ("dsn", "relay", "reply", "delay"):
                row[f] = ev.get(f)
        out = list(rows.values())
        for row in out:
            if row["status"] in (None, "queued"):
                row["status"] = "deferred"
            if msg.flags.get("discarded") and row["status"] == "deferred":
                row["status"] = "discarded"
            if msg.flags.get("expired") and row["status"] == "deferred":
                row["status"] = "expired"
        if len(msg.queue_ids) > 1:
            out = self._follow_handoffs(msg, out, deciding)
        return out

    @staticmethod
    def _follow_handoffs(msg: MtaMessage, out: list[dict[str, Any]],
                         deciding: dict[str, Optional[dict[str, Any]]]) -> list[dict[str, Any]]:
        """A recipient handed to a later queue id of the message is decided there: under the same
        address the later hop's attempts already decide its entry; under another spelling (the
        MSP's bare ``smbob``, the MTA's ``smbob@host``: the same local part) the later hop's entry
        takes the earlier one's attempts and its address as ``orig_to``."""
        drop: set[int] = set()
        by_local: Optional[dict[str, list[dict[str, Any]]]] = None
        for i, row in enumerate(out):
            ev = deciding.get(row["to"])
            hop = ev.get("handoff") if ev is not None else None
            if not hop or hop not in msg.queue_ids or row["status"] != "sent":
                continue
            same: list[dict[str, Any]] = []
            if "@" not in row["to"]:
                if by_local is None:
                    by_local = {}
                    for r in out:
                        by_local.setdefault(r["to"].partition("@")[0], []).append(r)
                same = [r for r in by_local.get(row["to"], ()) if r is not row and r["orig_to"] is None
                        and any(a.get("queue_id") == hop for a in r["attempts"])]
            if len(same) == 1:
                later = same[0]
                later["orig_to"] = row["to"]
                later["attempts"] = row["attempts"] + later["attempts"]
                drop.add(i)
        return [r for i, r in enumerate(out) if i not in drop]

    def render(self, msg: MtaMessage) -> Doc:
        rows = self.rows(msg)
        statuses = [r["status"] for r in rows]
        complete = bool(msg.complete)
        if statuses:
            status = statuses[0] if len(set(statuses)) == 1 else "mixed"
        elif msg.flags.get("rejected"):
            status = "rejected"
        elif msg.flags.get("discarded"):
            status = "discarded"
        elif msg.flags.get("aborted"):
            status = "aborted"
        elif msg.nrcpt == 0 and msg.sender is not None and not msg.events:
            status = "rejected"     # the transaction ended with no recipient accepted (SIZE=, RSET...)
        else:
            status = "unknown" if complete else "deferred"
        doc: Doc = {
            "type": "message",
            "_id": _msg_id("msg", msg.first_line_id),
            "status": status,
            "complete": complete,
            "host": msg.host,
            "queue_id": msg.queue_ids[0],
            "queue_ids": list(msg.queue_ids),
            "first_seen": msg.first_seen,
            "last_seen": msg.last_seen,
            "message_id": msg.message_id,
            "from": msg.sender,
            "size": msg.size,
            "nrcpt": msg.nrcpt,
            "client": msg.client or None,
            "origin": msg.origin or "unknown",
            "recipients": rows,
            "mta": self.mta,
        }
        if msg.uid is not None:
            doc["uid"] = msg.uid
        if msg.reason:
            doc["reason"] = msg.reason
        if msg.flags:
            doc["flags"] = dict(msg.flags)
        for k, v in msg.links.items():
            doc[k] = v
        f, l_ = _epoch(msg.first_seen), _epoch(msg.last_seen)
        if f is not None and l_ is not None:
            doc["duration"] = round(l_ - f, 6)
        doc["lines"] = msg.lines
        return doc


# ================================================================================ Sendmail
class SendmailTracker(_Base):
    """Sendmail messages by (host, queue id); see the module docstring for when one ends."""

    mta = "sendmail"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: dict[str, str] = {}                # later hop's key -> its message's key
        self.rcpt_rejects: dict[str, list[Any]] = {}    # (host, address) -> [message key, reason, epoch]
        self._summaries: dict[str, list[Any]] = {}      # message key -> _outcomes' running summary

    def extra_state(self) -> dict[str, Any]:
        return {"joined": self.joined, "rcpt_rejects": self.rcpt_rejects}

    def restore_extra(self, state: dict[str, Any]) -> None:
        self.joined = state.get("joined", {})
        self.rcpt_rejects = state.get("rcpt_rejects", {})

    def finish(self) -> None:
        super().finish()
        self.joined.clear()
        self.rcpt_rejects.clear()
        self._summaries.clear()

    # -- hops: one mail under several queue ids of the same host
    def _get(self, doc: Doc, create: bool = True) -> Optional[MtaMessage]:
        qid = doc["queue_id"]
        if qid is not None and self.joined:
            key = _key(doc["host"], qid)
            pkey = self.joined.get(key)
            if pkey is not None:
                parent = self.messages.get(pkey)
                if parent is not None:
                    if qid not in parent.queue_ids:      # a link made before this queue id's first line
                        parent.queue_ids.append(qid)
                        parent.links.setdefault("hops", []).append({"queue_id": qid, "via": "relay"})
                    return parent
                del self.joined[key]
        return super()._get(doc, create)

    def _resolve(self, key: str) -> Optional[MtaMessage]:
        return self.messages.get(self.joined.get(key, key))

    def _link(self, parent: MtaMessage, child_qid: str) -> None:
        """``parent`` handed (some of) its recipients to ``child_qid`` on the same host
        (``stat=Sent (<qid> Message accepted for delivery)``): that queue id joins the message."""
        if child_qid in parent.queue_ids:
            return
        ckey = _key(parent.host, child_qid)
        child = self._resolve(ckey)
        if child is parent:
            return
        if child is None:       # not seen yet: its first line joins the parent (see _get)
            self.joined[ckey] = _key(parent.host, parent.queue_ids[0])
            while len(self.joined) > self.max_inflight:
                self.joined.pop(next(iter(self.joined)))
            return
        self._merge(parent, child, "relay")

    def _merge(self, parent: MtaMessage, child: MtaMessage, via: str) -> None:
        """Join ``child`` (the receiving side of ``parent``'s hand-off on this host) into ``parent``."""
        self.counters["merged_hops"] = self.counters.get("merged_hops", 0) + 1
        pkey = _key(parent.host, parent.queue_ids[0])
        ckey = _key(child.host, child.queue_ids[0])
        if self.messages.get(ckey) is child:
            del self.messages[ckey]         # its pending deadlines are skipped from now on
        self._summaries.pop(ckey, None)     # (outcomes are summed on the parent from now on)
        for q in child.queue_ids:
            if q not in parent.queue_ids:
                parent.queue_ids.append(q)
            self.joined[_key(parent.host, q)] = pkey
        for k, v in list(self.joined.items()):
            if v == ckey:
                self.joined[k] = pkey
        parent.events.extend(child.events)
        parent.lines += child.lines
        hops = parent.links.setdefault("hops", [])
        hops.append({"queue_id": child.queue_ids[0], "via": via})
        for k, v in child.links.items():
            if isinstance(v, list):
                parent.links.setdefault(k, []).extend(v)
            else:
                parent.links.setdefault(k, v)
        for k, v in child.flags.items():
            parent.flags.setdefault(k, v)
        parent.extra.setdefault("hops", {}).update(child.extra.get("hops", {}))
        self._qualify(parent, child.sender)
        if parent.message_id is None:
            parent.message_id = child.message_id
        if child.last_epoch > parent.last_epoch:
            parent.last_epoch = child.last_epoch
            parent.last_seen = child.last_seen
        if parent.reason is None:
            parent.reason = child.reason

    @staticmethod
    def _qualify(msg: MtaMessage, sender: Optional[str]) -> None:
        """The MSP logs the submitting login (``from=smcarol``), the MTA it hands to the envelope
        sender as the MSP sent it (``from=<smcarol@host>``): the message carries the latter."""
        if sender and "@" in sender and msg.sender and "@" not in msg.sender \
                and sender.partition("@")[0] == msg.sender:
            msg.sender = sender

    def _reject_link(self, msg: MtaMessage, doc: Doc) -> None:
        """An SMTP client of this host's own MTA (the MSP relaying to ``[127.0.0.1]``) logs a
        refused recipient with the server's reply (``reply=550 5.1.1 <a@b>... User unknown``); the
        MTA logged that reject (``<a@b>... User unknown``) in the transaction it opened for it,
        which may have accepted nothing and so never names a queue id to follow: the reply's
        text, the address, and the time join the two."""
        text = doc.get("reply_text")
        if not text or not _is_loopback(doc.get("relay_ip")):
            return
        now = _epoch(doc["timestamp"]) or 0.0
        for to in doc.get("to") or ():
            rkey = _key(doc["host"], to.lower())
            entry = self.rcpt_rejects.get(rkey)
            if entry is None or abs(now - entry[2]) > REJECT_LINK_WINDOW or not text.endswith(entry[1]):
                continue
            target = self._resolve(entry[0])
            if target is None or target is msg:
                continue
            hop = (target.extra.get("hops") or {}).get(target.queue_ids[0]) or {}
            tsender = hop.get("from", target.sender)
            if tsender is not None and msg.sender is not None and \
                    tsender.partition("@")[0] != msg.sender.partition("@")[0]:
                continue
            del self.rcpt_rejects[rkey]
            self._merge(msg, target, "relay_reject")

    def feed(self, doc: Doc) -> None:
        kind = doc["kind"]
        handler = self.HANDLERS.get(kind)
        if handler is not None:
            handler(self, doc)
            return
        msg = self._get(doc, create=False)
        if msg is not None:
            self._touch(msg, doc)
            if kind in ("sendmail.auth", "sendmail.starttls") and doc.get("client_ip") is not None:
                self._client_extra(msg, doc)

    def _from(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        qid = doc["queue_id"]
        msg.extra.setdefault("hops", {})[qid] = {"from": doc.get("from"),
                                                 "smtp": bool(doc.get("proto") or doc.get("daemon_name"))}
        if qid != msg.queue_ids[0]:      # a later hop of a joined message: the first one describes it
            self._qualify(msg, doc.get("from"))
            if msg.message_id is None and doc.get("message_id"):
                msg.message_id = doc["message_id"]
            self._check(msg)
            return
        msg.sender = doc.get("from")
        msg.size = doc.get("size") if isinstance(doc.get("size"), int) else msg.size
        nrcpt = doc.get("nrcpt")
        if isinstance(nrcpt, int):
            msg.nrcpt = nrcpt
        if doc.get("message_id"):
            msg.message_id = doc["message_id"]
        if "client_ip" in doc or "client_host" in doc:
            c = msg.client
            c["host"] = doc.get("client_host")
            c["ip"] = doc.get("client_ip")
            if doc.get("forged"):
                c["forged"] = True
            if doc.get("daemon_name"):
                c["service"] = doc["daemon_name"]
            if doc.get("proto"):
                c["proto"] = doc["proto"]
        if msg.origin is None:
            if doc.get("proto") or doc.get("daemon_name"):
                msg.origin = "smtp"
            elif doc.get("relay_user") or _is_loopback(doc.get("client_ip")) or doc.get("client_host") == "localhost":
                msg.origin = "local"
        self._check(msg)

    def _client_extra(self, msg: MtaMessage, doc: Doc) -> None:
        if doc["kind"] == "sendmail.auth" and doc.get("sasl_username"):
            msg.client["sasl_username"] = doc["sasl_username"]
            if doc.get("sasl_method"):
                msg.client["sasl_method"] = doc["sasl_method"]
        elif doc["kind"] == "sendmail.starttls":
            msg.client["tls"] = {k: v for k, v in (("version", doc.get("tls_version")),
                                                   ("cipher", doc.get("tls_cipher")),
                                                   ("verify", doc.get("tls_verify"))) if v is not None}

    def _to(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        hop = (msg.extra.get("hops") or {}).get(doc["queue_id"]) or {}
        # ctladdr= other than the sender: the address this one was expanded from (a program or
        # file of an alias or .forward runs as it); without <> in a message received over SMTP:
        # an alias or .forward product (SMTP recipients are logged as given, in brackets)
        ctl = doc.get("ctladdr")
        plain = doc.get("to_unbracketed") or ()
        for to in doc.get("to") or ():
            orig = ctl if ctl and "from" in hop and ctl != hop["from"] and ctl != to else None
            ev = {"kind": "delivery", "timestamp": doc["timestamp"], "queue_id": doc["queue_id"],
                  "daemon": doc["daemon"], "to": to, "orig_to": orig, "status": doc.get("status"),
                  "dsn": doc.get("dsn"), "relay": doc.get("relay"), "delay": doc.get("delay"),
                  "xdelay": doc.get("xdelay"), "mailer": doc.get("mailer"),
                  "reply": doc.get("reply") or doc.get("stat"), "handoff": doc.get("queued_as"),
                  "expanded": True if orig or (hop.get("smtp") and to in plain) else None}
            msg.events.append(ev)
        if doc.get("queued_as"):
            self._link(msg, doc["queued_as"])
        elif doc.get("reply_code") and doc.get("status") in ("bounced", "deferred"):
            self._reject_link(msg, doc)
        self._check(msg)

    def _reject(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        to = doc.get("to") if doc["kind"] != "sendmail.address_error" else doc.get("address")
        if doc.get("stage") == "RCPT" or doc["kind"] == "sendmail.address_error":
            if to and doc.get("reason"):
                if len(self.rcpt_rejects) >= self.max_inflight:
                    self.rcpt_rejects.pop(next(iter(self.rcpt_rejects)))
                self.rcpt_rejects[_key(msg.host, to.lower())] = [
                    _key(msg.host, msg.queue_ids[0]), doc["reason"], _epoch(doc["timestamp"]) or 0.0]
            msg.events.append({"kind": "reject", "timestamp": doc["timestamp"], "queue_id": doc["queue_id"],
                               "daemon": doc["daemon"], "to": to, "stage": doc.get("stage") or "RCPT",
                               "code": doc.get("code"), "dsn": doc.get("dsn"), "reason": doc.get("reason"),
                               "ruleset": doc.get("ruleset")})
        elif doc["kind"] in ("sendmail.reject", "sendmail.milter_reject"):
            msg.flags["rejected"] = True
            msg.reason = doc.get("reason")
            self._end(msg, hard=True)
            return
        if doc.get("client_ip") is not None and not msg.client:
            msg.client = {"host": doc.get("client_host"), "ip": doc.get("client_ip")}
        self._check(msg)

    def _discard(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        msg.flags["discarded"] = doc.get("reason") or True
        self._check(msg)

    def _aborted(self, doc: Doc) -> None:
        msg = self._get(doc, create=False)
        if msg is None:
            return
        self._touch(msg, doc)
        what = {"sendmail.lost": "lost input channel", "sendmail.timeout": "timeout waiting for input",
                "sendmail.collect": "collect error"}[doc["kind"]]
        after = doc.get("after") or doc.get("during")
        msg.flags["aborted"] = f"{what} after {after}" if doc["kind"] == "sendmail.lost" and after else \
            (f"{what} during {after}" if after else what)
        if not any(e["kind"] == "delivery" for e in msg.events):
            msg.reason = msg.flags["aborted"]
            self._end(msg, hard=True)

    def _dsn(self, doc: Doc) -> None:
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        notice_qid = doc.get("notice_queue_id")
        if (doc.get("reason") or "").startswith("Cannot send message for"):
            # returned at Timeout.queuereturn: every recipient still undelivered expired
            msg.flags["expired"] = "expired"
        entry = {"queue_id": notice_qid, "notice": doc.get("notice")}
        msg.links.setdefault("bounces", []).append(entry)
        link = {"queue_id": msg.queue_ids[0], "message_id": msg.message_id, "notice": doc.get("notice")}
        nkey = _key(msg.host, str(notice_qid))        # (the parser always sets it)
        notice = self.messages.get(nkey)
        if notice is not None and notice is not msg:
            notice.links["bounce_of"] = link
            notice.origin = "bounce"
            if notice.sender is None:
                notice.sender = ""
        else:
            if len(self.notices) > self.max_inflight:
                self.notices.pop(next(iter(self.notices)))
            self.notices[nkey] = link
        self._check(msg)

    def _done(self, doc: Doc) -> None:
        msg = self._get(doc, create=False)
        if msg is None:
            return
        self._touch(msg, doc)
        self._end(msg, hard=True)

    def _size(self, doc: Doc) -> None:
        """``message size (N) exceeds maximum (M)``: refused at the end of DATA (552); the
        ``to=`` lines that follow, without a mailer, are its recipients."""
        msg = self._get(doc)
        if msg is None:
            return
        self._touch(msg, doc)
        msg.flags["rejected"] = True
        msg.reason = f"message size ({doc.get('size')}) exceeds maximum ({doc.get('max_size')})"
        self._check(msg)

    # -- ends
    def _check(self, msg: MtaMessage) -> None:
        """Decide whether the message is over (see the module docstring)."""
        if msg.extra.get("ended") == "hard":
            return
        any_rows, open_, accepted, waiting = self._outcomes(msg)
        if open_:
            self._unschedule(msg)               # a recipient still to be decided (again)
            msg.extra.pop("ended", None)
            msg.extra.pop("quiet", None)
            return
        if msg.nrcpt == 0 and msg.sender is not None:
            self._end(msg)                      # nothing accepted: the rejects (if any) are final
            return
        if not any_rows:
            return
        if not waiting and msg.nrcpt is not None and accepted >= msg.nrcpt:
            self._end(msg)
        else:
            self._schedule(msg, max(QUIET, self.linger))
            msg.extra["ended"] = False
            msg.extra["quiet"] = True

    def _outcomes(self, msg: MtaMessage) -> tuple[bool, bool, int, int]:
        """What :meth:`_check` needs of the message's entries, as :meth:`_rows` would give them:
        any at all, any not final, how many had a delivery attempt, how many wait for a later
        hop. Kept up to date event by event (a long message is checked at every line); a cache
        only, rebuilt from the events when missing or when a hop joined."""
        key = _key(msg.host, msg.queue_ids[0])
        c = self._summaries.get(key)
        qids = tuple(msg.queue_ids)
        if c is None or c[0] is not msg or c[2] != qids or c[1] > len(msg.events):
            # [msg, events seen, queue ids, address -> [hop, status, handoff], status counts,
            #  delivered addresses, (hop, local part) -> addresses, handed-off addresses]
            c = self._summaries[key] = [msg, 0, qids, {}, {}, set(), {}, set()]
        _, seen, _, status, counts, delivered, locals_, handed = c
        order = {q: i for i, q in enumerate(qids)}
        for ev in msg.events[seen:]:
            to = ev.get("to")
            if to is None:
                continue
            h = order.get(ev.get("queue_id") or "", 0)
            cur = status.get(to)
            if cur is not None and cur[0] > h:
                continue                        # a later hop already decides it
            if ev["kind"] == "reject":
                if cur is not None and cur[1] not in (None, "deferred", "queued"):
                    continue
                new = [h, "rejected", None]
            else:
                delivered.add(to)
                new = [h, ev.get("status"), ev.get("handoff")]
            if cur is not None:
                counts[cur[1]] -= 1
            status[to] = new
            counts[new[1]] = counts.get(new[1], 0) + 1
            if h:
                locals_.setdefault((h, to.partition("@")[0]), set()).add(to)
            if new[2] in order and order[new[2]] > h and new[1] == "sent":
                handed.add(to)
            else:
                handed.discard(to)
        c[1] = len(msg.events)
        undecided_final = bool(msg.flags.get("expired") or msg.flags.get("discarded"))
        open_ = any(n for st, n in counts.items()
                    if st not in FINAL and not (undecided_final and st in (None, "queued", "deferred")))
        waiting = resolved = 0
        for to in handed:               # see _follow_handoffs
            later = locals_.get((order[status[to][2]], to), ()) if "@" not in to else ()
            if len([t for t in later if t != to]) == 1:
                resolved += 1
            else:
                waiting += 1
        return bool(status), open_, len(delivered) - resolved, waiting

    def _write(self, msg: MtaMessage) -> None:
        if msg.extra.get("quiet") and msg.deadline:
            msg.complete = True      # quiet end: every recipient seen is final
        for q in msg.queue_ids[1:]:
            self.joined.pop(_key(msg.host, q), None)
        self._summaries.pop(_key(msg.host, msg.queue_ids[0]), None)
        super()._write(msg)

    HANDLERS: dict[str, Callable[["SendmailTracker", Doc], None]] = {
        "sendmail.from": _from,
        "sendmail.to": _to,
        "sendmail.reject": _reject,
        "sendmail.milter_reject": _reject,
        "sendmail.address_error": _reject,
        "sendmail.discard": _discard,
        "sendmail.milter_discard": _discard,
        "sendmail.lost": _aborted,
        "sendmail.timeout": _aborted,
        "sendmail.collect": _aborted,
        "sendmail.dsn": _dsn,
        "sendmail.done": _done,
        "sendmail.size_exceeded": _size,
    }


# ================================================================================ qmail
class QmailTracker(_Base):
    """qmail-send messages by (host, message number); deliveries mapped to their message."""

    mta = "qmail"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliveries: dict[str, list[Any]] = {}      # (host, delivery id) -> [message key, to, channel]
        self.bounce_qp: dict[str, str] = {}               # (host, qp) -> message key of the bounced message

    def extra_state(self) -> dict[str, Any]:
        return {"deliveries": self.deliveries, "bounce_qp": self.bounce_qp}

    def restore_extra(self, state: dict[str, Any]) -> None:
        self.deliveries = state.get("deliveries", {})
        self.bounce_qp = state.get("bounce_qp", {})

    def finish(self) -> None:
        super().finish()
        self.deliveries.clear()
        self.bounce_qp.clear()

    def feed(self, doc: Doc) -> None:
        kind = doc["kind"]
        if kind == "qmail.delivery":
            return self._delivery(doc)
        msg = self._get(doc, create=kind in ("qmail.new", "qmail.info", "qmail.starting_delivery"))
        if msg is None:
            return
        self._touch(msg, doc)
        if kind == "qmail.info":
            msg.sender = doc.get("from")
            msg.size = doc.get("size")
            msg.uid = doc.get("uid")
            qp = doc.get("qp")
            msg.extra["qp"] = qp
            orig = self.bounce_qp.pop(_key(msg.host, str(qp)), None)     # qp and delivery ids are ints
            if orig is not None:
                omsg = self.messages.get(orig)
                msg.origin = "bounce"
                msg.links["bounce_of"] = {"queue_id": orig.split("\x00", 1)[1],
                                          "message_id": None, "notice": "non_delivery"}
                if omsg is not None:
                    for b in omsg.links.get("bounces", []):
                        if b.get("qp") == qp:
                            b["queue_id"] = msg.queue_ids[0]
        elif kind == "qmail.starting_delivery":
            self.deliveries[_key(msg.host, doc["delivery_id"])] = [_key(msg.host, msg.queue_ids[0]),
                                                                   doc.get("to"), doc.get("channel")]
            if len(self.deliveries) > self.max_inflight:
                self.deliveries.pop(next(iter(self.deliveries)))
        elif kind == "qmail.end":
            self._end(msg)
        elif kind == "qmail.bounce":
            qp = doc.get("qp")
            msg.links.setdefault("bounces", []).append({"queue_id": None, "notice": "non_delivery", "qp": qp})
            self.bounce_qp[_key(msg.host, str(qp))] = _key(msg.host, msg.queue_ids[0])
        elif kind == "qmail.triple_bounce":
            msg.flags["discarded"] = "triple bounce"

    def _delivery(self, doc: Doc) -> None:
        d = self.deliveries.pop(_key(doc["host"], str(doc.get("delivery_id"))), None)   # a delivery reports once
        if d is None:
            return
        msg = self.messages.get(d[0])
        if msg is None:
            return
        self._touch(msg, doc)
        first, now = _epoch(msg.first_seen), _epoch(doc["timestamp"])
        relay = doc.get("relay_ip") or ("local" if d[2] == "local" else None)
        msg.events.append({"kind": "delivery", "timestamp": doc["timestamp"], "queue_id": msg.queue_ids[0],
                           "daemon": doc["daemon"], "to": d[1], "channel": d[2], "status": doc.get("status"),
                           "dsn": doc.get("dsn"), "relay": relay,
                           "delay": round(now - first, 6) if first is not None and now is not None else None,
                           "reply": doc.get("reply_text") or doc.get("reply")})

    def render(self, msg: MtaMessage) -> Doc:
        doc = super().render(msg)
        for b in doc.get("bounces", ()):
            b.pop("qp", None)
        return doc

