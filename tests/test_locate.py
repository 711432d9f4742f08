"""locate: finding the mail log in fake roots (Postfix, rsyslog, syslog-ng, usual paths, journald)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maillog2json.locate import JOURNAL_COMMAND, Found, format_found, locate


def write(root: Path, path: str, text: str = "") -> Path:
    """Write ``text`` at ``path`` (a host path) below ``root``."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def paths(found: list[Found]) -> list[str]:
    return [f.path for f in found]


def by_path(found: list[Found], path: str) -> Found:
    return next(f for f in found if f.path == path)


DEBIAN_RSYSLOG = """\
# /etc/rsyslog.conf configuration file for rsyslog
#
# For more information install rsyslog-doc and see
# /usr/share/doc/rsyslog-doc/html/configuration/index.html

#################
#### MODULES ####
#################

module(load="imuxsock") # provides support for local system logging
module(load="imklog")   # provides kernel logging support

###########################
#### GLOBAL DIRECTIVES ####
###########################

$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat
$FileOwner root
$FileGroup adm
$FileCreateMode 0640
$WorkDirectory /var/spool/rsyslog

#
# Include all config files in /etc/rsyslog.d/
#
$IncludeConfig /etc/rsyslog.d/*.conf

###############
#### RULES ####
###############

*.*;auth,authpriv.none		-/var/log/syslog
auth,authpriv.*			/var/log/auth.log
cron.*				-/var/log/cron.log
kern.*				-/var/log/kern.log
mail.*				-/var/log/mail.log
user.*				-/var/log/user.log

mail.err			/var/log/mail.err

*.=debug;\\
	auth,authpriv.none;\\
	mail.none		-/var/log/debug
*.=info;*.=notice;*.=warn;\\
	auth,authpriv.none;\\
	cron,daemon.none;\\
	mail,news.none		-/var/log/messages

*.emerg				:omusrmsg:*
"""

RHEL_RSYSLOG = """\
# rsyslog configuration file

#### GLOBAL DIRECTIVES ####
global(workDirectory="/var/lib/rsyslog")

module(load="builtin:omfile" Template="RSYSLOG_TraditionalFileFormat")

#### MODULES ####
module(load="imuxsock"    # provides support for local system logging (e.g. via logger command)
       SysSock.Use="off") # Turn off message reception via local log socket;
module(load="imjournal"             # provides access to the systemd journal
       StateFile="imjournal.state") # File to store the position in the journal

include(file="/etc/rsyslog.d/*.conf" mode="optional")

#### RULES ####
# Log anything (except mail) of level info or higher.
# Don't log private authentication messages!
*.info;mail.none;authpriv.none;cron.none                /var/log/messages

# The authpriv file has restricted access.
authpriv.*                                              /var/log/secure

# Log all the mail messages in one place.
mail.*                                                  -/var/log/maillog

# Log cron stuff
cron.*                                                  /var/log/cron

# Everybody gets emergency messages
*.emerg                                                 :omusrmsg:*

# Save boot messages also to boot.log
local7.*                                                /var/log/boot.log
"""

SYSLOG_NG = """\
@version: 4.3
@include "scl.conf"

# Syslog-ng configuration file, compatible with default Debian syslogd
# installation.

# First, set some global options.
options { chain_hostnames(off); flush_lines(0); use_dns(no); use_fqdn(no);
	  dns_cache(no); owner("root"); group("adm"); perm(0640);
	  stats(freq(0)); bad_hostname("^gconfd$");
};

########################
# Sources
########################
source s_src {
       system();
       internal();
};

########################
# Destinations
########################
destination d_auth { file("/var/log/auth.log"); };
destination d_syslog { file("/var/log/syslog"); };
destination d_mail { file("/var/log/mail.log"); };
destination d_mailerr { file("/var/log/mail.err" fsync(yes)); };
destination d_messages { file("/var/log/messages"); };
destination d_net { network("10.0.0.5" port(514) transport("udp")); };

########################
# Filters
########################
filter f_auth { facility(auth, authpriv); };
filter f_syslog3 { not facility(auth, authpriv, mail); };
filter f_mail { facility(mail); };
filter f_err { level(err); };
filter f_messages { level(info,notice,warn)
			and not facility(auth,authpriv,cron,daemon,mail,news); };

########################
# Log paths
########################
log { source(s_src); filter(f_auth); destination(d_auth); };
log { source(s_src); filter(f_syslog3); destination(d_syslog); };
log { source(s_src); filter(f_messages); destination(d_messages); };

# All mail, then only the errors.
log { source(s_src); filter(f_mail); filter(f_err); destination(d_mailerr); };
log { source(s_src); filter(f_mail); destination(d_mail); };
log { source(s_src); filter(f_mail); destination(d_net); };

###
# Include all config files in /etc/syslog-ng/conf.d/
###
@include "/etc/syslog-ng/conf.d/*.conf"
"""

