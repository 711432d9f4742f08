"""Find the mail log on a host, as a mail admin would (the library behind ``maillog2json locate``).

The places are tried in this order of trust:

1. Postfix's own ``maillog_file`` (Postfix >= 3.4 with postlogd): ``postconf -h maillog_file``
   on the live system, else the last assignment in ``/etc/postfix/main.cf``.
2. rsyslog: ``/etc/rsyslog.conf`` and its includes (``$IncludeConfig`` and ``include(file=...)``),
   legacy selector lines that select the ``mail`` facility (``mail.none`` excludes it again),
   RainerScript ``if $syslogfacility-text == 'mail' then ...`` and ``action(type="omfile" ...)``.
   Forwarding (``@host``, ``@@host``), pipes, ``:omusrmsg:`` and dynamic files are not logs here.
3. syslog-ng: ``/etc/syslog-ng/syslog-ng.conf``, its ``@include`` files and ``conf.d/*.conf``:
   ``log { filter(f_mail); destination(d_mail); }`` resolved through the named filter (a
   positive ``facility(mail)``) and destination (``file("...")``).
4. The usual paths, when they exist.
5. journald, when nothing file-based was found and a journal exists.

Every path is looked up below ``root`` and reported as the path on that system (without
``root``). The parsers are tolerant: an unreadable or broken file gives what could be read,
never an exception.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Optional

__all__ = ["Found", "locate", "format_found", "JOURNAL_COMMAND", "USUAL_PATHS"]

JOURNAL_COMMAND = "journalctl -o json -f SYSLOG_FACILITY=2"
USUAL_PATHS = ("/var/log/maillog", "/var/log/mail.log", "/var/adm/maillog",
               "/var/adm/syslog/mail.log", "/var/log/mail/mail.log")
JOURNAL_DIRS = ("/var/log/journal", "/run/systemd/journal")
POSTCONF_TIMEOUT = 5.0
MAX_INCLUDE_DEPTH = 16
MAX_CONFIG_BYTES = 4 << 20

# Programs whose messages are mail logs (for program-based rules).
_MAIL_PROGRAMS = re.compile(r"^(postfix|postlog|dovecot|exim|exim4|sendmail|sm-mta|opendkim|"
                            r"opendmarc|amavis|rspamd|spamd)\b", re.I)


@dataclass
class Found:
    """One candidate mail log: ``path`` on the host, ``source`` (how it was found), ``detail``."""

    path: str
    source: str
    detail: str = ""
    exists: bool = False
    also: list[str] = field(default_factory=list)  # other sources that named the same path


def format_found(found: Found) -> str:
    """One line for printing: the path, whether it exists, then how it was found."""
    state = "exists" if found.exists else "missing"
    text = f"{found.path}  [{state}]  {found.source}"
    if found.detail:
        text += f": {found.detail}"
    if found.also:
        text += f" (also: {'; '.join(found.also)})"
    return text


def locate(root: str = "/", run_postconf: bool = True) -> list[Found]:
    """The mail logs of the host below ``root``, best first, each path once."""
    root = root or "/"
    groups: list[list[Found]] = [
        _postfix(root, run_postconf),
        _ranked(_rsyslog(root)),
        _ranked(_syslog_ng(root)),
        _usual(root),
    ]
    result: list[Found] = []
    seen: dict[str, Found] = {}
    for group in groups:
        for f in group:
            key = os.path.normpath(f.path) if f.path.startswith("/") else f.path
            if key in seen:
                best = seen[key]
                if f.source != best.source and f.source not in best.also:
                    best.also.append(f.source)
                continue
            f.exists = os.path.exists(_under(root, f.path))
            seen[key] = f
            result.append(f)
    if not result:
        for d in JOURNAL_DIRS:
            if os.path.isdir(_under(root, d)):
                result.append(Found(JOURNAL_COMMAND, "journald", f"journal in {d}; feed us: "
                                    f"{JOURNAL_COMMAND} | maillog2json", exists=True))
                break
    return result


# --------------------------------------------------------------------------- helpers

def _under(root: str, path: str) -> str:
    """``path`` (absolute on the host) as a path below ``root``."""
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _real(root: str, local: str) -> str:
    """A path below ``root`` as the path on the host."""
    if root in ("", "/"):
        return local
    rel = os.path.relpath(local, root)
    return "/" + ("" if rel == "." else rel)


def _read_once(local: str, depth: int, seen: set[str]) -> Optional[str]:
    """A config file's text the first time an include walk meets it (include loops and
    runaway nesting stop here), else None."""
    key = os.path.realpath(local)
    if key in seen or depth > MAX_INCLUDE_DEPTH:
        return None
    seen.add(key)
    return _read(local)


def _read(local: str) -> Optional[str]:
    """The text of a file (bad bytes replaced), or None when it cannot be read."""
    try:
        if not os.path.isfile(local):  # a directory, a FIFO (would block), a dangling link
            return None
        with open(local, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES)
    except (OSError, ValueError):
        return None
    return data.decode("utf-8", errors="replace").replace("\x00", "")


def _expand(root: str, pattern: str, base: str) -> list[str]:
    """The files (below ``root``) an include ``pattern`` names; relative to ``base`` (host path)."""
    if not pattern:
        return []
    if not pattern.startswith("/"):
        pattern = os.path.join(base, pattern)
    local = _under(root, pattern)
    try:
        if os.path.isdir(local):
            names = sorted(os.path.join(local, n) for n in os.listdir(local))
        elif glob.has_magic(local):
            names = sorted(glob.glob(local))
        else:
            names = [local]
    except OSError:
        return []
    return [n for n in names if os.path.isfile(n)]


def _ranked(found: list[tuple[float, Found]]) -> list[Found]:
    """The finds, the broadest rule first, config order otherwise."""
    return [f for _, f in sorted(found, key=lambda rf: rf[0])]


def _strip_comment(line: str) -> str:
    """``line`` without a ``#`` comment (a ``#`` inside quotes stays)."""
    quote = ""
    escaped = False
    for i, c in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif c == "\\" and quote == '"':
                escaped = True          # in "...", \" does not end the string
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#":
            return line[:i]
    return line


