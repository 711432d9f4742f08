"""Fuzzing (hypothesis): any bytes in, exactly one well-formed document per line out, stable unique ids."""

from __future__ import annotations

import os
import re
from typing import Any, Optional

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import NOW, SAMPLES, MemorySink, docs_for
from maillog2json.inputs import LineSplitter
from maillog2json.parsers import postfix
from maillog2json.pipeline import Options, Pipeline
from maillog2json.syslog import TimeResolver, parse_tz

# 200 examples per test keeps the suite fast; FUZZ_EXAMPLES=20000 for a deeper run.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# -- header fragments ---------------------------------------------------------------------
two = st.integers(0, 99).map("{:02d}".format)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo", "jan"]
ts3164 = st.builds("{} {} {}:{}:{}{}".format, st.sampled_from(MONTHS),
                   st.sampled_from([" 1", "01", "9", "28", "29", "30", "31", "32", " 0", "00", "3"]),
                   st.sampled_from(["00", "09", "23", "24", "29", "7"]) | two, two, two,
                   st.sampled_from(["", ".1", ".123456", ".1234567890"]))
ts3339 = st.builds("{:04d}-{}-{}{}{}:{}:{}{}{}".format, st.integers(0, 9999),
                   st.sampled_from(["01", "02", "12", "13", "00"]),
                   st.sampled_from(["01", "28", "29", "30", "31", "32"]), st.sampled_from(["T", " ", "t"]),
                   st.sampled_from(["00", "23", "24"]), two, st.sampled_from(["00", "59", "60", "61"]),
                   st.sampled_from(["", ".5", ",123", ".123456789", ".1234567890"]),
                   st.sampled_from(["", "Z", "z", "+00:00", "-05:30", "+0100", "+99:99", "-2400", "+1"]))
pri = st.sampled_from(["", "<22>", "<6>", "<134>", "<191>", "<999>", "<>", "<22", "<0>"])
hosts = (st.sampled_from(["mx1", "mx1.example.org", "192.0.2.1", "-", "", "[::1]", "h:", "<mail.info>"])
         | st.text(max_size=8))
TAGS = ["postfix/smtpd", "postfix-out/smtp", "postfix/submission/smtpd", "postfix-10.0.0.1/smtpd",
        "/usr/libexec/postfix/smtpd", "postfix", "postfix/qmgr", "postfix/cleanup", "postfix/postscreen",
        "postfix/bounce", "postfix/local", "postfix/pipe", "postfix/postsuper", "postfix/master", "dovecot",
        "imap-login", "auth-worker(123)", "sendmail", "/", "postfix/", "/smtpd", "postfix//smtpd", "message"]
tags = st.sampled_from(TAGS) | st.text(max_size=10)
pids = st.sampled_from(["", "[1]", "[31786]", "[abc]", "[]", "[-1]", "[" + "9" * 5000 + "]", "[\u0662]"])
seps = st.sampled_from([": ", ":", " ", "", ":  ", ": \ufeff"])
solaris = st.sampled_from(["", "", "[ID 801593 mail.info] ", "[ID x mail.info] ", "[ID 1 a.b]", "[ID "])

# -- Postfix message fragments ------------------------------------------------------------
QIDS = ["3F2A01C0D4", "NOQUEUE", "4XyZ5abcD2zKq9T", "ABC", "0"]
MSG_FRAGMENTS = [
    "NOQUEUE: reject: RCPT from ", "unknown[192.0.2.7]", "mail.example.org[2001:db8::1]:587", "[", "]", ":",
    ": 554 5.7.1 <bob@example.net>: Relay access denied; ", "450 4.7.1 ", "from=<", "to=<", "orig_to=<",
    ">", "<", "> ", ", ", "proto=ESMTP ", "helo=<", "status=", "sent", "deferred", "bounced", "expired",
    "(", ")", "(250 2.0.0 Ok: queued as 9B1E)", "=", "&", '"', "'", "\\", "relay=", "none", "delay=",
    "delays=", "0.1/0/0.5/0.6", "/", "dsn=", "2.0.0", "5.1.1", "size=", "nrcpt=", "message-id=", "client=",
    "connect from ", "disconnect from ", " ehlo=1 mail=1 rcpt=0/1 commands=2/3", "removed", "warning: ",
    "fatal: ", "error: ", "panic: ", "statistics: ", "sasl_method=PLAIN", "sasl_username=", "uid=",
    "PASS NEW ", "PASS OLD ", "DNSBL rank ", "CONNECT from ", "to ", "sender non-delivery notification: ",
    "milter-reject: END-OF-MESSAGE from ", "discard: ", "hold: ", "redirect ", "filter ", "conn_use=",
    "0", "-1", "1e5", "99999999999999999999", "9" * 5000, "nan", "1.5.2", " ", "  ", "\t", "é", "\ufffd",
    "\x00", "\u202e", "orig_client=", "queued as ", "Host or domain name not found", "lost connection after ",
]
msg_text = st.lists(st.sampled_from(MSG_FRAGMENTS) | st.text(max_size=6), max_size=8).map("".join)
postfix_msg = st.builds("{}{}{}".format, st.sampled_from(["", "", "warning: ", "fatal: ", "error: "]),
                        st.sampled_from(["", "", ""] + [q + ": " for q in QIDS]), msg_text)

