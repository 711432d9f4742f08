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
* No host (a local syslogd without hostnames, or Dovecot's own ``log_path`` file): the
  token after the timestamp is then the tag, or Dovecot's ``service(ident):`` prefix::

      Aug 30 00:11:05 imap-login: Info: Login aborted: Connection closed (auth failed, ...)
      Jan 29 13:54:06 auth-worker(22401): Info: sql(admin@example.de,192.0.2.5): unknown user

* daemontools ``multilog`` (TAI64N label, no host)::

      @400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure; ...

Year-less timestamps get their year from :class:`TimeResolver` (``--year``, file mtime,
or today; December to January inside a stream moves to the next year) and their zone
from ``--tz`` (default: the local zone, with its daylight-saving rules).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
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

# All patterns are compiled with re.ASCII: ``\d`` is [0-9] only (int() would accept other
# digits, ISO 8601 does not), ``\s`` is ASCII white space.
_FLAGS = re.S | re.A

# Nov 28 22:22:48 mx postfix/smtpd[31026]: connect from localhost[127.0.0.1]
# <22>Nov  8 02:03:04 mx ...                       (a PRI kept by a network relay)
# Feb 24 14:00:00 <mail.info> mx sendmail[1]: ...  (facility tag before the host)
# A host never ends with ':' ("imap-login:" after the timestamp is a tag, not a host).
_HOST = r"(?P<host>[^\s\[\]]*[^\s\[\]:])"
# The day is space-padded (syslogd), zero-padded (postlogd) or bare; hours 00-23, a leap second
# :60 is allowed. Anything else (``Nov 28 25:61:00``) is not a timestamp.
_TS3164 = (r"(?P<ts>(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
           r"(?P<day>[ 0]?[1-9]|[12]\d|3[01]) "
           r"(?P<hms>(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60))(?P<frac>\.\d{1,9})?) +")
_RFC3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?" + _TS3164 +
    r"(?:<(?P<facsev>[a-z0-9]+\.[a-z]+)> )?" + _HOST + " "
    r"(?:" + _TAG + r"(?P<msg>.*)|(?P<notag>.*))\Z",
    _FLAGS,
)
# Aug 30 00:11:05 imap-login: Info: Aborted login (auth failed, 1 attempts): user=<a@b>, ...
_RFC3164_NOHOST = re.compile(r"(?:<(?P<pri>\d{1,3})>)?" + _TS3164 + r"(?P<rest>\S.*)\Z", _FLAGS)

# What follows the timestamp when there is no host: a tag (``imap-login:``,
# ``postfix/smtpd[12]:``), or Dovecot's own log-file prefix, kept in the message for the
# Dovecot parser: ``auth-worker(22401): Info: ...``,
# ``auth(info@example.com,192.0.2.110,sasl:login)<CvN+E95Uf4e7eEnj>: Info: sql: Password mismatch``
_NOHOST_TAG = re.compile(r"(?P<tag>[^\s\[\]:()<>]+)(?:\[(?P<pid>\d+)\])?:(?: |\Z)(?P<msg>.*)\Z", _FLAGS)
_DOVECOT_PREFIX = re.compile(r"[a-z][a-z0-9-]*(?:\((?:[^()]|\([^()]*\))*\)(?:<[^<>]*>){0,2}|(?:<[^<>]*>){1,2}): ")

# 2026-11-28T22:22:48.467956+00:00 mx postfix/smtpd[31026]: connect from ...
# Field ranges are checked here (month 01-12, day 01-31, hour 00-23, ...); an impossible
# calendar day (02-30) is caught when the stamp is normalised.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)"
_TS3339 = (r"(?P<ts>" + _DATE + "[T ]" + _TIME + r"(?:[.,]\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?) +")
_RFC3339 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?" + _TS3339 + _HOST + " "
    r"(?:" + _TAG + r"(?P<msg>.*)|(?P<notag>.*))\Z",
    _FLAGS,
)
# 2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2.3.4): pam_authenticate() failed: ...
_RFC3339_NOHOST = re.compile(r"(?:<(?P<pri>\d{1,3})>)?" + _TS3339 + r"(?P<rest>\S.*)\Z", _FLAGS)

