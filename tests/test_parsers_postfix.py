"""Postfix parsers, one class per daemon family.

Each class has a table of (real line, the exact fields of its document): lines from the
peer corpora in ``../shared/corpus`` (copied here as test data, a line at a time) or
written from Postfix's documented formats. The header fields (timestamp, host, program,
daemon, pid, syslog_name, raw, _id, type) are left out of the comparison: the syslog tests
check those. Focused tests below each table pin one behaviour each.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import docs_for

HEADER_KEYS = frozenset(("type", "_id", "timestamp", "host", "program", "daemon", "pid", "raw", "syslog_name"))
H = "Nov 28 22:22:48 mx "

Doc = dict[str, Any]


def parse(line: str, header: str = H) -> Doc:
    (doc,) = docs_for([header + line])
    return doc


def fields(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k not in HEADER_KEYS}


def case_id(case: tuple[str, Doc]) -> str:
    return case[1]["kind"]


class TestSmtpd:
    """smtpd(8): sessions, access decisions, TLS, SASL, proxy, limits."""

    CASES = [
        ('postfix/smtpd[31026]: connect from localhost[127.0.0.1]',
         {'kind': 'smtpd.connect', 'queue_id': None, 'client_host': 'localhost', 'client_ip': '127.0.0.1'}),
        ('postfix/smtpd[31026]: connect from unknown[unknown]',
         {'kind': 'smtpd.connect', 'queue_id': None, 'client_host': 'unknown', 'client_ip': None}),
        (('postfix/smtpd[3643150]: disconnect from unknown[0.0.0.0] ehlo=1 mail=1 rcpt=0/1 quit=1 '
            'commands=3/4'),
         {
             'kind': 'smtpd.disconnect', 'queue_id': None, 'client_host': 'unknown', 'client_ip': '0.0.0.0',
             'commands_ok': 3, 'commands': 4, 'command_counts': {'ehlo': 1, 'mail': 1, 'rcpt': 1, 'quit': 1},
             'command_counts_ok': {'ehlo': 1, 'mail': 1, 'rcpt': 0, 'quit': 1},
         }),
        (('postfix/smtpd[31026]: disconnect from mail.example.com[192.0.2.7] helo=1 mail=2 rcpt=1 '
            'data=1 rset=1 quit=1 commands=7'),
         {
             'kind': 'smtpd.disconnect', 'queue_id': None, 'client_host': 'mail.example.com',
             'client_ip': '192.0.2.7', 'commands_ok': 7, 'commands': 7,
             'command_counts': {'helo': 1, 'mail': 2, 'rcpt': 1, 'data': 1, 'rset': 1, 'quit': 1},
             'command_counts_ok': {'helo': 1, 'mail': 2, 'rcpt': 1, 'data': 1, 'rset': 1, 'quit': 1},
         }),
        (('postfix/submission/smtpd[3646210]: 838FC8A5F: client=unknown[fe80::1:2:3:4], '
            'sasl_method=PLAIN, sasl_username=out@example.org'),
         {
             'kind': 'smtpd.client', 'queue_id': '838FC8A5F', 'client_host': 'unknown',
             'client_ip': 'fe80::1:2:3:4', 'sasl_method': 'PLAIN', 'sasl_username': 'out@example.org',
         }),
        (('postfix/smtpd[31026]: 5C4A21642E1: client=localhost[127.0.0.1], orig_queue_id=B5A021642D1, '
            'orig_client=localhost[127.0.0.1]'),
         {
             'kind': 'smtpd.client', 'queue_id': '5C4A21642E1', 'client_host': 'localhost',
             'client_ip': '127.0.0.1', 'orig_queue_id': 'B5A021642D1', 'orig_client_host': 'localhost',
             'orig_client_ip': '127.0.0.1',
         }),
        (('postfix/smtpd[31026]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 '
            '<nobody@example.test>: Recipient address rejected: User unknown in local recipient table; '
            'from=<alice@example.test> to=<nobody@example.test> proto=ESMTP helo=<ws0003.lan.example.net>'),
         {
             'kind': 'smtpd.reject', 'queue_id': None, 'action': 'reject', 'stage': 'RCPT',
             'client_host': 'localhost', 'client_ip': '127.0.0.1', 'code': 550, 'dsn': '5.1.1',
             'reason_target': 'nobody@example.test',
             'reason': 'Recipient address rejected: User unknown in local recipient table',
             'from': 'alice@example.test', 'to': 'nobody@example.test', 'proto': 'ESMTP',
             'helo': 'ws0003.lan.example.net',
         }),
        (('postfix/smtpd[13275]: NOQUEUE: reject: RCPT from unknown[87.236.233.182]: 554 5.7.1 Service '
            'unavailable; Client host [87.236.233.182] blocked using rbl.example.net; '
            'https://rbl.example.net/q/87.236.233.182; from=<a@example.com> to=<b@example.org> '
            'proto=ESMTP helo=<example.com>'),
         {
             'kind': 'smtpd.reject', 'queue_id': None, 'action': 'reject', 'stage': 'RCPT',
             'client_host': 'unknown', 'client_ip': '87.236.233.182', 'code': 554, 'dsn': '5.7.1',
             'reason_target': '87.236.233.182', 'dnsbl_check': 'Client host', 'dnsbl_domain': 'rbl.example.net',
             'reason': 'blocked using rbl.example.net; https://rbl.example.net/q/87.236.233.182',
             'from': 'a@example.com', 'to': 'b@example.org', 'proto': 'ESMTP', 'helo': 'example.com',
         }),
        (('postfix/smtpd[7150]: NOQUEUE: reject: RCPT from unknown[192.0.2.246]: 450 4.7.25 Client '
            'host rejected: cannot find your hostname, [192.0.2.246]; from=<a@example.com> '
            'to=<b@example.org> proto=ESMTP helo=<example.com>'),
         {
             'kind': 'smtpd.reject', 'queue_id': None, 'action': 'reject', 'stage': 'RCPT',
             'client_host': 'unknown', 'client_ip': '192.0.2.246', 'code': 450, 'dsn': '4.7.25',
             'reason': 'Client host rejected: cannot find your hostname, [192.0.2.246]', 'from': 'a@example.com',
             'to': 'b@example.org', 'proto': 'ESMTP', 'helo': 'example.com',
         }),
        (('postfix/smtpd[2]: NOQUEUE: reject_warning: RCPT from example.com[93.184.216.34]: 553 5.7.1 '
            '<sender@example.com>: Sender address rejected: not owned by user ph123; '
            'from=<sender@example.com> to=<recipient@example.com> proto=ESMTP helo=<example.com>'),
         {
             'kind': 'smtpd.reject_warning', 'queue_id': None, 'action': 'reject_warning', 'stage': 'RCPT',
             'client_host': 'example.com', 'client_ip': '93.184.216.34', 'code': 553, 'dsn': '5.7.1',
             'reason_target': 'sender@example.com', 'reason': 'Sender address rejected: not owned by user ph123',
             'from': 'sender@example.com', 'to': 'recipient@example.com', 'proto': 'ESMTP',
             'helo': 'example.com',
         }),
        (('postfix/smtpd[27246]: 1D8CC1CA0A7F: milter-reject: DATA from mx.example.com[192.0.2.151]: '
            '550 5.7.1 Command rejected; from=<s@example.com> to=<r@example.org> proto=ESMTP '
            'helo=<mx.example.com>'),
         {
             'kind': 'smtpd.milter_reject', 'queue_id': '1D8CC1CA0A7F', 'action': 'milter-reject',
             'stage': 'DATA', 'client_host': 'mx.example.com', 'client_ip': '192.0.2.151', 'code': 550,
             'dsn': '5.7.1', 'reason': 'Command rejected', 'from': 's@example.com', 'to': 'r@example.org',
             'proto': 'ESMTP', 'helo': 'mx.example.com',
         }),
        (('postfix/smtpd[3]: NOQUEUE: discard: MAIL from ccm231.example.com[208.75.123.231]: '
            '<b@in.example.com>: Sender address SPAM; from=<b@in.example.com> proto=ESMTP '
            'helo=<ccm231.example.com>'),
         {
             'kind': 'smtpd.discard', 'queue_id': None, 'action': 'discard', 'stage': 'MAIL',
             'client_host': 'ccm231.example.com', 'client_ip': '208.75.123.231',
             'reason_target': 'b@in.example.com', 'reason': 'Sender address SPAM', 'from': 'b@in.example.com',
             'proto': 'ESMTP', 'helo': 'ccm231.example.com',
         }),
        (('postfix/smtpd[4]: NOQUEUE: filter: RCPT from unknown[85.25.255.255]: <mail@sender.com>: '
            'Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10024; from=<mail@sender.com> '
            'to=<user@domain.com> proto=ESMTP helo=<plutoapp.biz>'),
         {
             'kind': 'smtpd.filter', 'queue_id': None, 'action': 'filter', 'stage': 'RCPT',
             'client_host': 'unknown', 'client_ip': '85.25.255.255', 'reason_target': 'mail@sender.com',
             'reason': 'Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10024', 'from': 'mail@sender.com',
             'to': 'user@domain.com', 'proto': 'ESMTP', 'helo': 'plutoapp.biz',
         }),
        (('postfix/smtpd[5]: 4BDA21642D1: hold: RCPT from localhost[127.0.0.1]: <hold@example.test>: '
            'Recipient address triggers HOLD action; from=<alice@example.test> to=<hold@example.test> '
            'proto=ESMTP helo=<ws.example.net>'),
         {
             'kind': 'smtpd.hold', 'queue_id': '4BDA21642D1', 'action': 'hold', 'stage': 'RCPT',
             'client_host': 'localhost', 'client_ip': '127.0.0.1', 'reason_target': 'hold@example.test',
             'reason': 'Recipient address triggers HOLD action', 'from': 'alice@example.test',
             'to': 'hold@example.test', 'proto': 'ESMTP', 'helo': 'ws.example.net',
         }),
        ('postfix/smtpd[6]: lost connection after DATA (7774180 bytes) from unknown[72.13.58.7]',
         {
             'kind': 'smtpd.lost_connection', 'queue_id': None, 'stage': 'DATA', 'bytes': 7774180,
             'client_host': 'unknown', 'client_ip': '72.13.58.7',
         }),
        ('postfix/smtpd[6]: timeout after END-OF-MESSAGE from unknown[72.13.58.7]',
         {
             'kind': 'smtpd.timeout', 'queue_id': None, 'stage': 'END-OF-MESSAGE', 'client_host': 'unknown',
             'client_ip': '72.13.58.7',
         }),
        ('postfix/smtpd[6]: too many errors after RCPT from example.com[192.0.2.11]',
         {
             'kind': 'smtpd.too_many_errors', 'queue_id': None, 'stage': 'RCPT', 'client_host': 'example.com',
             'client_ip': '192.0.2.11',
         }),
        (('postfix/smtpd[31026]: Anonymous TLS connection established from localhost[127.0.0.1]: '
            'TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 '
            'server-signature RSA-PSS (2048 bits) server-digest SHA256'),
         {
             'kind': 'smtpd.tls', 'queue_id': None, 'tls_trust': 'Anonymous', 'client_host': 'localhost',
             'client_ip': '127.0.0.1', 'tls_version': 'TLSv1.3', 'tls_cipher': 'TLS_AES_256_GCM_SHA384',
             'tls_cipher_bits': 256, 'tls_cipher_alg_bits': 256, 'tls_key_exchange': 'X25519',
             'tls_server_signature': 'RSA-PSS', 'tls_server_digest': 'SHA256', 'tls_server_signature_bits': 2048,
         }),
        ('postfix/smtpd[6]: SSL_accept error from unknown[72.13.58.7]: lost connection',
         {
             'kind': 'smtpd.tls_error', 'queue_id': None, 'client_host': 'unknown', 'client_ip': '72.13.58.7',
             'error': 'lost connection',
         }),
        ('postfix/smtpd[6]: improper command pipelining after AUTH from unknown[192.0.2.11]: QUIT',
         {
             'kind': 'smtpd.pipelining', 'queue_id': None, 'stage': 'AUTH', 'client_host': 'unknown',
             'client_ip': '192.0.2.11', 'command': 'QUIT',
         }),
        (('postfix/smtpd[6]: warning: unknown[203.0.113.10]: SASL LOGIN authentication failed: (reason '
            'unavailable), sasl_username=postmaster@example.org'),
         {
             'kind': 'smtpd.sasl_auth_failed', 'queue_id': None, 'level': 'warning', 'client_host': 'unknown',
             'client_ip': '203.0.113.10', 'sasl_method': 'LOGIN', 'sasl_reason': '(reason unavailable)',
             'sasl_username': 'postmaster@example.org',
             'text': ('unknown[203.0.113.10]: SASL LOGIN authentication failed: (reason unavailable), '
                      'sasl_username=postmaster@example.org'),
         }),
        ('postfix/submission/smtpd[27133]: warning: unknown[192.0.2.150]: SASL PLAIN authentication failed:',
         {
             'kind': 'smtpd.sasl_auth_failed', 'queue_id': None, 'level': 'warning', 'client_host': 'unknown',
             'client_ip': '192.0.2.150', 'sasl_method': 'PLAIN',
             'text': 'unknown[192.0.2.150]: SASL PLAIN authentication failed:',
         }),
        ('postfix/smtpd[21126]: warning: SASL authentication failure: Password verification failed',
         {
             'kind': 'smtpd.sasl_failure', 'queue_id': None, 'level': 'warning',
             'sasl_reason': 'Password verification failed',
             'text': 'SASL authentication failure: Password verification failed',
         }),
        (('postfix/submission/smtpd[2634372]: warning: non-SMTP command from unknown[192.168.1.1]: GET '
            '/ HTTP/1.1'),
         {
             'kind': 'smtpd.non_smtp_command', 'queue_id': None, 'level': 'warning', 'client_host': 'unknown',
             'client_ip': '192.168.1.1', 'command': 'GET / HTTP/1.1',
             'text': 'non-SMTP command from unknown[192.168.1.1]: GET / HTTP/1.1',
         }),
        (('postfix/smtpd[1234]: warning: hostname bad.example.com does not resolve to address '
            '192.0.2.44: Name or service not known'),
         {
             'kind': 'smtpd.dns_mismatch', 'queue_id': None, 'level': 'warning',
             'client_host': 'bad.example.com', 'client_ip': '192.0.2.44',
             'dns_error': 'Name or service not known',
             'text': ('hostname bad.example.com does not resolve to address 192.0.2.44: Name or service not '
                      'known'),
         }),
        (('postfix/smtpd[23244]: warning: Connection rate limit exceeded: 31 from '
            'spamhost.example.org[192.0.2.123] for service smtpd'),
         {
             'kind': 'smtpd.limit_exceeded', 'queue_id': None, 'level': 'warning',
             'limit_type': 'Connection rate', 'count': 31, 'client_host': 'spamhost.example.org',
             'client_ip': '192.0.2.123', 'service': 'smtpd',
             'text': ('Connection rate limit exceeded: 31 from spamhost.example.org[192.0.2.123] for '
                      'service smtpd'),
         }),
        (('postfix/smtpd[8]: proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): '
            '250 2.0.0 Ok: queued as DF66E940333; from=<user1@test.example.com> to=<user2@example2.com> '
            'proto=ESMTP helo=<[127.0.0.1]>'),
         {
             'kind': 'smtpd.proxy_accept', 'queue_id': None, 'stage': 'END-OF-MESSAGE',
             'from': 'user1@test.example.com', 'to': 'user2@example2.com', 'proto': 'ESMTP',
             'helo': '[127.0.0.1]',
             'reply': '250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as DF66E940333',
             'code': 250, 'dsn': '2.0.0',
             'reason': 'from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as DF66E940333',
             'proxy_mta': 'smtp:[127.0.0.1]:10013', 'proxy_reply': '250 2.0.0 Ok: queued as DF66E940333',
             'queued_as': 'DF66E940333',
         }),
        (('postfix/smtpd[8]: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02 - spam; '
            'from=<> to=<user2@example2.com> proto=SMTP helo=<17.33.12.53>'),
         {
             'kind': 'smtpd.proxy_reject', 'queue_id': None, 'stage': 'END-OF-MESSAGE', 'from': '',
             'to': 'user2@example2.com', 'proto': 'SMTP', 'helo': '17.33.12.53',
             'reply': '554 5.7.0 Reject, id=31619-02 - spam', 'code': 554, 'dsn': '5.7.0',
             'reason': 'Reject, id=31619-02 - spam',
         }),
        ('postfix/smtpd[8]: bare <LF> received after CONNECT from example.net[192.0.2.4]',
         {
             'kind': 'smtpd.bare_newline', 'queue_id': None, 'bare': 'LF', 'stage': 'CONNECT',
             'client_host': 'example.net', 'client_ip': '192.0.2.4',
         }),
        ('postfix/smtpd[8]: discarding EHLO keywords: CHUNKING ETRN DSN 8BITMIME',
         {
             'kind': 'smtpd.ehlo_keywords', 'queue_id': None,
             'discarded_ehlo_keywords': ['CHUNKING', 'ETRN', 'DSN', '8BITMIME'],
         }),
        (('postfix/smtpd[1517]: table hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix) has '
            'changed -- restarting'),
         {
             'kind': 'smtpd.table_changed', 'queue_id': None,
             'table': 'hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix)',
         }),
        (('postfix/smtpd[16268]: fatal: file /etc/postfix/main.cf: parameter default_privs: unknown '
            'user name value: nobody'),
         {
             'kind': 'smtpd.fatal', 'queue_id': None, 'level': 'fatal',
             'text': 'file /etc/postfix/main.cf: parameter default_privs: unknown user name value: nobody',
         }),
        ('postfix/smtpd[9]: warning: B8C4F1642F1: queue file size limit exceeded',
         {
             'kind': 'smtpd.size_limit_exceeded', 'queue_id': 'B8C4F1642F1', 'level': 'warning',
             'text': 'queue file size limit exceeded',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each smtpd line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_unknown_address_is_null(self) -> None:
        """unknown[unknown] leaves client_ip null, so that the field always holds an IP address."""
        for line in ("postfix/smtpd[1]: connect from unknown[unknown]",
                     "postfix/smtpd[1]: disconnect from unknown[unknown] commands=0/0",
                     "postfix/smtpd[1]: lost connection after CONNECT from unknown[unknown]"):
            doc = parse(line)
            assert doc["client_host"] == "unknown" and doc["client_ip"] is None, line

    def test_reasons_group_across_recipients(self) -> None:
        """The reject target is split off the reason: two recipients share one reason."""
        a, b = (parse("postfix/smtpd[1]: NOQUEUE: reject: RCPT from x.example[192.0.2.1]: 550 5.1.1 "
                      f"<{u}@example.test>: Recipient address rejected: User unknown in local recipient table; "
                      f"from=<s@example.org> to=<{u}@example.test> proto=ESMTP helo=<x.example>") for u in ("a", "b"))
        assert a["reason"] == b["reason"] == "Recipient address rejected: User unknown in local recipient table"
        assert (a["reason_target"], b["reason_target"]) == ("a@example.test", "b@example.test")

    def test_word_before_colon_is_no_target(self) -> None:
        """A reply like '554 5.7.1 Error: spam' has no target: 'Error' stays in the reason."""
        doc = parse("postfix/smtpd[1]: NOQUEUE: reject: DATA from x.example[192.0.2.1]: 554 5.7.1 Error: spam; "
                    "from=<s@example.org> to=<r@example.test> proto=ESMTP helo=<x.example>")
        assert doc["reason"] == "Error: spam" and "reason_target" not in doc

    def test_submission_service_keeps_syslog_name(self) -> None:
        """postfix/submission/smtpd is smtpd, with the service kept in syslog_name."""
        doc = parse("postfix/submission/smtpd[3646210]: connect from unknown[fe80::1:2:3:4]")
        assert (doc["daemon"], doc["syslog_name"], doc["kind"]) == ("smtpd", "postfix/submission", "smtpd.connect")

    def test_unknown_warning_is_a_level_event(self) -> None:
        """A warning no rule knows is still typed by its level, with its text."""
        doc = parse("postfix/smtpd[1]: warning: 1.2.3.4: address not listed for hostname x.example")
        assert doc["kind"] == "smtpd.dns_mismatch"
        doc = parse("postfix/smtpd[1]: warning: connect to 127.0.0.1:10040: Connection refused")
        assert (doc["kind"], doc["level"], doc["text"]) == ("smtpd.warning", "warning",
                                                            "connect to 127.0.0.1:10040: Connection refused")

    def test_every_leveled_line_keeps_its_text(self) -> None:
        """A typed warning keeps its whole text next to the fields taken from it."""
        doc = parse("postfix/smtpd[1]: warning: unknown[192.0.2.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
        assert doc["kind"] == "smtpd.sasl_auth_failed" and doc["sasl_reason"] == "UGFzc3dvcmQ6"
        assert doc["text"] == "unknown[192.0.2.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"


class TestPostscreen:
    """postscreen(8), tlsproxy(8) and dnsblog(8)."""

    CASES = [
        ('postfix/postscreen[1]: CONNECT from [61.238.241.86]:53024 to [89.105.204.244]:25',
         {
             'kind': 'postscreen.connect', 'queue_id': None, 'client_ip': '61.238.241.86', 'client_port': 53024,
             'server_ip': '89.105.204.244', 'server_port': 25,
         }),
        ('postfix/postscreen[1]: PASS NEW [2607:f8b0:4003:c01::23a]:36051',
         {
             'kind': 'postscreen.pass', 'queue_id': None, 'pass_type': 'NEW',
             'client_ip': '2607:f8b0:4003:c01::23a', 'client_port': 36051,
         }),
        ('postfix/postscreen[1]: PREGREET 14 after 0.08 from [192.0.2.2]:59415: EHLO ylmf-pc\\r\\n',
         {
             'kind': 'postscreen.violation', 'queue_id': None, 'violation': 'PREGREET', 'pregreet_bytes': 14,
             'after': 0.08, 'client_ip': '192.0.2.2', 'client_port': 59415, 'text': 'EHLO ylmf-pc\\r\\n',
         }),
        ('postfix/postscreen[1]: HANGUP after 63 from [111.73.45.149]:1038 in tests after SMTP handshake',
         {
             'kind': 'postscreen.violation', 'queue_id': None, 'violation': 'HANGUP', 'after': 63.0,
             'client_ip': '111.73.45.149', 'client_port': 1038, 'test_stage': 'tests after SMTP handshake',
         }),
        ('postfix/postscreen[1]: DNSBL rank 3 for [111.73.45.149]:1038',
         {
             'kind': 'postscreen.dnsbl', 'queue_id': None, 'rank': 3, 'client_ip': '111.73.45.149',
             'client_port': 1038,
         }),
        ('postfix/postscreen[1]: COMMAND PIPELINING from [123.45.67.89]:12345 after : \\r\\n',
         {
             'kind': 'postscreen.violation', 'queue_id': None, 'violation': 'COMMAND PIPELINING',
             'client_ip': '123.45.67.89', 'client_port': 12345, 'stage': '', 'text': '\\r\\n',
         }),
        ('postfix/postscreen[1]: NOQUEUE: reject: CONNECT from [1.2.3.4]:1337: too many connections',
         {
             'kind': 'postscreen.reject', 'queue_id': None, 'action': 'reject', 'stage': 'CONNECT',
             'client_host': None, 'client_ip': '1.2.3.4', 'client_port': 1337, 'reason': 'too many connections',
         }),
        (('postfix/postscreen[1]: NOQUEUE: reject: RCPT from [27.157.200.233]:4984: 550 5.7.1 Service '
            'unavailable; client [27.157.200.233] blocked using zen.spamhaus.org; from=<h@qhhn.com>, '
            'to=<t@example.com>, proto=ESMTP, helo=<qhhn.com>'),
         {
             'kind': 'postscreen.reject', 'queue_id': None, 'action': 'reject', 'stage': 'RCPT',
             'client_host': None, 'client_ip': '27.157.200.233', 'client_port': 4984, 'code': 550,
             'dsn': '5.7.1', 'reason_target': '27.157.200.233', 'dnsbl_check': 'client',
             'dnsbl_domain': 'zen.spamhaus.org', 'reason': 'blocked using zen.spamhaus.org',
             'from': 'h@qhhn.com', 'to': 't@example.com', 'proto': 'ESMTP', 'helo': 'qhhn.com',
         }),
        ('postfix/postscreen[1]: WHITELISTED [61.238.241.86]:53024',
         {
             'kind': 'postscreen.access', 'queue_id': None, 'access': 'WHITELISTED',
             'client_ip': '61.238.241.86', 'client_port': 53024,
         }),
        (('postfix/postscreen[1]: cache btree:/var/lib/postfix/postscreen_cache full cleanup: '
            'retained=242 dropped=7 entries'),
         {
             'kind': 'postscreen.cache_cleanup', 'queue_id': None,
             'cache': 'btree:/var/lib/postfix/postscreen_cache', 'cleanup': 'full', 'retained': 242,
             'dropped': 7,
         }),
        ('postfix/postscreen[1]: DATA without valid RCPT from [123.45.67.89]:12345',
         {
             'kind': 'postscreen.violation', 'queue_id': None, 'violation': 'DATA without valid RCPT',
             'client_ip': '123.45.67.89', 'client_port': 12345,
         }),
        ('postfix/tlsproxy[2]: CONNECT from [82.118.17.142]:51637',
         {'kind': 'tlsproxy.connect', 'queue_id': None, 'client_ip': '82.118.17.142', 'client_port': 51637}),
        ('postfix/dnsblog[3]: addr 61.238.241.86 listed by domain psbl.surriel.com as 127.0.0.2',
         {
             'kind': 'dnsblog.listed', 'queue_id': None, 'client_ip': '61.238.241.86',
             'dnsbl_domain': 'psbl.surriel.com', 'dnsbl_result': '127.0.0.2',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each postscreen line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_bare_client_has_no_host(self) -> None:
        """postscreen names clients as [ip]:port: client_host is null, not an empty string."""
        doc = parse("postfix/postscreen[1]: NOQUEUE: reject: CONNECT from [192.0.2.9]:4711: all server ports busy")
        assert doc["client_host"] is None and doc["client_ip"] == "192.0.2.9" and doc["client_port"] == 4711

    @pytest.mark.parametrize("word", ["WHITELISTED", "ALLOWLISTED", "BLACKLISTED", "DENYLISTED",
                                      "WHITELIST VETO", "ALLOWLIST VETO"])
    def test_access_list_words(self, word: str) -> None:
        """Both the old and the new (Postfix >= 3.6) access-list words are postscreen.access events."""
        doc = parse(f"postfix/postscreen[1]: {word} [192.0.2.9]:4711")
        assert (doc["kind"], doc["access"]) == ("postscreen.access", word)


class TestCleanup:
    """cleanup(8): message-id, header/body checks, milters."""

    CASES = [
        ('postfix/cleanup[1]: 0F5383D: message-id=<544D2523.30609@rhsoft.net>',
         {'kind': 'cleanup.message_id', 'queue_id': '0F5383D', 'message_id': '544D2523.30609@rhsoft.net'}),
        ('postfix/cleanup[1]: 4104E3D: message-id=<>',
         {'kind': 'cleanup.message_id', 'queue_id': '4104E3D', 'message_id': ''}),
        (('postfix/cleanup[10840]: 98AEDA06BC: '
            'message-id=<mx6uP6mfTTuDn6rxYiVTog@ismtpd0036p1iad1.sendgrid.net>"'),
         {
             'kind': 'cleanup.message_id', 'queue_id': '98AEDA06BC',
             'message_id': 'mx6uP6mfTTuDn6rxYiVTog@ismtpd0036p1iad1.sendgrid.net',
         }),
        (('postfix/cleanup[1]: 3mgs0P5v1lz7sh1: '
            'resent-message-id=<DM2PR0801MB602DCC95DD755B7E98634E0EE8D0@DM2PR0801MB602.namp'),
         {
             'kind': 'cleanup.resent_message_id', 'queue_id': '3mgs0P5v1lz7sh1',
             'resent_message_id': 'DM2PR0801MB602DCC95DD755B7E98634E0EE8D0@DM2PR0801MB602.namp',
         }),
        (('postfix/cleanup[1]: 4104E3D: milter-reject: END-OF-MESSAGE from '
            '061238241086.static.ctinets.com[61.238.241.86]: 5.7.1 Blocked by SpamAssassin; '
            'from=<wumt5@cchfdc.com> to=<voorzitter@example.com> proto=ESMTP helo=<ecsolved.com>'),
         {
             'kind': 'cleanup.milter_reject', 'queue_id': '4104E3D', 'action': 'milter-reject',
             'stage': 'END-OF-MESSAGE', 'client_host': '061238241086.static.ctinets.com',
             'client_ip': '61.238.241.86', 'dsn': '5.7.1', 'reason': 'Blocked by SpamAssassin',
             'from': 'wumt5@cchfdc.com', 'to': 'voorzitter@example.com', 'proto': 'ESMTP',
             'helo': 'ecsolved.com',
         }),
        (('postfix/cleanup[1]: 4104E3D: milter-header-redirect: header X-Spam-Status: Yes, score=39.3 '
            'required=5.0 tests=ADVANCE_FE from 061238241086.static.ctinets.com[61.238.241.86]; '
            'from=<wumt5@cchfdc.com> to=<voorzitter@example.com> proto=ESMTP helo=<ecsolved.com>: '
            'tom@example.com'),
         {
             'kind': 'cleanup.milter_header_redirect', 'queue_id': '4104E3D', 'action': 'milter-header-redirect',
             'check': 'header', 'content': 'X-Spam-Status: Yes, score=39.3 required=5.0 tests=ADVANCE_FE',
             'client_host': '061238241086.static.ctinets.com', 'client_ip': '61.238.241.86',
             'from': 'wumt5@cchfdc.com', 'to': 'voorzitter@example.com', 'proto': 'ESMTP',
             'helo': 'ecsolved.com', 'redirect_to': 'tom@example.com',
         }),
        (('postfix/cleanup[1]: 48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 '
            'required=10.0 tests=ADVANCE_FE from mx2.example.org[192.0.2.41]; '
            'from=<noreply@srs.example.org> to=<recipient@example.net> proto=ESMTP '
            'helo=<mx2.example.org>: X-Spam-Status: Yes'),
         {
             'kind': 'cleanup.prepend', 'queue_id': '48rT2v1hQrz1J0N', 'action': 'prepend', 'check': 'header',
             'content': 'X-Spam-Status: Yes, score=45.1 required=10.0 tests=ADVANCE_FE',
             'client_host': 'mx2.example.org', 'client_ip': '192.0.2.41', 'from': 'noreply@srs.example.org',
             'to': 'recipient@example.net', 'proto': 'ESMTP', 'helo': 'mx2.example.org',
             'prepend': 'X-Spam-Status: Yes',
         }),
        (('postfix/cleanup[1]: 4BDA1642D1: reject: header Subject: spam marker from '
            'localhost[127.0.0.1]; from=<a@example.test> to=<c@example.test> proto=ESMTP '
            'helo=<h.example.test>: 5.7.1 message content rejected'),
         {
             'kind': 'cleanup.reject', 'queue_id': '4BDA1642D1', 'action': 'reject', 'check': 'header',
             'content': 'Subject: spam marker', 'client_host': 'localhost', 'client_ip': '127.0.0.1',
             'from': 'a@example.test', 'to': 'c@example.test', 'proto': 'ESMTP', 'helo': 'h.example.test',
             'dsn': '5.7.1', 'reason': 'message content rejected',
         }),
        (('postfix/cleanup[1]: D95341E50350: info: header Subject: hello from local; '
            'from=<from@example.com> to=<to@example.com>'),
         {
             'kind': 'cleanup.info', 'queue_id': 'D95341E50350', 'level': 'info', 'action': 'info',
             'check': 'header', 'content': 'Subject: hello', 'source': 'local', 'from': 'from@example.com',
             'to': 'to@example.com',
             'text': 'header Subject: hello from local; from=<from@example.com> to=<to@example.com>',
         }),
        (('postfix/cleanup[1]: 9BECF3F19D: warning: sender_canonical_maps map lookup problem for '
            'sender@example.com -- message not accepted, try again later'),
         {
             'kind': 'cleanup.warning', 'queue_id': '9BECF3F19D', 'level': 'warning',
             'text': ('sender_canonical_maps map lookup problem for sender@example.com -- message not '
                      'accepted, try again later'),
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each cleanup line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    @pytest.mark.parametrize("action,arg,field,value", [
        ("redirect", "user@example.net", "redirect_to", "user@example.net"),
        ("bcc", "archive@example.net", "bcc_to", "archive@example.net"),
        ("filter", "smtp:[127.0.0.1]:10025", "filter", "smtp:[127.0.0.1]:10025"),
        ("replace", "Subject: [SPAM] hello", "replacement", "Subject: [SPAM] hello"),
        ("hold", "held for review", "reason", "held for review"),
        ("discard", "DISCARD action", "reason", "DISCARD action"),
    ])
    def test_header_check_argument(self, action: str, arg: str, field: str, value: str) -> None:
        """The text after a header check's envelope lands in the field its action gives it a meaning for."""
        doc = parse(f"postfix/cleanup[1]: 4BDA1642D1: {action}: header Subject: hello from localhost[127.0.0.1]; "
                    f"from=<a@example.test> to=<c@example.test> proto=ESMTP helo=<h.example.test>: {arg}")
        assert doc["kind"] == "cleanup." + action and doc["action"] == action
        assert (doc["check"], doc["content"], doc["client_ip"]) == ("header", "Subject: hello", "127.0.0.1")
        assert doc[field] == value


