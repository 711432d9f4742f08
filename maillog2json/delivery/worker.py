"""One sink's worker thread: batches from the queue, sends them, retries, dead-letters.

A batch leaves the queue only when every item in it is settled: delivered, already there
(a replay: counted as a duplicate), or dead-lettered with the reason. Transient failures
(the whole request, or single items) are retried with exponential backoff and jitter, for
as long as it takes: an outage slows delivery, it never loses a document. While that
happens, new documents wait in memory, then in the spool, then the reader waits.

The pipeline thread only encodes and enqueues (:meth:`Shipper.put_docs`); it never waits
for the network except through that backpressure.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TextIO

import orjson

from maillog2json.delivery import Doc, Item, Transport, TransportError
from maillog2json.delivery.queue import DeliveryQueue, Spool


@dataclass
class ShipperOptions:
    batch_items: int = 1000            # documents per request / chunk
    batch_bytes: int = 5 << 20         # bytes per request / chunk
    flush_interval: float = 1.0        # send a partial batch after this long (tail -F promptness)
    memory_items: int = 10_000         # the in-memory queue's bound (then the spool)
    memory_bytes: int = 64 << 20
    spool_dir: Optional[str] = None    # this sink's spool directory (None: memory only)
    spool_max_bytes: int = 1 << 30     # spool size cap (then the reader waits)
    retry_initial: float = 0.5         # first backoff, doubled up to retry_max
    retry_max: float = 30.0
    dead_letter: Optional[str] = None  # JSON-lines file for documents no retry can deliver
    report_every: float = 60.0         # seconds between repeated "still failing" messages


@dataclass
class Counters:
    sent: int = 0            # accepted by the sink
    duplicates: int = 0      # already there (Elasticsearch 409 on create: a replay)
    retried: int = 0         # documents sent again after a failure
    failures: int = 0        # failed requests/chunks
    dead_lettered: int = 0   # refused for good, written to the dead-letter file
    left_in_spool: int = 0   # not delivered at exit, kept in the spool for the next run
    undelivered: int = 0     # not delivered at exit and no spool to keep them: lost


class Shipper:
    """A transport with its queue, its worker thread and its counters."""

    def __init__(self, transport: Transport, options: ShipperOptions,
                 log: Optional[Callable[[str], None]] = None) -> None:
        self.transport = transport
        self.options = options
        self.name = transport.name
        self.counters = Counters()
        self._log = log or (lambda msg: print(f"maillog2json: {msg}", file=sys.stderr, flush=True))
        spool = Spool(options.spool_dir, options.spool_max_bytes) if options.spool_dir else None
        self.queue = DeliveryQueue(options.memory_items, options.memory_bytes, spool)
        if self.queue.replayed:
            self._log(f"{self.name}: {self.queue.replayed} documents left in the spool by the last run "
                      "are sent first")
        self._encode = transport.encode
        self._flushing = threading.Event()
        self._abort = threading.Event()       # give up waiting (shutdown grace expired)
        self._dead: Optional[TextIO] = None
        self._failing_since: Optional[float] = None
        self._last_report = 0.0
        self._thread = threading.Thread(target=self._run, name=f"maillog2json-{self.name}", daemon=True)
        self._thread.start()

    # -- the pipeline side ----------------------------------------------------------------
    def put_docs(self, docs: list[Doc], stop: Callable[[], bool] = lambda: False) -> None:
        """Encode and enqueue documents (blocks while the queue and spool are full)."""
        encode = self._encode
        self.queue.put([encode(d) for d in docs], stop)

    def flush(self, timeout: Optional[float] = None, stop: Callable[[], bool] = lambda: False) -> bool:
        """Send what is queued now and wait until it is settled; False on timeout/stop."""
        self._flushing.set()
        try:
            return self.queue.wait_empty(timeout, stop)
        finally:
            self._flushing.clear()

    def checkpoint(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Everything enqueued so far is safe when this returns True: spooled and synced
        (with a spool), else delivered (without one, this waits for the sink)."""
        if self.queue.spool is not None:
            self.queue.checkpoint()
            return True
        return self.flush(None, stop)

    def close(self, grace: float) -> None:
        """Deliver what can be delivered within ``grace`` seconds; keep the rest in the
        spool (or count it as undelivered when there is none); stop the worker."""
        delivered = self.flush(grace)
        self.queue.close()
        if not delivered:
            self._abort.set()
        # a request in flight may take up to the transport's timeout: its batch is still in
        # the queue, so it is spooled below either way (and resent, at least once)
        self._thread.join(max(grace, 1.0) if delivered else 5.0)
        left = self.queue.pending()
        self.queue.persist()
        if left:
            if self.queue.spool is not None:
                self.counters.left_in_spool = left
                self._log(f"{self.name}: {left} documents not delivered yet, kept in the spool "
                          f"{self.options.spool_dir} for the next run")
            else:
                self.counters.undelivered = left
                self._log(f"{self.name}: {left} documents could not be delivered and are lost "
                          "(no --spool to keep them)")
        try:
            self.transport.close()
        except Exception:                       # closing a broken connection: nothing to save
            pass
        if self._dead is not None:
            self._dead.close()

    def stats(self) -> dict[str, int]:
        c = self.counters
        out = {"sent": c.sent, "duplicates": c.duplicates, "retried": c.retried, "failures": c.failures,
               "dead_lettered": c.dead_lettered, "spooled": self.queue.spooled, "replayed": self.queue.replayed,
               "left_in_spool": c.left_in_spool, "undelivered": c.undelivered, "queued": self.queue.pending()}
        if self.queue.lost:
            out["lost_in_spool"] = self.queue.lost
        return out

    # -- the worker thread --------------------------------------------------------------------
    def _run(self) -> None:
        opts = self.options
        hurry = lambda: self._flushing.is_set() or self._abort.is_set()   # noqa: E731
        while not self._abort.is_set():
            batch = self.queue.take(opts.batch_items, opts.batch_bytes, opts.flush_interval, hurry)
            if not batch:
                if self.queue.closed:
                    return
                continue
            if self._deliver([item for _seq, item in batch]):
                self.queue.ack(len(batch))
            else:
                return          # aborted: the batch stays queued (and goes to the spool)

    def _deliver(self, items: list[Item]) -> bool:
        """Send until every item is settled; False only when aborted."""
        todo = list(range(len(items)))
        delay = self.options.retry_initial
        while True:
            try:
                outcome = self.transport.send([items[i] for i in todo])
            except TransportError as exc:
                self._failed(str(exc), len(todo))
            except Exception as exc:     # a bug or an unexpected client error: report, retry
                self._failed(f"{type(exc).__name__}: {exc}", len(todo))
            else:
                retry = set(outcome.retry)
                self.counters.duplicates += len(outcome.duplicates)
                for i, reason in outcome.dead:
                    self._dead_letter(items[todo[i]], reason)
                settled = len(todo) - len(retry) - len(outcome.duplicates) - len(outcome.dead)
                self.counters.sent += settled
                if not retry:
                    self._recovered()
                    return True
                todo = [todo[i] for i in sorted(retry)]
                self._failed(f"{len(todo)} documents refused for now (e.g. 429, 5xx)", len(todo), request=False)
            self.counters.retried += len(todo)
            if self._abort.wait(delay * (0.5 + random.random() / 2)):
                return False
            delay = min(delay * 2, self.options.retry_max)

    def _failed(self, why: str, n: int, request: bool = True) -> None:
        if request:
            self.counters.failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            self._last_report = now
            self._log(f"{self.name}: {why}; retrying ({self.queue.pending()} documents waiting)")
        elif now - self._last_report >= self.options.report_every:
            self._last_report = now
            self._log(f"{self.name}: still failing after {now - self._failing_since:.0f} s: {why} "
                      f"({self.queue.pending()} documents waiting)")

    def _recovered(self) -> None:
        if self._failing_since is not None:
            self._log(f"{self.name}: delivering again after {time.monotonic() - self._failing_since:.1f} s")
            self._failing_since = None

    def _dead_letter(self, item: Item, reason: str) -> None:
        """A document no retry can deliver: kept with the reason, never dropped silently."""
        self.counters.dead_lettered += 1
        route, body = item
        try:
            text: Any = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.hex()
        rec = orjson.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sink": self.name,
                            "route": route, "reason": reason, "body": text}) + b"\n"
        path = self.options.dead_letter
        if path is None:
            sys.stderr.write(f"maillog2json: {self.name}: dead letter: {rec.decode()}")
            return
        try:
            if self._dead is None:
                self._dead = open(path, "a", encoding="utf-8")
            self._dead.write(rec.decode())
            self._dead.flush()
            os.fsync(self._dead.fileno())
        except OSError as exc:      # the dead-letter file itself failed: stderr is the last resort
            sys.stderr.write(f"maillog2json: {self.name}: cannot write {path} ({exc.strerror or exc}); "
                             f"dead letter: {rec.decode()}")
