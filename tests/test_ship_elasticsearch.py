"""End to end: ``maillog2json --elasticsearch`` (a real process) into a real
Elasticsearch-API server (noida-db, see es_server.py), through faults: every document
arrives exactly once (count and ids), replays are duplicates, a mapping reject goes to the
dead-letter file, a read-only block is waited out, the server stopped mid-run loses
nothing, and a process killed with SIGKILL resumes from its state and spool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from es_server import es_server, es_url  # noqa: F401  (fixtures)
from helpers import ROOT, SAMPLES, spawn

SAMPLE = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"
BASE = [sys.executable, "-m", "maillog2json", "--year", "2026", "--tz", "UTC"]


def client(url: str):
    from elasticsearch import Elasticsearch
    return Elasticsearch(url, request_timeout=30)


def expected_ids(path: Path = SAMPLE, *extra: str) -> tuple[list[str], list[str]]:
    """The ids of the line and message documents maillog2json makes of ``path``."""
    out = subprocess.run(BASE + [*extra, str(path)], cwd=ROOT, capture_output=True, check=True).stdout
    lines, messages = [], []
    for raw in out.splitlines():
        d = orjson.loads(raw)
        (lines if d["type"] == "line" else messages).append(d["_id"])
    return lines, messages


def targets() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"m2j-lines-{tag}", f"m2j-messages-{tag}"


def ids_in(url: str, index: str) -> list[str]:
    es = client(url)
    es.indices.refresh(index=index)
    n = es.count(index=index)["count"]
    hits = es.search(index=index, size=max(n, 1), source=False)["hits"]["hits"]
    return [h["_id"] for h in hits]


def run_ship(url: str, lines_t: str, msgs_t: str, *args: str, path: Path = SAMPLE,
             timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(BASE + ["--elasticsearch", url, "--es-lines-target", lines_t,
                                  "--es-messages-target", msgs_t, "--flush-interval", "0.1", "--stats",
                                  *args, str(path)],
                          cwd=ROOT, capture_output=True, timeout=timeout)


def report(name: str, expected: int, indexed: int, sent: int, duplicates: int) -> None:
    """One line per fault test for the figures in notes (``pytest -s ... | grep FAULT``)."""
    print(f"\nFAULT elasticsearch {name}: expected {expected}, indexed {indexed}, lost {expected - indexed}, "
          f"sent {sent}, duplicates (409) {duplicates}")


def stat(stderr: bytes, name: str) -> int:
    for line in stderr.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return int(parts[1])
    raise AssertionError(f"no {name} in --stats:\n{stderr.decode()}")


def test_every_document_arrives_exactly_once_and_a_rerun_only_duplicates(es_url):
    want_lines, want_msgs = expected_ids()
    lt, mt = targets()
    p = run_ship(es_url, lt, mt)
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(ids_in(es_url, lt)) == sorted(want_lines)
    assert sorted(ids_in(es_url, mt)) == sorted(want_msgs)
    assert stat(p.stderr, "sent") == len(want_lines) + len(want_msgs)
    # the same file again (a rerun, a replay after a crash): nothing new, all duplicates
    p2 = run_ship(es_url, lt, mt)
    assert p2.returncode == 0, p2.stderr.decode()
    report("rerun-same-file", len(want_lines) + len(want_msgs),
           len(ids_in(es_url, lt)) + len(ids_in(es_url, mt)), stat(p2.stderr, "sent"), stat(p2.stderr, "duplicates"))
    assert stat(p2.stderr, "duplicates") == len(want_lines) + len(want_msgs)
    assert stat(p2.stderr, "sent") == 0
    assert len(ids_in(es_url, lt)) == len(want_lines)


def test_ecs_documents_are_indexed_with_the_es_setup_mappings(es_url):
    lt, mt = targets()
    setup = subprocess.run([sys.executable, "-m", "maillog2json", "es-setup", "--no-ilm", es_url], cwd=ROOT,
                           capture_output=True, timeout=60)
    assert setup.returncode == 0, setup.stderr.decode()
    # the templates match logs-maillog2json.*: use names of that shape
    lt, mt = "logs-maillog2json.lines-" + lt[-8:], "logs-maillog2json.messages-" + mt[-8:]
    p = run_ship(es_url, lt, mt, path=SAMPLES / "maillog-small.log")
    assert p.returncode == 0, p.stderr.decode()
    es = client(es_url)
    es.indices.refresh(index=lt)
    mapping = es.indices.get_mapping(index=lt)
    props = next(iter(mapping.body.values()))["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date"
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["email"]["properties"]["message_id"]["type"] == "wildcard"
    hit = es.search(index=lt, query={"term": {"source.ip": "127.0.0.1"}}, size=1)["hits"]["hits"]
    assert hit, "an ip-typed query finds the documents"


def test_a_mapping_reject_goes_to_the_dead_letter_file(es_url, tmp_path):
    lt, mt = targets()
    es = client(es_url)
    # an index whose mapping cannot take our documents: host.hostname as a number
    es.indices.create(index=lt, mappings={"properties": {"host": {"properties": {"hostname": {"type": "long"}}}}})
    dead = tmp_path / "dead.jsonl"
    want_lines, want_msgs = expected_ids(SAMPLES / "maillog-small.log")
    p = run_ship(es_url, lt, mt, "--dead-letter", str(dead), path=SAMPLES / "maillog-small.log")
    assert p.returncode == 0, p.stderr.decode()
    recs = [orjson.loads(x) for x in dead.read_bytes().splitlines()]
    print(f"\nFAULT elasticsearch mapping-reject: expected {len(want_lines)}, dead-lettered {len(recs)}")
    assert len(recs) == len(want_lines) == stat(p.stderr, "dead_lettered")
    assert all(r["sink"] == "elasticsearch" and r["reason"] for r in recs)
    assert "pars" in recs[0]["reason"].lower() or "mapper" in recs[0]["reason"].lower()
    # the dead letter holds the whole bulk item: the action with our id, and the document
    assert sorted(orjson.loads(r["body"].split("\n")[0])["create"]["_id"] for r in recs) == sorted(want_lines)
    assert sorted(ids_in(es_url, mt)) == sorted(want_msgs)      # the other stream is unaffected


def test_a_read_only_block_is_retried_until_lifted(es_url):
    lt, mt = targets()
    es = client(es_url)
    es.indices.create(index=lt)
    es.indices.put_settings(index=lt, settings={"index.blocks.read_only_allow_delete": True})
    want_lines, _ = expected_ids(SAMPLES / "maillog-small.log", "--emit", "lines")
    proc = spawn(BASE + ["--elasticsearch", es_url, "--es-lines-target", lt, "--es-messages-target",
                                    mt, "--emit", "lines", "--flush-interval", "0.1", "--stats",
                                    str(SAMPLES / "maillog-small.log")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.5)
    assert proc.poll() is None, "still retrying while the block is on"
    es.indices.refresh(index=lt)
    assert es.count(index=lt)["count"] == 0
    es.indices.put_settings(index=lt, settings={"index.blocks.read_only_allow_delete": None})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    report("read-only-block-2.5s", len(want_lines), len(ids_in(es_url, lt)), stat(err, "sent"),
           stat(err, "duplicates"))
    assert sorted(ids_in(es_url, lt)) == sorted(want_lines)
    assert stat(err, "retried") >= len(want_lines)
    assert b"refused for now" in err


def test_server_stopped_mid_run_and_started_again_loses_and_doubles_nothing(es_server):
    url = es_server.url
    lt, mt = targets()
    data = SAMPLE.read_bytes().splitlines(keepends=True)
    want_lines, want_msgs = expected_ids()
    proc = spawn(BASE + ["--elasticsearch", url, "--es-lines-target", lt, "--es-messages-target", mt,
                                    "--flush-interval", "0.1", "--stats", "-"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _stop_and_start_mid_stream(proc, data, es_server, url, lt)
        out, err = proc.communicate(timeout=180)      # closes stdin: end of input
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()
    got_lines = ids_in(url, lt)
    report("server-stopped-mid-stream", len(want_lines) + len(want_msgs), len(got_lines) + len(ids_in(url, mt)),
           stat(err, "sent"), stat(err, "duplicates"))
    assert len(got_lines) == len(set(got_lines)) == len(want_lines)
    assert sorted(got_lines) == sorted(want_lines)
    assert sorted(ids_in(url, mt)) == sorted(want_msgs)
    assert stat(err, "failures") >= 1


def _stop_and_start_mid_stream(proc, data, es_server, url, lt) -> None:
    half = len(data) // 2
    proc.stdin.write(b"".join(data[:half]))
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if len(ids_in(url, lt)) > 0:
                break
        except Exception:
            pass
        time.sleep(0.1)
    es_server.stop()                         # down in the middle of the stream
    proc.stdin.write(b"".join(data[half:]))
    proc.stdin.flush()
    time.sleep(2.0)
    assert proc.poll() is None
    es_server.start()


def test_sigkill_mid_run_then_restart_with_the_same_state_and_spool_loses_nothing(es_server, tmp_path):
    url = es_server.url
    lt, mt = targets()
    log = tmp_path / "mail.log"
    log.write_bytes(SAMPLE.read_bytes())
    os.utime(log, (SAMPLE.stat().st_mtime, SAMPLE.stat().st_mtime))
    state, spool = tmp_path / "state.json", tmp_path / "spool"
    want_lines, _ = expected_ids(log, "--emit", "lines")
    cmd = BASE + ["--follow", str(log), "--state", str(state), "--spool", str(spool), "--emit", "lines",
                  "--elasticsearch", url, "--es-lines-target", lt, "--es-messages-target", mt,
                  "--flush-interval", "0.1", "--queue-size", "300", "--stats"]
    es_server.stop()                          # the sink is down: documents go to the spool
    first = spawn(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state.exists(), "the state is saved (after the spool was synced)"
        time.sleep(0.5)
    finally:
        first.kill()                          # SIGKILL: no goodbye, no flush
        first.wait(10)
    es_server.start()
    second = spawn(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        got: list[str] = []
        while time.monotonic() < deadline:
            try:
                got = ids_in(url, lt)
            except Exception:
                got = []
            if len(got) >= len(want_lines):
                break
            time.sleep(0.3)
        time.sleep(1.0)
        got = ids_in(url, lt)
    finally:
        second.send_signal(signal.SIGTERM)
        _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    report("sigkill-restart-state-spool (second run)", len(want_lines), len(got), stat(err, "sent"),
           stat(err, "duplicates"))
    assert sorted(got) == sorted(want_lines)


def test_default_targets_follow_the_schema() -> None:
    """Without --es-*-target, the native spelling goes to its own indices, not into the ECS
    data streams (whose templates would refuse it)."""
    from maillog2json.cli import run
    from maillog2json.sinks.network import elasticsearch_transport
    for schema, expected in (("native", ("maillog2json-lines", "maillog2json-messages")),
                             ("ecs", ("logs-maillog2json.lines-default", "logs-maillog2json.messages-default"))):
        ctx = run.make_context("maillog2json", ["--elasticsearch", "http://127.0.0.1:9", "--es-schema", schema])
        t = elasticsearch_transport(ctx.params)
        assert (t.lines_target, t.messages_target) == expected
    ctx = run.make_context("maillog2json", ["--elasticsearch", "http://127.0.0.1:9", "--es-schema", "native",
                                            "--es-lines-target", "mine"])
    assert elasticsearch_transport(ctx.params).lines_target == "mine"
