"""Dovecot lines (and PAM's for Dovecot): a table of (real line, exact document fields).

Lines from the peer corpora (fail2ban, crowdsec hub, realpostfix) or written from Dovecot's
documented formats; whole lines, since Dovecot logs under several headers: syslog with the
``dovecot`` tag or the service's own tag, its own log file without a host, multilog TAI64N.
Only ``type``, ``_id`` and ``raw`` are left out of the comparison.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import docs_for

Doc = dict[str, Any]


def parse(line: str) -> Doc:
    (doc,) = docs_for([line], year=2024)
    return doc


def fields(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k not in ("type", "_id", "raw")}


class TestDovecot:
    """Dovecot: LMTP deliveries, login processes, auth failures, logouts, master."""

    CASES = [
        (('Nov 28 22:22:47 mx dovecot: master: Dovecot v2.3.19.1 (9b53102964) starting up for lmtp '
            '(core dumps disabled)'),
         {
             'kind': 'dovecot.start', 'timestamp': '2024-11-28T22:22:47+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'master',
             'version': '2.3.19.1', 'protocols': ['lmtp'],
         }),
        ('Nov 28 22:22:48 mx dovecot: lmtp(31093): Connect from local',
         {
             'kind': 'dovecot.lmtp_connect', 'timestamp': '2024-11-28T22:22:48+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'lmtp',
             'service_pid': 31093, 'peer': 'local',
         }),
        ('Nov 28 22:22:48 mx dovecot: lmtp(31093): Disconnect from local: Logged out (state=READY)',
         {
             'kind': 'dovecot.lmtp_disconnect', 'timestamp': '2024-11-28T22:22:48+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'lmtp',
             'service_pid': 31093, 'peer': 'local', 'text': 'Logged out (state=READY)',
         }),
        (('Nov 28 22:22:48 mx dovecot: lmtp(alice@example.test)<31093><oLvXMjxUCNu1eQAAtrPOsw>: '
            'msgid=<rp1.1@gen.example.test>: saved mail to INBOX'),
         {
             'kind': 'dovecot.saved', 'timestamp': '2024-11-28T22:22:48+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'lmtp',
             'user': 'alice@example.test', 'service_pid': 31093, 'session': 'oLvXMjxUCNu1eQAAtrPOsw',
             'message_id': 'rp1.1@gen.example.test', 'mailbox': 'INBOX',
         }),
        (('Nov 28 22:22:48 mx dovecot: lmtp(carol@example.test)<31093><oLvXMjxUCNu1eQAAtrPOsw:T2>: '
            'msgid=<rp2@gen.example.test>: save failed to INBOX: Quota exceeded (mailbox for user is '
            'full)'),
         {
             'kind': 'dovecot.save_failed', 'timestamp': '2024-11-28T22:22:48+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'lmtp',
             'user': 'carol@example.test', 'service_pid': 31093, 'session': 'oLvXMjxUCNu1eQAAtrPOsw:T2',
             'message_id': 'rp2@gen.example.test', 'mailbox': 'INBOX',
             'error': 'Quota exceeded (mailbox for user is full)',
         }),
        (('Sep 8 07:16:27 canyon dovecot[7508]: imap-login: Disconnected (auth failed, 1 attempts in 6 '
            'secs): user=<toto@toto.com>, method=PLAIN, rip=1.1.1.1, lip=7.7.7.7, TLS, '
            'session=<azdaDADSqqsvf-za>'),
         {
             'kind': 'dovecot.auth_failed', 'timestamp': '2024-09-08T07:16:27+00:00', 'host': 'canyon',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': 7508, 'queue_id': None, 'service': 'imap-login',
             'user': 'toto@toto.com', 'auth_method': 'PLAIN', 'client_ip': '1.1.1.1', 'server_ip': '7.7.7.7',
             'tls': True, 'session': 'azdaDADSqqsvf-za',
             'text': 'Disconnected (auth failed, 1 attempts in 6 secs)', 'auth_attempts': 1,
         }),
        (('Oct 13 09:22:59 canyon dovecot: pop3-login: Info: Login: user=<test@yourdomain.net>, '
            'method=PLAIN, rip=172.17.0.1, lip=172.17.0.2, mpid=18, TLS, session=<PeYcgjjOGOisEQAB>'),
         {
             'kind': 'dovecot.login', 'timestamp': '2024-10-13T09:22:59+00:00', 'host': 'canyon',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'pop3-login', 'user': 'test@yourdomain.net', 'auth_method': 'PLAIN',
             'client_ip': '172.17.0.1', 'server_ip': '172.17.0.2', 'mail_pid': 18, 'tls': True,
             'session': 'PeYcgjjOGOisEQAB', 'text': 'Login',
         }),
        (('Dec 12 11:19:11 dunnart dovecot: pop3-login: Aborted login (tried to use disallowed '
            'plaintext auth): rip=190.210.136.21, lip=113.212.99.193, session=<LgDINsQCkttVIMPg>'),
         {
             'kind': 'dovecot.login_aborted', 'timestamp': '2024-12-12T11:19:11+00:00', 'host': 'dunnart',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'pop3-login',
             'client_ip': '190.210.136.21', 'server_ip': '113.212.99.193', 'session': 'LgDINsQCkttVIMPg',
             'text': 'Aborted login (tried to use disallowed plaintext auth)',
         }),
        (('Jul 02 13:49:32 hostname dovecot[442]: pop3-login: Disconnected (no auth attempts in 58 '
            'secs): user=<>, rip=192.51.100.13, lip=203.0.113.17, session=<LgDINsQCkttVIMPg>'),
         {
             'kind': 'dovecot.disconnect', 'timestamp': '2024-07-02T13:49:32+00:00', 'host': 'hostname',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': 442, 'queue_id': None, 'service': 'pop3-login',
             'user': '', 'client_ip': '192.51.100.13', 'server_ip': '203.0.113.17',
             'session': 'LgDINsQCkttVIMPg', 'text': 'Disconnected (no auth attempts in 58 secs)',
         }),
        (('Jun 12 19:07:29 hostname dovecot[241]: imap-login: Login aborted: Connection closed (auth '
            'failed, 3 attempts in 16 secs) (auth_failed): user=<test>, method=PLAIN, rip=192.0.2.241, '
            'lip=192.0.2.1, TLS, session=<KqJPW3Tn1uCAVyO>'),
         {
             'kind': 'dovecot.auth_failed', 'timestamp': '2024-06-12T19:07:29+00:00', 'host': 'hostname',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': 241, 'queue_id': None, 'service': 'imap-login',
             'user': 'test', 'auth_method': 'PLAIN', 'client_ip': '192.0.2.241', 'server_ip': '192.0.2.1',
             'tls': True, 'session': 'KqJPW3Tn1uCAVyO',
             'text': 'Login aborted: Connection closed (auth failed, 3 attempts in 16 secs) (auth_failed)',
             'auth_attempts': 3,
         }),
        ('Sep 8 07:46:30 canyon dovecot: auth-worker(24544): pam(toto,1.1.1.1): unknown user',
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-09-08T07:46:30+00:00', 'host': 'canyon',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'auth-worker',
             'service_pid': 24544, 'auth_backend': 'pam', 'user': 'toto', 'client_ip': '1.1.1.1',
             'reason': 'unknown user',
         }),
        (('Sep 8 07:16:29 canyon dovecot: auth-worker(24058): pam(toto,1.1.1.1,<youpi>): '
            'pam_authenticate() failed: Authentication failure (password mismatch?)'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-09-08T07:16:29+00:00', 'host': 'canyon',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'auth-worker',
             'service_pid': 24058, 'auth_backend': 'pam', 'user': 'toto', 'client_ip': '1.1.1.1',
             'session': 'youpi',
             'reason': 'pam_authenticate() failed: Authentication failure (password mismatch?)',
         }),
        (('Apr 18 08:31:30 mail dovecot: auth-worker(63712): Info: conn unix:auth-worker '
            '(pid=58074,uid=109): auth-worker<4>: sql(contact,220.169.110.101): unknown user'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-04-18T08:31:30+00:00', 'host': 'mail',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'auth-worker', 'service_pid': 63712, 'auth_backend': 'sql', 'user': 'contact',
             'client_ip': '220.169.110.101', 'reason': 'unknown user',
         }),
        ('Jan 29 05:13:50 mail dovecot: auth: passwd-file(username,1.2.3.4): unknown user',
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-01-29T05:13:50+00:00', 'host': 'mail',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'auth',
             'auth_backend': 'passwd-file', 'user': 'username', 'client_ip': '1.2.3.4', 'reason': 'unknown user',
         }),
        (('Jun 11 13:57:17 main dovecot: auth: '
            'ldap(user@server.org,192.168.178.25,<LZmGp6mZaMrAqLIZ>): Password mismatch (for LDAP bind) '
            '(SHA1 of given password: f638ff)'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-06-11T13:57:17+00:00', 'host': 'main',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'auth',
             'auth_backend': 'ldap', 'user': 'user@server.org', 'client_ip': '192.168.178.25',
             'session': 'LZmGp6mZaMrAqLIZ',
             'reason': 'Password mismatch (for LDAP bind) (SHA1 of given password: f638ff)',
         }),
        ('Mar 23 06:10:52 auth: Info: ldap(dog,52.37.139.121,): invalid credentials',
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-03-23T06:10:52+00:00', 'host': None,
             'program': 'auth', 'daemon': 'auth', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'auth', 'auth_backend': 'ldap', 'user': 'dog', 'client_ip': '52.37.139.121',
             'reason': 'invalid credentials',
         }),
        (('Aug 30 00:10:57 auth(info@example.com,192.0.2.110,sasl:login)<CvN+E95Uf4e7eEnj>: Info: sql: '
            'Password mismatch (given password: XxxxXXxx123)'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-08-30T00:10:57+00:00', 'host': None,
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'auth', 'user': 'info@example.com', 'client_ip': '192.0.2.110',
             'auth_mechanism': 'sasl:login', 'session': 'CvN+E95Uf4e7eEnj', 'auth_backend': 'sql',
             'reason': 'Password mismatch (given password: XxxxXXxx123)',
         }),
        (('Jan 29 13:54:06 auth-worker(22401): Info: '
            'sql(admin@example.de,192.0.2.5,<n4JLdHNVngZGpV2j>): unknown user'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-01-29T13:54:06+00:00', 'host': None,
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'auth-worker', 'service_pid': 22401, 'auth_backend': 'sql', 'user': 'admin@example.de',
             'client_ip': '192.0.2.5', 'session': 'n4JLdHNVngZGpV2j', 'reason': 'unknown user',
         }),
        (('Jul 02 13:49:32 hostname dovecot[442]: dovecot: auth(default): '
            'pam(account@example.com,200.76.17.206): pam_authenticate() failed: User not known to the '
            'underlying authentication module'),
         {
             'kind': 'dovecot.auth_failure', 'timestamp': '2024-07-02T13:49:32+00:00', 'host': 'hostname',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': 442, 'queue_id': None, 'service': 'auth',
             'auth_backend': 'pam', 'user': 'account@example.com', 'client_ip': '200.76.17.206',
             'reason': 'pam_authenticate() failed: User not known to the underlying authentication module',
         }),
        (('@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure; '
            'logname= uid=0 euid=0 tty=dovecot ruser=root rhost=176.61.140.225  user=root'),
         {
             'kind': 'pam.auth_failure', 'timestamp': '2010-09-16T05:50:50.125476+00:00', 'host': None,
             'program': 'dovecot-auth', 'daemon': 'dovecot-auth', 'pid': None, 'queue_id': None,
             'service': 'dovecot-auth', 'pam_service': 'dovecot:auth', 'ruser': 'root',
             'client_ip': '176.61.140.225', 'user': 'root',
         }),
        (('Apr 19 05:22:20 vm5 auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 '
            'euid=0 tty=dovecot ruser=informix rhost=80.255.3.104'),
         {
             'kind': 'pam.auth_failure', 'timestamp': '2024-04-19T05:22:20+00:00', 'host': 'vm5',
             'program': 'auth', 'daemon': 'auth', 'pid': None, 'queue_id': None, 'pam_service': 'dovecot:auth',
             'ruser': 'informix', 'client_ip': '80.255.3.104',
         }),
        (('@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): '
            'user=<martin@example.de>, method=CRAM-MD5, rip=80.187.101.33, lip=80.254.129.240, TLS'),
         {
             'kind': 'dovecot.auth_failed', 'timestamp': '2010-09-16T05:50:50.125476+00:00', 'host': None,
             'program': 'imap-login', 'daemon': 'imap-login', 'pid': None, 'queue_id': None, 'level': 'info',
             'service': 'imap-login', 'user': 'martin@example.de', 'auth_method': 'CRAM-MD5',
             'client_ip': '80.187.101.33', 'server_ip': '80.254.129.240', 'tls': True,
             'text': 'Aborted login (auth failed, 1 attempts)', 'auth_attempts': 1,
         }),
        (('Nov 28 22:30:01 mx dovecot: imap(alice@example.test)<4242><abcDEF123>: Logged out in=123 '
            'out=4567 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0'),
         {
             'kind': 'dovecot.logout', 'timestamp': '2024-11-28T22:30:01+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'imap',
             'user': 'alice@example.test', 'service_pid': 4242, 'session': 'abcDEF123', 'bytes_in': 123,
             'bytes_out': 4567, 'deleted': 0, 'expunged': 0, 'trashed': 0, 'hdr_count': 0, 'hdr_bytes': 0,
             'body_count': 0, 'body_bytes': 0,
             'text': ('Logged out in=123 out=4567 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 '
                      'body_count=0 body_bytes=0'),
         }),
        (('Nov 28 22:30:02 mx dovecot: lmtp(alice@example.test)<4243><xyz>: sieve: '
            "msgid=<m1@example.test>: stored mail into mailbox 'INBOX'"),
         {
             'kind': 'dovecot.saved', 'timestamp': '2024-11-28T22:30:02+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'service': 'lmtp',
             'user': 'alice@example.test', 'service_pid': 4243, 'session': 'xyz', 'sieve': True,
             'message_id': 'm1@example.test', 'mailbox': 'INBOX',
         }),
        ('Nov 28 22:30:03 mx dovecot: lmtp(31093): Warning: Time moved forwards by 4.5 seconds',
         {
             'kind': 'dovecot.warning', 'timestamp': '2024-11-28T22:30:03+00:00', 'host': 'mx',
             'program': 'dovecot', 'daemon': 'dovecot', 'pid': None, 'queue_id': None, 'level': 'warning',
             'service': 'lmtp', 'service_pid': 31093, 'text': 'Time moved forwards by 4.5 seconds',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[c[1]["kind"] for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each Dovecot line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_auth_process_name_is_no_user(self) -> None:
        """Dovecot 1.x's 'auth(default)' names the process: the user comes from the backend's parentheses."""
        doc = parse("Jul 02 13:49:32 hostname dovecot[442]: dovecot: auth(default): pam(u@example.com,192.0.2.6): "
                    "unknown user")
        assert (doc["user"], doc["client_ip"], doc["kind"]) == ("u@example.com", "192.0.2.6", "dovecot.auth_failure")

    def test_sieve_delivery_is_saved(self) -> None:
        """An LMTP delivery filed by Sieve is a dovecot.saved event like any other, marked sieve."""
        doc = parse("Nov 28 22:30:02 mx dovecot: lmtp(a@example.test)<4243><xyz>: sieve: msgid=<m1@example.test>: "
                    "stored mail into mailbox 'Junk'")
        assert (doc["kind"], doc["mailbox"], doc["message_id"], doc["sieve"]) == ("dovecot.saved", "Junk",
                                                                                  "m1@example.test", True)

    @pytest.mark.parametrize("head", ["Disconnected", "Aborted login", "Login aborted: Connection closed",
                                      "Disconnected: Inactivity", "Remote closed connection"])
    def test_auth_failed_logins(self, head: str) -> None:
        """Every login-process ending with '(auth failed, N attempts ...)' is dovecot.auth_failed with N."""
        doc = parse(f"Jan 14 15:54:30 valhalla dovecot: pop3-login: {head} (auth failed, 2 attempts in 2 secs): "
                    "user=<ivo>, method=PLAIN, rip=192.0.2.4, lip=192.0.2.1, TLS, session=<x>")
        assert (doc["kind"], doc["auth_attempts"], doc["client_ip"], doc["user"]) == ("dovecot.auth_failed", 2,
                                                                                      "192.0.2.4", "ivo")


class TestDovecotLogForms:
    """The header forms Dovecot's lines come in besides syslog with a host."""

    def test_own_log_file_without_host(self) -> None:
        """Dovecot's log_path file has no host and no tag: the service prefix stays for the parser."""
        doc = parse("Jan 29 13:54:06 auth-worker(22401): Info: sql(admin@example.de,192.0.2.5): unknown user")
        assert (doc["host"], doc["program"], doc["service"], doc["service_pid"]) == (None, "dovecot", "auth-worker",
                                                                                    22401)
        assert doc["timestamp"] == "2024-01-29T13:54:06+00:00"

    def test_syslog_without_host(self) -> None:
        """A syslog line without a host: the word after the time is the tag when it ends with a colon."""
        doc = parse("Aug 30 00:11:05 imap-login: Info: Login aborted: Connection closed (auth failed, 3 attempts "
                    "in 16 secs) (auth_failed): user=<info@example.com>, method=PLAIN, rip=192.0.2.110, lip=0.0.0.0")
        assert (doc["host"], doc["program"], doc["kind"], doc["client_ip"]) == (None, "imap-login",
                                                                                "dovecot.auth_failed", "192.0.2.110")

    def test_iso_time_without_host(self) -> None:
        """The same with an ISO time (log_timestamp = "%Y-%m-%d %H:%M:%S ")."""
        doc = parse("2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2.3.4): pam_authenticate() "
                    "failed: Authentication failure (password mismatch?)")
        assert (doc["host"], doc["program"], doc["client_ip"], doc["kind"]) == (None, "dovecot", "1.2.3.4",
                                                                                "dovecot.auth_failure")

    def test_tai64n_multilog(self) -> None:
        """daemontools multilog: a TAI64N label (2^62 + 10 + Unix seconds) instead of a syslog header."""
        doc = parse("@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure; "
                    "logname= uid=0 euid=0 tty=dovecot ruser=rhost=1.2.3.4 rhost=192.0.43.10")
        assert doc["timestamp"] == "2010-09-16T05:50:50.125476+00:00"
        assert (doc["kind"], doc["client_ip"], doc["program"]) == ("pam.auth_failure", "192.0.43.10", "dovecot-auth")

    def test_host_never_ends_with_a_colon(self) -> None:
        """'Jan 1 00:00:00 hostname' without a tag stays a header failure, not a host-less line."""
        assert parse("Jan  1 00:00:00 hostname")["unparsed_reason"] == "header"
        assert parse("Jan  1 00:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]")["host"] == "mx"