def _usual(root: str) -> list[Found]:
    return [Found(p, "usual path", "a usual place for the mail log")
            for p in USUAL_PATHS if os.path.isfile(_under(root, p))]


# --------------------------------------------------------------------------- Postfix

def _postfix(root: str, run_postconf: bool) -> list[Found]:
    if root in ("", "/") and run_postconf:
        postconf = shutil.which("postconf")
        if postconf:
            try:
                done = subprocess.run([postconf, "-h", "maillog_file"], capture_output=True, check=False,
                                      timeout=POSTCONF_TIMEOUT, text=True, errors="replace")
            except (OSError, subprocess.SubprocessError):
                done = None
            if done is not None and done.returncode == 0:
                value = done.stdout.strip()
                if value:
                    return [Found(value, "postfix maillog_file", "postconf -h maillog_file")]
                return []
    return _main_cf(root)


def _main_cf(root: str) -> list[Found]:
    """``maillog_file`` from main.cf: logical lines, the last assignment wins."""
    text = _read(_under(root, "/etc/postfix/main.cf"))
    if text is None:
        return []
    value: Optional[str] = None
    where = 0
    current: Optional[tuple[int, str]] = None
    logical: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and current is not None:
            current = (current[0], current[1] + " " + line.strip())
            logical[-1] = current
            continue
        current = (n, line.strip())
        logical.append(current)
    for n, line in logical:
        m = re.match(r"maillog_file\s*=\s*(.*)$", line)
        if m:
            value, where = m.group(1).strip(), n
    if not value:
        return []
    return [Found(value, "postfix maillog_file", f"/etc/postfix/main.cf:{where}: maillog_file = {value}")]


# --------------------------------------------------------------------------- rsyslog

_SEVERITY = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4,
             "warn": 4, "notice": 5, "info": 6, "debug": 7, "*": 7}
_SELECTOR = re.compile(r"^([\w*,]+\.!?=?[\w*]+(?:\s*;\s*[\w*,]+\.!?=?[\w*]+)*)\s+(\S.*)$")
_PARAM = re.compile(r"""([\w.]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s)]+))""")


