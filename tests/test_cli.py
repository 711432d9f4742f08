"""The command as a Unix filter: streaming, broken pipes, usage errors, --stats, signals, --help."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest
from helpers import SESSION_LINES, SESSION_LOG

MODULE = [sys.executable, "-m", "maillog2json"]

LINES = SESSION_LINES
LOG = SESSION_LOG


def clean_env() -> dict[str, str]:
    """The environment without PYTHONUNBUFFERED (which would hide a missing flush)."""
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    return env


def run(*args: str, input: Optional[bytes] = b"",
        cmd: Optional[list[str]] = None) -> subprocess.CompletedProcess:
    """Run the command (the module by default) with ``args`` and ``input``; capture everything."""
    return subprocess.run([*(cmd or MODULE), *args], input=input, capture_output=True, env=clean_env(),
                          timeout=120)


def docs_of(out: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in out.splitlines()]


class LineReader:
    """Reads newline-terminated records from a pipe with a deadline (select, no blocking read)."""

    def __init__(self, stream: Any) -> None:
        self.fd = stream.fileno()
        self.buf = b""

    def readline(self, timeout: float) -> Optional[bytes]:
        """The next line, or None if none arrived within ``timeout`` seconds (or at EOF)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            data = os.read(self.fd, 65536)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line


