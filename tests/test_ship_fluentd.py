"""End to end: ``maillog2json --fluentd`` (a real process) into the protocol-exact forward
receiver of fluentd_receiver.py, through faults: every document arrives at least once and
in order, unacked chunks are sent again, a receiver that is down loses nothing, and a
spool carries documents over a restart."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from fluentd_receiver import FluentdReceiver
from helpers import ROOT, SAMPLES, spawn

SAMPLE = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"
BASE = [sys.executable, "-m", "maillog2json", "--year", "2026", "--tz", "UTC"]


def expected(path: Path, *extra: str) -> list[dict]:
    """The documents maillog2json writes to stdout for ``path``, in the ECS spelling
    (what the Fluentd sink sends by default)."""
    out = subprocess.run(BASE + ["--schema", "ecs", *extra, str(path)], cwd=ROOT, capture_output=True,
                         check=True).stdout
    return [orjson.loads(x) for x in out.splitlines()]


def ship(address: str, *args: str, input_path: Path = SAMPLE, timeout: float = 120,
         env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(BASE + ["--fluentd", address, "--flush-interval", "0.05", "--stats", *args,
                                  str(input_path)],
                          cwd=ROOT, capture_output=True, timeout=timeout, env=env)


def report(name: str, expected: int, received: int, distinct: int) -> None:
    """One line per fault test for the figures in notes (``pytest -s ... | grep FAULT``)."""
    print(f"\nFAULT fluentd {name}: expected {expected}, received {received}, distinct {distinct}, "
          f"lost {expected - distinct}, repeated {received - distinct}")


def records(rx: FluentdReceiver) -> list[dict]:
    return [e.record for e in rx.snapshot()]


def streams(recs: list[dict]) -> dict[str, list[dict]]:
    """The documents of each stream (line / message) in arrival order: order is kept within
    a stream (a tag); a batch's two streams go as two chunks."""
    out: dict[str, list[dict]] = {"line": [], "message": []}
    for r in recs:
        kind = r["maillog2json"]["type"] if "maillog2json" in r else r["type"]
        out[kind].append(r)
    return out


def first_occurrences(recs: list[dict]) -> list[dict]:
    """At-least-once: a resent chunk repeats documents; their first arrivals keep the order."""
    seen: set[str] = set()
    out = []
    for r in recs:
        key = r["maillog2json"]["id"]
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


@pytest.fixture
def rx():
    r = FluentdReceiver().start()
    yield r
    r.stop()


def test_every_document_arrives_in_order_with_acks(rx):
    want = expected(SAMPLE)
    p = ship(rx.address)
    assert p.returncode == 0, p.stderr.decode()
    got = records(rx)
    assert len(got) == len(want)          # exactly once, in order per stream, with no fault
    assert streams(got) == streams(want)
    assert rx.errors == []
    tags = {e.tag for e in rx.snapshot()}
    assert tags == {"maillog2json.lines", "maillog2json.messages"}
    # every message was a PackedForward chunk that asked for (and got) an ack
    assert rx.messages and all(m.mode in ("PackedForward", "CompressedPackedForward") for m in rx.messages)
    assert all(m.option.get("chunk") for m in rx.messages)
    assert b"sink fluentd" in p.stderr and f"sent                       {len(want)}".encode() in p.stderr


def test_compressed_chunks_and_native_schema(rx):
    want = [d for d in (orjson.loads(x) for x in subprocess.run(
        BASE + ["--emit", "lines", str(SAMPLES / "maillog-small.log")], cwd=ROOT, capture_output=True,
        check=True).stdout.splitlines())]
    p = ship(rx.address, "--fluentd-compress", "--fluentd-schema", "native", "--emit", "lines",
             input_path=SAMPLES / "maillog-small.log")
    assert p.returncode == 0, p.stderr.decode()
    assert streams(records(rx)) == streams(want)
    assert {m.mode for m in rx.messages} == {"CompressedPackedForward"}


def test_connection_dropped_before_the_ack_is_resent(rx):
    want = expected(SAMPLE)
    rx.fault_after = 2
    rx.drop_before_ack = 3                # three chunks arrive but are never acked
    p = ship(rx.address)
    assert p.returncode == 0, p.stderr.decode()
    got = records(rx)
    report("drop-before-ack x3", len(want), len(got), len(first_occurrences(got)))
    assert streams(first_occurrences(got)) == streams(want)   # nothing lost, order of first arrival kept
    assert len(got) > len(want)                    # the unacked chunks came again
    assert b"retrying" in p.stderr


def test_an_ack_for_another_chunk_is_no_ack_and_the_chunk_is_resent(rx):
    want = expected(SAMPLE, "--emit", "lines")
    rx.fault_after = 1
    rx.wrong_ack = 2                     # acks with another chunk id: not an ack of ours
    p = ship(rx.address, "--emit", "lines")
    assert p.returncode == 0, p.stderr.decode()
    got = records(rx)
    report("wrong-ack x2", len(want), len(got), len(first_occurrences(got)))
    assert streams(first_occurrences(got)) == streams(want)


