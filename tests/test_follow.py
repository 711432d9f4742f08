"""Follow mode: appended lines, partial lines, rotation by rename and copytruncate, restarts from a position.

Most tests are scripted: the follower's ``sleep`` runs the next step of the test (a write, a
rename) and advances a fake clock, so they are exact and fast; ``stop`` turns True a few polls
after the last step. One test runs the follower in a thread on the real clock.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from maillog2json.follow import FINGERPRINT_BYTES, Follower, fingerprint
from maillog2json.inputs import InputError, Line

POLL = 0.25


def lines(start: int, stop: int, tag: str = "line") -> list[bytes]:
    """Distinct syslog-like lines numbered ``start`` .. ``stop - 1`` (without newlines)."""
    return [b"Nov 28 12:00:00 mx postfix/smtpd[1]: %s %06d" % (tag.encode(), i) for i in range(start, stop)]


def text(items: list[bytes]) -> bytes:
    return b"".join(x + b"\n" for x in items)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


class Script:
    """A fake world for a follower: each ``sleep`` runs the next step and advances the clock;
    ``stop`` is True once the steps are done and ``settle`` more polls have passed."""

    def __init__(self, *steps: Optional[Callable[[], Any]], settle: int = 8) -> None:
        self.steps = list(steps)
        self.now = 1000.0
        self.after = 0
        self.settle = settle
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        assert self.sleeps < 10_000, "the follower never stopped"
        self.now += seconds
        if self.steps:
            step = self.steps.pop(0)
            if step is not None:
                step()
        else:
            self.after += 1

    def stop(self) -> bool:
        return not self.steps and self.after >= self.settle


def follower(path: Path, script: Script, position: Optional[dict] = None, **kw: Any) -> Follower:
    return Follower(str(path), position, poll_interval=POLL, stop=script.stop, clock=script.clock,
                    sleep=script.sleep, **kw)


def read_all(f: Follower) -> tuple[list[Any], list[list[Any]]]:
    """All lines and the batches they came in."""
    batches = [list(b) for b in f.batches()]
    return [x for b in batches for x in b], batches


class TestAppend:
    def test_each_append_is_a_batch(self, tmp_path: Path) -> None:
        """Lines appended between polls arrive as one batch each, in order."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 3)))
        script = Script(*[(lambda i=i: append(log, text(lines(i, i + 1)))) for i in range(3, 8)])
        got, batches = read_all(follower(log, script))
        assert got == lines(0, 8)
        assert batches == [lines(0, 3)] + [lines(i, i + 1) for i in range(3, 8)]

    def test_real_clock_in_a_thread(self, tmp_path: Path) -> None:
        """On the real clock, lines appended later arrive within a few polls."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 3)))
        done = threading.Event()
        got: list[bytes] = []
        f = Follower(str(log), poll_interval=0.01, stop=done.is_set)
        thread = threading.Thread(target=lambda: [got.extend(b) for b in f.batches()], daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while len(got) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            append(log, text(lines(3, 5)))
            while len(got) < 5 and time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            done.set()
            thread.join(5)
        assert not thread.is_alive()
        assert got == lines(0, 5)
        assert f.position()["offset"] == log.stat().st_size

    def test_long_line_is_cut(self, tmp_path: Path) -> None:
        """A line longer than max_line comes as a cut Line with its real length, and the offset stays exact."""
        log = tmp_path / "mail.log"
        log.write_bytes(b"x" * 5000 + b"\nshort\n")
        f = follower(log, Script(), max_line=1024)
        got, _ = read_all(f)
        assert isinstance(got[0], Line) and got[0].length == 5000 and len(got[0].data) == 1024
        assert got[1:] == [b"short"]
        assert f.position()["offset"] == 5007


class TestPartialLine:
    def test_held_until_newline(self, tmp_path: Path) -> None:
        """An unterminated last line is neither yielded nor counted in the offset until its newline arrives."""
        log = tmp_path / "mail.log"
        log.write_bytes(b"one\ntw")
        seen: list[tuple[list[Any], int]] = []
        script = Script(None, lambda: append(log, b"o\nthr"), None, lambda: append(log, b"ee\n"))
        f = follower(log, script)
        for batch in f.batches():
            seen.append((batch, f.position()["offset"]))
        assert seen == [([b"one"], 4), ([b"two"], 8), ([b"three"], 14)]

    def test_stop_keeps_partial_for_next_run(self, tmp_path: Path) -> None:
        """Stopped with a partial line in hand, the position points at its start so the next run reads it whole."""
        log = tmp_path / "mail.log"
        log.write_bytes(b"one\ntw")
        f = follower(log, Script())
        assert read_all(f)[0] == [b"one"]
        pos = f.position()
        assert pos["offset"] == 4
        append(log, b"o\n")
        assert read_all(follower(log, Script(), pos))[0] == [b"two"]


class TestRenameRotation:
    def test_late_writer_every_line_once_in_order(self, tmp_path: Path) -> None:
        """Lines written to the old file after the rename are read before the new file, and every line exactly once."""
        log = tmp_path / "mail.log"
        old = tmp_path / "mail.log.1"
        writer = open(log, "ab", buffering=0)        # a daemon that keeps its file open across the rename

        def rotate() -> None:
            os.rename(log, old)
            writer.write(text(lines(10, 15, "old")))

        def create() -> None:
            log.write_bytes(text(lines(0, 5, "new")))
            writer.write(text(lines(15, 18, "old")))     # still late: the daemon has not reopened yet

        try:
            writer.write(text(lines(0, 5, "old")))
            script = Script(lambda: writer.write(text(lines(5, 10, "old"))), rotate, None, create,
                            lambda: writer.write(b"Nov 28 unfinished"),
                            lambda: append(log, text(lines(5, 8, "new"))), settle=12)
            f = follower(log, script)
            got, _ = read_all(f)
        finally:
            writer.close()
        assert got == lines(0, 18, "old") + [b"Nov 28 unfinished"] + lines(0, 8, "new")
        pos = f.position()
        assert pos["inode"] == log.stat().st_ino and pos["offset"] == log.stat().st_size

    def test_missing_between_rename_and_create(self, tmp_path: Path) -> None:
        """While the path is missing after a rename the old file is kept; the new file is read once it appears."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 3, "old")))
        script = Script(lambda: os.rename(log, tmp_path / "mail.log.1"), None, None, None, None, None, None,
                        lambda: log.write_bytes(text(lines(0, 2, "new"))))
        got, _ = read_all(follower(log, script))
        assert got == lines(0, 3, "old") + lines(0, 2, "new")