def _selector_rank(selector: str) -> Optional[float]:
    """How broadly ``selector`` takes mail (0 = everything), None when it does not.

    Selectors apply left to right: ``*.info;mail.none`` selects no mail, and a bare ``*`` does
    not count as a mail rule (that is the general log), only an explicit ``mail``."""
    included = False
    rank: Optional[float] = None
    for part in selector.split(";"):
        facs, _, pri = part.strip().partition(".")
        facs_l = [x.strip().lower() for x in facs.split(",")]
        if "mail" not in facs_l and "*" not in facs_l:
            continue
        pri = pri.strip().lower()
        if pri in ("none", "!*"):
            included = False
            continue
        included = True
        if "mail" in facs_l:
            negated, exact = pri.startswith("!"), "=" in pri
            sev = _SEVERITY.get(pri.lstrip("!="), 7)
            r = 7.0 if negated else 7 - sev + (0.5 if exact else 0)
            rank = r if rank is None else min(rank, r)
    return rank if included else None


def _actions(text: str) -> Iterator[str]:
    """The files written by the actions in ``text``: ``action(type="omfile" file=...)`` and
    legacy ``/path`` or ``-/path`` actions."""
    for m in re.finditer(r"\baction\s*\(([^()]*)\)", text, re.I):
        params = {k.lower(): (a or b or c) for k, a, b, c in _PARAM.findall(m.group(1))}
        if params.get("type", "").lower() == "omfile" and params.get("file"):
            yield params["file"]
    rest = re.sub(r"\baction\s*\([^()]*\)", " ", text, flags=re.I)
    rest = re.sub(r"\"[^\"]*\"|'[^']*'", " ", rest)
    for m in re.finditer(r"(?:^|[\s{;])-?(/[^\s;{}()]+)", rest):
        yield m.group(1)


def _legacy_action(action: str) -> Iterator[str]:
    """The file a legacy selector action writes, if it writes a file."""
    action = action.strip()
    if action.lower().startswith("action") or action.startswith("{"):
        yield from _actions(action)
        return
    if action.startswith("-"):
        action = action[1:]
    if action.startswith("/"):
        yield action.split(";", 1)[0].split()[0]
    # @host, @@host, |pipe, :omusrmsg:, ?DynaFile, ~, stop, user lists: not a log file here.


_IF_MAIL = [
    re.compile(r"\$syslogfacility-text\s*(?:==|isequal|startswith|contains)\s*['\"]mail['\"]", re.I),
    re.compile(r"\$syslogfacility\s*==\s*['\"]?2['\"]?(?!\d)", re.I),
    re.compile(r"\$(?:programname|app-name|syslogtag)\s*(?:==|isequal|startswith|contains)\s*"
               r"['\"](postfix|postlog|dovecot|exim4?|sendmail|sm-mta)", re.I),
]


def _if_rank(condition: str) -> Optional[float]:
    """How broadly an ``if`` condition takes mail (as :func:`_selector_rank`), None when not."""
    if re.search(r"\bnot\b|!=|<>", condition):
        return None
    if any(p.search(condition) for p in _IF_MAIL):
        return 0.0
    m = re.search(r"prifilt\s*\(\s*['\"]([^'\"]+)['\"]", condition, re.I)
    return _selector_rank(m.group(1)) if m else None


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """rsyslog statements with their first line: comments stripped, backslash continuations,
    unclosed parentheses, ``if ... then`` and ``{ ... }`` action blocks joined."""
    buf, start, cont = "", 0, False
    for n, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not buf:
            if not line:
                continue
            start = n
            m = re.match(r"ruleset\s*\([^()]*\)\s*\{(.*)$", line, re.I)
            if m:  # a ruleset's body: its lines are statements of their own
                line = m.group(1).strip()
                if not line:
                    continue
        if buf and line and (_SELECTOR.match(line) or re.match(r"(\$\w|if\s|module\s*\(|include\s*\()", line)) \
                and not cont and not re.search(r"\bthen$", buf, re.I):
            yield start, buf  # a broken statement (unclosed parenthesis): start afresh
            buf, start = "", n
        buf = f"{buf} {line}".strip() if buf else line
        cont = buf.endswith("\\")
        if cont:
            buf = buf[:-1]
            continue
        depth_p = buf.count("(") - buf.count(")")
        depth_b = buf.count("{") - buf.count("}")
        if depth_p > 0 or (depth_b > 0 and not buf.startswith("{")) or \
                (buf.lower().startswith("if") and re.search(r"\bthen$", buf, re.I)):
            if n - start < 200:
                continue
        yield start, buf
        buf = ""
    if buf:
        yield start, buf


