"""A real rsyslogd drives ``maillog2json --omprog`` (rsyslog's omprog, confirmMessages=on).

rsyslogd (Debian's package, installed by .ci/run) runs in the foreground from a temporary
folder. It receives the sample's syslog lines on 127.0.0.1 (imtcp, as a central log host
would; a local Postfix reaches it through /dev/log instead), and the omprog action hands
each message to maillog2json with rsyslog's default ``RSYSLOG_FileFormat`` template, a
queue and retries forever.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import re
import socket

import orjson
import pytest

from helpers import SAMPLES

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
pytestmark = pytest.mark.skipif(RSYSLOGD is None or os.geteuid() != 0,
                                reason="needs rsyslogd (Debian package rsyslog, installed by .ci/run) run as root")

SAMPLE = SAMPLES / "realpostfix-seed7" / "mail.traditional.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp: Path, wrapper: Path, port: int) -> str:
    return f"""
global(workDirectory="{tmp}/work")
module(load="imtcp")
module(load="omprog")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="mail")
ruleset(name="mail") {{
  action(type="omprog" binary="{wrapper}" template="RSYSLOG_FileFormat"
         confirmMessages="on" confirmTimeout="20000" signalOnClose="on"
         queue.type="LinkedList" queue.size="100000"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"""


class Rsyslog:
    """rsyslogd in the foreground on a config of ours; stopped by its pid."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.out = tmp / "out.jsonl"
        (tmp / "work").mkdir()
        self.wrapper = tmp / "maillog2json-omprog"
        self.wrapper.write_text("#!/bin/sh\n"
                                f"exec {sys.executable} -m maillog2json --omprog --emit lines --tz UTC "
                                f"--output {self.out} 2>>{tmp}/maillog2json.err\n")
        self.wrapper.chmod(0o755)
        conf = tmp / "rsyslog.conf"
        self.port = _free_port()
        conf.write_text(_config(tmp, self.wrapper, self.port))
        self.pidfile = tmp / "rsyslogd.pid"
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(self.pidfile)],
                                     stdout=subprocess.DEVNULL, stderr=open(tmp / "rsyslogd.err", "wb"))

    def send(self, lines: list[bytes]) -> None:
        """Send syslog lines (facility mail) to rsyslogd over TCP, newline-framed."""
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            conn.sendall(b"".join(b"<22>" + x + b"\n" for x in lines))

    def docs(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [orjson.loads(x) for x in self.out.read_bytes().splitlines() if x.strip()]

    def wait_for(self, n: int, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            docs = self.docs()
            if len({d["raw"] for d in docs}) >= n:
                return docs
            assert self.proc.poll() is None, (self.tmp / "rsyslogd.err").read_text()
            time.sleep(0.2)
        raise AssertionError(f"only {len({d['raw'] for d in self.docs()})} of {n} lines arrived; "
                             f"rsyslogd: {(self.tmp / 'rsyslogd.err').read_text()[-2000:]}; "
                             f"maillog2json: {(self.tmp / 'maillog2json.err').read_text()[-2000:]}")

    def child_pids(self) -> list[int]:
        """maillog2json processes of this test (found by their --output path)."""
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    cmd = Path(f"/proc/{d}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"--omprog" in cmd and str(self.out).encode() in cmd:
                    pids.append(int(d))
        return pids

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def rsyslog(tmp_path):
    r = Rsyslog(tmp_path)
    try:
        yield r
    finally:
        r.stop()
        # rsyslogd closes the pipe and (signalOnClose) sends SIGTERM: maillog2json must be gone
        deadline = time.monotonic() + 10
        while r.child_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = r.child_pids()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "maillog2json outlived rsyslogd"


_BODY_3164 = re.compile(r"[A-Z][a-z]{2} +[0-9]+ [0-9:]+ \S+ (.*)\Z", re.S)


def _body(line: str) -> str:
    """'tag[pid]: text' of a line, whichever header rendering it has (traditional or RFC 3339)."""
    if line[:1].isdigit():
        return line.split(" ", 2)[2]
    m = _BODY_3164.match(line)
    return m.group(1) if m else line


def _missing(lines: list[bytes], docs: list[dict]) -> list[str]:
    got = {_body(d["raw"]) for d in docs}
    return [b for b in (_body(x.decode()) for x in lines) if b not in got]


class TestOmprog:
    def test_every_line_sent_becomes_a_document(self, rsyslog):
        """Each line rsyslog receives reaches maillog2json with the default template and is a typed document."""
        lines = SAMPLE.read_bytes().splitlines()[:300]
        rsyslog.send(lines)
        docs = rsyslog.wait_for(len(set(lines)))
        missing = _missing(lines, docs)
        assert not missing, missing[:5]
        assert docs[0]["raw"].startswith("2026-") or docs[0]["raw"][:4].isdigit(), "RSYSLOG_FileFormat stamps"
        unparsed = [d for d in docs if d["kind"] == "unparsed" and "realpostfix" not in d["raw"]]
        assert not unparsed, unparsed[:3]

    def test_killed_maillog2json_is_restarted_and_nothing_is_lost(self, rsyslog):
        """SIGKILL of maillog2json mid-stream: rsyslog restarts it and re-sends what was not confirmed."""
        lines = SAMPLE.read_bytes().splitlines()[300:900]
        rsyslog.send(lines[:200])
        rsyslog.wait_for(150)
        killed = rsyslog.child_pids()
        assert killed, "no maillog2json process found"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        rsyslog.send(lines[200:])
        docs = rsyslog.wait_for(len(set(lines)), timeout=90)
        missing = _missing(lines, docs)
        assert not missing, f"{len(missing)} lines lost, e.g. {missing[:3]}"
        restarted = rsyslog.child_pids()
        assert restarted and not set(restarted) & set(killed), "rsyslog did not start a new maillog2json"
        # one message at a time is in flight: at most it is written twice (written, not yet confirmed)
        assert len(lines) <= len(docs) <= len(lines) + 1, (len(lines), len(docs))