class TestCopytruncate:
    def copytruncate(self, log: Path, then: bytes) -> None:
        shutil.copyfile(log, str(log) + ".1")
        with open(log, "r+b") as fh:
            fh.truncate(0)
            fh.write(then)

    def test_shorter_file_is_read_from_start(self, tmp_path: Path) -> None:
        """A file truncated in place is read again from its start."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 10)))
        script = Script(lambda: self.copytruncate(log, b""), lambda: append(log, text(lines(10, 12))))
        f = follower(log, script)
        got, _ = read_all(f)
        assert got == lines(0, 12)
        assert any("truncated" in w for w in f.warnings)
        assert f.position()["offset"] == log.stat().st_size

    def test_rewritten_longer_before_poll(self, tmp_path: Path) -> None:
        """A file truncated and refilled past the old offset before the next poll is recognised by its first bytes."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 3)))
        script = Script(lambda: self.copytruncate(log, text(lines(3, 20))))
        got, _ = read_all(follower(log, script))
        assert got == lines(0, 20)


class TestMissingPath:
    def test_created_later(self, tmp_path: Path) -> None:
        """A path that does not exist yet is waited for, without error."""
        log = tmp_path / "mail.log"
        script = Script(None, None, lambda: log.write_bytes(text(lines(0, 2))), lambda: append(log, text(lines(2, 4))))
        f = follower(log, script)
        assert read_all(f)[0] == lines(0, 4)
        assert f.warnings == []

    def test_directory_is_an_error(self, tmp_path: Path) -> None:
        """A path that is a directory is an InputError at once."""
        with pytest.raises(InputError, match="directory"):
            Follower(str(tmp_path))

    @pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads everything")
    def test_unreadable_is_an_error(self, tmp_path: Path) -> None:
        """A file that cannot be read is an InputError at once."""
        log = tmp_path / "mail.log"
        log.write_bytes(b"x\n")
        log.chmod(0)
        try:
            with pytest.raises(InputError, match="cannot read"):
                Follower(str(log))
        finally:
            log.chmod(0o600)


