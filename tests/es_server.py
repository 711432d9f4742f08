"""A local Elasticsearch-compatible server for the tests: noida-db (from PyPI, the ``test``
extra), one small binary that answers the official client.

* :class:`ESServer` starts, stops and restarts one server on 127.0.0.1. It runs noida-db's
  binary itself (not the ``noida-db`` Python wrapper, which would run it as a child), so
  the PID it holds is the server's, and ``stop()`` (SIGTERM, then SIGKILL) really stops it.
* ``es_url`` (fixture): the URL of a server shared by the session: $MAILLOG2JSON_TEST_ES_URL
  when set (``.ci/run`` starts one), else one started for this session.
* ``es_server`` (fixture): a private :class:`ESServer` for a test that stops and starts it.

Both skip the test (with the reason) only when noida-db is not installed.

What noida-db 0.2.3 is (found by the tests' authors): it reports version 8.15.3; ``_bulk``,
index and component templates, mappings (``wildcard``, ``match_only_text``, ``ip``...),
``filter_path``, ``refresh``, ``count``, ``search`` and ``index.blocks.read_only_allow_delete``
(per-item 429 ``cluster_block_exception``) work; there is no ILM API (``_ilm`` answers
400 "no handler found"), no ``_data_stream`` API (an index template's ``data_stream`` is
accepted, but a plain index of that name is created, and ``@timestamp`` is not required),
and no security (authentication headers are ignored).

Also a command line for ``.ci/run``: ``python tests/es_server.py binary|free-port|wait URL``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

ENV_URL = "MAILLOG2JSON_TEST_ES_URL"


def noida_binary() -> Optional[Path]:
    """The noida-db server binary shipped in the noida_db package, or None if not installed."""
    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent
    path = folder / ("noida-db.exe" if os.name == "nt" else "noida-db")
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        try:
            path.chmod(0o755)        # what noida-db's own wrapper does before running it
        except OSError:
            return None
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers GET / with an Elasticsearch-like JSON object."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=timeout) as r:
            return r.status == 200 and "version" in json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def wait_for(url: str, timeout: float = 30.0, proc: Optional[subprocess.Popen] = None) -> bool:
    """Wait until ``url`` answers (False after ``timeout`` or when ``proc`` has exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


class ESServer:
    """One noida-db serving only Elasticsearch on 127.0.0.1:``port``, data in ``data_dir``."""

    def __init__(self, data_dir: os.PathLike | str, port: Optional[int] = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.data_dir / "noida-db.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers."""
        binary = noida_binary()
        if binary is None:
            raise RuntimeError("noida-db is not installed (pip install noida-db)")
        if self.proc is not None and self.proc.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(binary), "start", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                 "--only", "elasticsearch", "--elasticsearch-port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                start_new_session=True)
        if not wait_for(self.url, timeout, self.proc):
            tail = self.log.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"noida-db did not answer on {self.url} within {timeout}s; its log:\n{tail}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        # the port is free again once the process is gone; make sure nothing answers there
        deadline = time.monotonic() + timeout
        while answers(self.url, 0.2) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "ESServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- pytest fixtures (imported by test modules: ``from es_server import es_url, es_server``) --------
try:
    import pytest
except ImportError:  # pragma: no cover - the command line below works without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    def _need_noida() -> None:
        if noida_binary() is None:
            pytest.skip("noida-db (the test Elasticsearch server) is not installed: pip install -e '.[test]'")

    # The session's own shared server. Each test module that imports the fixture gets a
    # session fixture of its own from pytest; they all use this one server, which the
    # first of them started and stops at the end of the session.
    _shared: list[ESServer] = []

    @pytest.fixture(scope="session")
    def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        """The URL of the session's shared server ($MAILLOG2JSON_TEST_ES_URL, else our own)."""
        env = os.environ.get(ENV_URL)
        if env:
            yield env.rstrip("/")
            return
        _need_noida()
        if _shared and _shared[0].proc is not None:
            yield _shared[0].url
            return
        server = ESServer(tmp_path_factory.mktemp("noida-shared"))
        server.start()
        _shared[:] = [server]
        try:
            yield server.url
        finally:
            _shared.clear()
            server.stop()

    @pytest.fixture
    def es_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ESServer]:
        """A private, started server that the test may stop and start."""
        _need_noida()
        server = ESServer(tmp_path_factory.mktemp("noida"))
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _main(argv: list[str]) -> int:
    if argv[:1] == ["binary"]:
        b = noida_binary()
        if b is None:
            print("noida-db is not installed", file=sys.stderr)
            return 1
        print(b)
        return 0
    if argv[:1] == ["free-port"]:
        print(free_port())
        return 0
    if len(argv) in (2, 3) and argv[0] == "wait":
        return 0 if wait_for(argv[1], float(argv[2]) if len(argv) == 3 else 30.0) else 1
    print("usage: es_server.py binary | free-port | wait URL [SECONDS]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
