"""Mail: compose a message, queue it in the database, deliver the queue over SMTP.

Callers (password resets now, digests later) only :func:`enqueue` in their own transaction; the
network is touched by :func:`deliver_pending` alone, outside any web request. See
:mod:`paperboy.mail.outbox` for the once-per-key and once-per-row guarantees.
"""

from paperboy.mail.message import compose
from paperboy.mail.outbox import DeliveryReport, deliver_pending, enqueue
from paperboy.mail.smtp import MailError, send_message

__all__ = ["DeliveryReport", "MailError", "compose", "deliver_pending", "enqueue", "send_message"]
