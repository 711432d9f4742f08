"""In-process helpers: run lines through a :class:`Pipeline` into memory (fast, no subprocess)."""

from __future__ import annotations

import subprocess

from datetime import datetime, timezone
from typing import Any, Optional, Union

import orjson

from maillog2json.pipeline import Options, Pipeline
from maillog2json.syslog import TimeResolver, parse_tz

# The injected clock: 2026-11-28 12:00:00 UTC.
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc).timestamp()


class MemorySink:
    """A sink that keeps what it was given."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.flushes = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        pass

    def documents(self) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in b"".join(self.parts).splitlines()]


def docs_for(lines: list[Union[bytes, str]], *, tz: Optional[str] = "UTC", year: Optional[int] = None,
             now: float = NOW, reference: Optional[float] = None, **options: Any) -> list[dict[str, Any]]:
    """The documents for ``lines`` (each one line, without its newline), rendered and read back.

    ``tz``/``year``/``now``/``reference`` (the source's mtime) go to the TimeResolver; other
    keywords to :class:`Options` (lines only by default).
    """
    options.setdefault("emit_messages", False)
    sink = MemorySink()
    time = TimeResolver(parse_tz(tz), year, now=lambda: now)
    pipeline = Pipeline([sink], Options(**options), time)
    time.start_source(reference)
    pipeline.process([x.encode() if isinstance(x, str) else x for x in lines])
    pipeline.finish()
    return sink.documents()


# One message's life, written for the framing and CLI tests (a whole session, qmgr to removed).
SESSION_LINES = [
    b"Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]\n",
    b"Nov  8 09:15:03 mx1 postfix/smtpd[1234]: 3F2A01C0D4: client=unknown[192.0.2.7]\n",
    b"Nov  8 09:15:03 mx1 postfix/cleanup[1240]: 3F2A01C0D4: message-id=<20261108091503.1@example.org>\n",
    b"Nov  8 09:15:03 mx1 postfix/qmgr[981]: 3F2A01C0D4: from=<ann@example.org>, size=1432, nrcpt=1"
    b" (queue active)\n",
    b"Nov  8 09:15:04 mx1 postfix/smtp[1250]: 3F2A01C0D4: to=<bob@example.net>,"
    b" relay=mx.example.net[198.51.100.9]:25, delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=2.0.0,"
    b" status=sent (250 2.0.0 Ok: queued as 9B1E)\n",
    b"Nov  8 09:15:04 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed\n",
    b"Nov  8 09:15:05 mx1 postfix/smtpd[1234]: disconnect from unknown[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1"
    b" quit=1 commands=5\n",
]
SESSION_LOG = b"".join(SESSION_LINES)


# -- shared corpus and whole-pipeline helpers (messages too) -------------------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from maillog2json.stats import Stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def shared_dir() -> Optional[Path]:
    """``../shared`` next to the checkout (or $MAILLOG2JSON_SHARED), if it is there."""
    env = os.environ.get("MAILLOG2JSON_SHARED")
    p = Path(env) if env else ROOT.parent / "shared"
    return p if p.is_dir() else None


def need_shared(*parts: str) -> Path:
    """The path below ../shared, or skip the test with the reason."""
    base = shared_dir()
    if base is None:
        pytest.skip("../shared (corpus and tools beside the checkout) is not present")
    p = base.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is not present")
    return p


def make_pipeline(emit: str = "lines", year: int = 2026, tz: str = "UTC", tracker: Any = None,
                  **tracker_options: Any) -> tuple[Pipeline, MemorySink]:
    """A pipeline writing into memory; with a message tracker when ``emit`` includes messages."""
    sink = MemorySink()
    opts = Options(emit_lines=emit in ("lines", "all"), emit_messages=emit in ("messages", "all"))
    if tracker is None and opts.emit_messages:
        from maillog2json.correlate import MessageTracker
        tracker = MessageTracker(**tracker_options)
    p = Pipeline([sink], opts, TimeResolver(parse_tz(tz), year, now=lambda: NOW), tracker, Stats())
    return p, sink


def pipeline_docs(lines: list[Union[bytes, str]], emit: str = "all", year: int = 2026, tz: str = "UTC",
                  **tracker_options: Any) -> list[dict[str, Any]]:
    """Line and/or message documents for raw lines, through the whole pipeline and tracker."""
    p, sink = make_pipeline(emit, year, tz, **tracker_options)
    p.time.start_source(None)
    p.process([x.encode() if isinstance(x, str) else x for x in lines])
    p.finish()
    return sink.documents()


LINE_HEADER = ("type", "_id", "raw", "timestamp", "host", "program", "daemon", "pid", "syslog_name")


def line_fields(line: str) -> dict[str, Any]:
    """The fields one line parses to, without the syslog header's (for exact table tests)."""
    (doc,) = docs_for([line], year=2026)
    assert doc["raw"] == line
    return {k: v for k, v in doc.items() if k not in LINE_HEADER}


class LineCases:
    """A table of (line, exact fields): each row of ``CASES`` is one test (conftest.py's
    pytest_generate_tests parametrizes ``test_line``)."""

    CASES: list = []

    def test_line(self, line: str, expected: dict[str, Any]) -> None:
        """Each line gives its kind and exactly these fields (unknown lines stay unparsed)."""
        assert line_fields(line) == expected


# processes a test started with spawn(): conftest.py kills those still running after each test
SPAWNED: list[subprocess.Popen] = []


def spawn(*args: Any, **kw: Any) -> subprocess.Popen:
    """subprocess.Popen, killed after the test if still running (a failed assertion must
    not leave a maillog2json retrying forever in the background)."""
    p = subprocess.Popen(*args, **kw)
    SPAWNED.append(p)
    return p
