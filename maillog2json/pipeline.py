"""Wiring: inputs -> syslog header -> parser -> (tracker) -> renderer -> sinks.

The per-line path is :meth:`Pipeline.line_documents`: decode, one header match, one
parser dispatch by tag (cached), an id, a counter. Everything else (which renderer,
which documents to emit, which sinks) is decided once, in ``__init__``.
"""

from __future__ import annotations

import hashlib
from itertools import islice
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Protocol

from maillog2json.inputs import DEFAULT_MAX_LINE, InputError, Line, Source, open_source, read_batches
from maillog2json.parsers import LineParser
from maillog2json.render import RENDERERS
from maillog2json.sinks import Sink
from maillog2json.stats import Stats
from maillog2json.syslog import FAST_HEADER, HeaderParser, TimeResolver

Doc = dict[str, Any]


class Shipper(Protocol):
    """What the pipeline needs of a network sink (see :mod:`maillog2json.delivery.worker`)."""
    def put_docs(self, docs: list[Doc], stop: Any = ...) -> None: ...


class Tracker(Protocol):
    """What the pipeline needs of a message tracker (see :mod:`maillog2json.correlate`)."""
    def feed(self, doc: Doc) -> list[Doc]: ...
    def finish(self) -> list[Doc]: ...


@dataclass
class Options:
    emit_lines: bool = True
    emit_messages: bool = True
    schema: str = "native"
    max_line: int = DEFAULT_MAX_LINE
    extra: dict[str, Any] = field(default_factory=dict)


# Exact repeats of a line are numbered over a window of recent distinct lines (at least this
# many, at most twice as many plus a batch): a repeat anywhere in that window gets the next
# number, so ids within an input are unique (lines without a timestamp included) and memory
# stays bounded.
SEEN_WINDOW = 1 << 15


def line_id(raw: bytes, occurrence: int) -> str:
    """A stable id from the line's bytes; the n-th exact repeat of a line gets its own id."""
    h = hashlib.blake2b(raw, digest_size=12)
    if occurrence:
        h.update(b"\x00%d" % occurrence)
    return h.hexdigest()


