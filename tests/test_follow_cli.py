"""``maillog2json --follow FILE --state S``: the running command, through rotation and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest


from helpers import SAMPLES

SAMPLE = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"
ARGS = ["--emit", "all", "--year", "2026", "--tz", "UTC"]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _docs(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def _wait_for_lines(out: Path, n: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Wait until ``out`` holds ``n`` line documents (the follower has read what was written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for d in _docs(out) if d["type"] == "line") >= n:
            return
        assert proc.poll() is None, f"maillog2json exited early: {proc.returncode}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {n} line documents in {out}")


def _start(log: Path, state: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maillog2json", "--follow", str(log), "--state", str(state),
                             *ARGS], stdout=out.open("wb"), stderr=subprocess.PIPE, env=_env())


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err.decode()


class TestFollowWithState:
    @pytest.mark.parametrize("rotation", ["rename", "copytruncate"])
    def test_rotation_and_restart_equal_one_run(self, tmp_path: Path, rotation: str) -> None:
        """Written in three parts with a rotation (rename, or copytruncate) and a restart between:
        every line document exactly once, and the same message documents as one run."""
        lines = SAMPLE.read_bytes().splitlines(keepends=True)
        a, b = len(lines) // 3, 2 * len(lines) // 3
        log, state = tmp_path / "mail.log", tmp_path / "state.json"
        out1, out2 = tmp_path / "out1.jsonl", tmp_path / "out2.jsonl"

        log.write_bytes(b"".join(lines[:a]))
        p = _start(log, state, out1)
        _wait_for_lines(out1, a, p)
        if rotation == "rename":
            log.rename(tmp_path / "mail.log.1")                   # logrotate's rename ...
            log.write_bytes(b"".join(lines[a:b]))                 # ... and the new file
        else:
            (tmp_path / "mail.log.1").write_bytes(log.read_bytes())   # copytruncate: copy ...
            with log.open("r+b") as f:                                # ... truncate in place ...
                f.truncate(0)
            with log.open("ab") as f:                                 # ... and go on writing
                f.write(b"".join(lines[a:b]))
        _wait_for_lines(out1, b, p)
        _stop(p)

        with log.open("ab") as f:                                 # written while we were stopped
            f.write(b"".join(lines[b:]))
        p = _start(log, state, out2)
        _wait_for_lines(out2, len(lines) - b, p)
        _stop(p)

        got = _docs(out1) + _docs(out2)
        whole_log = tmp_path / "whole.log"
        whole_log.write_bytes(b"".join(lines))
        one = subprocess.run([sys.executable, "-m", "maillog2json", "--state", str(tmp_path / "one.json"),
                              *ARGS, str(whole_log)], capture_output=True, check=True)
        want = [orjson.loads(x) for x in one.stdout.splitlines()]

        got_lines = [d["_id"] for d in got if d["type"] == "line"]
        want_lines = [d["_id"] for d in want if d["type"] == "line"]
        assert got_lines == want_lines, "line documents differ (missing, repeated or reordered)"
        by_id = lambda docs: sorted((d for d in docs if d["type"] == "message"), key=lambda d: d["_id"])  # noqa: E731
        assert by_id(got) == by_id(want)
        assert len(by_id(want)) > 100

    def test_usage_error_with_files_and_follow(self, tmp_path: Path) -> None:
        """FILES and --follow together are a usage error (exit 2)."""
        r = subprocess.run([sys.executable, "-m", "maillog2json", "--follow", str(tmp_path / "x"), str(SAMPLE)],
                           capture_output=True)
        assert r.returncode == 2 and b"not both" in r.stderr

    def test_a_directory_is_refused(self, tmp_path: Path) -> None:
        """--follow on a directory says so and exits 1, without a traceback."""
        r = subprocess.run([sys.executable, "-m", "maillog2json", "--follow", str(tmp_path)],
                           capture_output=True, timeout=30)
        assert r.returncode == 1 and b"Traceback" not in r.stderr, r.stderr