# -- whole lines ----------------------------------------------------------------------------
rfc3164 = st.builds("{}{} {}{} {}{}{}{}{}".format, pri, ts3164, st.sampled_from(["", "<mail.info> ", " "]),
                    hosts, tags, pids, seps, solaris, postfix_msg)
rfc3339 = st.builds("{}{} {} {}{}{}{}".format, pri, ts3339, hosts, tags, pids, seps, postfix_msg)
nohost = st.builds("{} {}{}{}{}".format, ts3164 | ts3339, tags, pids, seps, postfix_msg)
rfc5424 = st.builds("{}1 {} {} {} {} {} {} {}".format, pri, ts3339 | st.just("-"), hosts, tags,
                    st.sampled_from(["-", "31786", "abc", "9" * 5000, "\u00b2"]),
                    st.sampled_from(["-", "ID47", ""]),
                    st.sampled_from(["-", '[meta sequenceId="7"]', r'[x@1 k="a \"\]"]', "[", "[a][b]",
                                     '[x k="]']),
                    postfix_msg)
tai64n = st.builds("@{:016x}{:08x} {}{}{}{}".format, st.integers(0, 2 ** 64 - 1), st.integers(0, 2 ** 32 - 1),
                   tags, pids, seps, postfix_msg)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["31786", "6", "2", "1794128102501172", "99999999999999999999", "\u00b2", "-1", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.integers(-5, 300), max_size=12), max_leaves=8)
journal = st.fixed_dictionaries(
    {}, optional={k: json_value for k in ("MESSAGE", "_HOSTNAME", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "_PID",
                                          "_COMM", "PRIORITY", "SYSLOG_FACILITY", "__CURSOR",
                                          "__REALTIME_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP")}
).map(lambda d: orjson.dumps(d).decode())
journal_postfix = st.builds(
    lambda tag, msg, ts: orjson.dumps({"MESSAGE": msg, "SYSLOG_IDENTIFIER": tag, "_HOSTNAME": "mx1",
                                       "__REALTIME_TIMESTAMP": ts}).decode(),
    tags, postfix_msg | postfix_msg.map(lambda m: list(m.encode("utf-8", "surrogatepass") + b"\xff")),
    st.sampled_from(["1794128102501172", "0", "x"]))

text_lines = st.one_of(rfc3164, rfc3339, nohost, rfc5424, tai64n, journal, journal_postfix,
                       st.text(max_size=40))


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# A line's bytes: a header-like line (possibly with a byte mutation), or arbitrary bytes.
line_bytes = st.one_of(
    text_lines.map(encode),
    st.tuples(text_lines.map(encode), st.integers(0, 200), st.binary(min_size=1, max_size=3)).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
    st.binary(max_size=60),
)
ENDINGS = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\x00", b"", b"\n\n"]
stream = st.lists(st.tuples(line_bytes, st.sampled_from(ENDINGS)), max_size=8).map(
    lambda parts: b"".join(a + b for a, b in parts))
chunkings = st.lists(st.integers(1, 64), min_size=1, max_size=8)
zones = st.sampled_from(["UTC", "Europe/Berlin", "+05:30", None])


