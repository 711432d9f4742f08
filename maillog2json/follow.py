"""Follow a growing log file across rotations, like ``tail -F``, and resume exactly after a restart.

:class:`Follower` polls one path and yields batches of complete lines (as
:func:`maillog2json.inputs.read_batches` does) as they are appended. Its :meth:`Follower.position`
is plain JSON-able data naming the file (inode, device, a fingerprint of its first bytes) and the
offset just after the last complete line yielded; given back to a new :class:`Follower`, it resumes
there, so that no line is read twice and none is skipped, as Filebeat's registry does.

Rotation is recognised as logrotate does it:

* by rename (``mail.log`` -> ``mail.log.1``, a new ``mail.log`` created): once the path names
  another file, the old one is read to its end first, including lines a late writer appends to it
  after the rename (until it has been quiet for ``4 * poll_interval``); its last line is yielded
  even without a newline, since nothing will finish it; then the new file is read from its start;
* by ``copytruncate`` (the file copied, then truncated in place): once the file is shorter than
  what was read, or its first bytes changed, it is read again from its start. The lines written
  between the copy and the truncation are in neither file: they are lost to every reader, this
  one included; so is an unfinished line held when the truncation is noticed.

A path that does not exist (yet, or between a rename and the creation of the new file) is waited
for; only a directory or an unreadable file is an error (:class:`~maillog2json.inputs.InputError`).
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import time
from typing import Any, BinaryIO, Callable, Generator, Iterator, Optional

from maillog2json.inputs import CHUNK, DEFAULT_MAX_LINE, InputError, LineSplitter

FINGERPRINT_BYTES = 1024
# rotated siblings with these endings are compressed: they are not searched on a restart
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z", ".zip")
# rotated siblings: mail.log.1, mail.log-20261128, mail.log_old
SIBLING_SEPARATORS = ".-_"


def fingerprint(data: bytes) -> str:
    """The fingerprint of a file whose first (at most :data:`FINGERPRINT_BYTES`) bytes are ``data``."""
    return hashlib.sha256(data[:FINGERPRINT_BYTES]).hexdigest()


class _File:
    """One open file being read: where the reading is and where the last complete line ended."""

    __slots__ = ("name", "fh", "fd", "ino", "dev", "read_pos", "offset", "head", "fp")

    def __init__(self, name: str, fh: BinaryIO, st: os.stat_result) -> None:
        self.name = name
        self.fh = fh
        self.fd = fh.fileno()
        self.ino = st.st_ino
        self.dev = st.st_dev
        self.read_pos = 0       # bytes read from the file
        self.offset = 0         # end of the last complete line (never inside an unfinished line)
        self.head = b""         # the first bytes read, to notice a truncated and rewritten file
        self.fp: Optional[str] = None   # the fingerprint once the file has FINGERPRINT_BYTES bytes

    def seek(self, offset: int) -> None:
        self.fh.seek(offset)
        self.read_pos = self.offset = offset
        self.head = b""
        self.fp = None

    def pread(self, size: int) -> bytes:
        return os.pread(self.fd, size, 0)

    def close(self) -> None:
        self.fh.close()


def _open(path: str) -> Optional[tuple[BinaryIO, os.stat_result]]:
    """The file at ``path`` opened for reading, or None if there is none (yet)."""
    try:
        fh = open(path, "rb", buffering=0)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"cannot follow {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fh.fileno())
    except OSError as exc:
        fh.close()
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if stat_mod.S_ISDIR(st.st_mode):
        fh.close()
        raise InputError(f"cannot follow {path}: it is a directory")
    return fh, st  # type: ignore[return-value]


class Follower:
    """Follow ``path``: :meth:`batches` yields lists of complete lines as they are appended.

    ``position`` is what :meth:`position` returned in an earlier run (or None: start at the
    beginning of the file). ``stop`` is asked after every batch and at every poll; once it returns
    True, :meth:`batches` returns (every complete line read has been yielded by then; an
    unfinished last line is kept for the next run, through the position). ``clock`` and ``sleep``
    are injectable for tests; ``chunk_size`` bounds each read (memory stays bounded by it and by
    ``max_line``). Problems that are not errors (a position that matches no file, a truncated
    file) are appended to :attr:`warnings`, one sentence each.
    """

    def __init__(self, path: str, position: Optional[dict] = None, poll_interval: float = 0.25,
                 max_line: int = DEFAULT_MAX_LINE, stop: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 chunk_size: int = CHUNK, idle_batches: bool = False) -> None:
        self.path = os.fspath(path)
        # yield an empty batch at each idle poll: the consumer gets control back now and then
        # (to save its state and checkpoint its sinks while the log is quiet)
        self.idle_batches = idle_batches
        self.poll_interval = poll_interval
        self.grace = poll_interval * 4
        self.stop = stop
        self.clock = clock
        self.sleep = sleep
        self.chunk_size = chunk_size
        self.warnings: list[str] = []
        self._splitter = LineSplitter(max_line)
        self._saved = dict(position) if position else None
        self._started = False
        self._stopped = False
        self._pos: dict[str, Any] = dict(position) if position else {
            "path": self.path, "inode": None, "device": None, "offset": 0, "fingerprint": None, "size_at_save": 0}
        # a directory or an unreadable file is an error at once, not at the first read
        opened = _open(self.path)
        if opened is not None:
            opened[0].close()

    # -- the resume point ----------------------------------------------------------------
    def position(self) -> dict:
        """Where to resume: just after the last line yielded (plain JSON-able data)."""
        return dict(self._pos)

    def _mark(self, f: _File) -> None:
        """Record ``f``'s offset as the resume point (called before each batch is yielded)."""
        size = os.fstat(f.fd).st_size
        fp = f.fp
        if fp is None:
            data = f.pread(min(size, FINGERPRINT_BYTES))
            fp = fingerprint(data)
            if len(data) == FINGERPRINT_BYTES:
                f.fp = fp
        self._pos = {"path": self.path, "inode": f.ino, "device": f.dev, "offset": f.offset,
                     "fingerprint": fp, "size_at_save": size}

    # -- reading -------------------------------------------------------------------------
    def batches(self) -> Iterator[list]:
        """Lists of complete lines (bytes, or :class:`~maillog2json.inputs.Line` for a cut line),
        as they are appended, until ``stop()`` returns True."""
        if self._started:
            raise RuntimeError("Follower.batches() can only be iterated once")
        self._started = True
        f: Optional[_File] = None
        try:
            f, rotated = self._resume()
            if f is not None:
                self._mark(f)
            if f is not None and rotated:
                # the saved file was rotated while we were stopped: finish it, then the current one
                yield from self._finish(f)
                f.close()
                f = None
                if self._stopped:
                    return
            while True:
                if f is None:
                    f = self._open_path()
                    if f is None:
                        if self._ask_stop():
                            return
                        self.sleep(self.poll_interval)
                        continue
                    self._mark(f)
                rotated = yield from self._follow(f)
                if not rotated:
                    return
                f.close()
                f = None
        finally:
            if f is not None:
                f.close()

    def _ask_stop(self) -> bool:
        if not self._stopped and self.stop():
            self._stopped = True
        return self._stopped

    def _open_path(self) -> Optional[_File]:
        opened = _open(self.path)
        if opened is None:
            return None
        self._splitter = LineSplitter(self._splitter.max_line)
        return _File(self.path, *opened)

    def _read(self, f: _File) -> Generator[list, None, int]:
        """Yield the lines of what ``f`` holds now, to its end; returns the number of bytes read."""
        total = 0
        splitter = self._splitter
        while True:
            try:
                chunk = f.fh.read(self.chunk_size)
            except OSError as exc:
                raise InputError(f"{f.name}: read error: {exc.strerror or exc}") from exc
            if not chunk:
                return total
            start = f.read_pos
            if start == len(f.head) < FINGERPRINT_BYTES:
                f.head += chunk[:FINGERPRINT_BYTES - start]
            f.read_pos += len(chunk)
            total += len(chunk)
            lines = splitter.feed(chunk)
            end = chunk.rfind(b"\n")
            if end >= 0:
                f.offset = start + end + 1
            if lines:
                self._mark(f)
                yield lines
                if self._ask_stop():
                    return total

    def _truncated(self, f: _File) -> bool:
        """Whether ``f`` was truncated (copytruncate) or rewritten since it was read: if so, read
        it again from its start."""
        size = os.fstat(f.fd).st_size
        if size >= f.read_pos and (not f.head or f.pread(len(f.head)) == f.head):
            if len(f.head) < FINGERPRINT_BYTES and f.read_pos > len(f.head):
                f.head = f.pread(min(f.read_pos, FINGERPRINT_BYTES))
            return False
        self.warnings.append(f"{f.name} was truncated (copytruncate?): reading it again from the start; "
                             "lines written between the copy and the truncation are lost")
        f.seek(0)
        self._splitter = LineSplitter(self._splitter.max_line)
        self._mark(f)
        return True

    def _follow(self, f: _File) -> Generator[list, None, bool]:
        """Read ``f`` as it grows; returns True once it was rotated away and finished, False on stop."""
        while True:
            self._truncated(f)
            yield from self._read(f)
            if self._stopped:
                return False
            try:
                st: Optional[os.stat_result] = os.stat(self.path)
            except OSError:           # gone (between a rename and the new file): keep reading the old
                st = None
            if st is not None and (st.st_ino, st.st_dev) != (f.ino, f.dev):
                yield from self._finish(f)
                return not self._stopped
            if self._ask_stop():
                return False
            self.sleep(self.poll_interval)
            if self.idle_batches:
                yield []

    def _finish(self, f: _File) -> Iterator[list]:
        """Read a rotated file to its end, until it has been quiet for the grace period, then
        yield its last line even if unfinished."""
        quiet_since = self.clock()
        while True:
            n = yield from self._read(f)
            if self._stopped:
                return
            now = self.clock()
            if n:
                quiet_since = now
            elif now - quiet_since >= self.grace:
                break
            if self._ask_stop():
                return
            self.sleep(self.poll_interval)
        tail = self._splitter.finish()
        f.offset = f.read_pos
        self._mark(f)
        if tail:
            yield tail
            self._ask_stop()

    # -- resuming ------------------------------------------------------------------------
    def _siblings(self) -> list[tuple[float, str]]:
        """Uncompressed rotated siblings of the path (``mail.log.1``, ``mail.log-20261128``), newest
        first, each with its mtime."""
        directory, base = os.path.split(self.path)
        try:
            names = os.listdir(directory or ".")
        except OSError:
            return []
        found = []
        for name in names:
            if (len(name) > len(base) and name.startswith(base) and name[len(base)] in SIBLING_SEPARATORS
                    and not name.lower().endswith(COMPRESSED_SUFFIXES)):
                full = os.path.join(directory, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                if stat_mod.S_ISREG(st.st_mode):
                    found.append((st.st_mtime, full))
        found.sort(reverse=True)
        return found

    def _resume(self) -> tuple[Optional[_File], bool]:
        """The saved file opened at the saved offset, and whether it is a rotated sibling (to be
        finished before the path is read); (None, False) to start the path from its beginning."""
        saved = self._saved
        if not saved or saved.get("inode") is None:
            return None, False
        if saved.get("path") not in (None, self.path):
            self.warnings.append(f"the saved position is for {saved.get('path')}, not {self.path}: "
                                 f"reading {self.path} from the start")
            return None, False
        offset = int(saved.get("offset") or 0)
        saved_fp = saved.get("fingerprint")
        size_at_save = int(saved.get("size_at_save") or 0)
        n = min(size_at_save, FINGERPRINT_BYTES)
        siblings = self._siblings()
        best: Optional[tuple[int, str, BinaryIO, os.stat_result]] = None
        for name in [self.path] + [s for _, s in siblings]:
            try:
                opened = _open(name)
            except InputError:
                continue
            if opened is None:
                continue
            fh, st = opened
            same_inode = (st.st_ino, st.st_dev) == (saved.get("inode"), saved.get("device"))
            if saved_fp is None or n == 0:
                # nothing of the content is known: only the inode tells
                match = same_inode
            else:
                match = st.st_size >= n and fingerprint(os.pread(fh.fileno(), n, 0)) == saved_fp
            score = (2 if same_inode else 1) if match else 0
            if score > (best[0] if best else 0):
                if best is not None:
                    best[2].close()
                best = (score, name, fh, st)
            else:
                fh.close()
        if best is None:
            self.warnings.append(f"the saved position matches no file (rotated away or removed?): "
                                 f"reading {self.path} from the start")
            return None, False
        _, name, fh, st = best
        f = _File(name, fh, st)
        if st.st_size < offset:
            self.warnings.append(f"{name} is shorter than the saved offset (truncated?): reading it from the start")
            offset = 0
        f.seek(offset)
        rotated = name != self.path
        if rotated:
            # (the mtimes of the listing: a sibling removed since then cannot fail this)
            newer = [s for mtime, s in siblings if s != name and mtime > st.st_mtime]
            if newer:
                self.warnings.append(f"{name} was rotated more than once while stopped: the lines of "
                                     f"{', '.join(newer)} are not read")
        return f, rotated
