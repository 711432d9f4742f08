"""Inputs: bytes lines from stdin and files (plain, .gz, .bz2, .xz), in batches.

A batch is whatever one read returned, split into complete lines. The pipeline flushes
its output after every batch, so behind ``tail -F`` (where a read returns as soon as a
line arrives) each document leaves at once, while a file read in 1 MiB chunks is
written in large blocks.

Lines longer than ``max_line`` bytes are cut: the first ``max_line`` bytes make the
line, the rest up to the newline is skipped, and the line is reported as truncated with
its real length, so memory stays bounded on a file with no newlines at all.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional

CHUNK = 1 << 20
DEFAULT_MAX_LINE = 8 << 20

_MAGIC = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)


class InputError(Exception):
    """A source that cannot be opened or read (reported to the user without a traceback)."""


@dataclass
class Source:
    name: str            # the path as given, or "-" for stdin
    stream: BinaryIO
    mtime: Optional[float]

    def close(self) -> None:
        if self.name != "-":
            self.stream.close()


def open_source(path: str) -> Source:
    """Open a path (``-`` is stdin); compressed files are recognised by their magic bytes."""
    if path == "-":
        return Source("-", sys.stdin.buffer, None)
    try:
        raw = open(path, "rb")
        mtime = os.fstat(raw.fileno()).st_mtime
        head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return Source(path, opener(raw, "rb"), mtime)  # type: ignore[operator]
    return Source(path, raw, mtime)


@dataclass
class Line:
    """A line too long to keep whole: its kept prefix and its real length."""
    data: bytes
    length: int


class LineSplitter:
    """Splits a byte stream into lines, batch by batch; bounded by ``max_line``."""

    __slots__ = ("max_line", "_buf", "_skipping", "_skipped")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = b""
        self._skipping: Optional[Line] = None

    def feed(self, chunk: bytes) -> list:
        """Complete lines in ``chunk`` (plus what was carried over). Items are bytes, or
        :class:`Line` for a cut line."""
        out: list = []
        if self._skipping is not None:
            i = chunk.find(b"\n")
            if i < 0:
                self._skipping.length += len(chunk)
                return out
            self._skipping.length += i
            out.append(self._skipping)
            self._skipping = None
            chunk = chunk[i + 1:]
        data = self._buf + chunk if self._buf else chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        if self.max_line and any(len(x) > self.max_line for x in lines):
            lines = [x if len(x) <= self.max_line else Line(x[:self.max_line], len(x)) for x in lines]
        out.extend(lines)
        if len(rest) > self.max_line:
            self._skipping = Line(rest[:self.max_line], len(rest))
            rest = b""
        self._buf = rest
        return out

    def finish(self) -> list:
        """What is left at end of input: a last line without its newline."""
        out: list = []
        if self._skipping is not None:
            out.append(self._skipping)
            self._skipping = None
        if self._buf:
            out.append(self._buf)
            self._buf = b""
        return out


def read_batches(source: Source, max_line: int = DEFAULT_MAX_LINE) -> Iterator[list]:
    """Yield lists of lines as they become available from ``source``."""
    splitter = LineSplitter(max_line)
    stream = source.stream
    read = getattr(stream, "read1", None) or stream.read
    while True:
        try:
            chunk = read(CHUNK)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            # a truncated or corrupt compressed file: keep what was read, then report
            tail = splitter.finish()
            if tail:
                yield tail
            raise InputError(f"{source.name}: read error: {exc}") from exc
        if not chunk:
            break
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    tail = splitter.finish()
    if tail:
        yield tail
