"""A real SMTP server on loopback (aiosmtpd) for the tests that send mail, and what it received.

Mail is tested against a server that speaks SMTP rather than a mock of ``smtplib``: the outbox's
guarantees (once per key, retries, refusals, SMTPUTF8, logins) are about what crosses the wire.
The ``smtp`` fixture in conftest.py starts one per test; a test that needs a server of its own
(a handler that blocks or refuses, SMTPUTF8 off, a login) calls ``start_smtp`` and stops it.
"""

from __future__ import annotations

import asyncio
import email
from email import policy

from aiosmtpd.controller import Controller

from conftest import free_port
from paperboy.config import Settings


class Recorder:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self):
        self.envelopes = []
        self.logins = []  # who the client authenticated as, per mail (None: no login)
        self.delay = 0.0
        self.refuse = {}  # address -> SMTP answers to give its RCPT, first to last ("550 …", "451 …")
        self.sessions = set()  # one entry per SMTP connection that sent mail

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answers = self.refuse.get(address)
        if answers:
            return answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        self.sessions.add(id(session))
        self.logins.append(session.auth_data.login if session.authenticated else None)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


def start_smtp(handler=None, **kw) -> Controller:
    """A started server on a free loopback port handing mail to ``handler`` (a new ``Recorder`` by
    default); ``kw`` go to aiosmtpd's Controller (``enable_SMTPUTF8``, ``authenticator``, …)."""
    controller = Controller(handler or Recorder(), hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    return controller


def smtp_settings(port: int, **kw) -> Settings:
    """Settings that send mail to the loopback server on ``port`` and nothing else."""
    return Settings(smtp_host="127.0.0.1", smtp_port=port, mail_from="Paperboy <paperboy@example.org>", **kw)
