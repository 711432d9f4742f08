"""Programs that share a mail log with Postfix: a table of (line, document fields) per family.

Lines from the peer corpora where they have them (crowdsec hub amavis, msimerson spamd), the
others written from each program's documented log format. Fields compared exactly, except the
header's (``timestamp``, ``host``, ``program``, ``daemon``, ``pid``, ``syslog_name``) and
``type``/``_id``/``raw``. Unknown lines of these programs stay ``unparsed``.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import docs_for

Doc = dict[str, Any]
HEADER = ("type", "_id", "raw", "timestamp", "host", "program", "daemon", "pid", "syslog_name")


def fields(line: str) -> Doc:
    (doc,) = docs_for([line], year=2026)
    assert doc["raw"] == line
    return {k: v for k, v in doc.items() if k not in HEADER}




class LineCases:
    """A family's table of (line, exact fields): each row is one test (see pytest_generate_tests)."""

    CASES: list = []

    def test_line(self, line: str, expected: Doc) -> None:
        """Each line gives its kind and exactly these fields (unknown lines stay unparsed)."""
        assert fields(line) == expected


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ == "test_line" and metafunc.cls is not None:
        metafunc.parametrize("line, expected", metafunc.cls.CASES)


class TestAmavis(LineCases):
    """amavisd-new: Passed/Blocked summaries (crowdsec hub line and the default template), other lines unparsed."""

    CASES = [
        ('Feb 23 04:55:57 mrelmx42 amavis[4051607]: (4051607-09) Blocked INFECTED (Porcupine.Phishing.55542.UNOFFICIAL) {DiscardedInbound,Quarantined}, [192.168.0.1]:1434 [192.168.0.1] <someone1@something1.com> -> <someon2@something2.com>, quarantine: 2/virus-26W2lJY63nCZ, Queue-ID: 83B741009CD35, Message-ID: <20240223075525.8CD9941B67@xxx.xxx.shop>, mail_id: 26W2lJY63nCZ, Hits: -, size: 28646, 104 ms',
         {'kind': 'amavis.blocked',
          'queue_id': '83B741009CD35',
          'log_id': '4051607-09',
          'content_category': 'INFECTED',
          'virus': ['Porcupine.Phishing.55542.UNOFFICIAL'],
          'disposition': ['DiscardedInbound', 'Quarantined'],
          'client_ip': '192.168.0.1',
          'client_port': 1434,
          'origin_ip': '192.168.0.1',
          'from': 'someone1@something1.com',
          'to': ['someon2@something2.com'],
          'quarantine': '2/virus-26W2lJY63nCZ',
          'message_id': '20240223075525.8CD9941B67@xxx.xxx.shop',
          'mail_id': '26W2lJY63nCZ',
          'hits': None,
          'size': 28646,
          'elapsed_ms': 104}),
        ('Nov 28 10:00:01 mx amavis[2222]: (02222-02) Blocked SPAM {DiscardedInbound,Quarantined}, [198.51.100.9]:40122 [198.51.100.9] <spammer@example.com> -> <bob@example.net>, quarantine: spam-Xa1bC2dE3fGh, Queue-ID: 4C1D2E3F40, Message-ID: <spam1@example.com>, mail_id: Xa1bC2dE3fGh, Hits: 12.345, size: 4567, 2345 ms',
         {'kind': 'amavis.blocked',
          'queue_id': '4C1D2E3F40',
          'log_id': '02222-02',
          'content_category': 'SPAM',
          'disposition': ['DiscardedInbound', 'Quarantined'],
          'client_ip': '198.51.100.9',
          'client_port': 40122,
          'origin_ip': '198.51.100.9',
          'from': 'spammer@example.com',
          'to': ['bob@example.net'],
          'quarantine': 'spam-Xa1bC2dE3fGh',
          'message_id': 'spam1@example.com',
          'mail_id': 'Xa1bC2dE3fGh',
          'hits': 12.345,
          'size': 4567,
          'elapsed_ms': 2345}),
        ('Nov 28 10:00:01 mx amavis[2222]: (02222-03) Blocked BANNED (multipart/mixed | application/x-msdownload,.exe,invoice.exe) {DiscardedInbound,Quarantined}, [198.51.100.9]:40122 [198.51.100.9] <a@example.com> -> <bob@example.net>, quarantine: banned-Ya1, Queue-ID: 4C1D2E3F41, Message-ID: <b1@example.com>, mail_id: Ya1, Hits: -, size: 9999, 120 ms',
         {'kind': 'amavis.blocked',
          'queue_id': '4C1D2E3F41',
          'log_id': '02222-03',
          'content_category': 'BANNED',
          'banned': 'multipart/mixed | application/x-msdownload,.exe,invoice.exe',
          'disposition': ['DiscardedInbound', 'Quarantined'],
          'client_ip': '198.51.100.9',
          'client_port': 40122,
          'origin_ip': '198.51.100.9',
          'from': 'a@example.com',
          'to': ['bob@example.net'],
          'quarantine': 'banned-Ya1',
          'message_id': 'b1@example.com',
          'mail_id': 'Ya1',
          'hits': None,
          'size': 9999,
          'elapsed_ms': 120}),
        ('Nov 28 10:00:01 mx amavis[2222]: (02222-04) Passed BAD-HEADER-0 {RelayedInbound,Quarantined}, LOCAL [127.0.0.1]:40122 <a@example.com> -> <bob@example.net>,<carl@example.net>, Queue-ID: 4C1D2E3F42, Message-ID: <b2@example.com>, mail_id: Za1, Hits: 0.5, size: 999, queued_as: 5DEF1, 6ABC2, 120 ms',
         {'kind': 'amavis.passed',
          'queue_id': '4C1D2E3F42',
          'log_id': '02222-04',
          'content_category': 'BAD-HEADER-0',
          'disposition': ['RelayedInbound', 'Quarantined'],
          'origin_flags': ['LOCAL'],
          'client_ip': '127.0.0.1',
          'client_port': 40122,
          'from': 'a@example.com',
          'to': ['bob@example.net', 'carl@example.net'],
          'message_id': 'b2@example.com',
          'mail_id': 'Za1',
          'hits': 0.5,
          'size': 999,
          'queued_as': ['5DEF1', '6ABC2'],
          'elapsed_ms': 120}),
        ('Nov 28 10:00:01 mx amavis[2222]: (02222-04) extra modules loaded after daemonizing/chrooting: Mail/SPF.pm',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestOpenDKIM(LineCases):
    """OpenDKIM: signing, verification, key errors and reasons not to sign, each with the queue id."""

    CASES = [
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: DKIM-Signature field added (s=mail, d=example.org)',
         {'kind': 'opendkim.signed', 'queue_id': '4ABC123', 'selector': 'mail', 'domain': 'example.org'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: s=mail d=example.org SSL error:04091068:rsa routines:INT_RSA_VERIFY:bad signature',
         {'kind': 'opendkim.ssl_error',
          'queue_id': '4ABC123',
          'selector': 'mail',
          'domain': 'example.org',
          'error': 'error:04091068:rsa routines:INT_RSA_VERIFY:bad signature'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: bad signature data',
         {'kind': 'opendkim.bad_signature', 'queue_id': '4ABC123'}),
        ("Nov 28 10:00:02 mx opendkim[311]: 4ABC123: no signing table match for 'ann@example.org'",
         {'kind': 'opendkim.no_signing_table_match', 'queue_id': '4ABC123', 'address': 'ann@example.org'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: key retrieval failed (s=mail, d=example.org)',
         {'kind': 'opendkim.key_retrieval_failed',
          'queue_id': '4ABC123',
          'selector': 'mail',
          'domain': 'example.org'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: [192.0.2.7] [192.0.2.7] not internal',
         {'kind': 'opendkim.not_internal',
          'queue_id': '4ABC123',
          'client_host': None,
          'client_ip': '192.0.2.7'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: mx.example.org [192.0.2.7] not internal',
         {'kind': 'opendkim.not_internal',
          'queue_id': '4ABC123',
          'client_host': 'mx.example.org',
          'client_ip': '192.0.2.7'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: not authenticated',
         {'kind': 'opendkim.not_authenticated', 'queue_id': '4ABC123'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: DKIM verification successful',
         {'kind': 'opendkim.verified', 'queue_id': '4ABC123'}),
        ('Nov 28 10:00:02 mx opendkim[311]: OpenDKIM Filter v2.11.0 starting (args: -P /run/opendkim/opendkim.pid -p local:/run/opendkim/opendkim.sock)',
         {'kind': 'opendkim.start',
          'queue_id': None,
          'version': '2.11.0',
          'text': 'args: -P /run/opendkim/opendkim.pid -p local:/run/opendkim/opendkim.sock'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: no signature data',
         {'kind': 'opendkim.no_signature', 'queue_id': '4ABC123'}),
        ('Nov 28 10:00:02 mx opendkim[311]: 4ABC123: some new message of a later version',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestOpenDMARC(LineCases):
    """OpenDMARC: the DMARC verdict and the SPF result it saw, each with the queue id."""

    CASES = [
        ('Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: example.org pass',
         {'kind': 'opendmarc.result',
          'queue_id': '4ABC123',
          'from_domain': 'example.org',
          'dmarc_result': 'pass'}),
        ('Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: SPF(mailfrom): example.org pass',
         {'kind': 'opendmarc.spf',
          'queue_id': '4ABC123',
          'spf_identity': 'mailfrom',
          'domain': 'example.org',
          'spf_result': 'pass'}),
        ('Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: example.com none',
         {'kind': 'opendmarc.result',
          'queue_id': '4ABC123',
          'from_domain': 'example.com',
          'dmarc_result': 'none'}),
        ('Nov 28 10:00:02 mx opendmarc[312]: OpenDMARC Filter v1.4.2 starting (args: -c /etc/opendmarc.conf)',
         {'kind': 'opendmarc.start',
          'queue_id': None,
          'version': '1.4.2',
          'text': 'args: -c /etc/opendmarc.conf'}),
        ('Nov 28 10:00:03 mx opendmarc[312]: 4ABC123: example.org bogus',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestPolicydSpf(LineCases):
    """SPF policy servers: python policyd-spf and Perl postfix/policy-spf results, rejections and actions."""

    CASES = [
        ('Nov 28 10:00:04 mx policyd-spf[313]: prepend Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=<UNKNOWN>',
         {'kind': 'policyd_spf.result',
          'queue_id': None,
          'action': 'prepend',
          'spf_result': 'pass',
          'comment': 'mailfrom',
          'identity': 'mailfrom',
          'client_ip': '192.0.2.7',
          'helo': 'mx.example.org',
          'from': 'ann@example.org',
          'receiver': None}),
        ('Nov 28 10:00:04 mx policyd-spf[313]: prepend Received-SPF: Softfail (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=<UNKNOWN>',
         {'kind': 'policyd_spf.result',
          'queue_id': None,
          'action': 'prepend',
          'spf_result': 'softfail',
          'comment': 'mailfrom',
          'identity': 'mailfrom',
          'client_ip': '192.0.2.7',
          'helo': 'mx.example.org',
          'from': 'ann@example.org',
          'receiver': None}),
        ('Nov 28 10:00:04 mx policyd-spf[313]: Softfail; identity=mailfrom; client-ip=192.0.2.7; helo=mx.example.org; envelope-from=ann@example.org; receiver=bob@example.net',
         {'kind': 'policyd_spf.result',
          'queue_id': None,
          'spf_result': 'softfail',
          'identity': 'mailfrom',
          'client_ip': '192.0.2.7',
          'helo': 'mx.example.org',
          'from': 'ann@example.org',
          'receiver': 'bob@example.net'}),
        ('Nov 28 10:00:04 mx policyd-spf[313]: 550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mailfrom;id=ann@example.org;ip=192.0.2.7;r=<UNKNOWN>',
         {'kind': 'policyd_spf.reject',
          'queue_id': None,
          'code': 550,
          'dsn': '5.7.23',
          'reason': 'Message rejected due to: SPF fail - not authorized. Please see '
           'http://www.openspf.net/Why?s=mailfrom;id=ann@example.org;ip=192.0.2.7;r=<UNKNOWN>'}),
        ('Nov 28 10:00:04 mx postfix/policy-spf[314]: Policy action=PREPEND Received-SPF: pass (example.org: 192.0.2.7 is authorized to use \'ann@example.org\' in \'mfrom\' identity (mechanism \'ip4:192.0.2.0/24\' matched)) receiver=mx.example.net; identity=mailfrom; envelope-from="ann@example.org"; helo=mx.example.org; client-ip=192.0.2.7',
         {'kind': 'policyd_spf.result',
          'queue_id': None,
          'action': 'prepend',
          'spf_result': 'pass',
          'comment': "example.org: 192.0.2.7 is authorized to use 'ann@example.org' in 'mfrom' identity "
            "(mechanism 'ip4:192.0.2.0/24' matched)",
          'receiver': 'mx.example.net',
          'identity': 'mailfrom',
          'from': 'ann@example.org',
          'helo': 'mx.example.org',
          'client_ip': '192.0.2.7'}),
        ('Nov 28 10:00:04 mx postfix/policy-spf[314]: Policy action=DUNNO',
         {'kind': 'policyd_spf.action', 'queue_id': None, 'action': 'dunno'}),
    ]


    def test_postfix_policy_spf_tag(self) -> None:
        """The Perl server's tag postfix/policy-spf is read by this parser, not as a Postfix daemon."""
        (doc,) = docs_for([self.CASES[4][0]], year=2026)
        assert (doc["daemon"], doc["syslog_name"], doc["kind"]) == ("policy-spf", "postfix", "policyd_spf.result")


class TestPostgrey(LineCases):
    """postgrey: greylist and pass decisions with the triplet, other lines unparsed."""

    CASES = [
        ('Nov 28 10:00:05 mx postgrey[315]: action=greylist, reason=new, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net',
         {'kind': 'postgrey.greylist',
          'queue_id': None,
          'action': 'greylist',
          'reason': 'new',
          'client_host': 'mx.example.org',
          'client_ip': '192.0.2.7',
          'from': 'ann@example.org',
          'to': 'bob@example.net'}),
        ('Nov 28 10:00:05 mx postgrey[315]: action=pass, reason=triplet found, delay=300, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net',
         {'kind': 'postgrey.pass',
          'queue_id': None,
          'action': 'pass',
          'reason': 'triplet found',
          'delay': 300,
          'client_host': 'mx.example.org',
          'client_ip': '192.0.2.7',
          'from': 'ann@example.org',
          'to': 'bob@example.net'}),
        ('Nov 28 10:00:05 mx postgrey[315]: cleaning up old logs...',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
        ('Nov 28 10:00:05 mx postgrey[315]: action=reject, reason=blacklisted, client_name=mx.example.org, client_address=192.0.2.7, sender=ann@example.org, recipient=bob@example.net',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestSpamd(LineCases):
    """SpamAssassin spamd: result lines, spam/clean summaries, connections and processing."""

    CASES = [
        ('Nov 28 10:00:06 mx spamd[316]: spamd: result: Y 9 - BAYES_99,HTML_MESSAGE scantime=0.5,size=1234,user=nagios,uid=1209,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=41234,mid=<id@example.org>,autolearn=no',
         {'kind': 'spamd.result',
          'queue_id': None,
          'is_spam': True,
          'score': 9.0,
          'symbols': ['BAYES_99', 'HTML_MESSAGE'],
          'scantime': 0.5,
          'size': 1234,
          'user': 'nagios',
          'uid': 1209,
          'required_score': 5.0,
          'client_host': 'localhost',
          'client_ip': '127.0.0.1',
          'client_port': 41234,
          'message_id': 'id@example.org',
          'autolearn': 'no'}),
        ('Nov 28 10:00:06 mx spamd[316]: spamd: result: . -1 - ALL_TRUSTED scantime=0.2,size=345,user=alice,uid=1000,required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport=41236,mid=<id2@example.org>,bayes=0.000000,autolearn=ham autolearn_force=no',
         {'kind': 'spamd.result',
          'queue_id': None,
          'is_spam': False,
          'score': -1.0,
          'symbols': ['ALL_TRUSTED'],
          'scantime': 0.2,
          'size': 345,
          'user': 'alice',
          'uid': 1000,
          'required_score': 5.0,
          'client_host': 'localhost',
          'client_ip': '127.0.0.1',
          'client_port': 41236,
          'message_id': 'id2@example.org',
          'bayes': 0.0,
          'autolearn': 'ham',
          'autolearn_force': 'no'}),
        ('Jul  5 06:52:01 prd-mx1 spamd[11526]: spamd: identified spam (9.3/5.0) for nagios:1209 in 0.8 seconds, 5 bytes.',
         {'kind': 'spamd.spam',
          'queue_id': None,
          'is_spam': True,
          'score': 9.3,
          'required_score': 5.0,
          'user': 'nagios',
          'uid': 1209,
          'scantime': 0.8,
          'size': 5}),
        ('Nov 28 10:00:06 mx spamd[316]: spamd: clean message (-1.2/5.0) for alice:1000 in 0.3 seconds, 1234 bytes.',
         {'kind': 'spamd.clean',
          'queue_id': None,
          'is_spam': False,
          'score': -1.2,
          'required_score': 5.0,
          'user': 'alice',
          'uid': 1000,
          'scantime': 0.3,
          'size': 1234}),
        ('Nov 28 10:00:06 mx spamd[316]: spamd: connection from localhost [127.0.0.1]:41234 to port 783, fd 5',
         {'kind': 'spamd.connection',
          'queue_id': None,
          'client_host': 'localhost',
          'client_ip': '127.0.0.1',
          'client_port': 41234,
          'server_port': 783}),
        ('Nov 28 10:00:06 mx spamd[316]: spamd: processing message <id@example.org> for nagios:1209',
         {'kind': 'spamd.processing',
          'queue_id': None,
          'message_id': 'id@example.org',
          'user': 'nagios',
          'uid': 1209}),
        ('Nov 28 10:00:06 mx spamd[316]: prefork: child states: II',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestRspamd(LineCases):
    """rspamd: the task summary with action, score, symbols and envelope."""

    CASES = [
        ('Nov 28 10:00:07 mx rspamd[317]: <8d7f2a>; task; rspamd_task_write_log: id: <id@example.org>, qid: <4ABC123>, ip: 192.0.2.7, from: <ann@example.org>, (default: F (no action): [1.23/15.00] [BAYES_HAM(-3.00){99.9%;},R_SPF_ALLOW(-0.20){+ip4:192.0.2.0/24;}]), len: 1234, time: 56.789ms, dns req: 3, digest: <0f2c9a>, rcpts: <bob@example.net>, mime_rcpts: <bob@example.net>',
         {'kind': 'rspamd.result',
          'queue_id': '4ABC123',
          'task_id': '8d7f2a',
          'metric': 'default',
          'is_spam': False,
          'action': 'no action',
          'score': 1.23,
          'required_score': 15.0,
          'symbols': ['BAYES_HAM', 'R_SPF_ALLOW'],
          'message_id': 'id@example.org',
          'client_ip': '192.0.2.7',
          'from': 'ann@example.org',
          'size': 1234,
          'elapsed_ms': 56.789,
          'dns_requests': 3,
          'digest': '0f2c9a',
          'to': ['bob@example.net'],
          'mime_to': ['bob@example.net']}),
        ('Nov 28 10:00:07 mx rspamd[317]: <8d7f2b>; task; rspamd_task_write_log: id: <undef>, qid: <undef>, ip: 192.0.2.8, from: <>, (default: T (reject): [17.50/15.00] [GTUBE(15.00){},MISSING_DATE(1.00){}]), len: 68, time: 12.1ms, dns req: 0, digest: <abcd>, rcpts: <bob@example.net,carl@example.net>, mime_rcpts: <>',
         {'kind': 'rspamd.result',
          'queue_id': None,
          'task_id': '8d7f2b',
          'metric': 'default',
          'is_spam': True,
          'action': 'reject',
          'score': 17.5,
          'required_score': 15.0,
          'symbols': ['GTUBE', 'MISSING_DATE'],
          'client_ip': '192.0.2.8',
          'from': '',
          'size': 68,
          'elapsed_ms': 12.1,
          'dns_requests': 0,
          'digest': 'abcd',
          'to': ['bob@example.net', 'carl@example.net']}),
        ('Nov 28 10:00:07 mx rspamd[317]: <8d7f2c>; task; rspamd_task_write_log: malformed',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]



class TestClamav(LineCases):
    """ClamAV: clamd findings and database checks, clamsmtpd verdicts, clamav-milter infections."""

    CASES = [
        ('Nov 28 10:00:08 mx clamd[318]: /var/spool/amavisd/tmp/amavis-20261128T100000-02222/parts/p001: Eicar-Signature FOUND',
         {'kind': 'clamav.found',
          'queue_id': None,
          'path': '/var/spool/amavisd/tmp/amavis-20261128T100000-02222/parts/p001',
          'virus': ['Eicar-Signature']}),
        ('Nov 28 10:00:08 mx clamd[318]: SelfCheck: Database status OK.',
         {'kind': 'clamav.selfcheck', 'queue_id': None, 'text': 'Database status OK.'}),
        ('Nov 28 10:00:08 mx clamsmtpd[319]: 100004: from=ann@example.org, to=bob@example.net, status=VIRUS:Eicar-Test-Signature',
         {'kind': 'clamav.smtp_verdict',
          'queue_id': None,
          'connection_id': '100004',
          'from': 'ann@example.org',
          'to': ['bob@example.net'],
          'status': 'VIRUS',
          'virus': ['Eicar-Test-Signature']}),
        ('Nov 28 10:00:08 mx clamsmtpd[319]: 100005: from=ann@example.org, to=bob@example.net, to=carl@example.net, status=CLEAN',
         {'kind': 'clamav.smtp_verdict',
          'queue_id': None,
          'connection_id': '100005',
          'from': 'ann@example.org',
          'to': ['bob@example.net', 'carl@example.net'],
          'status': 'CLEAN'}),
        ("Nov 28 10:00:08 mx clamav-milter[320]: Message 4ABC123 from <ann@example.org> to <bob@example.net> with subject 'hi' message-id '<id@example.org>' date 'Sat, 28 Nov 2026 10:00:00 +0000' infected by Eicar-Test-Signature",
         {'kind': 'clamav.milter_infected',
          'queue_id': '4ABC123',
          'from': 'ann@example.org',
          'to': ['bob@example.net'],
          'message_id': 'id@example.org',
          'virus': ['Eicar-Test-Signature']}),
        ('Nov 28 10:00:08 mx clamd[318]: /var/spool/amavisd/tmp/amavis-20261128T100000-02222/parts/p002: OK',
         {'kind': 'clamav.clean',
          'queue_id': None,
          'path': '/var/spool/amavisd/tmp/amavis-20261128T100000-02222/parts/p002'}),
        ('Nov 28 10:00:08 mx clamd[318]: Database correctly reloaded (8712345 signatures)',
         {'kind': 'clamav.reloaded', 'queue_id': None, 'signatures': 8712345}),
        ('Nov 28 10:00:08 mx clamd[318]: Sat Nov 28 10:00:08 2026 -> /tmp/clamd-scan/msg.eml: Win.Test.EICAR_HDB-1 FOUND',
         {'kind': 'clamav.found',
          'queue_id': None,
          'path': '/tmp/clamd-scan/msg.eml',
          'virus': ['Win.Test.EICAR_HDB-1']}),
        ('Nov 28 10:00:08 mx clamd[318]: Reading databases from /var/lib/clamav',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
        ('Nov 28 10:00:08 mx clamav-milter[320]: Message 4ABC124 infected by Eicar-Test-Signature',
         {'kind': 'clamav.milter_infected', 'queue_id': '4ABC124', 'virus': ['Eicar-Test-Signature']}),
    ]

