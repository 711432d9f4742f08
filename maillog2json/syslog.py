"""Syslog framing: one raw line in, the header fields and the message text out.

Every format is recognised per line, so a file that mixes them (a central log server
that changed its template) still reads. The formats, each with a real line:

* RFC 3164 / rsyslog traditional / Postfix ``maillog_file`` (postlogd: zero-padded day)::

      Nov 28 22:24:45 mx postfix/qmgr[31786]: 4FAE3164311: removed

* rsyslog ``RSYSLOG_FileFormat`` (RFC 3339, fraction and offset)::

      2026-11-28T22:24:45.501172+00:00 mx postfix/qmgr[31786]: 4FAE3164311: removed

* RFC 5424 (the app-name may be just ``postfix``: the daemon is then unknown)::

      <22>1 2026-11-28T22:24:45.501172+00:00 mx postfix 31786 - -  4FAE3164311: removed

* journald JSON export (``journalctl -o json``), MESSAGE possibly a byte array.
* Solaris ``[ID 801593 mail.info]`` tags, and ``<mail.info>`` facility tags before the host.

Year-less timestamps get their year from :class:`TimeResolver` (``--year``, file mtime,
or today; December to January inside a stream moves to the next year) and their zone
from ``--tz`` (default: the local zone, with its daylight-saving rules).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

Header = dict[str, Any]

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
              "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

# The syslog tag: ``postfix/smtpd[1234]:``, ``dovecot:``, ``postfix/submission/smtpd[9]:``.
# A tag is anything up to '[', ':' or a blank; the pid, when present, must be numeric
# (``postfix/smtpd[abc]:`` is malformed and is reported as such).
_TAG = r"(?P<tag>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?:(?: |$)"

# Nov 28 22:22:48 mx postfix/smtpd[31026]: connect from localhost[127.0.0.1]
# <22>Nov  8 02:03:04 mx ...                       (a PRI kept by a network relay)
# Feb 24 14:00:00 <mail.info> mx sendmail[1]: ...  (facility tag before the host)
_RFC3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?"
    r"(?P<ts>(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<day>[ 0-3]?\d) "
    r"(?P<hms>[0-2]\d:[0-5]\d:[0-6]\d)(?P<frac>\.\d{1,9})?) +"
    r"(?:<(?P<facsev>[a-z0-9]+\.[a-z]+)> )?"
    r"(?P<host>[^\s\[\]]+) "
    r"(?:" + _TAG + r"(?P<msg>.*)|(?P<notag>.*))\Z",
    re.S,
)

# 2026-11-28T22:22:48.467956+00:00 mx postfix/smtpd[31026]: connect from ...
_RFC3339 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?"
    r"(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) +"
    r"(?P<host>[^\s\[\]]+) "
    r"(?:" + _TAG + r"(?P<msg>.*)|(?P<notag>.*))\Z",
    re.S,
)

# <22>1 2026-11-28T22:22:48.467956+00:00 mx postfix 31026 - -  connect from ...
# <22>1 2026-11-28T22:22:48.467956+00:00 mx postfix/smtpd 31026 - [sd@1 a="b"] text
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 "
    r"(?P<ts>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)"
    r"(?: (?:\ufeff)?(?P<msg>.*))?\Z",
    re.S,
)

# Solaris: sendmail[1234]: [ID 801593 mail.info] qAB1cD: from=...
_SOLARIS_ID = re.compile(r"\[ID (?P<id>\d+) (?P<fac>[a-z0-9]+)\.(?P<sev>[a-z]+)\] ?")


def _utc_offset_zone(spec: str) -> Optional[tzinfo]:
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d\d):?(\d\d)", spec)
    if not m:
        return None
    sign = 1 if m.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def parse_tz(spec: Optional[str]) -> Optional[tzinfo]:
    """Turn ``--tz`` into a tzinfo; None means the machine's local zone (with its DST rules)."""
    if spec is None or spec.lower() == "local":
        return None
    if spec.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    fixed = _utc_offset_zone(spec)
    if fixed is not None:
        return fixed
    try:
        return ZoneInfo(spec)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {spec!r} (use a name like Europe/Berlin, UTC or +02:00)") from exc


