"""qmail-send line documents: a table of (line, document fields).

Written from qmail-send's log vocabulary (as netqmail/notqmail write it through splogger:
the ``seconds.fraction`` stamp first, or multilog's TAI64N ``@...``). Fields are compared
exactly, except the header's and ``type``/``_id``/``raw``. A delivery line carries only its
delivery number (the message tracker maps it to the message); unknown texts stay unparsed.
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ == "test_line" and metafunc.cls is not None:
        metafunc.parametrize("line, expected", metafunc.cls.CASES)


class TestQmail:
    """Every kind of qmail-send line, with its exact fields."""

    CASES = [
        ('Nov 28 12:00:00 mx qmail: 1196354400.073510 new msg 71512',
         {'kind': 'qmail.new', 'queue_id': '71512', 'qmail_time': 1196354400.07351}),
        ('Nov 28 12:00:00 mx qmail: 1196354400.073820 info msg 71512: bytes 1234 from <ann@example.org> qp 5678 uid 1000',
         {'kind': 'qmail.info',
          'queue_id': '71512',
          'qmail_time': 1196354400.07382,
          'size': 1234,
          'from': 'ann@example.org',
          'qp': 5678,
          'uid': 1000}),
        ('Nov 28 12:00:00 mx qmail: 1196354400.074000 starting delivery 136: msg 71512 to remote bob@example.net',
         {'kind': 'qmail.starting_delivery',
          'queue_id': '71512',
          'qmail_time': 1196354400.074,
          'delivery_id': 136,
          'channel': 'remote',
          'to': 'bob@example.net'}),
        ('Nov 28 12:00:00 mx qmail: 1196354400.074010 status: local 0/10 remote 1/20',
         {'kind': 'qmail.status',
          'queue_id': None,
          'qmail_time': 1196354400.07401,
          'local_used': 0,
          'local_max': 10,
          'remote_used': 1,
          'remote_max': 20}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 delivery 136: success: 198.51.100.9_accepted_message./Remote_host_said:_250_2.0.0_Ok:_queued_as_4ABC/',
         {'kind': 'qmail.delivery',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'delivery_id': 136,
          'result': 'success',
          'status': 'sent',
          'reply': '198.51.100.9_accepted_message./Remote_host_said:_250_2.0.0_Ok:_queued_as_4ABC/',
          'reply_text': '198.51.100.9 accepted message. / Remote host said: 250 2.0.0 Ok: queued as 4ABC',
          'relay_ip': '198.51.100.9',
          'reply_code': 250}),
        ("Nov 28 12:00:01 mx qmail: 1196354401.300000 delivery 137: deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/",
         {'kind': 'qmail.delivery',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'delivery_id': 137,
          'result': 'deferral',
          'status': 'deferred',
          'reply': "Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/",
          'reply_text': "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)",
          'dsn': '4.4.1'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 delivery 138: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/',
         {'kind': 'qmail.delivery',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'delivery_id': 138,
          'result': 'failure',
          'status': 'bounced',
          'reply': 'Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/',
          'reply_text': 'Sorry, no mailbox here by that name. (#5.1.1)',
          'dsn': '5.1.1'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 starting delivery 139: msg 71512 to local ann@example.org',
         {'kind': 'qmail.starting_delivery',
          'queue_id': '71512',
          'qmail_time': 1196354401.3,
          'delivery_id': 139,
          'channel': 'local',
          'to': 'ann@example.org'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 delivery 139: success: did_0+0+1/',
         {'kind': 'qmail.delivery',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'delivery_id': 139,
          'result': 'success',
          'status': 'sent',
          'reply': 'did_0+0+1/',
          'reply_text': 'did 0+0+1'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 bounce msg 71512 qp 5690',
         {'kind': 'qmail.bounce', 'queue_id': '71512', 'qmail_time': 1196354401.3, 'qp': 5690}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 end msg 71512',
         {'kind': 'qmail.end', 'queue_id': '71512', 'qmail_time': 1196354401.3}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 triple bounce: discarding bounce/71513',
         {'kind': 'qmail.triple_bounce', 'queue_id': '71513', 'qmail_time': 1196354401.3}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 status: local 0/10 remote 0/20 exitasap',
         {'kind': 'qmail.status',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'local_used': 0,
          'local_max': 10,
          'remote_used': 0,
          'remote_max': 20,
          'exitasap': True}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 warning: trouble injecting bounce message, will try later',
         {'kind': 'qmail.warning',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'level': 'warning',
          'text': 'trouble injecting bounce message, will try later'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 alert: oh no! lost spawn connection! dying...',
         {'kind': 'qmail.alert',
          'queue_id': None,
          'qmail_time': 1196354401.3,
          'level': 'alert',
          'text': 'oh no! lost spawn connection! dying...'}),
        ('Nov 28 12:00:01 mx qmail-send[123]: delivery 140: report mangled, will defer',
         {'kind': 'qmail.delivery',
          'queue_id': None,
          'delivery_id': 140,
          'status': 'deferred',
          'reply': 'report mangled, will defer'}),
        ('Nov 28 12:00:01 mx qmail: @400000005f5e10000a1b2c3d new msg 71514',
         {'kind': 'qmail.new', 'queue_id': '71514', 'tai64n': '@400000005f5e10000a1b2c3d'}),
        ('Nov 28 12:00:01 mx qmail: new msg 71515',
         {'kind': 'qmail.new', 'queue_id': '71515'}),
        ('Nov 28 12:00:01 mx qmail: 1196354401.300000 something qmail-send never writes',
         {'kind': 'unparsed', 'queue_id': None, 'unparsed_reason': 'message'}),
    ]

    def test_line(self, line: str, expected: Doc) -> None:
        """Each line gives its kind and exactly these fields."""
        assert fields(line) == expected
