"""Inputs: compressed files, stdin, line framing (newlines, CR, NUL, invalid UTF-8, long lines)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from helpers import SESSION_LOG, MemorySink
from maillog2json.inputs import CHUNK, InputError, Line, LineSplitter, open_source, read_batches
from maillog2json.pipeline import Options, Pipeline
from maillog2json.syslog import TimeResolver, parse_tz

LOG = SESSION_LOG

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
}


def run_paths(paths: list[str], **options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Documents and error messages from reading ``paths`` in-process (year 2026, UTC)."""
    options.setdefault("emit_messages", False)
    sink = MemorySink()
    pipeline = Pipeline([sink], Options(**options), TimeResolver(parse_tz("UTC"), 2026))
    errors = pipeline.run(paths)
    pipeline.finish()
    return sink.documents(), errors


def run_bytes(tmp_path: Path, data: bytes, **options: Any) -> list[dict[str, Any]]:
    """Documents for a file holding ``data``."""
    path = tmp_path / "input.log"
    path.write_bytes(data)
    docs, errors = run_paths([str(path)], **options)
    assert errors == []
    return docs


def cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m maillog2json ARGS``."""
    return subprocess.run([sys.executable, "-m", "maillog2json", *args], input=input, capture_output=True,
                          timeout=120)


class TestCompressed:
    @pytest.mark.parametrize("ext", sorted(COMPRESSORS))
    def test_same_documents_as_plain(self, tmp_path: Path, ext: str) -> None:
        """A .gz, .bz2 or .xz file gives exactly the documents of the plain file."""
        plain = tmp_path / "mail.log"
        plain.write_bytes(LOG)
        packed = tmp_path / f"mail.log.{ext}"
        packed.write_bytes(COMPRESSORS[ext](LOG))
        expected, _ = run_paths([str(plain)])
        got, errors = run_paths([str(packed)])
        assert errors == []
        assert got == expected
        assert len(got) == LOG.count(b"\n")

    def test_recognised_by_content_not_name(self, tmp_path: Path) -> None:
        """A gzip file without a .gz name (a rotated mail.log.1 that was compressed) is still read."""
        path = tmp_path / "mail.log.1"
        path.write_bytes(gzip.compress(LOG))
        docs, errors = run_paths([str(path)])
        assert errors == [] and len(docs) == LOG.count(b"\n")
        assert docs[0]["kind"] == "smtpd.connect"

    def test_multi_member_gzip(self, tmp_path: Path) -> None:
        """Concatenated gzip members (``cat a.gz b.gz``) read as one stream."""
        path = tmp_path / "mail.log.gz"
        half = LOG.index(b"\n", len(LOG) // 2) + 1
        path.write_bytes(gzip.compress(LOG[:half]) + gzip.compress(LOG[half:]))
        docs, _ = run_paths([str(path)])
        assert [d["raw"].encode() + b"\n" for d in docs] == LOG.splitlines(keepends=True)

    def test_files_are_closed(self, tmp_path: Path) -> None:
        """Reading many compressed files leaks no file descriptor (the file under a decompressor too)."""
        paths = []
        for i, ext in enumerate(sorted(COMPRESSORS) * 10):
            p = tmp_path / f"m{i}.log.{ext}"
            p.write_bytes(COMPRESSORS[ext](LOG))
            paths.append(str(p))
        before = len(os.listdir("/proc/self/fd"))
        docs, errors = run_paths(paths)
        assert errors == [] and len(docs) == len(paths) * LOG.count(b"\n")
        assert len(os.listdir("/proc/self/fd")) == before

    @pytest.mark.parametrize("ext", sorted(COMPRESSORS))
    def test_truncated_in_process(self, tmp_path: Path, ext: str) -> None:
        """A truncated archive yields the lines before the cut, then an InputError naming the file."""
        data = LOG * 2000
        path = tmp_path / f"mail.log.{ext}"
        packed = COMPRESSORS[ext](data)
        path.write_bytes(packed[: len(packed) * 2 // 3])
        source = open_source(str(path))
        lines: list[Any] = []
        with pytest.raises(InputError, match=r"mail\.log\.%s: truncated or corrupt" % ext):
            for batch in read_batches(source):
                lines.extend(batch)
        source.close()
        assert lines, "the lines before the cut are kept"
        whole = data.split(b"\n")
        assert lines[:-1] == whole[: len(lines) - 1]
        assert whole[len(lines) - 1].startswith(lines[-1])

    @pytest.mark.parametrize("damage", ["truncated", "garbage-tail", "bad-crc"])
    def test_damaged_gzip_cli(self, tmp_path: Path, damage: str) -> None:
        """A damaged .gz gives the lines read so far, a one-line error, exit 1 and no traceback."""
        data = LOG * 3000
        packed = gzip.compress(data)
        blob = {"truncated": packed[: len(packed) // 2],
                "garbage-tail": packed[: len(packed) // 2] + bytes(range(256)) * 40,
                "bad-crc": packed[:-8] + b"\0" * 8}[damage]
        path = tmp_path / "mail.log.gz"
        path.write_bytes(blob)
        after = tmp_path / "after.log"
        after.write_bytes(LOG)
        proc = cli("--emit", "lines", "--year", "2026", str(path), str(after))
        assert proc.returncode == 1
        err = proc.stderr.decode()
        assert "Traceback" not in err
        assert err.startswith(f"maillog2json: {path}: ")
        assert len(err.strip().splitlines()) == 1
        docs = [orjson.loads(x) for x in proc.stdout.splitlines()]
        assert len(docs) > LOG.count(b"\n")
        tail = [d["raw"] for d in docs[-LOG.count(b"\n"):]]
        assert tail == LOG.decode().splitlines(), "the next file is read"


class TestStdin:
    def test_dash_is_stdin(self) -> None:
        """``-`` reads standard input."""
        proc = cli("--emit", "lines", "-", input=LOG)
        assert proc.returncode == 0, proc.stderr
        assert [orjson.loads(x)["raw"] for x in proc.stdout.splitlines()] == LOG.decode().splitlines()

    def test_no_file_is_stdin(self) -> None:
        """Without FILE arguments standard input is read."""
        proc = cli("--emit", "lines", input=LOG)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == LOG.count(b"\n")

    def test_order_of_files_and_stdin(self, tmp_path: Path) -> None:
        """Files and ``-`` are read in the order given."""
        a = tmp_path / "a.log"
        a.write_bytes(b"Nov  8 09:00:00 mx1 postfix/qmgr[1]: AAAAAAAAAA: removed\n")
        b = tmp_path / "b.log.gz"
        b.write_bytes(gzip.compress(b"Nov  8 09:00:02 mx1 postfix/qmgr[1]: BBBBBBBBBB: removed\n"))
        proc = cli("--emit", "lines", str(b), "-", str(a),
                   input=b"Nov  8 09:00:01 mx1 postfix/qmgr[1]: CCCCCCCCCC: removed\n")
        assert proc.returncode == 0, proc.stderr
        assert [orjson.loads(x)["queue_id"] for x in proc.stdout.splitlines()] == ["BBBBBBBBBB", "CCCCCCCCCC",
                                                                                 "AAAAAAAAAA"]


class TestOrder:
    def test_files_in_order_given(self, tmp_path: Path) -> None:
        """Several files are read one after the other, in the order of the arguments."""
        paths = []
        for i in range(4):
            p = tmp_path / f"mail.log.{i}"
            p.write_bytes(b"Nov  8 09:00:0%d mx1 postfix/qmgr[1]: 00000000%02d: removed\n" % (i, i))
            paths.append(str(p))
        order = [paths[2], paths[0], paths[3], paths[1]]
        docs, _ = run_paths(order)
        assert [d["queue_id"] for d in docs] == ["0000000002", "0000000000", "0000000003", "0000000001"]


# Framing cases: file content -> the raw of each document (one per line as the LineSplitter defines it).
FRAMING_CASES = [
    pytest.param(b"a\nb\n", ["a", "b"], id="plain"),
    pytest.param(b"a\nb", ["a", "b"], id="last-line-without-newline"),
    pytest.param(b"a\r\nb\r\n", ["a", "b"], id="crlf"),
    pytest.param(b"a\r\nb", ["a", "b"], id="crlf-then-bare-last"),
    pytest.param(b"a\rb\n", ["a\rb"], id="lone-cr-stays"),
    pytest.param(b"\n\n\n", ["", "", ""], id="only-newlines"),
    pytest.param(b"a\n\nb\n", ["a", "", "b"], id="empty-line-between"),
    pytest.param(b"", [], id="empty-file"),
    pytest.param(b"a\x00b\n\x00\n", ["a\x00b", "\x00"], id="nul-bytes"),
]


class TestFraming:
    @pytest.mark.parametrize("data,raws", FRAMING_CASES)
    def test_documents_per_line(self, tmp_path: Path, data: bytes, raws: list[str]) -> None:
        """Each line, however framed, gives one document carrying it in raw."""
        docs = run_bytes(tmp_path, data)
        assert [d["raw"] for d in docs] == raws

    def test_last_line_without_newline_is_parsed(self, tmp_path: Path) -> None:
        """A last line without its newline is an ordinary document."""
        docs = run_bytes(tmp_path, LOG.rstrip(b"\n"))
        assert len(docs) == LOG.count(b"\n")
        assert docs[-1]["kind"] == "smtpd.disconnect"

    def test_crlf_log_parses(self, tmp_path: Path) -> None:
        """A log with CRLF line ends parses like one with LF."""
        plain = run_bytes(tmp_path, LOG)
        crlf = run_bytes(tmp_path, LOG.replace(b"\n", b"\r\n"))
        assert [d["kind"] for d in crlf] == [d["kind"] for d in plain]
        assert [d["raw"] for d in crlf] == [d["raw"] for d in plain]

    def test_empty_lines(self, tmp_path: Path) -> None:
        """Empty lines are kept: one unparsed document each, with distinct ids."""
        docs = run_bytes(tmp_path, b"\n" + LOG + b"\n\n")
        empties = [d for d in docs if d["raw"] == ""]
        assert len(empties) == 3
        assert all(d["kind"] == "unparsed" and d["unparsed_reason"] == "empty" for d in empties)
        assert len({d["_id"] for d in docs}) == len(docs)

    def test_nul_bytes_in_message(self, tmp_path: Path) -> None:
        """NUL bytes inside a syslog line are kept in raw and do not stop the parse."""
        docs = run_bytes(tmp_path, b"Nov  8 09:15:02 mx1 postfix/smtpd[1234]: warning: odd \x00 byte\n")
        assert docs[0]["raw"].endswith("odd \x00 byte")
        assert docs[0]["daemon"] == "smtpd"
        assert orjson.loads(orjson.dumps(docs[0]))["raw"] == docs[0]["raw"]

    def test_invalid_utf8(self, tmp_path: Path) -> None:
        """Invalid UTF-8 gives U+FFFD in raw and invalid_utf8 true; valid lines stay unflagged."""
        data = (b"Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from caf\xe9[192.0.2.7]\n"
                b"Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from caf\xc3\xa9[192.0.2.8]\n")
        bad, good = run_bytes(tmp_path, data)
        assert bad["invalid_utf8"] is True
        assert "caf\ufffd[192.0.2.7]" in bad["raw"]
        assert bad["host"] == "mx1" and bad["daemon"] == "smtpd"
        assert "invalid_utf8" not in good
        assert "café" in good["raw"]

    def test_latin1_and_utf8_lines_have_distinct_ids(self, tmp_path: Path) -> None:
        """Two lines that differ only in invalid bytes still have distinct ids (the id is over the bytes)."""
        docs = run_bytes(tmp_path, b"x \xe9\nx \xe8\n")
        assert docs[0]["raw"] == docs[1]["raw"]
        assert docs[0]["_id"] != docs[1]["_id"]


class TestLongLines:
    def test_five_mib_line_whole(self, tmp_path: Path) -> None:
        """A 5 MiB line (under the default limit) gives one document with the whole line in raw."""
        line = b"Nov  8 09:15:02 mx1 postfix/cleanup[1240]: 3F2A01C0D4: warning: header Subject: "
        line += b"x" * (5 << 20)
        docs = run_bytes(tmp_path, LOG + line + b"\n" + LOG)
        assert len(docs) == 2 * LOG.count(b"\n") + 1
        big = docs[LOG.count(b"\n")]
        assert big["raw"].encode() == line
        assert "truncated" not in big

    def test_line_over_limit_is_cut(self, tmp_path: Path) -> None:
        """A line longer than --max-line-bytes gives one truncated document with its real length."""
        line = b"Nov  8 09:15:02 mx1 postfix/cleanup[1240]: 3F2A01C0D4: warning: " + b"y" * 5000
        proc = cli("--emit", "lines", "--max-line-bytes", "1024", input=LOG + line + b"\n" + LOG)
        assert proc.returncode == 0, proc.stderr
        docs = [orjson.loads(x) for x in proc.stdout.splitlines()]
        assert len(docs) == 2 * LOG.count(b"\n") + 1
        cut = docs[LOG.count(b"\n")]
        assert cut["truncated"] is True
        assert cut["raw_length"] == len(line)
        assert cut["raw"].encode() == line[:1024]
        assert docs[-1]["raw"] == LOG.decode().splitlines()[-1], "the lines after it are intact"

    def test_cut_keeps_utf8_whole(self, tmp_path: Path) -> None:
        """A cut inside a multi-byte character drops the partial character (no invalid UTF-8 flag)."""
        line = "Nov  8 09:15:02 mx1 postfix/smtpd[1]: " + "é" * 2000
        docs = run_bytes(tmp_path, line.encode() + b"\n", max_line=1025)
        assert docs[0]["truncated"] is True
        assert "invalid_utf8" not in docs[0]
        assert line.startswith(docs[0]["raw"])
        assert len(docs[0]["raw"].encode()) in (1024, 1025)

    def test_twenty_mib_without_newline_bounded(self, tmp_path: Path) -> None:
        """A 20 MiB file without any newline gives one truncated document, in memory far below its size."""
        path = tmp_path / "flat.log"
        with open(path, "wb") as f:
            for _ in range(20):
                f.write(b"z" * (1 << 20))
        tracemalloc.start()
        try:
            docs, errors = run_paths([str(path)], max_line=64 << 10)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert errors == []
        assert len(docs) == 1
        assert docs[0]["truncated"] is True and docs[0]["raw_length"] == 20 << 20
        assert len(docs[0]["raw"]) == 64 << 10
        # a read chunk (1 MiB), the kept 64 KiB and orjson's output reservation (16 x the string)
        assert peak < 8 << 20, f"peak {peak} bytes for a 20 MiB line"

    def test_twenty_mib_without_newline_cli(self, tmp_path: Path) -> None:
        """The command reads a 20 MiB newline-less file with the default limit: one truncated document."""
        path = tmp_path / "flat.log"
        path.write_bytes(b"q" * (20 << 20))
        # VmHWM is the peak RSS of this program (ru_maxrss would include the parent's, from before exec)
        code = ("import runpy, sys; sys.argv = ['maillog2json', '--emit', 'lines', sys.argv[1]]\n"
                "try: runpy.run_module('maillog2json', run_name='__main__')\n"
                "except SystemExit: pass\n"
                "sys.stdout.flush()\n"
                "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0].split()[1]\n"
                "sys.stderr.write('hwm=' + hwm)")
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120)
        docs = [orjson.loads(x) for x in proc.stdout.splitlines()]
        assert len(docs) == 1 and docs[0]["raw_length"] == 20 << 20 and len(docs[0]["raw"]) == 8 << 20
        hwm_kib = int(proc.stderr.decode().rsplit("hwm=", 1)[1])
        assert hwm_kib < 100 * 1024, f"peak RSS {hwm_kib} KiB"


class TestLineSplitter:
    # chunks fed one after the other -> lines out (bytes, or (kept, length) for a cut line)
    CASES = [
        pytest.param([b"ab", b"c\nd", b"e\n"], [b"abc", b"de"], id="line-across-chunks"),
        pytest.param([b"a\n", b"", b"b"], [b"a", b"b"], id="empty-chunk-and-tail"),
        pytest.param([b"\n", b"\n"], [b"", b""], id="newlines-only"),
        pytest.param([b"0123456789AB\nx\n"], [(b"01234567", 12), b"x"], id="cut-in-one-chunk"),
        pytest.param([b"0123", b"4567", b"89", b"AB\nx"], [(b"01234567", 12), b"x"], id="cut-across-chunks"),
        pytest.param([b"01234567", b"\n"], [b"01234567"], id="exactly-the-limit"),
        pytest.param([b"012345678"], [(b"01234567", 9)], id="cut-at-end-of-input"),
        pytest.param([b"0123456", b"78", b"9"], [(b"01234567", 10)], id="cut-then-skip-to-end"),
    ]

    @pytest.mark.parametrize("chunks,expected", CASES)
    def test_split(self, chunks: list[bytes], expected: list[Any]) -> None:
        """Lines come out whole or cut at max_line with their real length, wherever the chunks break."""
        splitter = LineSplitter(8)
        out: list[Any] = []
        for chunk in chunks:
            out.extend(splitter.feed(chunk))
        out.extend(splitter.finish())
        assert [(x.data, x.length) if isinstance(x, Line) else x for x in out] == expected

    def test_unbounded(self) -> None:
        """max_line 0 means no limit."""
        splitter = LineSplitter(0)
        assert splitter.feed(b"x" * 100 + b"\n") == [b"x" * 100]

    def test_many_small_chunks_linear(self) -> None:
        """A long line delivered in small chunks (a pipe) is assembled once, not copied per chunk."""
        splitter = LineSplitter(1 << 30)
        piece = b"p" * 4096
        for _ in range(4096):                 # 16 MiB in 4 KiB reads
            assert splitter.feed(piece) == []
        assert splitter.feed(b"\n") == [piece * 4096]

    def test_chunk_size_does_not_matter(self) -> None:
        """Feeding a stream in any chunking gives the same lines."""
        data = LOG * 50 + b"tail"
        expected = data.split(b"\n")
        for size in (1, 7, 64, 1000, CHUNK):
            splitter = LineSplitter(1 << 20)
            out: list[Any] = []
            for i in range(0, len(data), size):
                out.extend(splitter.feed(data[i:i + size]))
            out.extend(splitter.finish())
            assert out == expected, size


class TestOpenSource:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is an InputError saying it cannot be read."""
        with pytest.raises(InputError, match=r"cannot read .*nope\.log: No such file or directory"):
            open_source(str(tmp_path / "nope.log"))

    def test_directory(self, tmp_path: Path) -> None:
        """A directory is an InputError, not a traceback."""
        with pytest.raises(InputError, match="cannot read"):
            open_source(str(tmp_path))