class TimeResolver:
    """Gives year-less syslog timestamps a year and a zone, and renders ISO 8601.

    The reference year comes from ``year`` (``--year``), else from the reference time of
    the current source (its mtime), else from now. A first line whose month lies after the
    reference month belongs to the year before (a January file that starts in December).
    Inside a stream, a jump from a late month back to an early one (December to January)
    moves to the next year; a single line that jumps the other way (a late December line
    after the rollover) is given the previous year without moving the stream back.
    """

    __slots__ = ("_tz", "_fixed_year", "_now", "year", "_last_month", "_cache", "_reference")

    def __init__(self, tz: Optional[tzinfo] = None, year: Optional[int] = None,
                 now: Callable[[], float] = None) -> None:
        import time
        self._tz = tz
        self._fixed_year = year
        self._now = now or time.time
        self.year: Optional[int] = None
        self._last_month = 0
        self._cache: dict[str, str] = {}
        self._reference: Optional[float] = None

    def start_source(self, reference: Optional[float]) -> None:
        """A new file or stream begins; ``reference`` is its mtime (None: now)."""
        self.year = None
        self._last_month = 0
        self._reference = reference
        self._cache.clear()

    def state(self) -> dict[str, Any]:
        return {"year": self.year, "last_month": self._last_month}

    def restore(self, state: dict[str, Any]) -> None:
        self.year = state.get("year")
        self._last_month = state.get("last_month", 0)
        self._cache.clear()

    def _first_year(self, month: int) -> int:
        if self._fixed_year is not None:
            return self._fixed_year
        ref = self._reference if self._reference is not None else self._now()
        ref_dt = datetime.fromtimestamp(ref, self._tz) if self._tz else datetime.fromtimestamp(ref)
        return ref_dt.year - 1 if month > ref_dt.month else ref_dt.year

    def rfc3164(self, mon: str, day: str, hms: str, frac: Optional[str]) -> str:
        key = mon + day + hms
        month = MONTHS[mon]
        if self.year is None:
            self.year = self._first_year(month)
            self._last_month = month
        year = self.year
        last = self._last_month
        if month != last:
            if month < last and last - month >= 6:      # Dec -> Jan: next year
                self.year = year = year + 1
                self._last_month = month
                self._cache.clear()
            elif month > last and month - last >= 6:    # a stray line from before the rollover
                return self._render(year - 1, month, day, hms, frac)
            else:
                self._last_month = month
        iso = self._cache.get(key)
        if iso is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            iso = self._cache[key] = self._render(year, month, day, hms, "")
        if frac:
            return iso[:19] + frac + iso[19:]
        return iso

    def _render(self, year: int, month: int, day: str, hms: str, frac: Optional[str]) -> str:
        h, m, s = int(hms[0:2]), int(hms[3:5]), int(hms[6:8])
        try:
            dt = datetime(year, month, int(day), h, m, min(s, 59))
        except ValueError:      # Feb 29 in a year that has none: keep the day, roll forward
            dt = datetime(year, month, 1, h, m, min(s, 59)) + timedelta(days=int(day) - 1)
        dt = dt.replace(tzinfo=self._tz) if self._tz else dt.astimezone()
        iso = dt.isoformat()
        if frac:
            iso = iso[:19] + frac + iso[19:]
        return iso

    def iso8601(self, ts: str) -> str:
        """Normalise an RFC 3339 stamp: ``Z`` becomes ``+00:00``; a missing zone gets ``--tz``."""
        if ts.endswith("Z"):
            return ts[:-1] + "+00:00"
        tail = ts[-6:]
        if len(ts) > 19 and (tail[0] in "+-") and tail[3] == ":":
            return ts if ts[10] == "T" else ts[:10] + "T" + ts[11:]
        return self._slow_iso(ts)

    def _slow_iso(self, ts: str) -> str:
        ts = ts.replace(" ", "T", 1).replace(",", ".")
        m = re.fullmatch(r"(.*?)([+-]\d\d)(\d\d)", ts)
        if m and len(m.group(1)) >= 19:
            return f"{m.group(1)}{m.group(2)}:{m.group(3)}"
        try:
            dt = datetime.fromisoformat(ts[:26])
        except ValueError:
            return ts
        dt = dt.replace(tzinfo=self._tz) if self._tz else dt.astimezone()
        return dt.isoformat()

    def epoch_us(self, micros: int) -> str:
        dt = datetime.fromtimestamp(micros / 1_000_000, self._tz or timezone.utc)
        if self._tz is None:
            dt = dt.astimezone()
        return dt.isoformat()


def _pri(pri: Optional[str], header: Header) -> None:
    if pri is not None:
        n = int(pri)
        fac = n >> 3
        header["facility"] = FACILITIES[fac] if fac < len(FACILITIES) else str(fac)
        header["severity"] = SEVERITIES[n & 7]


