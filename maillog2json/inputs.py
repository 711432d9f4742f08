"""Inputs: bytes lines from stdin and files (plain, .gz, .bz2, .xz), in batches.

A batch is whatever one read returned, split into complete lines. The pipeline flushes
its output after every batch, so behind ``tail -F`` (where a read returns as soon as a
line arrives) each document leaves at once, while a file read in 1 MiB chunks is
written in large blocks.

A line is what lies between two ``\\n`` bytes (a ``\\r`` before the ``\\n`` stays in the line;
the pipeline drops it), plus a last line without its newline. Lines longer than
``max_line`` bytes are cut: the first ``max_line`` bytes make the line (less a UTF-8
character that would be cut in two), the rest up to the newline is skipped, and the line
is reported as truncated with its real length, so memory stays bounded on a file with no
newlines at all.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Literal, Optional

CHUNK = 1 << 20
DEFAULT_MAX_LINE = 8 << 20

_MAGIC: tuple[tuple[bytes, Callable[[BinaryIO, Literal["rb"]], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)

# What a decompressor raises on a truncated or corrupt file: EOFError (truncated),
# OSError (gzip.BadGzipFile, bz2 "Invalid data stream"), zlib.error, lzma.LZMAError.
_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class InputError(Exception):
    """A source that cannot be opened or read (reported to the user without a traceback)."""


@dataclass
class Source:
    name: str            # the path as given, or "-" for stdin
    stream: BinaryIO | io.BufferedIOBase   # the file itself, or a decompressor over ``raw``
    mtime: Optional[float]
    raw: Optional[BinaryIO] = None     # the file under a decompressor (closing one leaves the other open)

    @property
    def compressed(self) -> bool:
        return self.raw is not None

    def close(self) -> None:
        if self.name == "-":
            return
        try:
            self.stream.close()
        except _READ_ERRORS:
            pass
        finally:
            if self.raw is not None:
                self.raw.close()


def open_source(path: str) -> Source:
    """Open a path (``-`` is stdin); compressed files are recognised by their magic bytes."""
    if path == "-":
        if sys.stdin is None:            # started with standard input closed (``<&-``)
            raise InputError("cannot read standard input: it is closed")
        return Source("-", sys.stdin.buffer, None)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        mtime = os.fstat(raw.fileno()).st_mtime
        head = raw.peek(6)[:6]
    except OSError as exc:
        raw.close()
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return Source(path, opener(raw, "rb"), mtime, raw)
    return Source(path, raw, mtime)


@dataclass
class Line:
    """A line too long to keep whole: its kept prefix and its real length."""
    data: bytes
    length: int


def _cut(data: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes of ``data``, less a UTF-8 sequence cut in two at the end (so a
    valid line stays valid when truncated)."""
    keep = data[:limit]
    for back in range(1, min(4, len(keep)) + 1):
        b = keep[-back]
        if b < 0x80:                      # ASCII: the last character is whole
            return keep
        if b >= 0xC0:                     # the lead byte of the last sequence
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return keep if back >= need else keep[:-back]
    return keep                           # not UTF-8 anyway: keep the bytes as they are


class LineSplitter:
    """Splits a byte stream into lines, batch by batch; bounded by ``max_line`` (0 or None:
    unbounded). Linear in the input: a line that spans many chunks is joined once."""

    __slots__ = ("max_line", "_parts", "_size", "_skipping")

    def __init__(self, max_line: Optional[int] = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line or 0
        self._parts: list[bytes] = []    # the start of the current line (at most max_line bytes)
        self._size = 0
        self._skipping: Optional[Line] = None

    def _long(self, data: bytes, length: int) -> Line:
        return Line(_cut(data, self.max_line), length)

    def feed(self, chunk: bytes) -> list:
        """Complete lines in ``chunk`` (plus what was carried over). Items are bytes, or
        :class:`Line` for a cut line."""
        out: list = []
        start = 0
        if self._skipping is not None:
            i = chunk.find(b"\n")
            if i < 0:
                self._skipping.length += len(chunk)
                return out
            self._skipping.length += i
            out.append(self._skipping)
            self._skipping = None
            start = i + 1
        limit = self.max_line
        if self._parts:
            i = chunk.find(b"\n", start)
            if i < 0:
                self._carry(chunk[start:] if start else chunk)
                return out
            self._parts.append(chunk[start:i])
            length = self._size + i - start
            first = b"".join(self._parts)
            self._parts = []
            self._size = 0
            out.append(first if not limit or length <= limit else self._long(first, length))
            start = i + 1
        lines = (chunk[start:] if start else chunk).split(b"\n")
        rest = lines.pop()
        if limit and lines and max(map(len, lines)) > limit:
            out.extend([x if len(x) <= limit else self._long(x, len(x)) for x in lines])
        else:
            out.extend(lines)
        if rest:
            self._carry(rest)
        return out

    def _carry(self, part: bytes) -> None:
        """Keep the start of an unfinished line, or switch to skipping once it is too long."""
        size = self._size + len(part)
        limit = self.max_line
        if limit and size > limit:
            self._parts.append(part[:limit - self._size])
            self._skipping = self._long(b"".join(self._parts), size)
            self._parts = []
            self._size = 0
        else:
            self._parts.append(part)
            self._size = size

    def finish(self) -> list:
        """What is left at end of input: a last line without its newline."""
        out: list = []
        if self._skipping is not None:
            out.append(self._skipping)
            self._skipping = None
        if self._parts:
            out.append(b"".join(self._parts))
            self._parts = []
            self._size = 0
        return out


# True while the main thread is blocked in a read with no line in hand: a signal handler
# (SIGTERM) may then raise to interrupt the read without losing input. Anywhere else it
# should only ask the pipeline to stop after the current batch.
_waiting = False


def waiting_for_input() -> bool:
    """Whether the reader is blocked waiting for input (see ``_waiting``)."""
    return _waiting


def interruptible_read(read: Callable[[int], bytes], size: int) -> bytes:
    """``read(size)``, marked as a wait with no line in hand (see ``_waiting``)."""
    global _waiting
    _waiting = True
    try:
        return read(size)
    finally:
        _waiting = False


def read_batches(source: Source, max_line: Optional[int] = DEFAULT_MAX_LINE) -> Iterator[list]:
    """Yield lists of lines as they become available from ``source``.

    A read error (a truncated or corrupt compressed file, an I/O error) ends the source
    with :class:`InputError`, after the lines read before it have been yielded.
    """
    splitter = LineSplitter(max_line)
    stream = source.stream
    read = getattr(stream, "read1", None) or stream.read
    while True:
        try:
            chunk = interruptible_read(read, CHUNK)
        except _READ_ERRORS as exc:
            # keep what was read (the last, unfinished line too), then report
            tail = splitter.finish()
            if tail:
                yield tail
            what = "truncated or corrupt compressed data" if source.compressed else "read error"
            raise InputError(f"{source.name}: {what}: {exc}") from exc
        if not chunk:
            break
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    tail = splitter.finish()
    if tail:
        yield tail
