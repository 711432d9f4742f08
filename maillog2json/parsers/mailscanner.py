"""MailScanner (v4 and v5): its verdict per message, the re-queueing that hands the message back
to the MTA, and its batch, scanning and start-up lines (the ``MailScanner::Log`` formats of
``Message.pm``, ``SA.pm``, ``MessageBatch.pm``, ``SweepViruses.pm``, ``RBLs.pm``, the
``Postfix.pm``/``PFDiskStore.pm`` queue code and the ``MailScanner`` script).

Real lines (crowdsec hub mailscanner-logs; the first was cut by syslog)::

    MailScanner[1803828]: Message 4bsM5k4xJmz4rT6 from 192.168.1.50 (bounces@enbounce.hsi-europe.org) to brandlehner.at is spam, SpamAssassin (not cached, score=7.181, required 4, BAYES_40 -0.20, DKIM_SIGNED 0.01, DKIM_VALID -0.21, DKIM_VALID_AU -0.21
    MailScanner[1803829]: Message 5ctN6m5yKmz5sU7 from 192.168.1.100 (attacker@malicious.com) to brandlehner.at is spam (blacklisted)

and in MailScanner's formats::

    MailScanner[2101]: New Batch: Scanning 1 messages, 2345 bytes
    MailScanner[2101]: Requeue: 6773D15E4E9.A3F46 to 8D9E11E4F7B
    MailScanner[2101]: Spam Actions: message 4bsM5k4xJmz4rT6 actions are store,notify

The message id MailScanner logs is the MTA's queue id; for Postfix's short queue ids MailScanner
adds ``.A`` and four hex digits of its own (``6773D15E4E9.A3F46``): ``queue_id`` is the Postfix
part, ``mailscanner_id`` the whole id. Only the English report words (``spam``, ``not spam``,
``SpamAssassin``, ``score=``, ``required``, ``cached``) are read: a line in another language
stays ``unparsed``, as does every MailScanner line no rule here knows.
"""

from __future__ import annotations

import re
from typing import Any, Optional

Doc = dict[str, Any]

# Message 4bsM5k4xJmz4rT6 from 192.168.1.50 (bounces@example.org) to example.at is spam, SpamAssassin (...)
RE_VERDICT = re.compile(
    r"Message (?P<id>\S+) from (?P<ip>\S+) \((?P<from>[^()\s]*)\) to (?P<to>\S*) "
    r"is (?P<verdict>not spam|spam)(?P<reasons>(?: \([^()]*\))*)(?:, (?P<rest>.*))?\Z", re.S)
RE_REASON = re.compile(r" \(([^()]*)\)")
# the SpamAssassin part: "SpamAssassin (not cached, score=7.181, required 4, autolearn=spam, RULE 1.00, ...)"
RE_SA = re.compile(r"(?:\A|, )SpamAssassin \((?P<body>.*?)(?P<close>\))?\Z", re.S)
RE_SCORE = re.compile(r"score=(?P<v>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\Z")
RE_REQUIRED = re.compile(r"required (?P<v>-?\d+(?:\.\d+)?)\Z")
RE_RULE_SCORE = re.compile(r"(?P<name>[A-Za-z0-9_.:-]+) (?P<score>-?\d+\.\d\d)\Z")   # sprintf("%1.2f")
RE_RULE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
RE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?\Z")
# Message 4ABC from 192.0.2.7 (ann@example.org) is whitelisted
RE_WHITELISTED = re.compile(r"Message (?P<id>\S+) from (?P<ip>\S+) \((?P<from>[^()\s]*)\) is whitelisted\Z")
# Message 4ABC from 192.0.2.7 (ann@example.org) to example.net is too big for spam checks (250000 > 150000 bytes)
RE_TOO_BIG = re.compile(
    r"Message (?P<id>\S+) from (?P<ip>\S+) \((?P<from>[^()\s]*)\) to (?P<to>\S*) "
    r"is too big for spam checks \((?P<size>\d+) > (?P<limit>\d+) bytes\)\Z")