# The common case, read by one match into positional groups: a traditional (15-character
# stamp) or RFC 3339 timestamp, host, tag[pid]: ; the text is the rest of the line from the
# match's end (not a ``(.*)`` group: that would walk the whole text once more). No PRI,
# facility tag or Solaris id. Anything else (and every first sight of a traditional stamp,
# which must be validated and placed in a year) goes through the patterns above.
FAST_HEADER = re.compile(
    r"(?:([A-Z][a-z][a-z] [ 0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9])|"
    r"(" + _DATE + "T" + _TIME + r"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))) "
    r"([^\s\[\]]*[^\s\[\]:]) ([^\s\[\]:]+)(?:\[([0-9]{1,10})\])?: (?!\[ID )",
    _FLAGS)

# just the traditional stamp, checked as strictly as _TS3164 does
_STAMP = re.compile(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( [1-9]|0[1-9]|[12][0-9]|3[01]) "
                    r"((?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60))\Z", _FLAGS)

# daemontools multilog: @ + TAI64N label (16 hex digits of 2^62 + 10 + Unix seconds, 8 of
# nanoseconds), one blank, then the program's own text (no host, usually a tag):
# @400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): ...
_TAI64N = re.compile(r"@(?P<secs>[0-9a-f]{16})(?P<nano>[0-9a-f]{8}) (?P<rest>.*)\Z", _FLAGS)
_TAI64_EPOCH = (1 << 62) + 10     # label of 1970-01-01 00:00:00 UTC (TAI is 10 s ahead, as libtai counts)

# <22>1 2026-11-28T22:22:48.467956+00:00 mx postfix 31026 - -  connect from ...
# <22>1 2026-11-28T22:22:48.467956+00:00 mx postfix/smtpd 31026 - [sd@1 a="b"] text
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 "
    r"(?P<ts>-|" + _DATE + "T" + _TIME + r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)) "
    r"(?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)"
    r"(?: (?:\ufeff)?(?P<msg>.*))?\Z",
    _FLAGS,
)

# Solaris: sendmail[1234]: [ID 801593 mail.info] qAB1cD: from=...
_SOLARIS_ID = re.compile(r"\[ID (?P<id>\d+) (?P<fac>[a-z0-9]+)\.(?P<sev>[a-z]+)\] ?", re.A)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _number(text: Any) -> Optional[int]:
    """A pid or counter from text: ASCII digits only, at most 10 of them (``"²".isdigit()`` is
    true and a 5000-digit string is too long for int()); anything else is None."""
    if isinstance(text, str) and 0 < len(text) <= 10 and text.isascii() and text.isdigit():
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text < 1 << 32:
        return text
    return None


def _utc_offset_zone(spec: str) -> Optional[tzinfo]:
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d\d):?(\d\d)", spec)
    if not m:
        return None
    sign = 1 if m.group(1) == "+" else -1
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 23 or minutes > 59:
        raise ValueError(f"time zone offset {spec!r} out of range (-23:59 to +23:59)")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


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
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {spec!r} (use a name like Europe/Berlin, UTC or +02:00)") from exc