def test_receiver_down_for_a_while_loses_nothing():
    rx = FluentdReceiver().start()
    port = rx.port
    rx.stop()                             # down before the run starts
    want = expected(SAMPLE)
    proc = spawn(BASE + ["--fluentd", f"127.0.0.1:{port}", "--flush-interval", "0.05",
                                    "--queue-size", "500", "--stats", str(SAMPLE)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.0)
    assert proc.poll() is None            # waiting (memory full: the reader is slowed)
    rx2 = FluentdReceiver()
    rx2.port = port
    rx2.start()
    try:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        got = records(rx2)
        report("receiver-down-2s", len(want), len(got), len(first_occurrences(got)))
        assert streams(first_occurrences(got)) == streams(want)
        assert b"connection refused" in err.lower() or b"refused" in err
        assert b"delivering again" in err
    finally:
        rx2.stop()


def test_sigterm_with_the_receiver_down_spools_and_the_next_run_delivers(tmp_path):
    rx = FluentdReceiver().start()
    port = rx.port
    rx.stop()
    spool = tmp_path / "spool"
    want = expected(SAMPLE)
    proc = spawn(BASE + ["--fluentd", f"127.0.0.1:{port}", "--spool", str(spool),
                                    "--queue-size", "200", "--shutdown-grace", "0.5", "--stats", str(SAMPLE)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the whole file is read (the spool takes what memory cannot), then delivery is retried
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(n.endswith(".seg") for n in os.listdir(spool / "fluentd")) if (spool / "fluentd").exists() else False:
            break
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"kept in the spool" in err
    rx2 = FluentdReceiver()
    rx2.port = port
    rx2.start()
    try:
        # the next run: the same input again (as after a restart without --state): the spool
        # goes first, then the file is read again; at least once, in order of first arrival
        p = subprocess.run(BASE + ["--fluentd", f"127.0.0.1:{port}", "--spool", str(spool),
                                   "--flush-interval", "0.05", "--stats", str(SAMPLE)],
                           cwd=ROOT, capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        assert b"left in the spool by the last run" in p.stderr
        report("sigterm-spool-restart", len(want), len(records(rx2)), len(first_occurrences(records(rx2))))
        got = first_occurrences(records(rx2))
        assert sorted(d["maillog2json"]["id"] for d in got) == sorted(d["maillog2json"]["id"] for d in want)
    finally:
        rx2.stop()


def test_shared_key_from_the_environment_never_from_argv(tmp_path):
    rx = FluentdReceiver(shared_key="s3cret-key").start()
    try:
        p = ship(rx.address, "--emit", "lines", input_path=SAMPLES / "maillog-small.log",
                 env_extra={"MAILLOG2JSON_FLUENTD_SHARED_KEY": "s3cret-key"})
        assert p.returncode == 0, p.stderr.decode()
        assert len(records(rx)) == 400 and rx.auth_failures == []
        shown = subprocess.run(BASE + ["--fluentd", rx.address, "--print-config"], cwd=ROOT, capture_output=True,
                               env={**os.environ, "MAILLOG2JSON_FLUENTD_SHARED_KEY": "s3cret-key"}).stdout
        assert b"s3cret-key" not in shown and b"MAILLOG2JSON_FLUENTD_SHARED_KEY: set (masked)" in shown
    finally:
        rx.stop()


def test_omprog_answers_ok_only_once_the_documents_are_delivered(rx):
    """Under rsyslog's omprog without a spool, a message is confirmed once Fluentd acked its
    documents: after each OK, the receiver already has them."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:20]
    proc = spawn(BASE + ["--omprog", "--emit", "lines", "--fluentd", rx.address],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"OK\n"          # ready
        for i, line in enumerate(lines, 1):
            proc.stdin.write(line)
            proc.stdin.flush()
            assert proc.stdout.readline() == b"OK\n"
            assert len(rx.snapshot()) == i                # delivered before the confirmation
    finally:
        proc.stdin.close()
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read().decode()


def test_omprog_sigterm_while_the_sink_is_down_ends_without_confirming():
    """Without a spool, a message waits for delivery before OK; SIGTERM (rsyslog closing the
    action) ends that wait: the message is answered with an error (rsyslog keeps it), and the
    process exits within its shutdown grace instead of hanging until rsyslog kills it."""
    rx = FluentdReceiver().start()
    port = rx.port
    rx.stop()                       # nothing listens there now
    proc = spawn(BASE + ["--omprog", "--emit", "lines", "--fluentd", f"127.0.0.1:{port}", "--shutdown-grace", "1s"],
                 cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"OK\n"
        proc.stdin.write(SAMPLE.read_bytes().splitlines(keepends=True)[0])
        proc.stdin.flush()
        time.sleep(1.5)                                   # waiting for delivery now
        proc.send_signal(signal.SIGTERM)
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no reply 20 s after SIGTERM: still waiting for the sink"
        reply = proc.stdout.readline()
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert reply.startswith(b"ERROR"), reply
    err = proc.stderr.read()
    assert proc.returncode == 1, err          # exit 1: a document was not delivered (and said so)
    assert b"Traceback" not in err