def _rsyslog(root: str) -> list[tuple[float, Found]]:
    found: list[tuple[float, Found]] = []
    seen: set[str] = set()

    def conf(local: str, depth: int) -> None:
        text = _read_once(local, depth, seen)
        if text is None:
            return
        name = _real(root, local)
        base = os.path.dirname(name)

        def add(rank: float, path: str, n: int, stmt: str) -> None:
            if path.startswith("/"):
                found.append((rank, Found(path, f"rsyslog {name}:{n}", " ".join(stmt.split()))))

        for n, stmt in _statements(text):
            m = re.match(r"\$IncludeConfig\s+(\S+)", stmt, re.I)
            if m:
                for inc in _expand(root, m.group(1), base):
                    conf(inc, depth + 1)
                continue
            m = re.match(r"include\s*\(([^()]*)\)", stmt, re.I)
            if m:
                params = {k.lower(): (a or b or c) for k, a, b, c in _PARAM.findall(m.group(1))}
                for inc in _expand(root, params.get("file", ""), base):
                    conf(inc, depth + 1)
                continue
            if stmt.startswith("$") or re.match(r"(module|input|global|template|main_queue|"
                                                r"parser|timezone|lookup_table|ruleset)\s*\(",
                                                stmt, re.I):
                continue
            m = re.match(r"if\b(.*?)\bthen\b(.*)$", stmt, re.I | re.S)
            if m:
                rank = _if_rank(m.group(1))
                if rank is not None:
                    body = re.split(r"\belse\b", m.group(2), maxsplit=1, flags=re.I)[0]
                    for path in _actions(body):
                        add(rank, path, n, stmt)
                continue
            m = re.match(r":(\w[\w-]*)\s*,\s*(!?\w+)\s*,\s*\"([^\"]*)\"\s*(.*)$", stmt)
            if m:  # property-based filter
                prop, op, value, action = m.groups()
                mail = (prop.lower() == "syslogfacility-text" and value.lower() == "mail"
                        or prop.lower() in ("programname", "syslogtag") and _MAIL_PROGRAMS.match(value))
                if mail and not op.startswith("!"):
                    for path in _legacy_action(action):
                        add(0, path, n, stmt)
                continue
            m = _SELECTOR.match(stmt)
            if m:
                rank = _selector_rank(m.group(1))
                if rank is not None:
                    for path in _legacy_action(m.group(2)):
                        add(rank, path, n, stmt)

    for top in ("/etc/rsyslog.conf",):
        conf(_under(root, top), 0)
    return found


# --------------------------------------------------------------------------- syslog-ng

@dataclass
class _Block:
    kind: str
    name: str
    body: str
    file: str
    line: int


