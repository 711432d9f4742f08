"""master(8), postfix-script, anvil(8), scache(8), verify(8) and the administrative tools
(postmap, postalias, postlog, tlsmgr, trivial-rewrite ...), whose lines are mostly
status reports and warnings."""

from __future__ import annotations

from typing import Optional

from maillog2json.parsers.postfix.grammar import Doc, rules, run_rules

MASTER = rules(
    # daemon started -- version 3.7.11, configuration /etc/postfix
    (r"daemon started -- version (?P<version>\S+), configuration (?P<config_dir>\S+)\Z", "master.start"),
    # reload -- version 3.7.11, configuration /etc/postfix
    (r"reload -- version (?P<version>\S+), configuration (?P<config_dir>\S+)\Z", "master.reload"),
    # terminating on signal 15
    (r"terminating on signal (?P<signal>\d+)\Z", "master.stop"),
)
MASTER_WARNINGS = rules(
    # warning: process /usr/libexec/postfix/smtpd pid 46234 killed by signal 11
    (r"process (?P<process>\S+) pid (?P<pid_killed>\d+) (?:killed by signal (?P<signal>\d+)|exit status "
     r"(?P<exit_status>\d+))\Z", "master.process_died"),
    # warning: /usr/libexec/postfix/smtpd: bad command startup -- throttling
    (r"(?P<process>\S+): bad command startup -- throttling\Z", "master.throttling"),
    # warning: service "smtp" (25) has reached its process limit "100": new clients may experience noticeable delays
    (r'service "(?P<service>[^"]*)" \((?P<service_port>[^)]*)\) has reached its process limit "(?P<limit>\d+)"',
     "master.process_limit"),
)

POSTFIX_SCRIPT = rules(
    # starting the Postfix mail system / stopping ... / refreshing ...
    (r"(?P<action>starting|stopping|refreshing|reloading|waiting for) the Postfix mail system(?: to terminate)?\Z",
     "postfix_script.control"),
)

ANVIL = rules(
    # statistics: max connection rate 1/60s for (smtpd:61.238.241.86) at Oct 26 18:13:50
    # statistics: max connection count 1 for (smtpd:2604:8d00:0:1::3) at Oct 26 17:46:59
    # statistics: max connection count 1 for (127.0.0.1:2525:127.0.0.1) at Oct 26 19:46:00
    # statistics: max cache size 1 at Oct 26 18:13:50
    # The service is a master.cf name: "smtpd", or host:port ("127.0.0.1:2525", "[::1]:10025");
    # the peer after it may be an IPv6 address (colons) or "unknown".
    (r"statistics: max (?P<statistic>[a-z ]+?) (?P<value>\d+)(?:/(?P<period>\d+[smhd]))?"
     r"(?: for \((?P<service>[^:()\s]*\.[^:()\s]*:\d+|\[[^\]]*\]:\d+|[^:()\s]+):(?P<peer>[^)]*)\))? at (?P<at>.*)\Z",
     "anvil.statistics"),
)

SCACHE = rules(
    # statistics: start interval Dec  6 21:20:35
    (r"statistics: start interval (?P<at>.*)\Z", "scache.statistics"),
    # statistics: domain lookup hits=0 miss=1 success=0%
    (r"statistics: (?P<statistic>domain|address) lookup hits=(?P<hits>\d+) miss=(?P<miss>\d+) "
     r"success=(?P<success_pct>\d+)%\Z", "scache.statistics"),
    # statistics: max simultaneous domains=1 addresses=1 connection=1
    (r"statistics: max simultaneous domains=(?P<domains>\d+) addresses=(?P<addresses>\d+) "
     r"connection=(?P<connections>\d+)\Z", "scache.statistics"),
)

VERIFY = rules(
    # cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 dropped=6 entries
    (r"cache (?P<cache>.+?) (?P<cleanup>full|partial) cleanup: retained=(?P<retained>\d+) dropped=(?P<dropped>\d+)"
     r" entries\Z", "verify.cache_cleanup"),
)


def _anvil(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    kind = run_rules(ANVIL, msg, doc)
    if kind is not None:
        stat = doc.pop("statistic")
        value = int(doc.pop("value"))
        field = {"connection rate": "conn_rate", "connection count": "conn_count", "cache size": "cache_size",
                 "message rate": "message_rate", "recipient rate": "recipient_rate",
                 "newtls rate": "newtls_rate", "auth rate": "auth_rate", "newtls cache size": "newtls_cache_size"}
        doc["statistic"] = stat
        doc[field.get(stat, stat.replace(" ", "_"))] = value
        peer = doc.pop("peer", None)
        if peer is not None:
            # (smtpd:61.238.241.86) or (127.0.0.1:2525:127.0.0.1) or (smtp:unknown)
            doc["client_ip"] = None if peer == "unknown" else peer
    return kind


def _scache(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    kind = run_rules(SCACHE, msg, doc)
    if kind is not None and "statistic" not in doc:
        doc["statistic"] = "start interval" if "at" in doc else "max simultaneous"
    return kind


def _postlog(msg: str, doc: Doc, level: Optional[str]) -> Optional[str]:
    doc["text"] = msg
    return "postlog.message"


DAEMONS = {
    "master": lambda msg, doc, level: run_rules(MASTER_WARNINGS if level else MASTER, msg, doc),
    "postfix-script": lambda msg, doc, level: None if level else run_rules(POSTFIX_SCRIPT, msg, doc),
    "anvil": _anvil,
    "scache": _scache,
    "verify": lambda msg, doc, level: run_rules(VERIFY, msg, doc),
    "postlog": _postlog,
    # daemons whose lines are warnings/errors only: the generic handling covers them
    "tlsmgr": None, "trivial-rewrite": None, "postmap": None, "postalias": None, "postqueue": None,
    "postcat": None, "postconf": None, "postkick": None, "postlock": None, "proxymap": None, "showq": None,
    "flush": None, "oqmgr": None, "spawn": None, "qmqpd": None, "smtp-sink": None,
    "postlogd": None, "lmtp-sink": None, "mailq": None, "newaliases": None, "postmulti": None,
    # (postfix/policy-spf is the Perl policyd-spf, no Postfix daemon: parsers/policyd_spf.py reads it)
}
