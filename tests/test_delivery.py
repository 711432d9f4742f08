"""The delivery layer (queue, spool, worker) with an in-process transport whose failures the
tests script: order, retries, dead letters, spill to disk, checkpoints, restarts, torn spools.
The real Elasticsearch and Fluentd paths are tested in test_ship_*.py."""

from __future__ import annotations

import os
import threading
import time

import orjson
import pytest

from maillog2json.delivery import Outcome, TransportError
from maillog2json.delivery.queue import DeliveryQueue, Spool, SpoolError
from maillog2json.delivery.worker import Shipper, ShipperOptions


class ScriptedTransport:
    """Records what it is sent; fails while ``down`` is set; per-item outcomes on request."""
    name = "scripted"

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.calls = 0
        self.down = False
        self.item_outcome: dict[bytes, str] = {}   # body -> "retry" (once) | "dead" | "dup"
        self.lock = threading.Lock()

    def encode(self, doc):
        return ("r", orjson.dumps(doc))

    def send(self, batch):
        with self.lock:
            self.calls += 1
            if self.down:
                raise TransportError("connection refused")
            out = Outcome()
            for i, (_route, body) in enumerate(batch):
                what = self.item_outcome.get(body)
                if what == "retry":
                    del self.item_outcome[body]
                    out.retry.append(i)
                elif what == "dead":
                    out.dead.append((i, "mapper_parsing_exception: bad"))
                elif what == "dup":
                    out.duplicates.append(i)
                else:
                    self.received.append(body)
            return out

    def close(self):
        pass


def docs(a, b):
    return [{"n": i} for i in range(a, b)]


def numbers(t: ScriptedTransport) -> list[int]:
    return [orjson.loads(b)["n"] for b in t.received]


def opts(**kw):
    base = dict(batch_items=50, flush_interval=0.02, memory_items=200, retry_initial=0.01, retry_max=0.05)
    base.update(kw)
    return ShipperOptions(**base)


def test_documents_arrive_in_order_in_batches():
    t = ScriptedTransport()
    s = Shipper(t, opts(), log=lambda m: None)
    s.put_docs(docs(0, 1000))
    assert s.flush(5)
    s.close(1)
    assert numbers(t) == list(range(1000))
    assert t.calls >= 20                 # 50 per batch
    assert s.stats()["sent"] == 1000