class HeaderParser:
    """Splits one decoded line into header fields and the message text.

    ``parse`` returns ``(header, message)``; ``header`` is None when no syslog header was
    recognised (the caller still emits a document for the line).
    """

    __slots__ = ("time",)

    def __init__(self, time: TimeResolver) -> None:
        self.time = time

    def parse(self, line: str) -> tuple[Optional[Header], str]:
        c = line[:1]
        if c.isalpha():
            m = _RFC3164.match(line)
            if m is not None:
                return self._from_3164(m)
        elif c.isdigit():
            m = _RFC3339.match(line)
            if m is not None:
                return self._from_3339(m, m.group("ts"))
        elif c == "<":
            if line[3:5] == "1 " or line[4:6] == "1 " or line[2:4] == "1 ":
                m = _RFC5424.match(line)
                if m is not None:
                    return self._from_5424(m)
            m = _RFC3164.match(line)
            if m is not None:
                return self._from_3164(m)
            m = _RFC3339.match(line)
            if m is not None:
                return self._from_3339(m, m.group("ts"))
        elif c == "{":
            return self._from_journal(line)
        return None, line

    def _tail(self, m: re.Match, header: Header) -> tuple[Header, str]:
        msg = m.group("msg")
        if msg is None:                   # "last message repeated 3 times": no tag
            header["program"] = None
            header["pid"] = None
            return header, m.group("notag")
        header["program"] = m.group("tag")
        pid = m.group("pid")
        header["pid"] = int(pid) if pid else None
        if msg.startswith("[ID "):
            sm = _SOLARIS_ID.match(msg)
            if sm is not None:
                header["syslog_msgid"] = sm.group("id")
                header["facility"] = sm.group("fac")
                header["severity"] = sm.group("sev")
                msg = msg[sm.end():]
        return header, msg

    def _from_3164(self, m: re.Match) -> tuple[Header, str]:
        ts = self.time.rfc3164(m.group("mon"), m.group("day").strip().zfill(2), m.group("hms"), m.group("frac"))
        header: Header = {"timestamp": ts, "host": m.group("host")}
        _pri(m.group("pri"), header)
        facsev = m.group("facsev")
        if facsev:
            header["facility"], header["severity"] = facsev.split(".", 1)
        return self._tail(m, header)

    def _from_3339(self, m: re.Match, ts: str) -> tuple[Header, str]:
        header: Header = {"timestamp": self.time.iso8601(ts), "host": m.group("host")}
        _pri(m.group("pri"), header)
        return self._tail(m, header)

    def _from_5424(self, m: re.Match) -> tuple[Header, str]:
        ts = m.group("ts")
        host = m.group("host")
        app = m.group("app")
        procid = m.group("procid")
        header: Header = {
            "timestamp": None if ts == "-" else self.time.iso8601(ts),
            "host": None if host == "-" else host,
            "program": None if app == "-" else app,
            "pid": int(procid) if procid.isdigit() else None,
        }
        _pri(m.group("pri"), header)
        msgid = m.group("msgid")
        if msgid != "-":
            header["syslog_msgid"] = msgid
        sd = m.group("sd")
        if sd != "-":
            header["structured_data"] = sd
        msg = m.group("msg") or ""
        # rsyslog's RSYSLOG_SyslogProtocol23Format keeps the space that followed the tag's
        # colon, so the message starts with a blank: no mail daemon's message does.
        return header, msg.lstrip(" ")

    def _from_journal(self, line: str) -> tuple[Optional[Header], str]:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None, line
        if not isinstance(rec, dict) or "MESSAGE" not in rec:
            return None, line
        msg = rec.get("MESSAGE")
        if isinstance(msg, list):        # journald exports non-UTF-8 text as a byte array
            try:
                msg = bytes(b & 0xFF for b in msg if isinstance(b, int)).decode("utf-8", "replace")
            except (TypeError, ValueError):
                msg = ""
        elif not isinstance(msg, str):
            msg = "" if msg is None else str(msg)
        ts = rec.get("__REALTIME_TIMESTAMP") or rec.get("_SOURCE_REALTIME_TIMESTAMP")
        timestamp = None
        if isinstance(ts, str) and ts.isdigit():
            timestamp = self.time.epoch_us(int(ts))
        pid = rec.get("SYSLOG_PID") or rec.get("_PID")
        header: Header = {
            "timestamp": timestamp,
            "host": rec.get("_HOSTNAME"),
            "program": rec.get("SYSLOG_IDENTIFIER") or rec.get("_COMM"),
            "pid": int(pid) if isinstance(pid, str) and pid.isdigit() else None,
        }
        prio = rec.get("PRIORITY")
        if isinstance(prio, str) and prio.isdigit() and int(prio) < 8:
            header["severity"] = SEVERITIES[int(prio)]
        fac = rec.get("SYSLOG_FACILITY")
        if isinstance(fac, str) and fac.isdigit() and int(fac) < len(FACILITIES):
            header["facility"] = FACILITIES[int(fac)]
        cursor = rec.get("__CURSOR")
        if isinstance(cursor, str):
            header["journal_cursor"] = cursor
        return header, msg