# Requeue: 6773D15E4E9.A3F46 to 8D9E11E4F7B
RE_REQUEUE = re.compile(r"Requeue: (?P<id>\S+) to (?P<new>[A-Za-z0-9]+)\Z")
# New Batch: Scanning 1 messages, 2345 bytes / Forwarding 2 unscanned messages, 345 bytes / Found 31 messages waiting
RE_BATCH = re.compile(r"New Batch: (?:(?P<what>Scanning|Forwarding) (?P<n>\d+) (?:unscanned )?messages, "
                      r"(?P<bytes>\d+) bytes|Found (?P<waiting>\d+) messages waiting)\Z")
# Spam Checks: Starting / Spam Checks: Found 2 spam messages / Virus Scanning: Found 1 viruses /
# Other Checks: Found 1 problems / Content Checks: Found 3 problems / MCP Checks: Found 1 MCP messages
RE_CHECKS = re.compile(r"(?P<check>Spam Checks|MCP Checks|Virus and Content Scanning|Virus Scanning|Other Checks|"
                       r"Content Checks): (?:Starting|Found (?P<n>\d+) "
                       r"(?:spam messages|MCP messages|viruses|problems))\Z")
CHECKS = {"Spam Checks": "spam", "MCP Checks": "mcp", "Virus and Content Scanning": "virus_and_content",
          "Virus Scanning": "virus", "Other Checks": "other", "Content Checks": "content"}
# Virus Scanning: ClamAV found 2 infections   (also "Virus Re-scanning:", "Disinfection:")
RE_SCANNER = re.compile(r"(?P<title>Virus Scanning|Virus Re-scanning|Disinfection): (?P<scanner>.+?) "
                        r"found (?P<n>\d+) infections\Z")
# Infected message 4ABC came from 192.0.2.7
RE_INFECTED = re.compile(r"Infected message (?P<id>\S+) came from (?P<ip>\S*)\Z")
# Uninfected: Delivered 3 messages / Unscanned: ... / Cleaned: Delivered 1 cleaned messages /
# Silent: Delivered 1 messages containing silent viruses
RE_DELIVERED = re.compile(r"(?P<what>Uninfected|Unscanned|Cleaned|Silent): Delivered (?P<n>\d+) "
                          r"(?:cleaned messages|messages containing silent viruses|messages)\Z")
# Spam Actions: message 4ABC actions are store,notify
RE_ACTIONS = re.compile(r"Spam Actions: message (?P<id>\S+) actions are (?P<actions>\S*)\Z")
# RBL checks: 4ABC found in spamhaus-ZEN, spamcop.net
RE_RBL = re.compile(r"RBL checks: (?P<id>\S+) found in (?P<lists>.+)\Z")
# SpamAssassin cache hit for message 4ABC
RE_CACHE_HIT = re.compile(r"SpamAssassin cache hit for message (?P<id>\S+)\Z")
# Expired 12 records from the SpamAssassin cache
RE_CACHE_EXPIRED = re.compile(r"Expired (?P<n>\d+) records from the SpamAssassin cache\Z")
# MailScanner Email Processor version 5.4.5 starting...  (v4: MailScanner E-Mail Virus Scanner version 4.84.6 starting...)
RE_START = re.compile(r"MailScanner (?:Email Processor|E-Mail Virus Scanner) version (?P<version>\S+) starting\.\.\.\Z")
# Saved entire message to /var/spool/MailScanner/quarantine/20260730/4ABC
RE_SAVED = re.compile(r"Saved entire message to (?P<path>\S+)\Z")
# Batch completed at 2345 bytes per second (2345 / 1) / Batch (1 message) processed in 0.87 seconds
RE_BATCH_SPEED = re.compile(r"Batch completed at (?P<speed>\d+) bytes per second \((?P<bytes>\d+) / (?P<secs>\d+)\)\Z")
RE_BATCH_TIME = re.compile(r"Batch \((?P<n>\d+) messages?\) processed in (?P<secs>\d+(?:\.\d+)?) seconds\Z")
# MailScanner child dying of old age / MailScanner child caught a SIGHUP
RE_CHILD = re.compile(r"MailScanner child (?:dying (?P<why>of old age|after Bayes rebuild)|caught a (?P<sig>SIG\w+))\Z")
# Config: calling custom init function MailWatchLogging
RE_CUSTOM_INIT = re.compile(r"Config: calling custom init function (?P<fn>\S+)\Z")
# Postfix short queue id + MailScanner's own suffix (Postfix.pm PostfixKey: "A%04X")
RE_POSTFIX_KEY = re.compile(r"(?P<qid>[0-9A-F]+)\.A[0-9A-F]{4}\Z")