def test_partial_batch_is_sent_after_the_flush_interval():
    t = ScriptedTransport()
    s = Shipper(t, opts(batch_items=1000, flush_interval=0.1), log=lambda m: None)
    s.put_docs(docs(0, 3))
    deadline = time.monotonic() + 3
    while len(t.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert numbers(t) == [0, 1, 2]       # without any flush call: the interval alone
    s.close(1)


def test_outage_is_retried_until_the_sink_is_back_and_reported():
    t = ScriptedTransport()
    t.down = True
    messages = []
    s = Shipper(t, opts(), log=messages.append)
    s.put_docs(docs(0, 120))
    time.sleep(0.2)
    assert t.received == [] and t.calls > 2
    t.down = False
    assert s.flush(5)
    s.close(1)
    assert numbers(t) == list(range(120))
    st = s.stats()
    assert st["failures"] >= 2 and st["retried"] >= 2 * 50
    assert any("connection refused" in m for m in messages)
    assert any("delivering again" in m for m in messages)


def test_per_item_retry_dead_letter_and_duplicates(tmp_path):
    t = ScriptedTransport()
    t.item_outcome = {orjson.dumps({"n": 3}): "retry", orjson.dumps({"n": 5}): "dead",
                      orjson.dumps({"n": 7}): "dup"}
    dead = tmp_path / "dead.jsonl"
    s = Shipper(t, opts(dead_letter=str(dead)), log=lambda m: None)
    s.put_docs(docs(0, 10))
    assert s.flush(5)
    s.close(1)
    got = numbers(t)
    assert sorted(got) == [0, 1, 2, 3, 4, 6, 8, 9]      # 3 arrived on the retry
    assert got[-1] == 3 or got.index(3) > got.index(2)
    rec = [orjson.loads(x) for x in dead.read_bytes().splitlines()]
    assert len(rec) == 1 and rec[0]["reason"].startswith("mapper_parsing_exception")
    assert orjson.loads(rec[0]["body"]) == {"n": 5}
    st = s.stats()
    assert (st["sent"], st["duplicates"], st["dead_lettered"]) == (8, 1, 1)


def test_memory_full_without_spool_slows_the_reader_and_loses_nothing():
    t = ScriptedTransport()
    t.down = True
    s = Shipper(t, opts(memory_items=100), log=lambda m: None)
    done = threading.Event()

    def produce():
        s.put_docs(docs(0, 300))
        done.set()
    th = threading.Thread(target=produce)
    th.start()
    time.sleep(0.3)
    assert not done.is_set()               # blocked: memory holds 100
    assert s.queue.pending() <= 100
    t.down = False
    th.join(5)
    assert done.is_set() and s.flush(5)
    s.close(1)
    assert numbers(t) == list(range(300))


def test_memory_full_spills_to_the_spool_and_is_read_back_in_order(tmp_path):
    t = ScriptedTransport()
    t.down = True
    s = Shipper(t, opts(memory_items=100, spool_dir=str(tmp_path / "spool")), log=lambda m: None)
    s.put_docs(docs(0, 1000))              # does not block: 900 go to disk
    assert s.queue.spooled == 900
    assert any(n.endswith(".seg") for n in os.listdir(tmp_path / "spool"))
    t.down = False
    assert s.flush(10)
    s.put_docs(docs(1000, 1100))           # memory again once the spool is read back
    assert s.flush(5)
    s.close(1)
    assert numbers(t) == list(range(1100))
    assert not any(n.endswith(".seg") for n in os.listdir(tmp_path / "spool"))   # released


def test_spool_full_blocks_the_reader(tmp_path):
    t = ScriptedTransport()
    t.down = True
    s = Shipper(t, opts(memory_items=10, spool_dir=str(tmp_path / "s"), spool_max_bytes=2000),
                log=lambda m: None)
    stop = threading.Event()
    with pytest.raises(InterruptedError):
        threading.Timer(0.3, stop.set).start()
        s.put_docs(docs(0, 10), stop.is_set)
        for i in range(10, 1000):
            s.put_docs(docs(i, i + 1), stop.is_set)
    assert s.queue.spool.size >= 2000 and s.queue.spool.size < 4000
    t.down = False
    s.close(5)
    assert numbers(t) == list(range(len(t.received)))


def test_exit_with_the_sink_down_keeps_everything_for_the_next_run(tmp_path):
    spool = str(tmp_path / "spool")
    t = ScriptedTransport()
    t.down = True
    s = Shipper(t, opts(memory_items=100, spool_dir=spool), log=lambda m: None)
    s.put_docs(docs(0, 250))
    s.close(0.2)
    assert s.stats()["left_in_spool"] == 250 and t.received == []
    t2 = ScriptedTransport()
    msgs = []
    s2 = Shipper(t2, opts(memory_items=100, spool_dir=spool), log=msgs.append)
    assert s2.stats()["replayed"] == 250
    s2.put_docs(docs(250, 300))             # new documents come after the replayed ones
    assert s2.flush(5)
    s2.close(1)
    assert numbers(t2) == list(range(300))
    assert any("left in the spool" in m for m in msgs)


def test_checkpoint_then_crash_loses_nothing(tmp_path):
    """A checkpoint makes memory items durable: a process killed right after it (no close)
    is simulated by abandoning the shipper and opening the spool again."""
    spool = str(tmp_path / "spool")
    t = ScriptedTransport()
    t.down = True
    s = Shipper(t, opts(spool_dir=spool), log=lambda m: None)
    s.put_docs(docs(0, 40))
    assert s.checkpoint()
    s._abort.set()
    s.queue.close()
    s._thread.join(2)
    s.queue.spool._lock.close()             # the kernel drops the lock of a dead process
    t2 = ScriptedTransport()
    s2 = Shipper(t2, opts(spool_dir=spool), log=lambda m: None)
    assert s2.flush(5)
    s2.close(1)
    assert numbers(t2) == list(range(40))


def test_a_torn_record_at_the_end_of_a_segment_is_skipped(tmp_path):
    sp = Spool(str(tmp_path), 1 << 20)
    sp.append([(1, ("r", b"one")), (2, ("r", b"two"))])
    sp.close()
    seg = [n for n in os.listdir(tmp_path) if n.endswith(".seg")][0]
    with open(tmp_path / seg, "ab") as f:
        f.write(b"\x20\x00\x00\x00garbage")       # a write cut short by a crash
    sp2 = Spool(str(tmp_path), 1 << 20)
    assert [i for _s, i in sp2.read(0, 10)] == [("r", b"one"), ("r", b"two")]
    q = DeliveryQueue(10, 1 << 20, sp2)
    assert q.pending() == 2
    sp2.close()


def test_a_spool_directory_is_used_by_one_process_at_a_time(tmp_path):
    sp = Spool(str(tmp_path), 1 << 20)
    with pytest.raises(SpoolError, match="in use"):
        Spool(str(tmp_path), 1 << 20)
    sp.close()
    Spool(str(tmp_path), 1 << 20).close()


def test_the_acked_mark_is_synced_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    """A sync writes the acknowledged mark to a temp file, fsyncs it, then renames it over
    the old one and fsyncs the folder: after a power loss the mark is the old or the new
    number, never an empty file (read as 0, which would send the whole spool again)."""
    sp = Spool(str(tmp_path), 1 << 20)
    sp.append([(1, ("r", b"one")), (2, ("r", b"two"))])
    sp.acked = 1
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    sp.sync()
    monkeypatch.undo()
    acked = str(tmp_path / "acked")
    i = events.index(("replace", acked))
    synced_before = [p for kind, p in events[:i] if kind == "fsync"]
    assert any(os.path.basename(p).startswith(".acked.") for p in synced_before), events
    assert ("fsync", str(tmp_path)) in events[i:]
    assert open(acked).read() == "1\n"
    sp.close()
