"""Outgoing e-mail over SMTP (KBCRM_SMTP_* settings): portal invitations.

Off unless KBCRM_SMTP_HOST is set. One connection per batch of messages; a message the
server refuses is reported with the server's reason and does not stop the others.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from kbcrm.settings import Settings


class MailError(Exception):
    """The SMTP server could not be reached or refused the whole batch; the message says why."""


@dataclass(frozen=True)
class Message:
    """One plain-text e-mail."""

    to: str
    subject: str
    text: str


class SmtpMailer:
    """Sends messages through the configured SMTP server (STARTTLS, implicit TLS or plain)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise MailError("KBCRM_SMTP_HOST is not set: e-mail is off")
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer | None:
        """The mailer, or None when e-mail is off (no KBCRM_SMTP_HOST)."""
        return cls(settings) if settings.smtp_host else None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=context)
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        try:
            client.ehlo()
            if s.smtp_security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password.get_secret_value())
        except BaseException:
            client.close()
            raise
        return client

    def send(self, messages: Sequence[Message]) -> list[str | None]:
        """Send each message; per message None (accepted) or the server's reason for refusing it.

        MailError when the server cannot be reached or refuses the connection or login (then nothing was sent).
        """
        s = self.settings
        where = f"SMTP server {s.smtp_host}:{s.smtp_port}"
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{where}: {exc}") from exc
        results: list[str | None] = []
        try:
            for message in messages:
                try:
                    email = EmailMessage()
                    email["From"], email["To"], email["Subject"] = s.mail_from, message.to, message.subject
                    email["Date"], email["Message-ID"] = formatdate(localtime=False), make_msgid(domain="kbcrm")
                    email.set_content(message.text)
                except ValueError as exc:  # a line break or a malformed address in a header: never sent
                    results.append(f"not sent to {message.to!r}: {exc}")
                    continue
                try:
                    client.send_message(email)
                    results.append(None)
                except smtplib.SMTPRecipientsRefused as exc:
                    code, reason = next(iter(exc.recipients.values()))
                    results.append(f"{where} refused {message.to}: {code} {reason.decode(errors='replace')}")
                except smtplib.SMTPResponseException as exc:
                    error = exc.smtp_error
                    text = error.decode(errors="replace") if isinstance(error, bytes) else error
                    results.append(f"{where} refused the message: {exc.smtp_code} {text}")
                    client.rset()
        except (OSError, smtplib.SMTPException) as exc:
            results += [f"{where}: {exc}"] * (len(messages) - len(results))
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return results
