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

from paperboy.config import Settings

__all__ = ["TIMEOUT", "MailError", "SmtpConnection", "send_message"]

TIMEOUT = 30.0  # seconds per network operation; keep well under the outbox lease


class MailError(RuntimeError):
    """A mail could not be sent.

    ``connection_failed``: not about this mail (server down, TLS or login refused). ``permanent``:
    the server refused this mail or recipient for good (a 5xx answer): trying again is pointless.
    ``code`` is the SMTP reply code when there was one.
    """

    def __init__(self, message: str, *, connection_failed: bool = False, permanent: bool = False, code: int | None = None):
        super().__init__(message)
        self.connection_failed = connection_failed
        self.permanent = permanent
        self.code = code


def send_message(settings: Settings, msg: EmailMessage, *, timeout: float = TIMEOUT) -> None:
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


class SmtpConnection:
    """One SMTP session reused for many mails (opened on the first, reopened after a drop).

    :meth:`send` raises :class:`MailError`: ``permanent`` for a 5xx answer to the recipient or the
    data (the session stays usable: smtplib resets it), ``connection_failed`` when no session can
    be opened; a dropped session or a timeout is a temporary failure of the mail in flight, and the
    next :meth:`send` opens a new session.
    """

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT):
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None
        self.where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"

    @property
    def eight_bit(self) -> bool:
        """Whether the open session takes 8bit bodies (8BITMIME); opens the session if needed."""
        self.open()
        return self.smtp.has_extn("8bitmime")

    def open(self) -> None:
        if self.smtp is None:
            try:
                self.smtp = _connect(self.settings, self.timeout)
            except smtplib.SMTPAuthenticationError as e:
                raise MailError(f"SMTP server {self.where} refused the login for {self.settings.smtp_username!r}: {_reason(e)}",
                                connection_failed=True) from e  # fmt: skip
            except (OSError, smtplib.SMTPException) as e:
                raise MailError(f"cannot connect to the SMTP server {self.where}: {_reason(e)}", connection_failed=True) from e

    def require_smtputf8(self, recipient: str) -> None:
        """A permanent :class:`MailError` unless the server takes SMTPUTF8, which mail to
        ``recipient`` (non-ASCII before the @) needs: no later try would go better."""
        self.open()
        if not self.smtp.has_extn("smtputf8"):
            raise MailError(f"the address {recipient} has non-ASCII letters before the @, which need SMTPUTF8, and the SMTP "
                            f"server {self.where} does not offer it", permanent=True)  # fmt: skip

    def send(self, sender: str, recipient: str, data: bytes, *, eight_bit: bool = False, utf8: bool = False) -> None:
        """Send ``data``; ``utf8``: with SMTPUTF8 (see :meth:`require_smtputf8`)."""
        self.open()
        options = (["BODY=8BITMIME"] if eight_bit else []) + (["SMTPUTF8"] if utf8 else [])
        try:
            self.smtp.sendmail(sender, [recipient], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as e:
            code, answer = next(iter(e.recipients.values()))
            raise MailError(f"{code} {_text(answer)}", permanent=code >= 500, code=code) from e
        except smtplib.SMTPSenderRefused as e:
            self.close()  # about our envelope sender, not this mail: a configuration problem
            raise MailError(f"SMTP server {self.where} refused the sender {sender}: {_reason(e)}",
                            connection_failed=e.smtp_code >= 500, code=e.smtp_code) from e  # fmt: skip
        except smtplib.SMTPResponseException as e:  # DATA refused (smtplib has reset the session)
            if e.smtp_code == 421:
                self.close()
            raise MailError(_reason(e), permanent=e.smtp_code >= 500, code=e.smtp_code) from e
        except (OSError, smtplib.SMTPException) as e:  # dropped, timed out: the mail may or may not have arrived
            self.close()
            raise MailError(f"SMTP session with {self.where} broke: {_reason(e)}") from e

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _text(answer) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)


def _connect(settings: Settings, timeout: float) -> smtplib.SMTP:
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
        smtp.ehlo_or_helo_if_needed()  # so the session's extensions (8BITMIME) are known before the first mail
    except BaseException:
        smtp.close()
        raise
    return smtp


def _reason(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        err = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {err}"
    return str(e) or type(e).__name__