# start-up lines without data -> the step they report
STARTUP = {
    "Using SpamAssassin results cache": "sa_cache",
    "Connected to SpamAssassin cache database": "sa_cache_connected",
    "Enabling SpamAssassin auto-whitelist functionality...": "sa_auto_whitelist",
    "SpamAssassin Bayes database rebuild starting": "bayes_rebuild_start",
    "SpamAssassin Bayes database rebuild completed": "bayes_rebuild_done",
    "Bayes database rebuild is due": "bayes_rebuild_due",
}


def _set_id(doc: Doc, mid: str) -> None:
    m = RE_POSTFIX_KEY.match(mid)
    if m is not None:
        doc["queue_id"] = m.group("qid")
        doc["mailscanner_id"] = mid
    else:
        doc["queue_id"] = mid


def _envelope(doc: Doc, m: re.Match) -> None:
    _set_id(doc, m.group("id"))
    doc["client_ip"] = m.group("ip")
    doc["from"] = m.group("from")
    to = m.groupdict().get("to")
    if to is not None:
        doc["to_domains"] = [d for d in to.split(",") if d]


def _spamassassin(doc: Doc, body: str, closed: bool) -> None:
    """The SpamAssassin report: cached or not, score=, required, autolearn=, the rules (with scores)."""
    items = body.split(", ")
    if not closed:
        doc["truncated"] = True
    if items and items[0] in ("cached", "not cached"):
        doc["cached"] = items.pop(0) == "cached"
    for key, rx in (("score", RE_SCORE), ("required_score", RE_REQUIRED)):
        if items:
            m = rx.match(items[0])
            if m is not None:
                doc[key] = float(m.group("v"))
                items.pop(0)
    if "score" not in doc:
        return                      # "timed out" and the like: no rule list
    if items and items[0].startswith("autolearn="):
        doc["autolearn"] = items.pop(0)[10:]
    symbols: list[str] = []
    scores: dict[str, float] = {}
    for i, item in enumerate(items):
        m = RE_RULE_SCORE.match(item)
        last_cut = not closed and i == len(items) - 1
        if m is not None:
            symbols.append(m.group("name"))
            scores[m.group("name")] = float(m.group("score"))
        elif RE_RULE.match(item) and not scores and not last_cut:
            symbols.append(item)    # "List SA Scores = no": names only (a cut last name is left out)
    if symbols:
        doc["symbols"] = symbols
    if scores and len(scores) == len(symbols):
        doc["symbol_scores"] = scores


def _verdict(doc: Doc, m: re.Match) -> str:
    _envelope(doc, m)
    spam = m.group("verdict") == "spam"
    doc["is_spam"] = spam
    reasons = RE_REASON.findall(m.group("reasons") or "")
    if reasons:
        doc["spam_reason"] = ", ".join(reasons)
    rest = m.group("rest")
    if rest:
        sa = RE_SA.search(rest)
        before = rest[:sa.start()] if sa is not None else rest
        lists = [x for x in before.split(", ") if x]
        # the spam lists (RBLs) that listed the sender; a custom spam scanner's score and report
        # would also come here, so only a plain list of names is read as spam lists
        if lists and not any(RE_NUMBER.match(x) or not RE_RULE.match(x) for x in lists):
            doc["spam_lists"] = lists
        if sa is not None:
            _spamassassin(doc, sa.group("body"), sa.group("close") is not None)
    return "mailscanner.spam" if spam else "mailscanner.not_spam"