@pytest.fixture
def live():
    """A live ``maillog2json --emit lines`` reading a pipe; killed at the end if still running."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([*MODULE, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()


def big_log(path: Path, megabytes: int = 4) -> Path:
    """A log of about ``megabytes`` MiB made of the sample session with changing queue ids."""
    target = megabytes << 20
    with open(path, "wb") as f:
        n = 0
        while f.tell() < target:
            f.write(LOG.replace(b"3F2A01C0D4", b"%010X" % n))
            n += 1
    return path


class TestStreaming:
    @pytest.mark.parametrize("args", [("--emit", "lines"), ()], ids=["lines", "default"])
    def test_each_line_leaves_at_once(self, live, args: tuple[str, ...]) -> None:
        """A line written to a live process comes out as a document while stdin stays open."""
        proc = live(*args)
        reader = LineReader(proc.stdout)
        for line in LINES[:2]:
            proc.stdin.write(line)
            proc.stdin.flush()
            out = reader.readline(timeout=10)
            assert out is not None, "no document before EOF: stdout is not flushed per line"
            doc = orjson.loads(out)
            assert doc["type"] == "line"
            assert doc["raw"].encode() + b"\n" == line
        assert proc.poll() is None, "still running: stdin was never closed"

    def test_partial_line_waits_for_newline(self, live) -> None:
        """Half a line gives nothing until its newline arrives."""
        proc = live("--emit", "lines")
        reader = LineReader(proc.stdout)
        proc.stdin.write(LINES[0][:20])
        proc.stdin.flush()
        assert reader.readline(timeout=0.5) is None
        proc.stdin.write(LINES[0][20:])
        proc.stdin.flush()
        out = reader.readline(timeout=10)
        assert out is not None and orjson.loads(out)["raw"].encode() + b"\n" == LINES[0]


class TestBrokenPipe:
    @pytest.mark.parametrize("args", [("--emit", "lines"), (), ("--stats",)],
                             ids=["lines", "default", "stats"])
    def test_head_ends_quietly(self, tmp_path: Path, args: tuple[str, ...]) -> None:
        """``maillog2json big.log | head -1`` exits 0 with nothing on stderr (but --stats' own report)."""
        log = big_log(tmp_path / "big.log")
        writer = subprocess.Popen([*MODULE, *args, str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=clean_env())
        head = subprocess.Popen(["head", "-1"], stdin=writer.stdout, stdout=subprocess.PIPE)
        writer.stdout.close()
        first, _ = head.communicate(timeout=60)
        err = writer.stderr.read()
        writer.stderr.close()
        assert writer.wait(timeout=60) == 0
        assert orjson.loads(first)["type"] == "line"
        if "--stats" in args:
            assert err.startswith(b"maillog2json stats\n") and b"Traceback" not in err
        else:
            assert err == b""

    def test_closed_stdout(self, tmp_path: Path) -> None:
        """A reader that is gone before the first write is also a quiet exit 0."""
        log = big_log(tmp_path / "big.log", 1)
        r, w = os.pipe()
        os.close(r)
        try:
            proc = subprocess.run([*MODULE, "--emit", "lines", str(log)], stdout=w, stderr=subprocess.PIPE,
                                  env=clean_env(), timeout=60)
        finally:
            os.close(w)
        assert (proc.returncode, proc.stderr) == (0, b"")


class TestUsageErrors:
    @pytest.mark.parametrize("args,message", [
        (("--frobnicate",), "No such option"),
        (("--frobnicate",), "--frobnicate"),
        (("--emit", "everything"), "Invalid value for '--emit'"),
        (("--tz", "Mars/Olympus_Mons"), "unknown time zone 'Mars/Olympus_Mons'"),
        (("--tz", "+25:00"), "--tz"),
        (("--year", "twenty"), "Invalid value for '--year'"),
        (("--year", "1800"), "Invalid value for '--year'"),
        (("--max-line-bytes", "10"), "Invalid value for '--max-line-bytes'"),
        (("--expire-after", "soon"), "is not a duration"),
    ])
    def test_exit_2(self, args: tuple[str, ...], message: str) -> None:
        """A bad option or value exits 2 with click's usage message naming it, and no traceback."""
        proc = run(*args, input=LOG)
        err = proc.stderr.decode()
        assert proc.returncode == 2, err
        assert message in err
        assert "Usage:" in err and "Traceback" not in err
        assert proc.stdout == b""

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file: ``maillog2json: cannot read ...``, exit 1, and the other files are still read."""
        a = tmp_path / "a.log"
        a.write_bytes(LINES[0])
        b = tmp_path / "b.log"
        b.write_bytes(LINES[5])
        missing = tmp_path / "missing.log"
        proc = run("--emit", "lines", str(a), str(missing), str(b))
        assert proc.returncode == 1
        err = proc.stderr.decode()
        assert err == f"maillog2json: cannot read {missing}: No such file or directory\n"
        assert [d["raw"].encode() + b"\n" for d in docs_of(proc.stdout)] == [LINES[0], LINES[5]]

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A file without read permission is reported like a missing one."""
        if os.geteuid() == 0:
            pytest.skip("root reads everything")
        p = tmp_path / "secret.log"
        p.write_bytes(LOG)
        p.chmod(0)
        proc = run("--emit", "lines", str(p))
        assert proc.returncode == 1
        assert proc.stderr.decode() == f"maillog2json: cannot read {p}: Permission denied\n"


class TestIOErrors:
    def shell(self, redirect: str, *args: str, input: bytes = b"") -> subprocess.CompletedProcess:
        """Run the module with a shell redirection applied (``<&-``, ``>/dev/full``)."""
        return subprocess.run(["sh", "-c", 'exec "$@" ' + redirect, "sh", *MODULE, *args], input=input,
                              capture_output=True, env=clean_env(), timeout=60)

    def test_stdin_closed(self) -> None:
        """Started with stdin closed: a one-line error, exit 1."""
        proc = self.shell("<&-", "--emit", "lines")
        assert proc.returncode == 1
        assert proc.stderr == b"maillog2json: cannot read standard input: it is closed\n"

    def test_stdout_closed(self) -> None:
        """Started with stdout closed: an error, exit 1, no traceback."""
        proc = self.shell(">&-", "--emit", "lines", input=LOG)
        assert proc.returncode == 1
        assert b"cannot write standard output" in proc.stderr and b"Traceback" not in proc.stderr

    @pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
    def test_disk_full(self) -> None:
        """A write error on stdout (ENOSPC) is one line on stderr and exit 1."""
        proc = self.shell(">/dev/full", "--emit", "lines", input=LOG)
        assert proc.returncode == 1
        assert proc.stderr == b"maillog2json: cannot write standard output: No space left on device\n"


class TestStats:
    def test_report(self, tmp_path: Path) -> None:
        """--stats prints lines, documents, kinds, unparsed count and examples to stderr, not stdout."""
        log = tmp_path / "mail.log"
        log.write_bytes(LOG + b"this is not syslog\n" + b"\x1b[2Jescape\n")
        proc = run("--emit", "lines", "--stats", str(log))
        assert proc.returncode == 0
        err = proc.stderr.decode()
        assert len(docs_of(proc.stdout)) == len(LINES) + 2
        assert "lines read         9\n" in err
        assert "documents written  9\n" in err
        assert "unparsed lines     2 (22.22%)\n" in err
        assert "kinds:\n" in err
        for kind in ("smtpd.connect", "qmgr.removed", "delivery", "unparsed"):
            assert f"    {kind} " in err
        assert "unparsed examples:\n    this is not syslog\n" in err
        assert "\x1b" not in err, "control characters in examples are escaped"
        assert "\\x1b[2Jescape" in err

    def test_no_report_without_flag(self) -> None:
        """Without --stats stderr stays empty."""
        proc = run("--emit", "lines", input=LOG)
        assert (proc.returncode, proc.stderr) == (0, b"")


class TestEntryPoints:
    def console_script(self) -> str:
        here = Path(sys.executable).with_name("maillog2json")
        found = str(here) if here.exists() else shutil.which("maillog2json")
        if not found:
            pytest.skip("maillog2json console script not installed")
        return found

    def test_module(self) -> None:
        """``python -m maillog2json`` converts stdin."""
        proc = run("--emit", "lines", input=LOG)
        assert proc.returncode == 0
        assert [d["kind"] for d in docs_of(proc.stdout)][:2] == ["smtpd.connect", "smtpd.client"]

    def test_console_script(self) -> None:
        """The ``maillog2json`` script gives the same output as the module."""
        proc = run("--emit", "lines", input=LOG, cmd=[self.console_script()])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == run("--emit", "lines", input=LOG).stdout

    def test_version(self) -> None:
        """--version prints the version and exits 0."""
        from maillog2json import __version__
        proc = run("--version", cmd=[self.console_script()])
        assert proc.returncode == 0 and __version__ in proc.stdout.decode()

    def test_help_ends_with_example(self) -> None:
        """--help ends with real example command lines (the epilog)."""
        proc = run("--help")
        assert proc.returncode == 0
        lines = [x.strip() for x in proc.stdout.decode().splitlines() if x.strip()]
        assert lines[-1].startswith("maillog2json ") or "| maillog2json" in lines[-1]
        examples = lines[lines.index("Examples:") + 1:]
        assert examples and all("maillog2json" in x for x in examples)


class TestSignals:
    @pytest.mark.parametrize("args", [("--emit", "lines"), ()], ids=["lines", "default"])
    def test_sigterm_while_reading_stdin(self, live, args: tuple[str, ...]) -> None:
        """SIGTERM while blocked on stdin exits 0, quietly, with every line read already written."""
        proc = live(*args)
        reader = LineReader(proc.stdout)
        for line in LINES[:3]:
            proc.stdin.write(line)
        proc.stdin.flush()
        got = [reader.readline(timeout=10) for _ in range(3)]
        assert all(got), "documents arrive before the signal"
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        rest = proc.stdout.read()
        assert proc.stderr.read() == b""
        docs = [orjson.loads(x) for x in got] + docs_of(reader.buf + rest)
        assert [d["raw"].encode() + b"\n" for d in docs if d["type"] == "line"] == LINES[:3]
        if not args:    # messages still in flight are flushed as incomplete documents
            messages = [d for d in docs if d["type"] == "message"]
            assert [m["queue_id"] for m in messages] == ["3F2A01C0D4"]
            assert messages[0]["complete"] is False

    def test_sigterm_during_a_large_file(self, tmp_path: Path) -> None:
        """SIGTERM while converting a large file stops after the batch in hand: exit 0, whole documents."""
        log = big_log(tmp_path / "big.log", 8)
        out = tmp_path / "out.jsonl"
        with open(out, "wb") as f:
            proc = subprocess.Popen([*MODULE, "--emit", "lines", str(log)], stdout=f, stderr=subprocess.PIPE,
                                    env=clean_env())
            deadline = time.monotonic() + 30
            while out.stat().st_size == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
        proc.stderr.close()
        data = out.read_bytes()
        assert data.endswith(b"\n")
        docs = docs_of(data)
        raws = log.read_bytes().splitlines()
        assert [d["raw"].encode() for d in docs] == raws[:len(docs)], "a prefix of the input, no gaps"

    def test_sigterm_while_blocked_on_a_slow_reader(self, tmp_path: Path) -> None:
        """SIGTERM while stdout is full (a slow reader) never leaves half a document behind."""
        log = big_log(tmp_path / "big.log", 8)
        proc = subprocess.Popen([*MODULE, "--emit", "lines", str(log)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=clean_env())
        first = proc.stdout.read(10)          # started; now the pipe fills up and the writer blocks
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        data = first + proc.stdout.read()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
        proc.stdout.close()
        proc.stderr.close()
        assert data.endswith(b"\n")
        docs = docs_of(data)
        raws = log.read_bytes().splitlines()
        assert [d["raw"].encode() for d in docs] == raws[:len(docs)]


class TestOutputFile:
    """--output FILE: appended to, and reopened on SIGHUP after logrotate moved it."""

    def test_sighup_reopens_the_output_file(self, tmp_path: Path) -> None:
        """After the file is renamed and SIGHUP sent, later documents go to a new file of the same name."""
        out = tmp_path / "docs.jsonl"
        env = dict(os.environ)
        env.pop("PYTHONUNBUFFERED", None)
        proc = subprocess.Popen([*MODULE, "--emit", "lines", "--output", str(out)], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        assert proc.stdin is not None

        def wait_docs(path: Path, n: int) -> None:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if path.exists() and len(path.read_bytes().splitlines()) >= n:
                    return
                time.sleep(0.05)
            raise AssertionError(f"{path} did not get {n} documents")

        proc.stdin.write(LINES[0] + LINES[1])
        proc.stdin.flush()
        wait_docs(out, 2)
        out.rename(tmp_path / "docs.jsonl.1")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        proc.stdin.write(LINES[2])
        proc.stdin.flush()
        wait_docs(out, 1)
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
        old = [orjson.loads(x) for x in (tmp_path / "docs.jsonl.1").read_bytes().splitlines()]
        new = [orjson.loads(x) for x in out.read_bytes().splitlines()]
        assert [d["raw"] for d in old] == [x.decode().rstrip("\n") for x in LINES[:2]]
        assert [d["raw"] for d in new] == [LINES[2].decode().rstrip("\n")]


class TestOmprogProtocol:
    """--omprog speaks rsyslog's confirmation protocol on stdout."""

    def test_ready_then_one_reply_per_message(self, tmp_path: Path) -> None:
        """OK when ready, then OK per message once its documents are in --output."""
        out = tmp_path / "docs.jsonl"
        r = subprocess.run([*MODULE, "--omprog", "--emit", "lines", "--output", str(out)],
                           input=LINES[0] + LINES[1], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"OK\nOK\nOK\n"
        assert len(out.read_bytes().splitlines()) == 2

    def test_long_messages_are_cut_as_file_lines_are(self, tmp_path: Path) -> None:
        """--max-line-bytes applies to omprog's messages too: a longer one is one document,
        cut and marked with its real length, and the next message is read whole."""
        out = tmp_path / "docs.jsonl"
        long = LINES[0].rstrip(b"\n") + b" " + b"x" * 3000 + b"\n"
        r = subprocess.run([*MODULE, "--omprog", "--emit", "lines", "--max-line-bytes", "1024",
                            "--output", str(out)], input=long + LINES[1], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"OK\nOK\nOK\n"
        first, second = (orjson.loads(x) for x in out.read_bytes().splitlines())
        assert (first["truncated"], first["raw_length"], len(first["raw"])) == (True, len(long) - 1, 1024)
        assert second["raw"] == LINES[1].decode().rstrip("\n") and "truncated" not in second

    def test_a_message_that_cannot_be_written_is_not_confirmed(self) -> None:
        """When --output cannot take the documents (a full disk), the reply is an error, not OK,
        so rsyslog keeps the message and sends it again later."""
        r = subprocess.run([*MODULE, "--omprog", "--emit", "lines", "--output", "/dev/full"],
                           input=LINES[0], capture_output=True, timeout=30)
        replies = r.stdout.splitlines()
        assert replies[0] == b"OK" and len(replies) == 2 and replies[1].startswith(b"ERROR"), r.stdout
        assert b"Traceback" not in r.stderr