MAIN_CF = """\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
compatibility_level = 3.6

# Logging to a file of its own, through postlogd (Postfix 3.4 and later).
maillog_file = /var/log/postfix-old.log
maillog_file_rotate_suffix = %Y%m%d-%H%M%S
myhostname = mx.example.org
mydestination = $myhostname, mx.example.org,
    localhost.example.org, localhost
# maillog_file = /var/log/commented-out.log
maillog_file =
    /var/log/postfix.log
inet_interfaces = all
"""


class TestDebian:
    """Debian: rsyslog.conf with mail.* -/var/log/mail.log and an /etc/rsyslog.d include dir."""

    def test_mail_log_first_and_messages_excluded(self, tmp_path: Path) -> None:
        """mail.* wins over mail.err, while *.*, mail.none and mail,news.none lines are not mail logs."""
        write(tmp_path, "/etc/rsyslog.conf", DEBIAN_RSYSLOG)
        write(tmp_path, "/var/log/mail.log", "")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/mail.log", "/var/log/mail.err"]
        first = found[0]
        assert first.source == "rsyslog /etc/rsyslog.conf:36"
        assert first.exists and not found[1].exists
        assert "mail.* -/var/log/mail.log" in first.detail
        assert first.also == ["usual path"]

    def test_include_dir(self, tmp_path: Path) -> None:
        """A rule in a file of the $IncludeConfig glob is found, in include order."""
        write(tmp_path, "/etc/rsyslog.conf", DEBIAN_RSYSLOG)
        write(tmp_path, "/etc/rsyslog.d/20-mail.conf",
              "# Postfix to its own file too\nmail.info\t\t\t-/var/log/mail.info\n")
        write(tmp_path, "/etc/rsyslog.d/50-other.conf", "local0.*  /var/log/haproxy.log\n")
        write(tmp_path, "/etc/rsyslog.d/README", "mail.* /var/log/not-included.log\n")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/mail.log", "/var/log/mail.info", "/var/log/mail.err"]
        assert by_path(found, "/var/log/mail.info").source == "rsyslog /etc/rsyslog.d/20-mail.conf:2"

    def test_format(self, tmp_path: Path) -> None:
        """format_found prints the path first, then whether it exists and how it was found."""
        write(tmp_path, "/etc/rsyslog.conf", DEBIAN_RSYSLOG)
        line = format_found(locate(str(tmp_path))[0])
        assert line.startswith("/var/log/mail.log  [missing]  rsyslog /etc/rsyslog.conf:36: ")


class TestRHEL:
    """RHEL: rsyslog mail.* -/var/log/maillog, and /var/log/messages with mail.none."""

    def test_maillog_only(self, tmp_path: Path) -> None:
        """Only /var/log/maillog is reported; *.info;mail.none;... /var/log/messages is not."""
        write(tmp_path, "/etc/rsyslog.conf", RHEL_RSYSLOG)
        write(tmp_path, "/var/log/maillog", "")
        write(tmp_path, "/var/log/messages", "")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/maillog"]
        assert found[0].source == "rsyslog /etc/rsyslog.conf:25"
        assert found[0].exists

    def test_rainerscript_include(self, tmp_path: Path) -> None:
        """include(file="/etc/rsyslog.d/*.conf") is followed, with a multi-line module() before it."""
        write(tmp_path, "/etc/rsyslog.conf", RHEL_RSYSLOG)
        write(tmp_path, "/etc/rsyslog.d/postfix.conf",
              "if $programname startswith 'postfix' then {\n"
              "    action(type=\"omfile\" file=\"/var/log/postfix.log\")\n"
              "    stop\n"
              "}\n")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/postfix.log", "/var/log/maillog"]
        assert found[0].source == "rsyslog /etc/rsyslog.d/postfix.conf:1"


