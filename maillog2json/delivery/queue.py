"""The queue between the pipeline and a sink's worker: memory first, then an on-disk spool.

Items carry increasing sequence numbers and leave only from the head, when the worker
acknowledges them (the sink took them, or they were dead-lettered), so the order is kept
and nothing is removed before it is safe.

* While the sink keeps up, items live in memory only (a bounded deque).
* When memory is full (the sink is down or slow) and a spool directory is set, new items
  are appended to spool segment files instead, until the worker has read the spool back;
  then memory takes over again. When the spool reaches its size cap too, ``put`` blocks:
  the reader is slowed down, nothing is dropped.
* :meth:`checkpoint` makes every unacknowledged item durable (memory items are written to
  a segment, segments are fsynced). The CLI calls it before it saves its state file, so
  the input position in that file never runs ahead of what is safe. After a crash or a
  restart, :meth:`open` reads back what is spooled and not acknowledged, in order.

Segment files are named by the sequence number of their first record, and the ranges of
the segments never overlap, so sorting their names gives the order. A record is
``<length:u32><crc32:u32><seq:u64>`` then ``<route length:u8><route><body>``; a torn record
at the end of a segment (the process died mid-write) fails its CRC and ends that segment.
"""

from __future__ import annotations

import collections
import fcntl
import os
import struct
import threading
import time
import zlib
from typing import BinaryIO, Callable, Optional

from maillog2json.delivery import Item
from maillog2json.state import atomic_write

HEAD = struct.Struct("<IIQ")
SEGMENT_MAX = 16 << 20          # bytes per spool segment file before the next one starts
ACKED = "acked"


class SpoolError(Exception):
    """The spool directory cannot be used (not writable, locked by another process)."""