def _ng_scan(text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, _Block]]]:
    """The ``@include`` lines (offset, line, pattern) and top-level blocks of a syslog-ng file."""
    lines = [_strip_comment(x) if not x.lstrip().startswith("@") else x for x in text.splitlines()]
    includes: list[tuple[int, int, str]] = []
    offset = 0
    clean: list[str] = []
    for n, line in enumerate(lines, 1):
        m = re.match(r"\s*@include\s+[\"']?([^\"'\s]+)", line)
        if m:
            includes.append((offset, n, m.group(1)))
        if line.lstrip().startswith("@"):
            line = ""
        clean.append(line)
        offset += len(line) + 1
    body = "\n".join(clean)
    blocks: list[tuple[int, _Block]] = []
    depth, quote, head_start, open_at = 0, "", 0, 0
    i = 0
    while i < len(body):
        c = body[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "{":
            if depth == 0:
                open_at = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                head = body[head_start:open_at].strip()
                m = re.match(r"(\w+)(?:\s+([\w.-]+))?\s*$", head)
                if m:
                    lineno = body.count("\n", 0, head_start + (len(body[head_start:open_at])
                                                              - len(body[head_start:open_at].lstrip()))) + 1
                    blocks.append((head_start, _Block(m.group(1).lower(), m.group(2) or "",
                                                      body[open_at + 1:i], "", lineno)))
                head_start = i + 1
            elif depth < 0:
                depth, head_start = 0, i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1
        i += 1
    return includes, blocks


def _inline(body: str, kind: str) -> list[str]:
    """The bodies of inline ``kind { ... }`` blocks inside ``body``."""
    out = []
    for m in re.finditer(r"\b" + re.escape(kind) + r"\s*\{", body):
        depth, j = 1, m.end()
        while j < len(body) and depth:
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            j += 1
        out.append(body[m.end():j - 1])
    return out


def _ng_filter_is_mail(body: str, filters: dict[str, _Block], depth: int = 0) -> bool:
    for m in re.finditer(r"(\bnot\s+)?\bfacility\s*\(([^)]*)\)", body):
        if not m.group(1) and "mail" in re.split(r"[\s,\"']+", m.group(2).lower()):
            return True
    for m in re.finditer(r"(\bnot\s+)?\bprogram\s*\(\s*[\"']?([^\"')\s]+)", body):
        if not m.group(1) and _MAIL_PROGRAMS.match(m.group(2).lstrip("^(")):
            return True
    if depth < 8:
        for m in re.finditer(r"(\bnot\s+)?\bfilter\s*\(\s*([\w.-]+)\s*\)", body):
            ref = filters.get(m.group(2))
            if not m.group(1) and ref and _ng_filter_is_mail(ref.body, filters, depth + 1):
                return True
    return False


_NG_FILE = re.compile(r"\bfile\s*\(\s*(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([^\s)\"']+))")


def _syslog_ng(root: str) -> list[tuple[float, Found]]:
    blocks: list[_Block] = []
    seen: set[str] = set()

    def conf(local: str, depth: int) -> None:
        text = _read_once(local, depth, seen)
        if text is None:
            return
        name = _real(root, local)
        includes, found = _ng_scan(text)
        events: list[tuple[int, int, object]] = [(off, 0, inc) for off, _, inc in includes]
        events += [(off, 1, b) for off, b in found]
        for _, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                for inc in _expand(root, str(item), os.path.dirname(name)):
                    conf(inc, depth + 1)
            else:
                assert isinstance(item, _Block)
                item.file = name
                blocks.append(item)

    conf(_under(root, "/etc/syslog-ng/syslog-ng.conf"), 0)
    for inc in _expand(root, "/etc/syslog-ng/conf.d/*.conf", "/"):
        conf(inc, 1)

    filters = {b.name: b for b in blocks if b.kind == "filter" and b.name}
    dests = {b.name: b for b in blocks if b.kind == "destination" and b.name}
    found: list[tuple[float, Found]] = []
    for log in (b for b in blocks if b.kind == "log"):
        body = log.body
        named = re.findall(r"\bfilter\s*\(\s*([\w.-]+)\s*\)", body)
        inline = _inline(body, "filter")
        mail = [f for f in named if f in filters and _ng_filter_is_mail(filters[f].body, filters)]
        mail += ["{inline}" for x in inline if _ng_filter_is_mail(x, filters)]
        if not mail:
            continue
        rank = float(len(named) + len(inline) - len(mail))  # extra filters narrow the log
        targets: list[tuple[str, str, int, str]] = []
        for d in re.findall(r"\bdestination\s*\(\s*([\w.-]+)\s*\)", body):
            if d in dests:
                targets.append((dests[d].body, dests[d].file, dests[d].line, d))
        for x in _inline(body, "destination"):
            targets.append((x, log.file, log.line, "{inline}"))
        for dbody, dfile, dline, dname in targets:
            for m in _NG_FILE.finditer(dbody):
                path = m.group(1) or m.group(2) or m.group(3) or ""
                if not path.startswith("/"):
                    continue
                detail = (f"log at {log.file}:{log.line} filter({', '.join(mail)}) "
                          f"destination({dname}) file(\"{path}\")")
                found.append((rank, Found(path, f"syslog-ng {dfile}:{dline}", detail)))
    return found