class TestSyslogNG:
    """syslog-ng: log paths resolved through their filter and destination names."""

    def test_debian_default(self, tmp_path: Path) -> None:
        """f_mail + d_mail gives /var/log/mail.log first; not facility(mail) filters and network() do not count."""
        write(tmp_path, "/etc/syslog-ng/syslog-ng.conf", SYSLOG_NG)
        write(tmp_path, "/etc/syslog-ng/scl.conf", "@include 'scl/*/*.conf'\n")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/mail.log", "/var/log/mail.err"]
        assert found[0].source == "syslog-ng /etc/syslog-ng/syslog-ng.conf:26"
        assert "filter(f_mail) destination(d_mail)" in found[0].detail

    def test_conf_d_inline(self, tmp_path: Path) -> None:
        """A conf.d file with an inline filter and destination, and a filter naming another filter."""
        write(tmp_path, "/etc/syslog-ng/syslog-ng.conf", SYSLOG_NG)
        write(tmp_path, "/etc/syslog-ng/conf.d/mail.conf", """\
filter f_postfix { program("postfix"); };
filter f_mta { filter(f_postfix) or filter(f_mail); };
destination d_mta { file("/var/log/mta.log" template("${ISODATE} ${HOST} ${MSGHDR}${MSG}\\n")); };
log { source(s_src); filter(f_mta); destination(d_mta); flags(final); };
log {
    source(s_src);
    filter { facility(mail) and level(info..emerg); };
    destination { file("/var/log/mail.info"); };
};
""")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/mail.log", "/var/log/mta.log", "/var/log/mail.info",
                                "/var/log/mail.err"]
        assert by_path(found, "/var/log/mta.log").source == "syslog-ng /etc/syslog-ng/conf.d/mail.conf:3"
        assert by_path(found, "/var/log/mail.info").source == "syslog-ng /etc/syslog-ng/conf.d/mail.conf:5"


