"""Syslog framing: every header format, the tag split, and the year/zone resolution."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from helpers import NOW, docs_for
from maillog2json.syslog import HeaderParser, TimeResolver, parse_tz


def utc(*args: int) -> float:
    """A POSIX timestamp for a UTC wall time."""
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def one(line: str | bytes, **options: Any) -> dict[str, Any]:
    """The single document for one line."""
    docs = docs_for([line], **options)
    assert len(docs) == 1
    return docs[0]


def subset(doc: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every expected key has the expected value in ``doc`` (one assertion message per key)."""
    got = {k: doc.get(k, "<missing>") for k in expected}
    assert got == expected, doc["raw"]


def assert_iso_with_offset(ts: str) -> None:
    """``ts`` is ISO 8601 with a UTC offset, as Python (and Elasticsearch) read it."""
    assert "T" in ts
    assert datetime.fromisoformat(ts).utcoffset() is not None, ts


# One table per format: (line, expected header fields). Year 2026 and zone UTC by default.
RFC3164_CASES = [
    pytest.param(
        "Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "program": "postfix/smtpd",
         "daemon": "smtpd", "syslog_name": "postfix", "pid": 1234, "kind": "smtpd.connect"},
        id="space-padded-day"),
    pytest.param(
        "Nov 18 23:59:59 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-18T23:59:59+00:00", "host": "mx1", "program": "postfix/qmgr",
         "daemon": "qmgr", "pid": 981, "queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="two-digit-day"),
    pytest.param(
        "Nov 08 09:15:02 mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "daemon": "smtpd", "pid": 1234},
        id="zero-padded-day"),
    pytest.param(
        "Nov  8 09:15:02 mx1 dovecot: imap-login: Login: user=<ann@example.org>, method=PLAIN",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "program": "dovecot", "pid": None},
        id="no-pid"),
    pytest.param(
        "<22>Nov  8 09:15:02 mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "daemon": "smtpd", "pid": 1234,
         "facility": "mail", "severity": "info"},
        id="pri-prefix"),
    pytest.param(
        "<19>Nov  8 09:15:02 mx1 postfix/smtpd[1234]: warning: hostname foo does not resolve",
        {"facility": "mail", "severity": "err", "daemon": "smtpd"},
        id="pri-mail-err"),
    pytest.param(
        "Nov  8 09:15:02 <mail.info> mx1 postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "daemon": "smtpd", "pid": 1234,
         "facility": "mail", "severity": "info"},
        id="facility-tag-before-host"),
    pytest.param(
        "Nov  8 09:15:02 mx1.example.org postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"host": "mx1.example.org"},
        id="fqdn-host"),
    pytest.param(
        "Nov  8 09:15:02 192.0.2.25 postfix/smtpd[1234]: connect from unknown[192.0.2.7]",
        {"host": "192.0.2.25", "daemon": "smtpd"},
        id="ip-host"),
    pytest.param(
        "Nov  8 09:15:02 mx1 last message repeated 3 times",
        {"host": "mx1", "program": None, "pid": None, "kind": "syslog.repeated"},
        id="no-tag"),
]

# Postfix's own maillog_file (postlogd): zero-padded day, short host, optionally microseconds.
POSTLOGD_CASES = [
    pytest.param(
        "Nov 03 07:04:05 mx1 postfix/pickup[20113]: 6A3E2C01E2: uid=1000 from=<ann>",
        {"timestamp": "2026-11-03T07:04:05+00:00", "host": "mx1", "program": "postfix/pickup",
         "daemon": "pickup", "pid": 20113, "queue_id": "6A3E2C01E2"},
        id="postlogd"),
    pytest.param(
        "Nov 03 07:04:05.123456 mx1 postfix/cleanup[20114]: 6A3E2C01E2: message-id=<a1@example.org>",
        {"timestamp": "2026-11-03T07:04:05.123456+00:00", "host": "mx1", "daemon": "cleanup",
         "pid": 20114, "queue_id": "6A3E2C01E2"},
        id="postlogd-microseconds"),
    pytest.param(
        "Nov 03 07:04:06 mx1 postfix/postlog: warning: not owned by root: /var/log/postfix.log",
        {"timestamp": "2026-11-03T07:04:06+00:00", "program": "postfix/postlog", "daemon": "postlog",
         "pid": None},
        id="postlog-command"),
]