class Pipeline:
    def __init__(self, sinks: list[Sink], options: Optional[Options] = None, time: Optional[TimeResolver] = None,
                 tracker: Optional[Tracker] = None, stats: Optional[Stats] = None,
                 shippers: Optional[list[Shipper]] = None) -> None:
        self.options = options or Options()
        self.sinks = sinks
        # network sinks (Elasticsearch, Fluentd): they take the documents themselves and
        # encode them in their own wire format on this thread; see maillog2json.delivery
        self.shippers = shippers or []
        self.time = time or TimeResolver()
        self.headers = HeaderParser(self.time)
        self._stamps = self.time.stamps
        self.parser = LineParser()
        self._programs = self.parser.programs
        self.tracker = tracker
        self.stats = stats or Stats()
        self.render = RENDERERS[self.options.schema]
        self.stopping = False
        # occurrences of each recent line, by its first-sight id (see SEEN_WINDOW)
        self._seen: dict[str, int] = {}

    # -- the per-line path -------------------------------------------------------------
    def line_documents(self, items: Iterable[Any]) -> Iterator[Doc]:
        """Input lines (bytes, or cut :class:`Line` s) -> their line documents, in order.

        The hot path, written as one loop over a batch so that every name it uses is a
        local, and as a generator so that each document is rendered while it is still in
        the CPU's cache (a list of a whole batch's documents ran slower in paired runs, though
        with fewer instructions). A well-formed line (bytes, UTF-8, a header that
        :data:`FAST_HEADER` reads, a valid stamp) is read here; anything else goes through
        :meth:`_general_document`. Both end the same way: raw text, id, kind count. The branch
        here is _general_document's FAST_HEADER branch inlined (a call per line would cost
        about 1%): a change to one is a change to both (tests/test_ids.py checks that they
        agree on every sample line).
        """
        stats = self.stats
        kinds = stats.kinds
        stamps = self._stamps
        stamp_slow = self.time.stamp
        iso8601 = self.time.iso8601
        programs = self._programs
        resolve = self.parser.resolve
        match = FAST_HEADER.match
        blake2b = hashlib.blake2b
        general = self._general_document
        seen = self._seen
        if len(seen) > 2 * SEEN_WINDOW:             # keep the newest SEEN_WINDOW, once per batch
            seen = self._seen = dict(islice(seen.items(), len(seen) - SEEN_WINDOW, None))
        for item in items:
            doc: Optional[Doc] = None
            kind: Optional[str] = None
            if item.__class__ is bytes and item[-1:] != b"\r":
                raw_bytes = item
                try:
                    line = item.decode()
                except UnicodeDecodeError:
                    line = ""                       # (matches no header: the general path)
                m = match(line)
                if m is not None:
                    stamp, iso, host, program, pid = m.groups()
                    if stamp is not None:
                        ts = stamps.get(stamp) or stamp_slow(stamp)
                    else:
                        ts = iso8601(iso)
                    if ts is not None:
                        daemon, syslog_name, fn = programs.get(program) or resolve(program)
                        doc = {"type": "line", "_id": None, "kind": None, "timestamp": ts, "host": host,
                               "program": program, "daemon": daemon, "pid": int(pid) if pid else None,
                               "queue_id": None}
                        if syslog_name is not None:
                            doc["syslog_name"] = syslog_name
                        mark = len(doc)
                        kind = fn(daemon, line[m.end():], doc) if fn is not None else None
                        if kind is None:
                            kind = self.parser.unparsed(fn, doc, mark)
                            stats.unparsed(doc["unparsed_reason"], line)
                        doc["kind"] = kind
                        doc["raw"] = line
            if doc is None or kind is None:
                doc, raw_bytes = general(item)
                kind = doc["kind"]
            # the id: line_id(raw_bytes, n) for the n-th repeat, with one hash per line; the
            # first sight's id (its digest in hex) is also its key in the repeat counts
            h = blake2b(raw_bytes, digest_size=12)
            key = h.hexdigest()
            n = seen.get(key, 0)
            seen[key] = n + 1
            if n:
                h.update(b"\x00%d" % n)
                key = h.hexdigest()
            doc["_id"] = key
            kinds[kind] = kinds.get(kind, 0) + 1
            stats.lines += 1
            yield doc

    def _general_document(self, item: Any) -> tuple[Doc, bytes]:
        """A line the fast path of :meth:`line_documents` does not take: cut, invalid UTF-8,
        CRLF, any other header format, an unusual stamp, or no header at all. Returns the
        document (all but its id) and the bytes the id is made from."""
        stats = self.stats
        if item.__class__ is Line:
            raw_bytes = item.data
            truncated_length = item.length
        else:
            raw_bytes = item
            truncated_length = 0
        if raw_bytes[-1:] == b"\r":                # (cheaper than bytes.endswith's argument parsing)
            raw_bytes = raw_bytes[:-1]
        invalid = False
        try:
            line = raw_bytes.decode("utf-8")
        except UnicodeDecodeError:
            line = raw_bytes.decode("utf-8", "replace")
            invalid = True
        m = FAST_HEADER.match(line)
        ts = None
        if m is not None:
            stamp, iso, host, program, pid = m.groups()
            msg = line[m.end():]
            if stamp is not None:
                ts = self._stamps.get(stamp) or self.time.stamp(stamp)
            elif iso is not None:
                ts = self.time.iso8601(iso)
        if ts is not None:
            daemon, syslog_name, fn = self._programs.get(program) or self.parser.resolve(program)
            doc: Doc = {"type": "line", "_id": None, "kind": None, "timestamp": ts, "host": host,
                        "program": program, "daemon": daemon, "pid": int(pid) if pid else None, "queue_id": None}
            if syslog_name is not None:
                doc["syslog_name"] = syslog_name
            mark = len(doc)
            kind = fn(daemon, msg, doc) if fn is not None else None
            if kind is None:
                kind = self.parser.unparsed(fn, doc, mark)
            doc["kind"] = kind
        else:
            header, msg = self.headers.parse(line)
            if header is None:
                doc = {"type": "line", "_id": None, "kind": "unparsed", "timestamp": None, "host": None,
                       "program": None, "daemon": None, "pid": None, "queue_id": None,
                       "unparsed_reason": "empty" if not line else "header"}
                kind = "unparsed"
            else:
                doc = {"type": "line", "_id": None, "kind": None, "timestamp": header["timestamp"],
                       "host": header["host"], "program": header.get("program"), "daemon": None,
                       "pid": header.get("pid"), "queue_id": None}
                if len(header) > 4:
                    for k, v in header.items():
                        if k not in doc:
                            doc[k] = v
                kind = self.parser.parse(doc["program"], msg, doc)
                doc["kind"] = kind
        if kind == "unparsed":
            stats.unparsed(doc["unparsed_reason"], line)
        if invalid:
            doc["invalid_utf8"] = True
            stats.invalid_utf8 += 1
        if truncated_length:
            doc["truncated"] = True
            doc["raw_length"] = truncated_length
            stats.truncated += 1
        doc["raw"] = line
        return doc, raw_bytes

    # -- state across runs --------------------------------------------------------------
    def id_state(self, keep: int = 1024) -> list:
        """The repeat counts of the most recently first-seen distinct lines, for a state file:
        an exact repeat can only follow its twin closely (it carries the same timestamp), so
        these are enough for a restarted run to number repeats as one run would."""
        seen = self._seen
        return [[k, n] for k, n in islice(seen.items(), max(0, len(seen) - keep), None)]

    def restore_id_state(self, items: list) -> None:
        for k, n in items:
            self._seen[k] = n

    # -- batches and sources -----------------------------------------------------------
    def process(self, lines: Iterable[Any]) -> None:
        emit_lines = self.options.emit_lines
        emit_messages = self.options.emit_messages
        tracker = self.tracker
        render = self.render
        # rendered documents are appended to one buffer at once: orjson's bytes carry a few
        # KiB of spare capacity each, so a list of them would hold several times the output
        if self.shippers:
            return self._process_shipping(lines)
        buf = bytearray()
        count = 0
        feed = tracker.feed if tracker is not None else None
        for doc in self.line_documents(lines):
            # the tracker sees the line first: it may add correlation fields to it
            done = feed(doc) if feed is not None else None
            if emit_lines:
                buf += render(doc)
                count += 1
            if done and emit_messages:
                for m in done:
                    buf += render(m)
                count += len(done)
        self._write(buf, count)

    def _process_shipping(self, lines: Iterable[Any]) -> None:
        """:meth:`process` with network sinks: the batch's documents are also kept, in
        order, for the shippers (each encodes them its own way)."""
        emit_lines = self.options.emit_lines
        emit_messages = self.options.emit_messages
        tracker = self.tracker
        docs: list[Doc] = []
        for doc in self.line_documents(lines):
            done = tracker.feed(doc) if tracker is not None else None
            if emit_lines:
                docs.append(doc)
            if done and emit_messages:
                docs.extend(done)
        self._emit(docs)

    def _emit(self, docs: list[Doc]) -> None:
        """Documents to every sink: rendered for the stream sinks, handed to the shippers."""
        if self.sinks and docs:
            render = self.render
            buf = bytearray()
            for d in docs:
                buf += render(d)
            self._write(buf, len(docs))
        else:
            self.stats.documents += len(docs)
            self.flush()
        stop = self._stop_requested
        for shipper in self.shippers:
            shipper.put_docs(docs, stop)

    def _stop_requested(self) -> bool:
        return self.stopping

    def _write(self, data: Any, count: int) -> None:
        if count:
            self.stats.documents += count
            data = bytes(data)
            for sink in self.sinks:
                sink.write(data)
        self.flush()

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def run_source(self, source: Source) -> None:
        self.time.start_source(source.mtime)
        for batch in read_batches(source, self.options.max_line):
            self.process(batch)
            if self.stopping:
                break

    def run(self, paths: list[str]) -> list[str]:
        """Read every path in order; returns the error messages of sources that failed."""
        errors = []
        for path in paths:
            if self.stopping:
                break
            try:
                source = open_source(path)
            except InputError as exc:
                errors.append(str(exc))
                continue
            try:
                self.run_source(source)
            except InputError as exc:
                errors.append(str(exc))
            finally:
                source.close()
        return errors

    def finish(self) -> None:
        """End of input: flush what the tracker still holds, then the sinks."""
        if self.tracker is not None:
            done = self.tracker.finish()
            if done and self.options.emit_messages:
                if self.shippers:
                    self._emit(done)
                else:
                    self._write(b"".join(self.render(m) for m in done), len(done))
        self.flush()