class TestQmgr:
    """qmgr(8): queued, removed, expired."""

    CASES = [
        ('postfix/qmgr[20459]: 3mPVKl0Mhjz7sXv: from=<>, size=2666, nrcpt=2 (queue active)',
         {
             'kind': 'qmgr.queued', 'queue_id': '3mPVKl0Mhjz7sXv', 'from': '', 'size': 2666, 'nrcpt': 2,
             'queue': 'active',
         }),
        ('postfix/qmgr[1626]: ED373F8043E: from=rory@rory-dev.localdomain, size=270, nrcpt=1 (queue active)',
         {
             'kind': 'qmgr.queued', 'queue_id': 'ED373F8043E', 'from': 'rory@rory-dev.localdomain', 'size': 270,
             'nrcpt': 1, 'queue': 'active',
         }),
        ('postfix/qmgr[8204]: AAB4D259B1: removed',
         {'kind': 'qmgr.removed', 'queue_id': 'AAB4D259B1'}),
        ('postfix/qmgr[29983]: 98AEDA06BC: removed"',
         {'kind': 'qmgr.removed', 'queue_id': '98AEDA06BC'}),
        (('postfix/qmgr[3663]: BACE842E73: from=<noreply@domain.com>, status=force-expired, returned '
            'to sender'),
         {
             'kind': 'qmgr.expired', 'queue_id': 'BACE842E73', 'from': 'noreply@domain.com',
             'status': 'force-expired', 'text': 'returned to sender',
         }),
        ('postfix/qmgr[1]: ED06590130AA1C9D6D862: skipped, still being delivered',
         {'kind': 'qmgr.skipped', 'queue_id': 'ED06590130AA1C9D6D862'}),
        ('postfix/qmgr[29980]: warning: please avoid flushing the whole queue when you have',
         {
             'kind': 'qmgr.warning', 'queue_id': None, 'level': 'warning',
             'text': 'please avoid flushing the whole queue when you have',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each qmgr line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_expired_and_force_expired(self) -> None:
        """status=expired and status=force-expired (postsuper -e) are both qmgr.expired, the status kept."""
        for status in ("expired", "force-expired"):
            doc = parse(f"postfix/qmgr[1]: BACE842E72: from=<noreply@example.com>, status={status}, returned to sender")
            assert (doc["kind"], doc["status"], doc["from"]) == ("qmgr.expired", status, "noreply@example.com")


class TestDelivery:
    """Delivery agents (smtp, lmtp, local, virtual, pipe, error, discard) and smtp client events."""

    CASES = [
        (('postfix/smtp[1]: 3mPVKl0Mhjz7sXv: to=<susan.bck@example.org>, '
            'relay=mpafm.example.org[24.100.200.21]:25, conn_use=2, delay=1.2, '
            'delays=0.76/0.01/0.09/0.34, dsn=2.0.0, status=sent (250 2.0.0 t5UI2nBt018923 Message '
            'accepted for delivery)'),
         {
             'kind': 'delivery', 'queue_id': '3mPVKl0Mhjz7sXv', 'to': 'susan.bck@example.org',
             'relay': 'mpafm.example.org[24.100.200.21]:25', 'relay_host': 'mpafm.example.org',
             'relay_ip': '24.100.200.21', 'relay_port': 25, 'conn_use': 2, 'delay': 1.2,
             'delays': {'before_qmgr': 0.76, 'in_qmgr': 0.01, 'conn_setup': 0.09, 'transmission': 0.34},
             'dsn': '2.0.0', 'status': 'sent', 'reply': '250 2.0.0 t5UI2nBt018923 Message accepted for delivery',
             'reply_code': 250, 'reply_enhanced': '2.0.0',
             'reply_text': 't5UI2nBt018923 Message accepted for delivery',
         }),
        (('postfix/smtp[1]: A0E85200BD: to=<whatever-user@lists.example.org>, '
            'relay=open.example.nl[10.49.140.10]:25, delay=2.3, delays=0.25/0.05/2/0.04, dsn=4.2.0, '
            'status=deferred (host open.example.nl[10.49.140.10] said: 450 4.2.0 '
            '<whatever-user@lists.example.org>: Recipient address rejected: Greylisted (in reply to RCPT '
            'TO command))'),
         {
             'kind': 'delivery', 'queue_id': 'A0E85200BD', 'to': 'whatever-user@lists.example.org',
             'relay': 'open.example.nl[10.49.140.10]:25', 'relay_host': 'open.example.nl',
             'relay_ip': '10.49.140.10', 'relay_port': 25, 'delay': 2.3,
             'delays': {'before_qmgr': 0.25, 'in_qmgr': 0.05, 'conn_setup': 2.0, 'transmission': 0.04},
             'dsn': '4.2.0', 'status': 'deferred',
             'reply': ('host open.example.nl[10.49.140.10] said: 450 4.2.0 '
                       '<whatever-user@lists.example.org>: Recipient address rejected: Greylisted (in reply '
                       'to RCPT TO command)'),
             'remote_host': 'open.example.nl', 'remote_ip': '10.49.140.10', 'in_reply_to': 'RCPT TO',
             'reply_code': 450, 'reply_enhanced': '4.2.0',
             'reply_text': '<whatever-user@lists.example.org>: Recipient address rejected: Greylisted',
         }),
        (('postfix/lmtp[1]: AD6E41CDC05C: to=<admin@example.com>, '
            'relay=sub1.example.com[private/dovecot-lmtp], delay=0.15, delays=0.04/0/0.02/0.08, '
            'dsn=2.0.0, status=sent (250 2.0.0 <admin@example.com> qYyyBMsl9FRuZQAAA15QOA Saved)'),
         {
             'kind': 'delivery', 'queue_id': 'AD6E41CDC05C', 'to': 'admin@example.com',
             'relay': 'sub1.example.com[private/dovecot-lmtp]', 'relay_host': 'sub1.example.com',
             'relay_socket': 'private/dovecot-lmtp', 'delay': 0.15,
             'delays': {'before_qmgr': 0.04, 'in_qmgr': 0.0, 'conn_setup': 0.02, 'transmission': 0.08},
             'dsn': '2.0.0', 'status': 'sent',
             'reply': '250 2.0.0 <admin@example.com> qYyyBMsl9FRuZQAAA15QOA Saved', 'reply_code': 250,
             'reply_enhanced': '2.0.0', 'reply_text': '<admin@example.com> qYyyBMsl9FRuZQAAA15QOA Saved',
         }),
        (('postfix/local[1]: 3mLQKH6hqhz7sWK: to=<logspam@system.alerts>, relay=local, delay=3.1, '
            'delays=1.8/0.86/0/0.44, dsn=2.0.0, status=sent (forwarded as 3mLQKK4rDdz7sVS)'),
         {
             'kind': 'delivery', 'queue_id': '3mLQKH6hqhz7sWK', 'to': 'logspam@system.alerts', 'relay': 'local',
             'relay_host': 'local', 'delay': 3.1,
             'delays': {'before_qmgr': 1.8, 'in_qmgr': 0.86, 'conn_setup': 0.0, 'transmission': 0.44},
             'dsn': '2.0.0', 'status': 'sent', 'reply': 'forwarded as 3mLQKK4rDdz7sVS',
             'forwarded_as': '3mLQKK4rDdz7sVS',
         }),
        (('postfix/local[1]: 2A22C263F6: to=user@hostname.example.com, orig_to=root@localhost, '
            'relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to '
            'command: procmail -a "$EXTENSION")'),
         {
             'kind': 'delivery', 'queue_id': '2A22C263F6', 'to': 'user@hostname.example.com',
             'orig_to': 'root@localhost', 'relay': 'local', 'relay_host': 'local', 'delay': 0.07,
             'delays': {'before_qmgr': 0.04, 'in_qmgr': 0.0, 'conn_setup': 0.0, 'transmission': 0.03},
             'dsn': '2.0.0', 'status': 'sent', 'reply': 'delivered to command: procmail -a "$EXTENSION"',
         }),
        (('postfix/pipe[1]: 95ECE24E0: to=<tom@example.com>, relay=dovecot, delay=0.12, '
            'delays=0.03/0/0/0.08, dsn=5.4.6, status=bounced (mail forwarding loop for tom@example.com)'),
         {
             'kind': 'delivery', 'queue_id': '95ECE24E0', 'to': 'tom@example.com', 'relay': 'dovecot',
             'relay_host': 'dovecot', 'delay': 0.12,
             'delays': {'before_qmgr': 0.03, 'in_qmgr': 0.0, 'conn_setup': 0.0, 'transmission': 0.08},
             'dsn': '5.4.6', 'status': 'bounced', 'reply': 'mail forwarding loop for tom@example.com',
         }),
        (('postfix/virtual[1]: B657F2DB195D: to=<postmaster@example.com>, relay=virtual, delay=0.52, '
            'delays=0.51/0.01/0/0, dsn=2.0.0, status=sent (delivered to maildir)'),
         {
             'kind': 'delivery', 'queue_id': 'B657F2DB195D', 'to': 'postmaster@example.com', 'relay': 'virtual',
             'relay_host': 'virtual', 'delay': 0.52,
             'delays': {'before_qmgr': 0.51, 'in_qmgr': 0.01, 'conn_setup': 0.0, 'transmission': 0.0},
             'dsn': '2.0.0', 'status': 'sent', 'reply': 'delivered to maildir',
         }),
        (('postfix/error[1]: 3E29030F8637E: to=<user@yahoo.com>, relay=none, delay=0.01, '
            'delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in virtual '
            'alias table)'),
         {
             'kind': 'delivery', 'queue_id': '3E29030F8637E', 'to': 'user@yahoo.com', 'relay': 'none',
             'relay_host': 'none', 'delay': 0.01,
             'delays': {'before_qmgr': 0.01, 'in_qmgr': 0.0, 'conn_setup': 0.0, 'transmission': 0.0},
             'dsn': '5.1.1', 'status': 'undeliverable-but-not-cached',
             'reply': 'User unknown in virtual alias table',
         }),
        (('postfix/discard[1]: 25F2E5E061: to=<george@test.example.com>, relay=none, delay=0.05, '
            'delays=0.05/0/0/0, dsn=2.0.0, status=sent (test.example.com)'),
         {
             'kind': 'delivery', 'queue_id': '25F2E5E061', 'to': 'george@test.example.com', 'relay': 'none',
             'relay_host': 'none', 'delay': 0.05,
             'delays': {'before_qmgr': 0.05, 'in_qmgr': 0.0, 'conn_setup': 0.0, 'transmission': 0.0},
             'dsn': '2.0.0', 'status': 'sent', 'reply': 'test.example.com',
         }),
        (('postfix/smtp[793146]: 01E12901F9D: to=<postfix-users@postfix.org>, '
            'relay=list.sys4.de[45.90.5.195]:25, delay=5.4, delays=0.08/0.01/3.5/1.9, '
            'tls=dane/!requiretls:nostarttls, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as '
            '4cbdb56t4MzPjfw)'),
         {
             'kind': 'delivery', 'queue_id': '01E12901F9D', 'to': 'postfix-users@postfix.org',
             'relay': 'list.sys4.de[45.90.5.195]:25', 'relay_host': 'list.sys4.de', 'relay_ip': '45.90.5.195',
             'relay_port': 25, 'delay': 5.4,
             'delays': {'before_qmgr': 0.08, 'in_qmgr': 0.01, 'conn_setup': 3.5, 'transmission': 1.9},
             'tls_status': 'dane/!requiretls:nostarttls', 'tls_level': 'dane', 'requiretls': True,
             'requiretls_violation': True, 'requiretls_downgrade_level': 'nostarttls', 'dsn': '2.0.0',
             'status': 'sent', 'reply': '250 2.0.0 Ok: queued as 4cbdb56t4MzPjfw', 'reply_code': 250,
             'reply_enhanced': '2.0.0', 'reply_text': 'Ok: queued as 4cbdb56t4MzPjfw',
             'queued_as': '4cbdb56t4MzPjfw',
         }),
        (('postfix/smtp[12345]: 123456789AB: user@example.com, relay=example.com[123.45.67.89]:25, '
            'delay=2, delays=2/2/2/2, dsn=4.2.2, status=deferred (host example.com[123.45.67.89] said: '
            '452 4.2.2 Mailbox full (in reply to RCPT TO command))'),
         {
             'kind': 'delivery', 'queue_id': '123456789AB', 'relay': 'example.com[123.45.67.89]:25',
             'relay_host': 'example.com', 'relay_ip': '123.45.67.89', 'relay_port': 25, 'delay': 2.0,
             'delays': {'before_qmgr': 2.0, 'in_qmgr': 2.0, 'conn_setup': 2.0, 'transmission': 2.0},
             'dsn': '4.2.2', 'to': 'user@example.com', 'status': 'deferred',
             'reply': ('host example.com[123.45.67.89] said: 452 4.2.2 Mailbox full (in reply to RCPT TO '
                       'command)'),
             'remote_host': 'example.com', 'remote_ip': '123.45.67.89', 'in_reply_to': 'RCPT TO',
             'reply_code': 452, 'reply_enhanced': '4.2.2', 'reply_text': 'Mailbox full',
         }),
        ('postfix/smtp[1]: connect to mail2.example.it[2.115.207.21]:25: No route to host',
         {
             'kind': 'smtp.connect_error', 'queue_id': None, 'relay_host': 'mail2.example.it',
             'relay_ip': '2.115.207.21', 'relay_port': 25, 'error': 'No route to host',
         }),
        (('postfix/smtp[30582]: Verified TLS connection established to '
            'gmail-smtp-in.l.google.com[108.177.14.26]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 '
            '(256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256'),
         {
             'kind': 'smtp.tls', 'queue_id': None, 'tls_trust': 'Verified',
             'relay_host': 'gmail-smtp-in.l.google.com', 'relay_ip': '108.177.14.26', 'relay_port': 25,
             'tls_version': 'TLSv1.3', 'tls_cipher': 'TLS_AES_256_GCM_SHA384', 'tls_cipher_bits': 256,
             'tls_cipher_alg_bits': 256, 'tls_key_exchange': 'X25519', 'tls_server_signature': 'ECDSA',
             'tls_server_digest': 'SHA256', 'tls_server_signature_curve': 'P-256',
         }),
        (('postfix/smtp[1]: 745137AA: lost connection with mx.example.com[104.47.55.161] while sending '
            'RCPT TO'),
         {
             'kind': 'smtp.lost_connection', 'queue_id': '745137AA', 'relay_host': 'mx.example.com',
             'relay_ip': '104.47.55.161', 'stage': 'sending RCPT TO',
         }),
        (('postfix/smtp[1]: 78D6B41: conversation with mx00.example.com[74.208.5.4] timed out while '
            'receiving the initial server greeting'),
         {
             'kind': 'smtp.timeout', 'queue_id': '78D6B41', 'relay_host': 'mx00.example.com',
             'relay_ip': '74.208.5.4', 'stage': 'receiving the initial server greeting',
         }),
        (('postfix/smtp[1]: ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 '
            '<user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT '
            'TO command)'),
         {
             'kind': 'smtp.reply', 'queue_id': 'ED59C3D', 'relay_host': 'mail2.example.com',
             'relay_ip': '1.74.253.23', 'in_reply_to': 'RCPT TO',
             'reply': '450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes',
             'reply_code': 450, 'reply_enhanced': '4.7.1',
             'reply_text': '<user@example.com>: Recipient address rejected: Greylisted for 5 minutes',
         }),
        (('postfix/smtp[1]: 40197AA: host mg2.example.bg[213.91.191.86] refused to talk to me: 450 '
            '4.3.2 try again later'),
         {
             'kind': 'smtp.refused', 'queue_id': '40197AA', 'relay_host': 'mg2.example.bg',
             'relay_ip': '213.91.191.86', 'reply': '450 4.3.2 try again later', 'reply_code': 450,
             'reply_enhanced': '4.3.2', 'reply_text': 'try again later',
         }),
        (('postfix/smtp[1]: certificate verification failed for mail.example.com[113.169.17.115]:25: '
            'self-signed certificate.'),
         {
             'kind': 'smtp.tls_verify_failed', 'queue_id': None, 'relay_host': 'mail.example.com',
             'relay_ip': '113.169.17.115', 'relay_port': 25, 'error': 'self-signed certificate.',
         }),
        ('postfix/smtp[1]: SSL_connect error to mail.example.org[112.63.65.2]:25: lost connection',
         {
             'kind': 'smtp.tls_error', 'queue_id': None, 'relay_host': 'mail.example.org',
             'relay_ip': '112.63.65.2', 'relay_port': 25, 'error': 'lost connection',
         }),
        (('postfix/smtp[1]: B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for '
            'example.com[93.184.216.34]:25'),
         {
             'kind': 'smtp.pix_workaround', 'queue_id': 'B0ADE20FC7',
             'pix_workarounds': 'disable_esmtp delay_dotcrlf', 'relay_host': 'example.com',
             'relay_ip': '93.184.216.34', 'relay_port': 25,
         }),
        (('postfix/smtp[1]: D0F29603B4: SASL authentication failed; server xyz.example.com[1.2.3.4] '
            'said: 535 5.7.8 Error: authentication failed: authentication failure'),
         {
             'kind': 'smtp.sasl_auth_failed', 'queue_id': 'D0F29603B4', 'relay_host': 'xyz.example.com',
             'relay_ip': '1.2.3.4', 'reply': '535 5.7.8 Error: authentication failed: authentication failure',
             'reply_code': 535, 'reply_enhanced': '5.7.8',
             'reply_text': 'Error: authentication failed: authentication failure',
         }),
        ('postfix/smtp[1]: 3mPz615lB2z7sZt: Cannot start TLS: handshake failure',
         {'kind': 'smtp.starttls_failed', 'queue_id': '3mPz615lB2z7sZt', 'error': 'handshake failure'}),
        ('postfix/smtp[1]: Host offered STARTTLS: [relay.example.com]',
         {'kind': 'smtp.starttls_offered', 'queue_id': None, 'relay_host': 'relay.example.com'}),
        (('postfix/smtp[1]: warning: TLS library problem: error:14082174:SSL '
            'routines:SSL3_CHECK_CERT_AND_ALGORITHM:dh key too small:s3_clnt.c:3347:'),
         {
             'kind': 'smtp.tls_error', 'queue_id': None, 'level': 'warning',
             'error': ('error:14082174:SSL routines:SSL3_CHECK_CERT_AND_ALGORITHM:dh key too '
                       'small:s3_clnt.c:3347:'),
             'text': ('TLS library problem: error:14082174:SSL routines:SSL3_CHECK_CERT_AND_ALGORITHM:dh '
                      'key too small:s3_clnt.c:3347:'),
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each delivery agent line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_delays_are_floats(self) -> None:
        """delay=2 is 2.0: a delay is always a float, whatever its digits."""
        doc = parse("postfix/smtp[1]: 7EE668039: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, "
                    "delay=2, delays=1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
        assert isinstance(doc["delay"], float) and doc["delay"] == 2.0
        assert all(isinstance(v, float) for v in doc["delays"].values())

    @pytest.mark.parametrize("tls,expected", [
        ("dane", {"tls_level": "dane"}),
        ("dane:none", {"tls_level": "dane", "tls_downgrade_level": "none"}),
        ("may?", {"tls_level": "may", "tls_policy_undecided": True}),
        ("dane/requiretls", {"tls_level": "dane", "requiretls": True}),
        ("dane/requiretls?", {"tls_level": "dane", "requiretls": True, "requiretls_policy_undecided": True}),
        ("dane/!requiretls:nostarttls", {"tls_level": "dane", "requiretls": True, "requiretls_violation": True,
                                         "requiretls_downgrade_level": "nostarttls"}),
    ])
    def test_tls_feature_status(self, tls: str, expected: Doc) -> None:
        """tls= (Postfix >= 3.11) is kept whole and split into level, downgrade and REQUIRETLS flags."""
        doc = parse("postfix/smtp[1]: 7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, "
                    f"delay=3.6, delays=0.08/0.02/0.85/0.14, tls={tls}, dsn=2.1.5, status=sent (250 2.0.0 Ok)")
        got = {k: v for k, v in doc.items() if k.startswith(("tls_", "requiretls")) and k != "tls_status"}
        assert doc["tls_status"] == tls and got == expected

    def test_socket_in_reply_is_no_ip(self) -> None:
        """'host x[private/dovecot-lmtp] said:' gives remote_socket, never a remote_ip that is no address."""
        doc = parse("postfix/lmtp[31083]: B8C4F1642F1: to=<ghost@example.test>, "
                    "relay=mx.example.test[private/dovecot-lmtp], delay=0.33, delays=0.01/0.23/0.05/0.04, dsn=5.1.1, "
                    "status=bounced (host mx.example.test[private/dovecot-lmtp] said: 550 5.1.1 <ghost@example.test> "
                    "User doesn't exist: ghost@example.test (in reply to RCPT TO command))")
        assert doc["relay_socket"] == doc["remote_socket"] == "private/dovecot-lmtp"
        assert "relay_ip" not in doc and "remote_ip" not in doc
        assert (doc["reply_code"], doc["reply_enhanced"], doc["in_reply_to"]) == (550, "5.1.1", "RCPT TO")

    def test_any_instance_and_service(self) -> None:
        """A delivery line reads the same under another instance or master.cf service name."""
        doc = parse("postfix-out/relay/smtp[8204]: AAB4D259B1: to=<me@example.net>, relay=example.com[127.0.0.1]:25, "
                    "delay=0.1, delays=0.1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as AAB4D259B2)")
        assert (doc["kind"], doc["daemon"], doc["syslog_name"]) == ("delivery", "smtp", "postfix-out/relay")
        assert doc["queued_as"] == "AAB4D259B2"


class TestBounce:
    """bounce(8): notices and their queue ids."""

    CASES = [
        ('postfix/bounce[1]: 17CCA8044: sender non-delivery notification: ADD2F8052',
         {
             'kind': 'bounce.notice', 'queue_id': '17CCA8044', 'notice_to': 'sender', 'notice': 'non_delivery',
             'bounce_queue_id': 'ADD2F8052',
         }),
        ('postfix/bounce[1]: 264FE1A18: sender delay notification: 0A87A1A08',
         {
             'kind': 'bounce.notice', 'queue_id': '264FE1A18', 'notice_to': 'sender', 'notice': 'delay',
             'bounce_queue_id': '0A87A1A08',
         }),
        ('postfix/bounce[1]: 65AFB8B5: sender delivery status notification: 1DF35917',
         {
             'kind': 'bounce.notice', 'queue_id': '65AFB8B5', 'notice_to': 'sender', 'notice': 'success',
             'bounce_queue_id': '1DF35917',
         }),
        ('postfix/bounce[1]: 482E4404AC8: postmaster non-delivery notification: 47335405A44',
         {
             'kind': 'bounce.notice', 'queue_id': '482E4404AC8', 'notice_to': 'postmaster',
             'notice': 'non_delivery', 'bounce_queue_id': '47335405A44',
         }),
        ('postfix/bounce[1]: fatal: append file defer 3lyw0Z2NdSz2xGb: No space left on device',
         {
             'kind': 'bounce.fatal', 'queue_id': '3lyw0Z2NdSz2xGb', 'level': 'fatal', 'logfile': 'defer',
             'text': 'append file defer 3lyw0Z2NdSz2xGb: No space left on device',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each bounce line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_logfile_failure_names_the_message(self) -> None:
        """A bounce daemon failure on one message's logfile keeps that message's queue id."""
        doc = parse("postfix/bounce[1]: warning: lock trace 4E5F61642D1: Resource temporarily unavailable")
        assert (doc["kind"], doc["queue_id"], doc["logfile"]) == ("bounce.warning", "4E5F61642D1", "trace")


class TestPickup:
    """pickup(8), postdrop(1), sendmail(1)."""

    CASES = [
        ('postfix/pickup[1]: D2FAE20586: uid=0 from=<fail2ban>',
         {'kind': 'pickup.submit', 'queue_id': 'D2FAE20586', 'uid': 0, 'from': 'fail2ban'}),
        ('postfix/pickup[1]: 5C4A21642E1: uid=0 from=<alice@example.test> orig_id=4BDA21642D1',
         {
             'kind': 'pickup.submit', 'queue_id': '5C4A21642E1', 'uid': 0, 'from': 'alice@example.test',
             'orig_id': '4BDA21642D1',
         }),
        ('postfix/sendmail[1]: fatal: alice@example.test(0): message file too big',
         {
             'kind': 'sendmail.fatal', 'queue_id': None, 'level': 'fatal', 'submitter': 'alice@example.test',
             'uid': 0, 'text': 'alice@example.test(0): message file too big',
         }),
        ('postfix/postdrop[1]: warning: uid=0: File too large',
         {'kind': 'postdrop.warning', 'queue_id': None, 'level': 'warning', 'text': 'uid=0: File too large'}),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each pickup/postdrop/sendmail line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

class TestPostsuper:
    """postsuper(1): per-message actions and summaries."""

    CASES = [
        ('postfix/postsuper[1]: D4F2023DB: removed',
         {'kind': 'postsuper.removed', 'queue_id': 'D4F2023DB', 'action': 'removed'}),
        ('postfix/postsuper[1]: D4F2023DB: requeued',
         {'kind': 'postsuper.requeued', 'queue_id': 'D4F2023DB', 'action': 'requeued'}),
        ('postfix/postsuper[1]: D4F2023DB: placed on hold',
         {'kind': 'postsuper.held', 'queue_id': 'D4F2023DB', 'action': 'placed on hold'}),
        ('postfix/postsuper[1]: 3nsF2M5j0nz31GS: released from hold',
         {'kind': 'postsuper.released', 'queue_id': '3nsF2M5j0nz31GS', 'action': 'released from hold'}),
        ('postfix/postsuper[1]: Deleted: 115 messages',
         {'kind': 'postsuper.summary', 'queue_id': None, 'action': 'deleted', 'count': 115}),
        ('postfix/postsuper[1]: Requeued: 1 message',
         {'kind': 'postsuper.summary', 'queue_id': None, 'action': 'requeued', 'count': 1}),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each postsuper line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

class TestMisc:
    """master(8), postfix-script, anvil(8), scache(8), verify(8), other daemons' warnings."""

    CASES = [
        ('postfix/master[1]: daemon started -- version 3.7.11, configuration /etc/postfix',
         {'kind': 'master.start', 'queue_id': None, 'version': '3.7.11', 'config_dir': '/etc/postfix'}),
        ('postfix/master[1]: reload -- version 3.7.11, configuration /etc/postfix',
         {'kind': 'master.reload', 'queue_id': None, 'version': '3.7.11', 'config_dir': '/etc/postfix'}),
        ('postfix/master[1]: terminating on signal 15',
         {'kind': 'master.stop', 'queue_id': None, 'signal': 15}),
        ('postfix/master[1]: warning: process /usr/libexec/postfix/smtpd pid 46234 killed by signal 11',
         {
             'kind': 'master.process_died', 'queue_id': None, 'level': 'warning',
             'process': '/usr/libexec/postfix/smtpd', 'pid_killed': 46234, 'signal': 11,
             'text': 'process /usr/libexec/postfix/smtpd pid 46234 killed by signal 11',
         }),
        (('postfix/master[1]: warning: service "smtp" (25) has reached its process limit "100": new '
            'clients may experience noticeable delays'),
         {
             'kind': 'master.process_limit', 'queue_id': None, 'level': 'warning', 'service': 'smtp',
             'service_port': '25', 'limit': 100,
             'text': ('service "smtp" (25) has reached its process limit "100": new clients may experience '
                      'noticeable delays'),
         }),
        ('postfix/postfix-script[1]: starting the Postfix mail system',
         {'kind': 'postfix_script.control', 'queue_id': None, 'action': 'starting'}),
        (('postfix/anvil[1]: statistics: max connection rate 1/60s for (smtpd:61.238.241.86) at Oct 26 '
            '18:13:50'),
         {
             'kind': 'anvil.statistics', 'queue_id': None, 'period': '60s', 'service': 'smtpd',
             'at': 'Oct 26 18:13:50', 'statistic': 'connection rate', 'conn_rate': 1,
             'client_ip': '61.238.241.86',
         }),
        (('postfix/anvil[1]: statistics: max connection count 1 for (127.0.0.1:2525:127.0.0.1) at Oct '
            '26 19:46:00'),
         {
             'kind': 'anvil.statistics', 'queue_id': None, 'service': '127.0.0.1:2525', 'at': 'Oct 26 19:46:00',
             'statistic': 'connection count', 'conn_count': 1, 'client_ip': '127.0.0.1',
         }),
        ('postfix/anvil[1]: statistics: max connection count 1 for (smtp:unknown) at Sep  7 07:14:19',
         {
             'kind': 'anvil.statistics', 'queue_id': None, 'service': 'smtp', 'at': 'Sep  7 07:14:19',
             'statistic': 'connection count', 'conn_count': 1, 'client_ip': None,
         }),
        (('postfix/anvil[1]: statistics: max connection count 1 for (smtpd:2604:8d00:0:1::3) at Oct 26 '
            '17:46:59'),
         {
             'kind': 'anvil.statistics', 'queue_id': None, 'service': 'smtpd', 'at': 'Oct 26 17:46:59',
             'statistic': 'connection count', 'conn_count': 1, 'client_ip': '2604:8d00:0:1::3',
         }),
        ('postfix/anvil[1]: statistics: max cache size 1 at Oct 26 18:13:50',
         {
             'kind': 'anvil.statistics', 'queue_id': None, 'at': 'Oct 26 18:13:50', 'statistic': 'cache size',
             'cache_size': 1,
         }),
        ('postfix/scache[1]: statistics: start interval Dec  6 21:20:35',
         {
             'kind': 'scache.statistics', 'queue_id': None, 'at': 'Dec  6 21:20:35',
             'statistic': 'start interval',
         }),
        ('postfix/scache[1]: statistics: domain lookup hits=0 miss=1 success=0%',
         {
             'kind': 'scache.statistics', 'queue_id': None, 'statistic': 'domain', 'hits': 0, 'miss': 1,
             'success_pct': 0,
         }),
        ('postfix/scache[1]: statistics: max simultaneous domains=1 addresses=1 connection=1',
         {
             'kind': 'scache.statistics', 'queue_id': None, 'domains': 1, 'addresses': 1, 'connections': 1,
             'statistic': 'max simultaneous',
         }),
        (('postfix/verify[1]: cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 '
            'dropped=6 entries'),
         {
             'kind': 'verify.cache_cleanup', 'queue_id': None, 'cache': 'lmdb:/var/lib/postfix/verify_cache',
             'cleanup': 'full', 'retained': 724, 'dropped': 6,
         }),
        ('postfix/trivial-rewrite[1]: warning: virtual_alias_domains lookup failure',
         {
             'kind': 'trivial_rewrite.warning', 'queue_id': None, 'level': 'warning',
             'text': 'virtual_alias_domains lookup failure',
         }),
    ]

    @pytest.mark.parametrize("line,expected", CASES, ids=[case_id(c) for c in CASES])
    def test_fields(self, line: str, expected: Doc) -> None:
        """Each master/anvil/scache/verify line gives its kind and exactly these fields."""
        assert fields(parse(line)) == expected

    def test_table_changed_from_any_daemon(self) -> None:
        """'table ... has changed -- restarting' is typed for whichever daemon wrote it."""
        for daemon in ("smtpd", "cleanup", "trivial-rewrite"):
            doc = parse(f"postfix/{daemon}[1]: table hash:/etc/postfix/transport(0,lock|fold_fix) "
                        "has changed -- restarting")
            assert doc["kind"] == daemon.replace("-", "_") + ".table_changed"
            assert doc["table"] == "hash:/etc/postfix/transport(0,lock|fold_fix)"

    def test_daemon_guessed_without_tag(self) -> None:
        """RFC 5424 with app-name 'postfix' only: the kind comes from the text alone."""
        doc = parse("4FAE3164311: removed", header="<22>1 2026-11-28T22:24:45.501172+00:00 mx postfix 31786 - -  ")
        assert (doc["kind"], doc["queue_id"], doc["daemon"]) == ("qmgr.removed", "4FAE3164311", None)


class TestDamagedDelays:
    def test_damaged_delays_text_is_kept_aside(self) -> None:
        """A delays= value that is not four numbers goes to delays_text; delays stays an object or absent."""
        doc = parse("postfix/smtp[1]: 7EE668039: to=<a@example.com>, relay=none, delay=1, delays=0.1/0.01/zz, "
                    "dsn=4.4.1, status=deferred (connect to x[192.0.2.1]:25: Connection refused)")
        assert doc["kind"] == "delivery" and "delays" not in doc and doc["delays_text"] == "0.1/0.01/zz"