class Spool:
    """Segment files in one directory, with the acknowledged sequence number beside them."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        try:
            os.makedirs(path, exist_ok=True)
            self._lock = open(os.path.join(path, "lock"), "a")
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SpoolError(f"spool directory {path} is in use by another maillog2json") from None
        self.acked = self._read_acked()
        self._acked_written = self.acked
        # first seq -> last seq of each segment; their ranges never overlap
        self.segments: dict[int, int] = {}
        for name in sorted(n for n in os.listdir(path) if n.endswith(".seg")):
            first = int(name[:-4])
            last = first - 1
            for seq, _item, _end in self._records(first, 0):
                last = seq
            self.segments[first] = last
        self.size = sum(os.path.getsize(self._name(s)) for s in self.segments)
        self._writer: Optional[tuple[int, BinaryIO]] = None     # (first seq, file) being appended to
        self._unsynced: set[int] = set()
        self._cursor = (-1, 0, 0)         # (last seq read, its segment, the offset after it)

    def _name(self, first: int) -> str:
        return os.path.join(self.path, f"{first:020d}.seg")

    def _read_acked(self) -> int:
        try:
            with open(os.path.join(self.path, ACKED)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def last_seq(self) -> int:
        """The highest sequence number on disk or acknowledged (numbering goes on from it)."""
        return max([self.acked, *self.segments.values()])

    def _records(self, first: int, pos: int):
        """(seq, item, offset after it) of one segment's records from ``pos`` on, read one
        record at a time: a reader wanting a batch stops early without reading the rest
        of the segment (up to SEGMENT_MAX)."""
        try:
            f = open(self._name(first), "rb")
        except FileNotFoundError:
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            f.seek(pos)
            while True:
                head = f.read(HEAD.size)
                if len(head) < HEAD.size:
                    return
                length, crc, seq = HEAD.unpack(head)
                if pos + HEAD.size + length > size:
                    return        # (a torn length: read nothing of it)
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload, seq & 0xFFFFFFFF) != crc:
                    return        # a torn write at the end: the rest of this segment is lost
                pos += HEAD.size + length
                rl = payload[0]
                yield seq, (payload[1:1 + rl].decode(), payload[1 + rl:]), pos

    # -- writing ------------------------------------------------------------------------
    def append(self, records: list[tuple[int, Item]], new_segment: bool = False) -> int:
        """Append records (seq, item) and return the bytes written. A new segment starts
        when asked (memory items written at a checkpoint come before what the current
        segment holds) or when the current one is full."""
        if new_segment or self._writer is None or self._writer[1].tell() >= SEGMENT_MAX:
            self._start_segment(records[0][0])
        first, f = self._writer                  # type: ignore[misc]
        parts = []
        for seq, (route, body) in records:
            r = route.encode()
            payload = bytes((len(r),)) + r + body
            parts.append(HEAD.pack(len(payload), zlib.crc32(payload, seq & 0xFFFFFFFF), seq))
            parts.append(payload)
        data = b"".join(parts)
        f.write(data)
        f.flush()                   # in the OS now: survives the process; fsync at checkpoints
        self.size += len(data)
        self.segments[first] = records[-1][0]
        self._unsynced.add(first)
        return len(data)

    def _start_segment(self, first: int) -> None:
        self.end_segment()
        self._writer = (first, open(self._name(first), "ab"))
        self.segments[first] = first - 1
        self.segments = dict(sorted(self.segments.items()))

    def end_segment(self) -> None:
        if self._writer is not None:
            self._writer[1].close()
            self._writer = None

    def sync(self) -> None:
        """fsync what was written since the last sync, the directory and the acked mark."""
        for first in self._unsynced:
            if first in self.segments:
                fd = os.open(self._name(first), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._unsynced.clear()
        self.write_acked(force=True)        # (which fsyncs the folder: new segments' entries too)

    def write_acked(self, force: bool = False) -> None:
        """Record the acknowledged mark (atomically and durably); after a crash, at most
        what was acknowledged since the last write is sent again."""
        if self.acked == self._acked_written and not force:
            return
        atomic_write(os.path.join(self.path, ACKED), b"%d\n" % self.acked)
        self._acked_written = self.acked

    # -- reading back ---------------------------------------------------------------------
    def read(self, after: int, max_items: int) -> list[tuple[int, Item]]:
        """Up to ``max_items`` records with seq > ``after``, in order."""
        out: list[tuple[int, Item]] = []
        last_seq, cur_first, cur_pos = self._cursor
        for first, last in list(self.segments.items()):
            if last <= after:
                continue
            pos = cur_pos if (first == cur_first and last_seq == after) else 0
            for seq, item, end in self._records(first, pos):
                if seq > after:
                    out.append((seq, item))
                    after = seq
                    self._cursor = (seq, first, end)
                    if len(out) >= max_items:
                        return out
        return out

    def release(self, acked: int) -> None:
        """Delete the segments whose records are all acknowledged."""
        self.acked = acked
        for first, last in list(self.segments.items()):
            if last > acked or (self._writer is not None and self._writer[0] == first):
                break
            try:
                self.size -= os.path.getsize(self._name(first))
                os.unlink(self._name(first))
            except FileNotFoundError:
                pass
            del self.segments[first]
            self._unsynced.discard(first)

    def close(self) -> None:
        self.end_segment()
        self.write_acked()
        self._lock.close()


class DeliveryQueue:
    """A FIFO of items for one worker: ``put`` on the pipeline side, ``take``/``ack`` on
    the worker side; memory first, the spool when memory is full."""

    def __init__(self, memory_items: int = 10_000, memory_bytes: int = 64 << 20,
                 spool: Optional[Spool] = None) -> None:
        self.memory_items = memory_items
        self.memory_bytes = memory_bytes
        self.spool = spool
        self._mem: collections.deque[tuple[int, Item]] = collections.deque()
        self._mem_bytes = 0
        self._cond = threading.Condition()
        self.acked = 0
        self.seq = 0
        self._spilling = False          # new items go to the spool until it is read back
        self._dirty_from: Optional[int] = None   # the first memory seq not yet on disk
        self.spooled = 0                # items written to the spool (for --stats)
        self.replayed = 0               # items found in the spool at start
        self.lost = 0                   # spooled items that could not be read back
        self.closed = False
        self._persisted = False
        if spool is not None:
            self.acked = spool.acked
            self.seq = spool.last_seq()
            self.replayed = self.seq - self.acked
            self._spilling = self.seq > self.acked   # what the last run left is sent first

    # -- the pipeline side --------------------------------------------------------------
    def put(self, items: list[Item], stop: Callable[[], bool] = lambda: False) -> None:
        """Add items in order; blocks while memory (and the spool) is full. Raises
        InterruptedError when ``stop()`` turns true while blocked."""
        i = 0
        with self._cond:
            while i < len(items):
                if not self._spilling and len(self._mem) < self.memory_items \
                        and self._mem_bytes < self.memory_bytes:
                    room = min(len(items) - i, self.memory_items - len(self._mem))
                    if self._dirty_from is None:
                        self._dirty_from = self.seq + 1
                    for item in items[i:i + room]:
                        self.seq += 1
                        self._mem.append((self.seq, item))
                        self._mem_bytes += len(item[1])
                    i += room
                    self._cond.notify_all()
                elif self.spool is not None and self.spool.size < self.spool.max_bytes:
                    self._spilling = True
                    chunk = []
                    for item in items[i:]:
                        self.seq += 1
                        chunk.append((self.seq, item))
                    self.spool.append(chunk)
                    self.spooled += len(chunk)
                    i = len(items)
                    self._cond.notify_all()
                else:
                    if stop():
                        raise InterruptedError("stopped while the delivery queue was full")
                    self._cond.wait(0.2)   # full: the reader waits for the worker

    def checkpoint(self) -> None:
        """Make every unacknowledged item durable in the spool (which must be set)."""
        assert self.spool is not None
        with self._cond:
            if self._dirty_from is not None:
                dirty = [rec for rec in self._mem if rec[0] >= self._dirty_from]
                if dirty:
                    self.spooled += len(dirty)
                    self.spool.append(dirty, new_segment=True)
                    self.spool.end_segment()
                self._dirty_from = None
            self.spool.sync()

    # -- the worker side ------------------------------------------------------------------
    def take(self, max_items: int, max_bytes: int, linger: float, hurry: Callable[[], bool]) \
            -> list[tuple[int, Item]]:
        """The next items from the head (they stay queued until :meth:`ack`). Waits up to
        ``linger`` seconds from the first available item for a full batch, less when
        ``hurry()`` (a flush or shutdown is asked for). Empty when closed and drained."""
        deadline: Optional[float] = None
        with self._cond:
            while True:
                self._refill()
                n = len(self._mem)
                if n and (n >= max_items or self._mem_bytes >= max_bytes or hurry() or self.closed):
                    break
                if n and deadline is None:
                    deadline = time.monotonic() + linger
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.closed and not n:
                    return []
                wait = 0.05 if deadline is None else min(0.05, max(0.001, deadline - time.monotonic()))
                self._cond.wait(wait)
            out: list[tuple[int, Item]] = []
            size = 0
            for rec in self._mem:
                blen = len(rec[1][1])
                if len(out) >= max_items or (out and size + blen > max_bytes):
                    break
                out.append(rec)
                size += blen
            return out

    def _refill(self) -> None:
        """Memory is empty and items wait in the spool: load the next ones back."""
        if self._mem or not self._spilling or self.spool is None:
            return
        recs = self.spool.read(self.acked, self.memory_items)
        for rec in recs:
            self._mem.append(rec)
            self._mem_bytes += len(rec[1][1])
        if not recs and self.seq > self.acked:
            # the rest of the spool was torn (a crash mid-write) or removed: say so, go on
            self.lost += self.seq - self.acked
            self.acked = self.seq
        if not recs or recs[-1][0] >= self.seq:     # all read back: memory takes over again
            self._spilling = False
            self.spool.end_segment()

    def ack(self, n: int) -> None:
        """The first ``n`` items are done (delivered, already there, or dead-lettered)."""
        with self._cond:
            for _ in range(n):
                seq, item = self._mem.popleft()
                self._mem_bytes -= len(item[1])
                self.acked = seq
            if self._dirty_from is not None:
                self._dirty_from = max(self._dirty_from, self.acked + 1)
                if not self._mem or self._dirty_from > self._mem[-1][0]:
                    self._dirty_from = None
            if self.spool is not None and not self._persisted:
                self.spool.release(self.acked)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self.seq - self.acked

    def wait_empty(self, timeout: Optional[float], stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait until everything put was acknowledged; False on timeout or stop."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.seq > self.acked:
                if stop() or (end is not None and time.monotonic() >= end):
                    return False
                self._cond.wait(0.05)
            return True

    def close(self) -> None:
        """No more items: the worker stops once drained; what is left goes to the spool."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def persist(self) -> None:
        """At exit, after the worker stopped: what is not acknowledged stays in the spool."""
        if self.spool is not None:
            self.checkpoint()
            with self._cond:
                self._persisted = True      # a late ack (a send that was still running) no longer
                self.spool.close()          # touches the closed spool: those documents are resent