RFC3339_CASES = [
    pytest.param(
        "2026-11-08T09:15:02.501172+00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02.501172+00:00", "host": "mx1", "daemon": "qmgr", "pid": 981,
         "queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="fraction-utc"),
    pytest.param(
        "2026-07-08T11:15:02.501172+02:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-07-08T11:15:02.501172+02:00"},
        id="fraction-offset"),
    pytest.param(
        "2026-11-08T09:15:02.5-05:30 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02.5-05:30"},
        id="negative-offset"),
    pytest.param(
        "2026-11-08T09:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02+00:00", "host": "mx1", "daemon": "qmgr"},
        id="zulu"),
    pytest.param(
        "2026-11-08T09:15:02.123Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02.123+00:00"},
        id="zulu-fraction"),
    pytest.param(
        "2026-11-08T09:15:02+0100 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02+01:00"},
        id="offset-without-colon"),
    pytest.param(
        "2026-11-08 09:15:02,250Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02.250+00:00"},
        id="space-and-comma"),
    pytest.param(
        "2026-11-08T09:15:02 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02+00:00"},
        id="no-zone-gets-tz"),
    pytest.param(
        "<22>2026-11-08T09:15:02.501172+00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        {"facility": "mail", "severity": "info", "daemon": "qmgr"},
        id="pri-prefix"),
]