class TestRestart:
    def test_mid_file_gives_exactly_the_rest(self, tmp_path: Path) -> None:
        """Stopped after its first batch, a follower restarted from its position reads exactly the remaining lines."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 100)))
        first = Follower(str(log), poll_interval=POLL, chunk_size=500, stop=lambda: True, sleep=lambda s: None)
        got1, _ = read_all(first)
        assert 0 < len(got1) < 100
        pos = json.loads(json.dumps(first.position()))
        append(log, text(lines(100, 110)))
        second = follower(log, Script(), pos)
        got2, _ = read_all(second)
        assert got1 + got2 == lines(0, 110)
        assert second.warnings == []

    @pytest.mark.parametrize("rotated_name", ["mail.log.1", "mail.log-20261128"])
    def test_rename_while_stopped(self, tmp_path: Path, rotated_name: str) -> None:
        """After a rename while stopped, the rest of the old file comes first, then the new file, none twice."""
        log = tmp_path / "mail.log"
        (tmp_path / "mail.log.2").write_bytes(text(lines(0, 50, "older")))     # an earlier rotation: not read
        (tmp_path / "mail.log.2.gz").write_bytes(b"\x1f\x8b not searched")
        log.write_bytes(text(lines(0, 5, "old")) + b"Nov 28 part")
        first = follower(log, Script())
        assert read_all(first)[0] == lines(0, 5, "old")
        pos = json.loads(json.dumps(first.position()))
        append(log, b"ial\n" + text(lines(5, 8, "old")))
        os.rename(log, tmp_path / rotated_name)
        log.write_bytes(text(lines(0, 3, "new")))
        second = follower(log, Script(), pos)
        got, _ = read_all(second)
        assert got == [b"Nov 28 partial"] + lines(5, 8, "old") + lines(0, 3, "new")
        assert second.warnings == []
        assert second.position()["inode"] == log.stat().st_ino

    def test_copytruncate_while_stopped(self, tmp_path: Path) -> None:
        """After a copytruncate while stopped, the rest comes from the copy (same fingerprint), then the truncated file."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 5, "old")))
        first = follower(log, Script())
        read_all(first)
        pos = first.position()
        append(log, text(lines(5, 7, "old")))
        TestCopytruncate().copytruncate(log, text(lines(0, 2, "new")))
        second = follower(log, Script(), pos)
        assert read_all(second)[0] == lines(5, 7, "old") + lines(0, 2, "new")
        assert second.warnings == []

    def test_reused_inode_with_other_fingerprint_is_new(self, tmp_path: Path) -> None:
        """The same inode holding other first bytes is another file: it is read from the start, with a warning."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 20, "old")))
        first = follower(log, Script())
        read_all(first)
        pos = first.position()
        with open(log, "r+b") as fh:          # same inode, new content longer than the saved offset
            fh.truncate(0)
            fh.write(text(lines(0, 40, "new")))
        assert log.stat().st_ino == pos["inode"]
        second = follower(log, Script(), pos)
        assert read_all(second)[0] == lines(0, 40, "new")
        assert len(second.warnings) == 1 and "matches no file" in second.warnings[0]

    def test_no_match_starts_current_file_with_warning(self, tmp_path: Path) -> None:
        """A saved file that is nowhere to be found: the current file is read from its start and a warning says so."""
        log = tmp_path / "mail.log"
        log.write_bytes(text(lines(0, 3, "old")))
        first = follower(log, Script())
        read_all(first)
        pos = first.position()
        log.unlink()
        log.write_bytes(text(lines(0, 2, "new")))
        second = follower(log, Script(), pos)
        assert read_all(second)[0] == lines(0, 2, "new")
        assert second.warnings


class TestPosition:
    def test_json_serialisable(self, tmp_path: Path) -> None:
        """position() is plain JSON data with the documented keys and a fingerprint of the first bytes."""
        log = tmp_path / "mail.log"
        data = text(lines(0, 100))
        log.write_bytes(data)
        f = follower(log, Script())
        read_all(f)
        pos = f.position()
        assert json.loads(json.dumps(pos)) == pos
        assert set(pos) == {"path", "inode", "device", "offset", "fingerprint", "size_at_save"}
        st = log.stat()
        assert pos == {"path": str(log), "inode": st.st_ino, "device": st.st_dev, "offset": len(data),
                       "fingerprint": fingerprint(data[:FINGERPRINT_BYTES]), "size_at_save": len(data)}

    def test_before_any_file(self, tmp_path: Path) -> None:
        """Before the file exists, position() is a start-from-the-beginning position."""
        f = follower(tmp_path / "mail.log", Script())
        read_all(f)
        assert f.position()["offset"] == 0 and f.position()["inode"] is None


class TestMemory:
    def test_200k_lines_bounded(self, tmp_path: Path) -> None:
        """200k lines appended in chunks are read in full with memory bounded by the chunk size, not the file."""
        log = tmp_path / "mail.log"
        log.write_bytes(b"")
        n, per, piece = 200_000, 40_000, 5_000

        def write(i: int) -> None:       # 40k lines (2 MB) between two polls, written in small pieces
            for j in range(i, i + per, piece):
                append(log, text(lines(j, j + piece)))

        steps = [(lambda i=i: write(i)) for i in range(0, n, per)]
        script = Script(*steps)
        f = follower(log, script, chunk_size=256 << 10)
        count = 0
        expect = lines(0, 1)[0][:-6]
        tracemalloc.start()
        try:
            for batch in f.batches():
                for line in batch:
                    assert line == expect + b"%06d" % count
                    count += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        size = log.stat().st_size
        assert count == n
        assert f.position()["offset"] == size
        assert size > 8 << 20 and peak < 3 << 20, (size, peak)