class TestPostfix:
    """Postfix's maillog_file in main.cf wins over syslog's rules."""

    def test_maillog_file_wins(self, tmp_path: Path) -> None:
        """The last maillog_file assignment (with a continuation line) comes first, rsyslog after."""
        write(tmp_path, "/etc/postfix/main.cf", MAIN_CF)
        write(tmp_path, "/etc/rsyslog.conf", RHEL_RSYSLOG)
        write(tmp_path, "/var/log/postfix.log", "")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/postfix.log", "/var/log/maillog"]
        assert found[0].source == "postfix maillog_file"
        assert found[0].detail == "/etc/postfix/main.cf:15: maillog_file = /var/log/postfix.log"
        assert found[0].exists

    def test_same_path_merged(self, tmp_path: Path) -> None:
        """A path named by Postfix and rsyslog is reported once, Postfix first, rsyslog as also."""
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = /var/log/maillog\n")
        write(tmp_path, "/etc/rsyslog.conf", RHEL_RSYSLOG)
        write(tmp_path, "/var/log/maillog", "")
        found = locate(str(tmp_path))
        assert len(found) == 1
        assert found[0].source == "postfix maillog_file"
        assert found[0].also == ["rsyslog /etc/rsyslog.conf:25", "usual path"]

    def test_unexpanded_parameter(self, tmp_path: Path) -> None:
        """A $parameter reference is reported as written, and an empty value means no maillog_file."""
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = ${data_directory}/maillog\n")
        assert paths(locate(str(tmp_path))) == ["${data_directory}/maillog"]
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = /var/log/x\nmaillog_file =\n")
        assert locate(str(tmp_path)) == []

    def test_postconf_not_run_for_a_fake_root(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With a fake root postconf is never run; main.cf is read instead."""
        import subprocess

        def fail(*args: object, **kwargs: object) -> None:
            raise AssertionError("postconf run")

        monkeypatch.setattr(subprocess, "run", fail)
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = /var/log/postfix.log\n")
        assert paths(locate(str(tmp_path))) == ["/var/log/postfix.log"]

    def test_postconf_live(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On / postconf -h maillog_file is asked (5 s timeout), and a failing postconf is no error."""
        import subprocess

        import maillog2json.locate as mod
        calls: list[tuple[list[str], float]] = []

        def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
            calls.append((cmd, kw["timeout"]))  # type: ignore[arg-type]
            return subprocess.CompletedProcess(cmd, 0, "/var/log/postfix.log\n", "")

        monkeypatch.setattr(mod.shutil, "which", lambda name: "/usr/sbin/postconf")
        monkeypatch.setattr(mod.subprocess, "run", run)
        found = mod._postfix("/", True)
        assert calls == [(["/usr/sbin/postconf", "-h", "maillog_file"], 5.0)]
        assert [(f.path, f.detail) for f in found] == [("/var/log/postfix.log", "postconf -h maillog_file")]

        def timeout(cmd: list[str], **kw: object) -> None:
            raise subprocess.TimeoutExpired(cmd, 5.0)

        monkeypatch.setattr(mod.subprocess, "run", timeout)
        assert isinstance(mod._postfix("/", True), list)


class TestJournald:
    """journald-only hosts: the journalctl command to feed us."""

    @pytest.mark.parametrize("journal", ["/run/systemd/journal", "/var/log/journal"])
    def test_journal_only(self, tmp_path: Path, journal: str) -> None:
        """With a journal and no file-based log, the one find is journald's command."""
        (tmp_path / journal.lstrip("/")).mkdir(parents=True)
        write(tmp_path, "/etc/rsyslog.conf", "# rsyslog installed but only forwarding\n*.* @@logs.example.org:514\n")
        found = locate(str(tmp_path))
        assert paths(found) == [JOURNAL_COMMAND]
        assert found[0].source == "journald" and found[0].exists
        assert JOURNAL_COMMAND in found[0].detail and journal in found[0].detail

    def test_not_when_files_found(self, tmp_path: Path) -> None:
        """A journal next to a usual mail log file does not add journald."""
        (tmp_path / "var/log/journal").mkdir(parents=True)
        write(tmp_path, "/var/log/maillog", "")
        found = locate(str(tmp_path))
        assert [(f.path, f.source) for f in found] == [("/var/log/maillog", "usual path")]


class TestRainerScript:
    """RainerScript forms: if-then with action(), selectors with action(), property filters."""

    def test_an_escaped_quote_does_not_end_a_string(self, tmp_path: Path) -> None:
        """In a "..." string, \\" is a quote character: a # after it is not a comment."""
        write(tmp_path, "/etc/rsyslog.conf",
              'if $syslogfacility-text == "mail" and $msg contains "a\\"#b" then /var/log/c.log\n')
        assert paths(locate(str(tmp_path))) == ["/var/log/c.log"]

    def test_forms(self, tmp_path: Path) -> None:
        """Each mail form gives its file; negated and non-mail conditions give none."""
        write(tmp_path, "/etc/rsyslog.conf", """\
module(load="imuxsock")
if $syslogfacility-text == 'mail' then action(type="omfile" file="/var/log/maillog")
if $syslogfacility-text != 'mail' then action(type="omfile" file="/var/log/notmail.log")
if $programname == 'sshd' then action(type="omfile" file="/var/log/sshd.log")
mail.* action(type="omfile"
              file="/var/log/mail-all.log"
              template="RSYSLOG_FileFormat")
mail.warn action(type="omfwd" target="10.0.0.5" port="514" protocol="tcp")
if prifilt("mail.err") then {
    action(type="omfile" dynaFile="PerHostMail")
    action(type="omfile" file="/var/log/mail-errors.log")
}
:syslogfacility-text, isequal, "mail"   /var/log/mail-prop.log
ruleset(name="remote") {
    mail.*  /var/log/remote/mail.log
    *.*     /var/log/remote/all.log
}
""")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/maillog", "/var/log/mail-all.log", "/var/log/mail-prop.log",
                                "/var/log/remote/mail.log", "/var/log/mail-errors.log"]
        assert by_path(found, "/var/log/mail-all.log").source == "rsyslog /etc/rsyslog.conf:5"
        assert by_path(found, "/var/log/mail-errors.log").source == "rsyslog /etc/rsyslog.conf:9"

    def test_facility_lists(self, tmp_path: Path) -> None:
        """mail,news.* counts, a template suffix is dropped, mail.* then mail.none does not, continuations join."""
        write(tmp_path, "/etc/rsyslog.conf",
              "mail,news.*\t/var/log/x;RSYSLOG_FileFormat\n"
              "mail.*;mail.none\t/var/log/y\n"
              "*.info\t/var/log/all\n"
              "local0.*;\\\n\tmail.*\t\t/var/log/continued\n")
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/x", "/var/log/continued"]
        assert found[1].source == "rsyslog /etc/rsyslog.conf:4"