def expected_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` as the LineSplitter defines them: split on LF, a last line without LF counts."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return parts


def convert(data: bytes, chunks: list[int], *, tz: Optional[str] = "UTC", max_line: int = 1 << 20,
            tracker: Any = None) -> list[dict[str, Any]]:
    """Feed ``data`` through a LineSplitter in the given chunk sizes (cycled) and a fresh Pipeline."""
    sink = MemorySink()
    pipeline = Pipeline([sink], Options(emit_messages=tracker is not None, max_line=max_line),
                        TimeResolver(parse_tz(tz), None, now=lambda: NOW), tracker)
    pipeline.time.start_source(None)
    splitter = LineSplitter(max_line)
    i = k = 0
    while i < len(data):
        size = chunks[k % len(chunks)]
        pipeline.process(splitter.feed(data[i:i + size]))
        i += size
        k += 1
    pipeline.process(splitter.finish())
    pipeline.finish()
    return sink.documents()


def check_documents(docs: list[dict[str, Any]], lines: list[bytes], max_line: int) -> None:
    """One document per line, in order, each well-formed, with raw true to the bytes."""
    line_docs = [d for d in docs if d.get("type") == "line"]
    assert len(line_docs) == len(lines)
    for doc, line in zip(line_docs, lines):
        assert {"type", "_id", "kind", "raw"} <= doc.keys()
        assert isinstance(doc["_id"], str) and len(doc["_id"]) == 24
        assert isinstance(doc["kind"], str) and doc["kind"]
        if line.endswith(b"\r") and len(line) <= max_line:
            line = line[:-1]
        if len(line) > max_line:
            assert doc["truncated"] is True and doc["raw_length"] == len(line)
            assert line.decode("utf-8", "replace").startswith(doc["raw"])
        else:
            assert doc["raw"] == line.decode("utf-8", "replace")
            if doc["raw"] != line.decode("utf-8", "surrogateescape"):
                assert doc["invalid_utf8"] is True
            elif not line.startswith(b"{"):      # a journal record may flag its byte-array MESSAGE
                assert "invalid_utf8" not in doc
        ts = doc.get("timestamp")
        assert ts is None or isinstance(ts, str)
    ids = [d["_id"] for d in docs]
    assert len(set(ids)) == len(ids), "ids are unique within one input"


class TestLineDocuments:
    @FUZZ
    @given(data=stream, chunks=chunkings, tz=zones)
    def test_one_document_per_line(self, data: bytes, chunks: list[int], tz: Optional[str]) -> None:
        """Any bytes, any chunking: one well-formed document per line, no exception, unique ids."""
        check_documents(convert(data, chunks, tz=tz), expected_lines(data), 1 << 20)

    @FUZZ
    @given(data=stream, chunks=chunkings, max_line=st.integers(1, 80))
    def test_small_line_limit(self, data: bytes, chunks: list[int], max_line: int) -> None:
        """With a tiny --max-line-bytes, long lines are cut but still one document each."""
        check_documents(convert(data, chunks, max_line=max_line), expected_lines(data), max_line)

    @FUZZ
    @given(data=stream, chunks1=chunkings, chunks2=chunkings)
    def test_ids_are_stable(self, data: bytes, chunks1: list[int], chunks2: list[int]) -> None:
        """The same input twice (read in different chunks) gives the same documents and ids."""
        assert convert(data, chunks1) == convert(data, chunks2)

    @FUZZ
    @given(lines=st.lists(line_bytes, min_size=1, max_size=6), repeat=st.integers(2, 4))
    def test_repeated_lines_have_distinct_ids(self, lines: list[bytes], repeat: int) -> None:
        """Exact repeats of lines, interleaved, still get distinct ids."""
        lines = [x.replace(b"\n", b" ") for x in lines]
        data = b"\n".join(lines * repeat) + b"\n"
        check_documents(convert(data, [4096]), expected_lines(data), 1 << 20)

    @FUZZ
    @given(data=stream)
    def test_with_message_tracker(self, data: bytes) -> None:
        """With the message tracker on, line documents are still one per line and every id is unique."""
        from maillog2json.correlate import MessageTracker
        docs = convert(data, [4096], tracker=MessageTracker())
        check_documents(docs, expected_lines(data), 1 << 20)
        assert all(d["type"] in ("line", "message") and d.get("_id") for d in docs)


class TestPostfixMessages:
    DAEMONS = sorted(postfix.DAEMONS)

    @FUZZ
    @given(daemon=st.sampled_from(DAEMONS + [None]), msg=postfix_msg)
    def test_parse_never_raises(self, daemon: Optional[str], msg: str) -> None:
        """The Postfix parser returns a kind or None for any message text built from real fragments."""
        doc: dict[str, Any] = {}
        kind = postfix.parse(daemon, msg, doc)
        assert kind is None or isinstance(kind, str)
        orjson.dumps(doc)

    @FUZZ
    @given(daemon=st.sampled_from(DAEMONS),
           syslog_name=st.sampled_from(["postfix", "postfix-out", "postfix/submission"]), msg=postfix_msg)
    def test_one_document(self, daemon: str, syslog_name: str, msg: str) -> None:
        """A syslog line around any such message gives exactly one document of the right daemon."""
        msg = msg.replace("\n", " ")
        docs = docs_for([f"Nov  8 09:15:02 mx1 {syslog_name}/{daemon}[1234]: {msg}"])
        assert len(docs) == 1
        assert docs[0]["daemon"] == daemon and docs[0]["kind"]

    @FUZZ
    @given(msg=postfix_msg)
    def test_daemon_unknown(self, msg: str) -> None:
        """RFC 5424 with app-name ``postfix`` (the daemon guessed) gives exactly one document."""
        msg = msg.replace("\n", " ")
        docs = docs_for([f"<22>1 2026-11-08T09:15:02+00:00 mx1 postfix 1234 - -  {msg}"])
        assert len(docs) == 1 and docs[0]["kind"]


class TestUnicodeDigits:
    """``"²".isdigit()`` is true but ``int("²")`` fails: every number in real lines replaced by
    digit-like characters must still give one document per line, never an exception."""

    @pytest.mark.parametrize("replacement", ["\u00b2", "1\u00b2", "\u0663", "\u00bd", "\uff11"])
    def test_every_number_of_the_samples_replaced(self, replacement: str) -> None:
        from maillog2json.correlate import MessageTracker
        lines = []
        for path in sorted(SAMPLES.glob("*/mail.traditional.log")) + [SAMPLES / "maillog-small.log"]:
            for raw in path.read_bytes().splitlines():
                head, sep, text = raw.partition(b"]: ")      # keep the header (its numbers are checked there)
                if sep:
                    text = re.sub(rb"\d+", replacement.encode(), text)
                lines.append(head + sep + text)
        data = b"\n".join(lines) + b"\n"
        docs = convert(data, [1 << 16], tracker=MessageTracker())
        check_documents(docs, expected_lines(data), 1 << 20)