class TimeResolver:
    """Gives year-less syslog timestamps a year and a zone, and renders ISO 8601.

    The reference year comes from ``year`` (``--year``), else from the reference time of
    the current source (its mtime), else from now. A first line whose month lies after the
    reference month belongs to the year before (a January file that starts in December).
    Inside a stream, a jump from a late month back to an early one (December to January)
    moves to the next year; a single line that jumps the other way (a late December line
    after the rollover) is given the previous year without moving the stream back. A jump
    forward that the reference time allows (a quiet log: January, then July) stays in the
    same year.
    """

    __slots__ = ("_tz", "_fixed_year", "_now", "year", "_last_month", "_reference", "_days",
                 "_latest", "stamps", "_minutes", "_stamp_minutes")

    def __init__(self, tz: Optional[tzinfo] = None, year: Optional[int] = None,
                 now: Optional[Callable[[], float]] = None) -> None:
        import time
        self._tz = tz
        self._fixed_year = year
        self._now = now if now is not None else time.time
        self.year: Optional[int] = None
        self._last_month = 0
        self._reference: Optional[float] = None
        self._days: set[str] = set()        # RFC 3339 dates already checked to exist
        self._latest: Optional[tuple[int, int]] = None   # the latest (year, month) a line can have
        # traditional 15-character stamps already placed in the current year -> ISO 8601; the
        # per-line fast path reads this, a miss goes the long way (see FAST_HEADER)
        self.stamps: dict[str, str] = {}
        self._minutes: dict[tuple, tuple[str, str]] = {}
        # the minutes of the stamps in ``stamps`` (``Nov 28 22:22``) -> (month, ISO 8601 before
        # the seconds, after them): a new second of a known minute needs no pattern and no
        # calendar; kept and cleared with ``stamps`` (same year, same validity)
        self._stamp_minutes: dict[str, tuple[int, str, str]] = {}

    def start_source(self, reference: Optional[float]) -> None:
        """A new file or stream begins; ``reference`` is its mtime (None: now)."""
        self.year = None
        self._last_month = 0
        self._reference = reference
        self._latest = None
        self._clear_stamps()

    @property
    def last_month(self) -> int:
        return self._last_month

    def state(self) -> dict[str, Any]:
        return {"year": self.year, "last_month": self._last_month}

    def restore(self, state: dict[str, Any]) -> None:
        self.year = state.get("year")
        self._last_month = state.get("last_month", 0)
        self._latest = None
        self._clear_stamps()

    def _first_year(self, month: int) -> int:
        if self._fixed_year is not None:
            return self._fixed_year
        ref = self._reference if self._reference is not None else self._now()
        ref_dt = datetime.fromtimestamp(ref, self._tz) if self._tz else datetime.fromtimestamp(ref)
        return ref_dt.year - 1 if month > ref_dt.month else ref_dt.year

    def rfc3164(self, mon: str, day: str, hms: str, frac: Optional[str]) -> str:
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
                self._clear_stamps()
            elif month > last and self._stray(year, month, last):   # from before the rollover
                return self._render(year - 1, month, day, hms, frac)
            else:
                self._last_month = month
        iso = self._render(year, month, day, hms, "")       # one datetime per minute (_render)
        if frac:
            return iso[:19] + frac + iso[19:]
        return iso

    def _stray(self, year: int, month: int, last: int) -> bool:
        """A line of a later month than the stream's: a late line from before the rollover
        (December after January), or a jump forward in a sparse log (mail.err: January, then
        July)? Stray when it lies at most two months back across New Year, or (the year not
        being fixed) when it would lie after the source's reference time."""
        if last + 12 - month <= 2:
            return True
        if self._fixed_year is not None:
            return False
        if self._latest is None:
            ref = (self._reference if self._reference is not None else self._now()) + 86400  # clock skew
            ref_dt = datetime.fromtimestamp(ref, self._tz) if self._tz else datetime.fromtimestamp(ref)
            self._latest = (ref_dt.year, ref_dt.month)
        return (year, month) > self._latest

    def _clear_stamps(self) -> None:
        self.stamps.clear()
        self._stamp_minutes.clear()

    def stamp(self, s: str) -> Optional[str]:
        """A traditional 15-character stamp (``Nov 28 22:22:48``, ``Nov  8 ...``) -> ISO 8601,
        or None if it is not a valid one. The per-line fast path: a stamp placed in the
        stream's current month is remembered until the year changes, and so is its minute:
        another second of that minute, while the stream is still in that month, is what
        rfc3164() would make of it (no state changes then), put together from the minute's
        rendering (as _render() does)."""
        iso = self.stamps.get(s)
        if iso is not None:
            return iso
        minute = self._stamp_minutes.get(s[:12])
        if (minute is not None and minute[0] == self._last_month and len(s) == 15 and s[12] == ":"
                and s[13] in "012345" and s[14] in "0123456789"):
            iso = minute[1] + s[13:] + minute[2]
        else:
            m = _STAMP.match(s)
            if m is None:
                return None
            mon, day, hms = m.groups()
            iso = self.rfc3164(mon, day.strip().zfill(2), hms, None)
            month = MONTHS[mon]
            if self._last_month != month:           # a stray line from before a rollover
                return iso
            if hms[6:8] != "60":
                self._stamp_minutes[s[:12]] = (month, iso[:17], iso[19:])
        if len(self.stamps) > 4096:
            self._clear_stamps()
        self.stamps[s] = iso
        return iso

    def _render(self, year: int, month: int, day: str, hms: str, frac: Optional[str]) -> str:
        # one datetime per minute: a zone's offset only changes on a whole minute
        if not frac and hms[6:8] != "60":
            key = (year, month, day, hms[:5])
            minute = self._minutes.get(key)
            if minute is None:
                if len(self._minutes) > 4096:
                    self._minutes.clear()
                iso = self._render_slow(year, month, day, hms[:6] + "00", None)
                minute = self._minutes[key] = (iso[:17], iso[19:])
            return minute[0] + hms[6:8] + minute[1]
        return self._render_slow(year, month, day, hms, frac)

    def _render_slow(self, year: int, month: int, day: str, hms: str, frac: Optional[str]) -> str:
        h, m, s = int(hms[0:2]), int(hms[3:5]), int(hms[6:8])
        try:
            dt = datetime(year, month, int(day), h, m, min(s, 59))
        except ValueError:
            # Feb 29 in a year that has none (or Nov 31): keep the day count and roll
            # forward, so the stream stays in order. The pattern bounds every field, so
            # this cannot fail again.
            dt = datetime(year, month, 1, h, m, min(s, 59)) + timedelta(days=int(day) - 1)
        dt = dt.replace(tzinfo=self._tz) if self._tz else dt.astimezone()
        iso = dt.isoformat()
        if frac:
            iso = iso[:19] + frac + iso[19:]
        return iso

    def iso8601(self, ts: str) -> Optional[str]:
        """Normalise an RFC 3339 stamp (as the patterns above match it) to ISO 8601 with an
        offset: ``T`` between date and time, ``.`` before the fraction, ``Z`` becomes
        ``+00:00``, ``+0100`` becomes ``+01:00``, a missing zone gets ``--tz``. None for a
        day that does not exist (``2026-02-30``)."""
        day = ts[:10]
        if day not in self._days:
            try:
                date.fromisoformat(day)
            except ValueError:
                return None
            if len(self._days) > 4096:
                self._days.clear()
            self._days.add(day)
        if ts[10:11] != "T" or "," in ts:
            ts = day + "T" + ts[11:].replace(",", ".", 1)
        if ts[-1] == "Z":
            return ts[:-1] + "+00:00"
        if len(ts) > 19 and ts[-6] in "+-" and ts[-3] == ":":
            return ts
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

    def epoch_us(self, micros: int) -> Optional[str]:
        """Microseconds since the epoch (journald, TAI64N) -> ISO 8601 in ``--tz``; exact (no
        float rounding of the microseconds); None when out of the representable range."""
        try:
            dt = _EPOCH + timedelta(microseconds=micros)
            dt = dt.astimezone(self._tz) if self._tz is not None else dt.astimezone()
        except (OverflowError, ValueError, OSError):
            return None
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
            m = _RFC3164_NOHOST.match(line)
            if m is not None:
                return self._nohost(m, self._time_3164)
        elif c.isdigit():
            m = _RFC3339.match(line)
            if m is not None:
                return self._from_3339(m, m.group("ts"))
            m = _RFC3339_NOHOST.match(line)
            if m is not None:
                return self._nohost(m, lambda m: self.time.iso8601(m.group("ts")))
        elif c == "@":
            m = _TAI64N.match(line)
            if m is not None:
                return self._nohost(m, self._time_tai64n)
        elif c == "<":
            if line.find(">1 ", 2, 7) > 0:      # <6>1, <22>1, <134>1: RFC 5424
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
        header["pid"] = _number(m.group("pid"))
        if msg.startswith("[ID "):
            sm = _SOLARIS_ID.match(msg)
            if sm is not None:
                header["syslog_msgid"] = sm.group("id")
                header["facility"] = sm.group("fac")
                header["severity"] = sm.group("sev")
                msg = msg[sm.end():]
        return header, msg

    def _time_3164(self, m: re.Match) -> str:
        return self.time.rfc3164(m.group("mon"), m.group("day").strip().zfill(2), m.group("hms"), m.group("frac"))

    def _time_tai64n(self, m: re.Match) -> Optional[str]:
        secs = int(m.group("secs"), 16) - _TAI64_EPOCH
        return self.time.epoch_us(secs * 1_000_000 + int(m.group("nano"), 16) // 1000)

    def _nohost(self, m: re.Match, when: Callable[[re.Match], Optional[str]]) -> tuple[Optional[Header], str]:
        """A header without a host: what follows the time must be a tag or Dovecot's prefix."""
        rest = m.group("rest")
        t = _NOHOST_TAG.match(rest)
        if t is not None:
            header: Header = {"timestamp": None, "host": None, "program": t.group("tag"),
                              "pid": _number(t.group("pid"))}
            msg = t.group("msg")
        elif _DOVECOT_PREFIX.match(rest) is not None:
            # Dovecot's log_path file: no tag at all; the prefix stays in the message
            header = {"timestamp": None, "host": None, "program": "dovecot", "pid": None}
            msg = rest
        else:
            return None, m.string
        header["timestamp"] = when(m)
        if "pri" in m.re.groupindex:
            _pri(m.group("pri"), header)
        return header, msg

    def _from_3164(self, m: re.Match) -> tuple[Header, str]:
        ts = self._time_3164(m)
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
            "pid": _number(procid),
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
        bad_utf8: list[bool] = []
        msg = _journal_text(rec.get("MESSAGE"), bad_utf8)
        if msg is None:
            msg = ""
        ts = rec.get("__REALTIME_TIMESTAMP") or rec.get("_SOURCE_REALTIME_TIMESTAMP")
        timestamp = None
        if isinstance(ts, str) and 0 < len(ts) <= 20 and ts.isascii() and ts.isdigit():
            timestamp = self.time.epoch_us(int(ts))
        header: Header = {
            "timestamp": timestamp,
            "host": _journal_text(rec.get("_HOSTNAME"), bad_utf8),
            "program": (_journal_text(rec.get("SYSLOG_IDENTIFIER"), bad_utf8)
                        or _journal_text(rec.get("_COMM"), bad_utf8)),
            "pid": _number(rec.get("SYSLOG_PID")) or _number(rec.get("_PID")),
        }
        prio = _number(rec.get("PRIORITY"))
        if prio is not None and prio < 8:
            header["severity"] = SEVERITIES[prio]
        fac = _number(rec.get("SYSLOG_FACILITY"))
        if fac is not None and fac < len(FACILITIES):
            header["facility"] = FACILITIES[fac]
        cursor = rec.get("__CURSOR")
        if isinstance(cursor, str):
            header["journal_cursor"] = cursor
        if bad_utf8:
            header["invalid_utf8"] = True
        return header, msg


def _journal_text(value: Any, bad_utf8: list[bool]) -> Optional[str]:
    """A journald field as text. ``journalctl -o json`` writes a value that is not valid UTF-8
    as an array of byte values, and a field logged more than once as an array of values (the
    first is taken); anything else that is not a string is None. Invalid bytes become U+FFFD
    and are noted in ``bad_utf8``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and not isinstance(b, bool) for b in value):
            data = bytes(b & 0xFF for b in value)
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                bad_utf8.append(True)
                return data.decode("utf-8", "replace")
        return _journal_text(value[0], bad_utf8)
    return None