class TestForwarding:
    """Forwarding, pipes, user messages and dynamic files are not mail logs."""

    def test_remote_ignored(self, tmp_path: Path) -> None:
        """@host, @@host, |pipe, :omusrmsg:, ?DynaFile and ~ are skipped; the local file is kept."""
        write(tmp_path, "/etc/rsyslog.conf", """\
$template DynMail,"/var/log/hosts/%HOSTNAME%/mail.log"
mail.*\t@loghost.example.org
mail.*\t@@10.0.0.5:10514
mail.*\t|/var/run/mail.pipe
mail.crit\t:omusrmsg:root,postmaster
mail.*\t?DynMail
mail.*\t-/var/log/mail.log
& ~
""")
        assert paths(locate(str(tmp_path))) == ["/var/log/mail.log"]


class TestNothing:
    """Nothing found: an empty list."""

    def test_empty_root(self, tmp_path: Path) -> None:
        """An empty root gives no finds."""
        assert locate(str(tmp_path)) == []

    def test_configs_without_mail(self, tmp_path: Path) -> None:
        """Configs with no mail rules and no usual files give no finds either."""
        write(tmp_path, "/etc/rsyslog.conf", "*.*;auth,authpriv.none -/var/log/syslog\n")
        write(tmp_path, "/etc/syslog-ng/syslog-ng.conf",
              'destination d_all { file("/var/log/all"); };\nlog { source(s_src); destination(d_all); };\n')
        write(tmp_path, "/etc/postfix/main.cf", "myhostname = mx.example.org\n")
        assert locate(str(tmp_path)) == []


