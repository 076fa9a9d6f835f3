"""Sending one message over SMTP, with the security mode the settings ask for.

Only the outbox deliverer calls this (never a web request: the network may be slow or down). Every
failure becomes a :class:`MailError` with a message an operator can act on; ``connection_failed``
tells the deliverer the failure is not about this message (server down, TLS or login refused), so
trying the next message now would only fail the same way.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

__all__ = ["send_message", "MailError", "TIMEOUT"]

TIMEOUT = 30.0  # seconds per network operation; keep well under the outbox lease


class MailError(RuntimeError):
    """A mail could not be sent."""

    def __init__(self, message: str, *, connection_failed: bool = False):
        super().__init__(message)
        self.connection_failed = connection_failed


def send_message(settings, msg: EmailMessage, *, timeout: float = TIMEOUT) -> None:
    """Send ``msg`` (envelope from its From/To headers) via ``settings.smtp_*``; raise MailError."""
    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    try:
        smtp = _connect(settings, timeout)
    except smtplib.SMTPAuthenticationError as e:
        raise MailError(f"SMTP server {where} refused the login for {settings.smtp_username!r}: {_reason(e)}",
                        connection_failed=True) from e  # fmt: skip
    except (OSError, smtplib.SMTPException) as e:
        raise MailError(f"cannot connect to the SMTP server {where}: {_reason(e)}", connection_failed=True) from e
    try:
        with smtp:  # QUIT on the way out
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise MailError(f"SMTP server {where} did not accept the mail to {msg['To']}: {_reason(e)}") from e


def _connect(settings, timeout: float) -> smtplib.SMTP:
    """An open, secured and logged-in SMTP session (closed again if any step fails)."""
    context = ssl.create_default_context()
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)  # raises SMTPNotSupportedError if the server cannot
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _reason(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        err = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {err}"
    return str(e) or type(e).__name__