RFC5424_CASES = [
    pytest.param(
        "<22>1 2026-11-08T09:15:02.501172+00:00 mx1 postfix 981 - -  3F2A01C0D4: removed",
        {"timestamp": "2026-11-08T09:15:02.501172+00:00", "host": "mx1", "program": "postfix",
         "daemon": None, "syslog_name": "postfix", "pid": 981, "queue_id": "3F2A01C0D4",
         "facility": "mail", "severity": "info", "kind": "qmgr.removed"},
        id="app-postfix-only"),
    pytest.param(
        "<22>1 2026-11-08T09:15:02.501172+00:00 mx1 postfix/qmgr 981 - - 3F2A01C0D4: removed",
        {"program": "postfix/qmgr", "daemon": "qmgr", "syslog_name": "postfix", "pid": 981,
         "queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="full-tag"),
    pytest.param(
        '<22>1 2026-11-08T09:15:02.501172Z mx1 postfix/smtpd 1234 - '
        '[meta sequenceId="7"][origin ip="192.0.2.1"]'
        " connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02.501172+00:00", "daemon": "smtpd", "pid": 1234,
         "structured_data": '[meta sequenceId="7"][origin ip="192.0.2.1"]', "kind": "smtpd.connect"},
        id="structured-data"),
    pytest.param(
        r'<22>1 2026-11-08T09:15:02+01:00 mx1 postfix/smtpd 1234 ID47 [x@1 k="a \"\]\" b"]'
        " connect from unknown[192.0.2.7]",
        {"timestamp": "2026-11-08T09:15:02+01:00", "syslog_msgid": "ID47",
         "structured_data": r'[x@1 k="a \"\]\" b"]',
         "kind": "smtpd.connect"},
        id="sd-escapes-and-msgid"),
    pytest.param(
        "<134>1 2026-11-08T09:15:02+00:00 mx1 postfix/qmgr 981 - - 3F2A01C0D4: removed",
        {"facility": "local0", "severity": "info", "daemon": "qmgr", "kind": "qmgr.removed"},
        id="three-digit-pri"),
    pytest.param(
        "<6>1 2026-11-08T09:15:02+00:00 mx1 postfix/qmgr 981 - - 3F2A01C0D4: removed",
        {"facility": "kern", "severity": "info", "daemon": "qmgr"},
        id="one-digit-pri"),
    pytest.param(
        "<22>1 - - postfix/qmgr - - - 3F2A01C0D4: removed",
        {"timestamp": None, "host": None, "pid": None, "daemon": "qmgr", "kind": "qmgr.removed"},
        id="nil-values"),
    pytest.param(
        "<22>1 2026-11-08T09:15:02+00:00 mx1 postfix/qmgr 981 - - \ufeff3F2A01C0D4: removed",
        {"queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="bom"),
]

JOURNAL = {
    "__CURSOR": "s=0a1b;i=1f2e;b=9c;m=12;t=5f;x=7d",
    "__REALTIME_TIMESTAMP": str(int(utc(2026, 11, 8, 9, 15, 2)) * 1_000_000 + 501172),
    "_HOSTNAME": "mx1", "SYSLOG_IDENTIFIER": "postfix/qmgr", "SYSLOG_PID": "981", "_PID": "981",
    "PRIORITY": "6", "SYSLOG_FACILITY": "2", "_COMM": "qmgr",
    "MESSAGE": "3F2A01C0D4: removed",
}


def journal(**fields: Any) -> str:
    """A ``journalctl -o json`` line: the base record with fields replaced (None: removed)."""
    rec = {**JOURNAL, **fields}
    return orjson.dumps({k: v for k, v in rec.items() if v is not None}).decode()


JOURNAL_CASES = [
    pytest.param(
        journal(),
        {"timestamp": "2026-11-08T09:15:02.501172+00:00", "host": "mx1", "program": "postfix/qmgr",
         "daemon": "qmgr", "pid": 981, "severity": "info", "facility": "mail",
         "journal_cursor": JOURNAL["__CURSOR"], "queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="string-message"),
    pytest.param(
        journal(MESSAGE=list(b"3F2A01C0D4: removed")),
        {"queue_id": "3F2A01C0D4", "kind": "qmgr.removed", "daemon": "qmgr"},
        id="byte-array-message"),
    pytest.param(
        journal(SYSLOG_IDENTIFIER="postfix/smtpd",
                MESSAGE=list(b"warning: Illegal address syntax from caf\xe9[192.0.2.7] in RCPT command: "
                             b"<\xff>")),
        {"invalid_utf8": True, "daemon": "smtpd", "level": "warning"},
        id="byte-array-invalid-utf8"),
    pytest.param(
        journal(_HOSTNAME=None, __REALTIME_TIMESTAMP=None, SYSLOG_PID=None, _PID=None,
                PRIORITY=None, SYSLOG_FACILITY=None, __CURSOR=None),
        {"timestamp": None, "host": None, "pid": None, "daemon": "qmgr", "kind": "qmgr.removed"},
        id="missing-fields"),
    pytest.param(
        journal(SYSLOG_IDENTIFIER=None, SYSLOG_PID=None),
        {"program": "qmgr", "pid": 981},
        id="comm-and-pid-fallback"),
    pytest.param(
        journal(SYSLOG_IDENTIFIER=[112, 255], SYSLOG_PID="\u00b2", PRIORITY=[54]),
        {"program": "p\ufffd", "pid": 981, "invalid_utf8": True},
        id="odd-field-types"),
    pytest.param(
        journal(__REALTIME_TIMESTAMP="99999999999999999999"),
        {"timestamp": None, "kind": "qmgr.removed"},
        id="timestamp-out-of-range"),
]

SOLARIS_CASES = [
    pytest.param(
        "Nov  8 09:15:02 mx1 sendmail[4321]: [ID 801593 mail.info] wA89F2x1004321: from=<ann@example.org>, "
        "size=312",
        {"program": "sendmail", "pid": 4321, "syslog_msgid": "801593", "facility": "mail",
         "severity": "info"},
        id="sendmail"),
    pytest.param(
        "Nov  8 09:15:02 mx1 postfix/qmgr[981]: [ID 197553 mail.info] 3F2A01C0D4: removed",
        {"daemon": "qmgr", "syslog_msgid": "197553", "facility": "mail", "severity": "info",
         "queue_id": "3F2A01C0D4", "kind": "qmgr.removed"},
        id="postfix"),
]


class TestRFC3164:
    @pytest.mark.parametrize("line,expected", RFC3164_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """Each traditional syslog variant gives its timestamp, host, tag, pid and priority."""
        subset(one(line, year=2026), expected)

    def test_fraction_is_kept(self) -> None:
        """A fraction after the seconds survives year and zone resolution."""
        doc = one("Nov  8 09:15:02.000250 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed", year=2026, tz="+02:00")
        assert doc["timestamp"] == "2026-11-08T09:15:02.000250+02:00"

    @pytest.mark.parametrize("line", [
        "Nov 28 25:00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "Nov 32 10:00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "Nov 00 10:00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "Nov 28 10:61:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "Nov 2\u0668 10:00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
    ])
    def test_impossible_time_is_no_header(self, line: str) -> None:
        """An out-of-range field (hour 25, day 32, a non-ASCII digit) is no timestamp: unparsed line."""
        subset(one(line), {"kind": "unparsed", "unparsed_reason": "header", "timestamp": None})

    def test_malformed_pid(self) -> None:
        """A non-numeric pid makes the tag malformed: the line keeps its header but no program."""
        doc = one("Nov  8 09:15:02 mx1 postfix/smtpd[abc]: connect from unknown[192.0.2.7]")
        subset(doc, {"host": "mx1", "program": None, "pid": None})

    def test_huge_pid(self) -> None:
        """A pid of thousands of digits does not crash int(); it is dropped."""
        doc = one("Nov  8 09:15:02 mx1 postfix/smtpd[" + "9" * 5000 + "]: connect from unknown[192.0.2.7]")
        subset(doc, {"program": "postfix/smtpd", "pid": None, "daemon": "smtpd"})


class TestPostlogd:
    @pytest.mark.parametrize("line,expected", POSTLOGD_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """Postfix maillog_file lines (zero-padded day, optional microseconds) read like syslog ones."""
        subset(one(line, year=2026), expected)


class TestRFC3339:
    @pytest.mark.parametrize("line,expected", RFC3339_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """rsyslog high-precision stamps are normalised to ISO 8601 with an offset."""
        doc = one(line)
        subset(doc, expected)
        assert_iso_with_offset(doc["timestamp"])

    def test_no_zone_gets_named_tz(self) -> None:
        """A stamp without zone takes --tz with its daylight-saving rules."""
        doc = one("2026-07-08T09:15:02.5 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed", tz="Europe/Berlin")
        assert doc["timestamp"] == "2026-07-08T09:15:02.500000+02:00"

    def test_impossible_day(self) -> None:
        """February 30th keeps the rest of the header but has no timestamp."""
        doc = one("2026-02-30T09:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed")
        subset(doc, {"timestamp": None, "host": "mx1", "daemon": "qmgr", "kind": "qmgr.removed"})

    @pytest.mark.parametrize("line", [
        "2026-13-08T09:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "2026-11-08T24:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
        "\u0662\u0660\u0662\u0666-11-08T09:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
    ])
    def test_out_of_range_is_no_header(self, line: str) -> None:
        """Month 13, hour 24 or Arabic-Indic digits are not an RFC 3339 stamp."""
        assert one(line)["kind"] == "unparsed"


class TestRFC5424:
    @pytest.mark.parametrize("line,expected", RFC5424_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """RFC 5424 gives priority, host, app, procid, msgid and structured data."""
        subset(one(line), expected)

    def test_two_space_quirk(self) -> None:
        """With app-name ``postfix`` rsyslog leaves a blank before the message; it is dropped."""
        parser = HeaderParser(TimeResolver(timezone.utc))
        header, msg = parser.parse("<22>1 2026-11-08T09:15:02+00:00 mx1 postfix 981 - -  3F2A01C0D4: removed")
        assert msg == "3F2A01C0D4: removed"
        assert header["program"] == "postfix"

    def test_app_postfix_reads_other_daemons(self) -> None:
        """With the daemon unknown, a connect line is still recognised (by guessing)."""
        doc = one("<22>1 2026-11-08T09:15:02+00:00 mx1 postfix 1234 - -  connect from unknown[192.0.2.7]")
        subset(doc, {"daemon": None, "syslog_name": "postfix", "kind": "smtpd.connect",
                     "client_ip": "192.0.2.7"})

    def test_huge_procid(self) -> None:
        """A procid too long for a pid is dropped instead of crashing."""
        procid = "7" * 5000
        doc = one(f"<22>1 2026-11-08T09:15:02+00:00 mx1 postfix/qmgr {procid} - - 3F2A01C0D4: removed")
        subset(doc, {"pid": None, "daemon": "qmgr"})


class TestJournald:
    @pytest.mark.parametrize("line,expected", JOURNAL_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """journalctl -o json records give header fields whatever their shape."""
        subset(one(line), expected)

    def test_invalid_utf8_message_text(self) -> None:
        """Invalid bytes in a byte-array MESSAGE become U+FFFD in the message fields."""
        doc = one(journal(SYSLOG_IDENTIFIER="postfix/smtpd", MESSAGE=list(b"warning: odd \xff byte")))
        assert "\ufffd" in doc["text"]

    @pytest.mark.parametrize("line", ['{"_HOSTNAME": "mx1"}', "{not json", "[1, 2]", '{"MESSAGE": '])
    def test_not_a_journal_record(self, line: str) -> None:
        """JSON without MESSAGE, or broken JSON, is an unparsed line."""
        subset(one(line), {"kind": "unparsed", "unparsed_reason": "header", "raw": line})

    def test_local_zone_for_epoch(self, local_tz: None) -> None:
        """Without --tz the journal time is rendered in the local zone."""
        doc = one(journal(), tz=None)
        assert doc["timestamp"] == "2026-11-08T10:15:02.501172+01:00"


class TestSolaris:
    @pytest.mark.parametrize("line,expected", SOLARIS_CASES)
    def test_header(self, line: str, expected: dict[str, Any]) -> None:
        """The ``[ID n facility.level]`` tag gives msgid, facility and severity and is cut off."""
        subset(one(line), expected)

    def test_message_after_tag(self) -> None:
        """The message text starts after the ID tag."""
        parser = HeaderParser(TimeResolver(timezone.utc, 2026))
        _, msg = parser.parse("Nov  8 09:15:02 mx1 sendmail[4321]: [ID 801593 mail.info] wA89F2x1004321: x")
        assert msg == "wA89F2x1004321: x"


CONNECT = ("connect from unknown[192.0.2.7]", "smtpd.connect")
REMOVED = ("3F2A01C0D4: removed", "qmgr.removed")
BOUNCED = ("3F2A01C0D4: to=<bob@example.net>, relay=none, delay=0.5, delays=0.4/0/0.1/0, dsn=5.4.4, "
           "status=bounced (Host or domain name not found. Name service error for name=example.net type=MX)",
           "delivery")
TAG_CASES = [
    # tag, (message, kind), program, daemon, syslog_name
    ("postfix/smtpd", CONNECT, "postfix/smtpd", "smtpd", "postfix"),
    ("postfix-out/smtp", BOUNCED, "postfix-out/smtp", "smtp", "postfix-out"),
    ("postfix/submission/smtpd", CONNECT, "postfix/submission/smtpd", "smtpd", "postfix/submission"),
    ("postfix-10.0.0.1/smtpd", CONNECT, "postfix-10.0.0.1/smtpd", "smtpd", "postfix-10.0.0.1"),
    ("postfix-in/qmgr", REMOVED, "postfix-in/qmgr", "qmgr", "postfix-in"),
    ("/usr/libexec/postfix/smtpd", CONNECT, "/usr/libexec/postfix/smtpd", "smtpd", "/usr/libexec/postfix"),
    ("mailrelay/smtpd", CONNECT, "mailrelay/smtpd", "smtpd", "mailrelay"),
]


class TestTags:
    @pytest.mark.parametrize("tag,message,program,daemon,syslog_name", TAG_CASES)
    @pytest.mark.parametrize("template", [
        "Nov  8 09:15:02 mx1 {tag}[1234]: {msg}",
        "2026-11-08T09:15:02+00:00 mx1 {tag}[1234]: {msg}",
        "<22>1 2026-11-08T09:15:02+00:00 mx1 {tag} 1234 - - {msg}",
    ], ids=["rfc3164", "rfc3339", "rfc5424"])
    def test_tag(self, template: str, tag: str, message: tuple[str, str], program: str, daemon: str,
                 syslog_name: str) -> None:
        """The daemon is the last part of the tag and the rest is kept as syslog_name, in every format."""
        msg, kind = message
        doc = one(template.format(tag=tag, msg=msg))
        subset(doc, {"program": program, "daemon": daemon, "syslog_name": syslog_name, "pid": 1234,
                     "host": "mx1", "timestamp": "2026-11-08T09:15:02+00:00", "kind": kind})

    def test_journal_tag(self) -> None:
        """A journald SYSLOG_IDENTIFIER is split the same way."""
        doc = one(journal(SYSLOG_IDENTIFIER="postfix-out/smtp", MESSAGE=BOUNCED[0]))
        subset(doc, {"program": "postfix-out/smtp", "daemon": "smtp", "syslog_name": "postfix-out",
                     "kind": "delivery"})


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch):
    """Make the process's local zone Europe/Berlin for one test."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield None
    monkeypatch.undo()
    time.tzset()


class TestTimeResolver:
    def test_fixed_year(self) -> None:
        """--year is used for every year-less stamp."""
        t = TimeResolver(timezone.utc, year=2019, now=lambda: NOW)
        assert t.rfc3164("Mar", "05", "10:00:00", None) == "2019-03-05T10:00:00+00:00"

    def test_year_from_now(self) -> None:
        """Without --year or mtime the injected clock gives the year."""
        t = TimeResolver(timezone.utc, now=lambda: NOW)
        assert t.rfc3164("Nov", "27", "10:00:00", None) == "2026-11-27T10:00:00+00:00"

    def test_month_after_now_is_last_year(self) -> None:
        """A first line in a month after today's belongs to last year."""
        t = TimeResolver(timezone.utc, now=lambda: NOW)
        assert t.rfc3164("Dec", "24", "10:00:00", None) == "2025-12-24T10:00:00+00:00"

    def test_year_from_mtime(self) -> None:
        """A file's mtime is the reference, not the clock."""
        t = TimeResolver(timezone.utc, now=lambda: NOW)
        t.start_source(utc(2023, 6, 15))
        assert t.rfc3164("Jun", "01", "08:00:00", None) == "2023-06-01T08:00:00+00:00"
        t.start_source(utc(2023, 6, 15))
        assert t.rfc3164("Sep", "01", "08:00:00", None) == "2022-09-01T08:00:00+00:00"

    def test_year_from_real_file_mtime(self, tmp_path) -> None:
        """Reading a real file, its mtime (set to early January 2024) dates a Dec -> Jan log."""
        from helpers import MemorySink
        from maillog2json.pipeline import Options, Pipeline
        path = tmp_path / "mail.log.1"
        path.write_bytes(b"Dec 31 23:59:59 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed\n"
                         b"Jan  1 00:00:01 mx1 postfix/qmgr[981]: 4B1C02D0E5: removed\n")
        mtime = utc(2024, 1, 5, 6, 25)
        os.utime(path, (mtime, mtime))
        sink = MemorySink()
        pipeline = Pipeline([sink], Options(emit_messages=False), TimeResolver(timezone.utc, now=lambda: NOW))
        assert pipeline.run([str(path)]) == []
        assert [d["timestamp"] for d in sink.documents()] == ["2023-12-31T23:59:59+00:00",
                                                               "2024-01-01T00:00:01+00:00"]

    def test_each_source_has_its_own_reference(self) -> None:
        """start_source resets the year: a second file is read against its own mtime."""
        t = TimeResolver(timezone.utc, now=lambda: NOW)
        t.start_source(utc(2023, 6, 15))
        assert t.rfc3164("Jun", "01", "08:00:00", None).startswith("2023-")
        t.start_source(None)
        assert t.rfc3164("Jun", "01", "08:00:00", None).startswith("2026-")

    def test_rollover_inside_stream(self) -> None:
        """December to January inside one stream moves to the next year."""
        t = TimeResolver(timezone.utc, year=2025, now=lambda: NOW)
        stamps = [t.rfc3164("Dec", "31", "23:59:59", None), t.rfc3164("Jan", "01", "00:00:01", None),
                  t.rfc3164("Feb", "01", "00:00:00", None)]
        assert stamps == ["2025-12-31T23:59:59+00:00", "2026-01-01T00:00:01+00:00",
                          "2026-02-01T00:00:00+00:00"]

    def test_january_file_starting_in_december(self) -> None:
        """A file written in January that starts in December: December is the previous year."""
        lines = ["Dec 31 23:59:58 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "Jan  1 00:00:02 mx1 postfix/qmgr[981]: 4B1C02D0E5: removed"]
        docs = docs_for(lines, reference=utc(2026, 1, 2, 6, 25))
        assert [d["timestamp"] for d in docs] == ["2025-12-31T23:59:58+00:00", "2026-01-01T00:00:02+00:00"]

    def test_stray_december_line_after_rollover(self) -> None:
        """A late December line after the rollover gets the old year and does not move the stream back."""
        lines = ["Dec 31 23:59:58 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "Jan  1 00:00:00 mx1 postfix/qmgr[981]: 4B1C02D0E5: removed",
                 "Dec 31 23:59:59 mx2 postfix/qmgr[982]: 5C2D03E0F6: removed",
                 "Jan  1 00:00:01 mx1 postfix/qmgr[981]: 6D3E04F107: removed"]
        docs = docs_for(lines, reference=utc(2026, 1, 2))
        assert [d["timestamp"][:10] for d in docs] == ["2025-12-31", "2026-01-01", "2025-12-31", "2026-01-01"]

    def test_sparse_log_jumps_forward(self) -> None:
        """A jump forward of half a year (a quiet mail.err) stays in the same year if the mtime allows it."""
        fatal = "fatal: open database /etc/postfix/access.db: No such file or directory"
        lines = [f"Jan 10 08:00:00 mx1 postfix/smtpd[1]: {fatal}",
                 f"Jul 20 09:00:00 mx1 postfix/smtpd[2]: {fatal}",
                 f"Aug  1 10:00:00 mx1 postfix/smtpd[3]: {fatal}"]
        docs = docs_for(lines, reference=utc(2026, 8, 2))
        assert [d["timestamp"][:10] for d in docs] == ["2026-01-10", "2026-07-20", "2026-08-01"]

    def test_sparse_log_with_fixed_year(self) -> None:
        """With --year a forward jump of half a year stays in that year."""
        t = TimeResolver(timezone.utc, year=2024)
        assert t.rfc3164("Jan", "10", "08:00:00", None).startswith("2024-01-10")
        assert t.rfc3164("Jul", "20", "08:00:00", None).startswith("2024-07-20")
        assert t.rfc3164("Jul", "21", "08:00:00", None).startswith("2024-07-21")

    def test_stray_line_after_reference(self) -> None:
        """A line that would lie after the file's mtime is of the year before; the stream stays put."""
        t = TimeResolver(timezone.utc)
        t.start_source(utc(2026, 3, 5))
        stamps = [t.rfc3164("Dec", "30", "08:00:00", None), t.rfc3164("Jan", "10", "08:00:00", None),
                  t.rfc3164("Sep", "30", "08:00:00", None), t.rfc3164("Feb", "01", "08:00:00", None)]
        assert [s[:10] for s in stamps] == ["2025-12-30", "2026-01-10", "2025-09-30", "2026-02-01"]

    def test_state_round_trip(self) -> None:
        """state()/restore() carry the year across a restart."""
        t = TimeResolver(timezone.utc, year=2025)
        t.rfc3164("Dec", "31", "23:59:59", None)
        t.rfc3164("Jan", "01", "00:00:01", None)
        t2 = TimeResolver(timezone.utc, year=2025)
        t2.restore(t.state())
        assert t2.rfc3164("Jan", "02", "00:00:00", None) == "2026-01-02T00:00:00+00:00"

    def test_feb_29_leap_year(self) -> None:
        """Feb 29 in a leap year is that day."""
        t = TimeResolver(timezone.utc, year=2024)
        assert t.rfc3164("Feb", "29", "12:00:00", None) == "2024-02-29T12:00:00+00:00"

    def test_feb_29_leap_year_from_mtime(self) -> None:
        """Feb 29 read from a file last written in March 2028 is 2028-02-29."""
        docs = docs_for(["Feb 29 12:00:00 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed"],
                        reference=utc(2028, 3, 1))
        assert docs[0]["timestamp"] == "2028-02-29T12:00:00+00:00"

    def test_feb_29_common_year(self) -> None:
        """Feb 29 in a common year does not crash: it rolls forward to March 1st, keeping order."""
        t = TimeResolver(timezone.utc, year=2025)
        assert t.rfc3164("Feb", "28", "23:00:00", None) == "2025-02-28T23:00:00+00:00"
        assert t.rfc3164("Feb", "29", "12:00:00", None) == "2025-03-01T12:00:00+00:00"

    @pytest.mark.parametrize("tz,line_month,expected", [
        ("UTC", "Jan", "2026-01-15T12:00:00+00:00"),
        ("Europe/Berlin", "Jan", "2026-01-15T12:00:00+01:00"),
        ("Europe/Berlin", "Jul", "2026-07-15T12:00:00+02:00"),
        ("America/New_York", "Jul", "2026-07-15T12:00:00-04:00"),
        ("+02:00", "Jan", "2026-01-15T12:00:00+02:00"),
        ("-0530", "Jul", "2026-07-15T12:00:00-05:30"),
    ])
    def test_tz(self, tz: str, line_month: str, expected: str) -> None:
        """--tz names, UTC and fixed offsets give the zone's offset on that date."""
        t = TimeResolver(parse_tz(tz), year=2026)
        assert t.rfc3164(line_month, "15", "12:00:00", None) == expected

    def test_dst_switch_day(self) -> None:
        """Across the March switch in Berlin the offset changes from +01:00 to +02:00."""
        t = TimeResolver(parse_tz("Europe/Berlin"), year=2026)
        before = t.rfc3164("Mar", "29", "01:59:59", None)
        after = t.rfc3164("Mar", "29", "03:00:00", None)
        assert (before, after) == ("2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00")
        gap = datetime.fromisoformat(after) - datetime.fromisoformat(before)
        assert gap == timedelta(seconds=1)

    def test_local_zone(self, local_tz: None) -> None:
        """Without --tz the machine's local zone and its DST rules apply."""
        t = TimeResolver(None, year=2026)
        assert t.rfc3164("Jan", "15", "12:00:00", None) == "2026-01-15T12:00:00+01:00"
        assert t.rfc3164("Jul", "15", "12:00:00", None) == "2026-07-15T12:00:00+02:00"

    def test_local_zone_year_reference(self, local_tz: None) -> None:
        """The year reference is read in the local zone: New Year 00:30 Berlin is already January."""
        t = TimeResolver(None, now=lambda: utc(2025, 12, 31, 23, 30))
        assert t.rfc3164("Jan", "01", "00:20:00", None) == "2026-01-01T00:20:00+01:00"

    @pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "+02:00", "Asia/Kolkata", None])
    def test_always_iso_with_offset(self, tz: str | None) -> None:
        """Every format's stamp is ISO 8601 with an offset, whatever --tz."""
        lines = ["Nov  8 09:15:02 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "Nov  8 09:15:02.25 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "2026-11-08T09:15:02 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "2026-11-08T09:15:02.5 mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "2026-11-08T09:15:02Z mx1 postfix/qmgr[981]: 3F2A01C0D4: removed",
                 "<22>1 2026-11-08T09:15:02.501172+00:00 mx1 postfix 981 - -  3F2A01C0D4: removed",
                 journal()]
        for doc in docs_for(lines, tz=tz, year=2026):
            assert_iso_with_offset(doc["timestamp"])

    def test_epoch_out_of_range(self) -> None:
        """An epoch far outside the calendar gives no timestamp instead of an exception."""
        t = TimeResolver(timezone.utc)
        assert t.epoch_us(10 ** 22) is None
        assert t.epoch_us(-(10 ** 22)) is None
        assert t.epoch_us(0) == "1970-01-01T00:00:00+00:00"


class TestParseTz:
    @pytest.mark.parametrize("spec,offset", [
        ("UTC", timedelta(0)), ("utc", timedelta(0)), ("Z", timedelta(0)), ("GMT", timedelta(0)),
        ("+02:00", timedelta(hours=2)), ("-0530", timedelta(hours=-5, minutes=-30)),
        ("UTC+01:00", timedelta(hours=1)),
    ])
    def test_fixed(self, spec: str, offset: timedelta) -> None:
        """UTC and fixed offsets become fixed zones."""
        assert parse_tz(spec).utcoffset(None) == offset

    def test_named(self) -> None:
        """A zone name becomes a zone with DST rules."""
        tz = parse_tz("Europe/Berlin")
        assert datetime(2026, 7, 1, tzinfo=tz).utcoffset() == timedelta(hours=2)

    @pytest.mark.parametrize("spec", [None, "local", "LOCAL"])
    def test_local(self, spec: str | None) -> None:
        """No --tz, or ``local``, means the machine's zone (None)."""
        assert parse_tz(spec) is None

    @pytest.mark.parametrize("spec", ["Mars/Olympus", "Europe", "", "../etc/passwd", "+25:00", "+02:99",
                                      "zone.tab"])
    def test_unknown(self, spec: str) -> None:
        """Unknown names and impossible offsets are a ValueError with a hint."""
        with pytest.raises(ValueError, match="time zone"):
            parse_tz(spec)
