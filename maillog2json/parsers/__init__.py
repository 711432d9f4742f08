"""From a syslog record to a typed line document.

Which parser reads a message is decided by its syslog tag, once per distinct tag:
``postfix/smtpd``, ``postfix-out/smtp`` and ``postfix/submission/smtpd`` all go to the
Postfix smtpd/smtp handlers (the daemon is the last part of the tag, whatever the
``syslog_name``); other programs are looked up in :data:`FAMILIES` by name.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from maillog2json.parsers import (
    amavis, clamav, dovecot, mailscanner, opendkim, opendmarc, policyd_spf, postfix, postgrey, qmail, rspamd, sendmail,
    spamd,
)

Doc = dict[str, Any]
FamilyParser = Callable[[Optional[str], str, Doc], Optional[str]]

# Programs other than Postfix, by syslog tag (the last part of a path-like tag).
FAMILIES: dict[str, FamilyParser] = {tag: dovecot.parse_dovecot for tag in dovecot.TAGS}
FAMILIES["auth"] = dovecot.parse_pam          # pam_unix(dovecot:auth): authentication failure; ...
# the programs that share a mail log with Postfix (``postfix/policy-spf`` comes here by its last part)
for _tags, _parse in ((amavis.TAGS, amavis.parse_amavis), (opendkim.TAGS, opendkim.parse_opendkim),
                      (opendmarc.TAGS, opendmarc.parse_opendmarc), (policyd_spf.TAGS, policyd_spf.parse_policyd_spf),
                      (postgrey.TAGS, postgrey.parse_postgrey), (spamd.TAGS, spamd.parse_spamd),
                      (rspamd.TAGS, rspamd.parse_rspamd), (mailscanner.TAGS, mailscanner.parse_mailscanner)):
    FAMILIES.update(dict.fromkeys(_tags, _parse))
FAMILIES.update(clamav.FAMILIES)
# other MTAs: Sendmail (a tag without '/'; Postfix's own ``postfix/sendmail`` stays Postfix's) and qmail-send
FAMILIES.update(dict.fromkeys(sendmail.TAGS, sendmail.parse_sendmail))
FAMILIES.update(dict.fromkeys(qmail.TAGS, qmail.parse_qmail))

# "last message repeated 3 times" (BSD syslogd), "message repeated 3 times: [ text ]" (rsyslog)
RE_REPEATED = re.compile(r"(?:last )?message repeated (?P<count>\d+) times?(?:: \[ ?(?P<text>.*?) ?\])?\Z", re.S)


_postfix: FamilyParser = postfix.parse


def _untagged(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    m = RE_REPEATED.match(msg)
    if m is not None:
        doc["count"] = int(m.group("count"))
        if m.group("text") is not None:
            doc["text"] = m.group("text")
        return "syslog.repeated"
    return None


Resolved = tuple[Optional[str], Optional[str], Optional[FamilyParser]]


def resolve_program(program: Optional[str]) -> Resolved:
    """Tag -> (daemon, syslog_name, parser). The parser is None for programs we don't read."""
    if program is None:
        return None, None, _untagged
    base, sep, last = program.rpartition("/")
    if sep:
        if postfix.is_postfix_daemon(last):
            return last, base, _postfix
        fn = FAMILIES.get(last)
        if fn is None:
            fn = FAMILIES.get(base.lstrip("/").split("/", 1)[0])
        return last, base, fn
    if program == "postfix":            # RFC 5424 app-name without the daemon
        return None, "postfix", _postfix
    if program.startswith("postfix-") and postfix.is_postfix_daemon(program):
        return program, None, _postfix  # postfix-script
    fn = FAMILIES.get(program)
    if fn is None and sendmail.is_sendmail_tag(program):    # sendmail-in, sm-mta-out (multi-instance)
        fn = sendmail.parse_sendmail
    if fn is None and "message repeated" in program:
        fn = _untagged
    return program, None, fn


class LineParser:
    """Turns a header + message into the line document's typed fields."""

    __slots__ = ("programs",)

    def __init__(self) -> None:
        # syslog tag -> (daemon, syslog_name, parser); the per-line path reads this directly
        self.programs: dict[Optional[str], Resolved] = {}

    def resolve(self, program: Optional[str]) -> Resolved:
        r = self.programs.get(program)
        if r is None:
            if len(self.programs) > 10_000:      # a flood of distinct tags: stay bounded
                self.programs.clear()
            r = self.programs[program] = resolve_program(program)
        return r

    @staticmethod
    def unparsed(fn: Optional[FamilyParser], doc: Doc, mark: int) -> str:
        """The line was not understood: drop whatever a handler set past the first ``mark``
        fields before it gave up (the queue id stays) and say why."""
        for k in list(doc)[mark:]:
            del doc[k]
        doc["unparsed_reason"] = "program" if fn is None else "message"
        return "unparsed"

    def parse(self, program: Optional[str], msg: str, doc: Doc) -> str:
        """Fill ``doc`` (already holding the header) from ``msg``; returns the kind."""
        daemon, syslog_name, fn = self.programs.get(program) or self.resolve(program)
        doc["daemon"] = daemon
        if syslog_name is not None:
            doc["syslog_name"] = syslog_name
        mark = len(doc)
        kind = fn(daemon, msg, doc) if fn is not None else None
        if kind is None:
            return self.unparsed(fn, doc, mark)
        return kind