class TestBroken:
    """Unreadable and broken config files give no traceback."""

    def test_directories_and_garbage(self, tmp_path: Path) -> None:
        """A directory in place of main.cf, binary garbage and unbalanced blocks are read as far as they go."""
        (tmp_path / "etc/postfix/main.cf").mkdir(parents=True)
        (tmp_path / "etc").mkdir(exist_ok=True)
        (tmp_path / "etc/rsyslog.conf").write_bytes(
            b"\xff\xfe\x00garbage(\n" b"mail.* /var/log/mail.log\n" b"if $syslogfacility-text == 'mail' then {\n")
        write(tmp_path, "/etc/syslog-ng/syslog-ng.conf",
              'filter f_mail { facility(mail); };\ndestination d_mail { file("/var/log/mail.log") ;\n'
              'log { filter(f_mail); destination(d_mail); }}}}\n"unterminated\n@include\n')
        found = locate(str(tmp_path))
        assert paths(found) == ["/var/log/mail.log"]
        for f in found:
            assert isinstance(format_found(f), str)

    def test_include_loops(self, tmp_path: Path) -> None:
        """A config that includes itself (and syslog-ng files that include each other) terminate."""
        write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.conf\nmail.* /var/log/maillog\n")
        write(tmp_path, "/etc/syslog-ng/syslog-ng.conf", '@include "conf.d/a.conf"\n')
        write(tmp_path, "/etc/syslog-ng/conf.d/a.conf", '@include "/etc/syslog-ng/syslog-ng.conf"\n')
        assert paths(locate(str(tmp_path))) == ["/var/log/maillog"]

    def test_permission_denied(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PermissionError on open (what a non-root user gets) skips that file only."""
        import maillog2json.locate as mod
        real_open = open

        def deny(path: str, *args: object, **kwargs: object) -> object:
            if str(path).endswith(("a.conf", "main.cf")):
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(mod, "open", deny, raising=False)
        write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.d/*.conf\n")
        write(tmp_path, "/etc/rsyslog.d/a.conf", "mail.* /var/log/a.log\n")
        write(tmp_path, "/etc/rsyslog.d/b.conf", "mail.* /var/log/b.log\n")
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = /var/log/p.log\n")
        assert paths(locate(str(tmp_path))) == ["/var/log/b.log"]

    def test_fifo_and_dangling_link(self, tmp_path: Path) -> None:
        """A FIFO in place of main.cf does not block, and a dangling include link is skipped."""
        (tmp_path / "etc/postfix").mkdir(parents=True)
        os.mkfifo(tmp_path / "etc/postfix/main.cf")
        write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.d/\nmail.* /var/log/maillog\n")
        (tmp_path / "etc/rsyslog.d").mkdir()
        (tmp_path / "etc/rsyslog.d/gone.conf").symlink_to(tmp_path / "nowhere.conf")
        assert paths(locate(str(tmp_path))) == ["/var/log/maillog"]

    @pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads everything")
    def test_unreadable(self, tmp_path: Path) -> None:
        """Unreadable files are skipped, and the readable include still counts."""
        write(tmp_path, "/etc/rsyslog.conf", "$IncludeConfig /etc/rsyslog.d/*.conf\n")
        write(tmp_path, "/etc/rsyslog.d/a.conf", "mail.* /var/log/a.log\n").chmod(0)
        write(tmp_path, "/etc/rsyslog.d/b.conf", "mail.* /var/log/b.log\n")
        write(tmp_path, "/etc/postfix/main.cf", "maillog_file = /var/log/p.log\n").chmod(0)
        assert paths(locate(str(tmp_path))) == ["/var/log/b.log"]


class TestCommand:
    """``maillog2json locate`` as a user runs it."""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "maillog2json", "locate", *args],
                              capture_output=True, text=True, timeout=60)

    def test_prints_each_log_and_how_it_was_found(self, tmp_path: Path) -> None:
        """The subcommand prints the path, whether it exists and the config line that names it."""
        write(tmp_path, "etc/rsyslog.conf", "mail.*\t\t\t-/var/log/mail.log\n")
        write(tmp_path, "var/log/mail.log", "")
        r = self._run("--root", str(tmp_path))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("/var/log/mail.log  [exists]  rsyslog /etc/rsyslog.conf:1")

    def test_first_prints_only_the_best_path(self, tmp_path: Path) -> None:
        """--first prints the best path alone, for scripts (tail -F "$(maillog2json locate --first)")."""
        write(tmp_path, "etc/postfix/main.cf", "maillog_file = /var/log/postfix.log\n")
        write(tmp_path, "etc/rsyslog.conf", "mail.*  -/var/log/mail.log\n")
        r = self._run("--root", str(tmp_path), "--first")
        assert r.returncode == 0 and r.stdout == "/var/log/postfix.log\n"

    def test_nothing_found_is_an_error(self, tmp_path: Path) -> None:
        """With no log to be found the command says so on stderr and exits 1, without a traceback."""
        r = self._run("--root", str(tmp_path))
        assert r.returncode == 1 and "no mail log found" in r.stderr and "Traceback" not in r.stderr