def parse_mailscanner(daemon: Optional[str], msg: str, doc: Doc) -> Optional[str]:
    if msg.startswith("Message "):
        m = RE_VERDICT.match(msg)
        if m is not None:
            return _verdict(doc, m)
        m = RE_WHITELISTED.match(msg)
        if m is not None:
            _envelope(doc, m)
            return "mailscanner.whitelisted"
        m = RE_TOO_BIG.match(msg)
        if m is not None:
            _envelope(doc, m)
            doc["size"] = int(m.group("size"))
            doc["size_limit"] = int(m.group("limit"))
            return "mailscanner.too_big"
        return None
    m = RE_REQUEUE.match(msg)
    if m is not None:
        _set_id(doc, m.group("id"))
        doc["queued_as"] = m.group("new")
        return "mailscanner.requeue"
    m = RE_BATCH.match(msg)
    if m is not None:
        if m.group("waiting") is not None:
            doc["batch_action"] = "waiting"
            doc["messages"] = int(m.group("waiting"))
        else:
            doc["batch_action"] = "scanning" if m.group("what") == "Scanning" else "forwarding"
            doc["messages"] = int(m.group("n"))
            doc["size"] = int(m.group("bytes"))
        return "mailscanner.batch"
    m = RE_CHECKS.match(msg)
    if m is not None:
        doc["check"] = CHECKS[m.group("check")]
        if m.group("n") is None:
            return "mailscanner.checks_started"
        doc["found"] = int(m.group("n"))
        return "mailscanner.checks_found"
    m = RE_SCANNER.match(msg)
    if m is not None:
        doc["scanner"] = m.group("scanner")
        doc["infections"] = int(m.group("n"))
        doc["scan_type"] = {"Virus Scanning": "scan", "Virus Re-scanning": "rescan"}.get(m.group("title"),
                                                                                       "disinfect")
        return "mailscanner.virus"
    m = RE_INFECTED.match(msg)
    if m is not None:
        _set_id(doc, m.group("id"))
        if m.group("ip"):
            doc["client_ip"] = m.group("ip")
        return "mailscanner.infected"
    m = RE_ACTIONS.match(msg)
    if m is not None:
        _set_id(doc, m.group("id"))
        doc["actions"] = [a for a in m.group("actions").split(",") if a]
        return "mailscanner.actions"
    m = RE_DELIVERED.match(msg)
    if m is not None:
        doc["delivered"] = m.group("what").lower()
        doc["messages"] = int(m.group("n"))
        return "mailscanner.delivered"
    m = RE_RBL.match(msg)
    if m is not None:
        _set_id(doc, m.group("id"))
        doc["spam_lists"] = [x for x in m.group("lists").split(", ") if x]
        return "mailscanner.rbl"
    m = RE_CACHE_HIT.match(msg)
    if m is not None:
        _set_id(doc, m.group("id"))
        return "mailscanner.cache_hit"
    m = RE_CACHE_EXPIRED.match(msg)
    if m is not None:
        doc["records"] = int(m.group("n"))
        return "mailscanner.cache_expired"
    m = RE_SAVED.match(msg)
    if m is not None:
        doc["path"] = m.group("path")
        return "mailscanner.quarantined"
    m = RE_BATCH_SPEED.match(msg)
    if m is not None:
        doc["bytes_per_second"] = int(m.group("speed"))
        doc["size"] = int(m.group("bytes"))
        doc["seconds"] = float(m.group("secs"))
        return "mailscanner.batch_done"
    m = RE_BATCH_TIME.match(msg)
    if m is not None:
        doc["messages"] = int(m.group("n"))
        doc["seconds"] = float(m.group("secs"))
        return "mailscanner.batch_done"
    m = RE_START.match(msg)
    if m is not None:
        doc["version"] = m.group("version")
        return "mailscanner.start"
    m = RE_CHILD.match(msg)
    if m is not None:
        if m.group("sig") is not None:
            doc["signal"] = m.group("sig")
        else:
            doc["reason"] = "old age" if m.group("why") == "of old age" else "bayes rebuild"
        return "mailscanner.stop"
    m = RE_CUSTOM_INIT.match(msg)
    if m is not None:
        doc["step"] = "custom_init"
        doc["function"] = m.group("fn")
        return "mailscanner.info"
    step = STARTUP.get(msg)
    if step is not None:
        doc["step"] = step
        return "mailscanner.info"
    return None


TAGS = ("MailScanner",)
