"""Sending mail over SMTP with the standard library (smtplib), outside any Flask app.

One `SmtpSession` is one connection: implicit TLS (MAIL_USE_SSL), STARTTLS
(MAIL_USE_TLS) or plain, with AUTH when MAIL_USERNAME is set; certificates are verified.
`send()` reports each recipient's fate instead of raising for it:

* accepted -> "sent";
* a 5xx for that address (unknown mailbox, ...) -> "bounced": the reader's problem;
* a 4xx for that address (greylisting, mailbox full) -> "deferred": try again later.

Whatever concerns the whole connection raises: the server down or gone mid-batch
(`OSError`/`SMTPException`: the job is retried), wrong credentials (`MailAuthError`, with a
message that says which setting to check), a refused sender (`MailConfigError`).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from processing.mail import envelope_address

CONNECT_TIMEOUT = 30


class MailConfigError(RuntimeError):
    """The mail settings cannot work; the message says which one to fix."""


class MailAuthError(MailConfigError):
    pass


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str
    password: str
    sender: str

    @classmethod
    def from_config(cls, config: dict) -> SmtpSettings:
        if not config.get("MAIL_SERVER"):
            raise MailConfigError("MAIL_SERVER is not set: this blog sends no mail")
        sender = config.get("MAIL_DEFAULT_SENDER") or f"noreply@{config['MAIL_SERVER']}"
        return cls(
            host=config["MAIL_SERVER"],
            port=int(config.get("MAIL_PORT") or 25),
            use_tls=bool(config.get("MAIL_USE_TLS")),
            use_ssl=bool(config.get("MAIL_USE_SSL")),
            username=config.get("MAIL_USERNAME") or "",
            password=config.get("MAIL_PASSWORD") or "",
            sender=sender,
        )


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent", "bounced" or "deferred"
    code: int = 250
    reply: str = ""


class SmtpSession:
    """`with SmtpSession(settings) as smtp: smtp.send(message, to)`; one connection."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSession:
        s = self.settings
        context = ssl.create_default_context()  # verifies the server's certificate
        smtp: smtplib.SMTP
        if s.use_ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=CONNECT_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=CONNECT_TIMEOUT)
        try:
            if s.use_tls and not s.use_ssl:
                smtp.starttls(context=context)
            if s.username:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return self

    def _login(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        try:
            smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as error:
            raise MailAuthError(
                f"SMTP login as {s.username!r} at {s.host}:{s.port} was refused "
                f"({error.smtp_code} {_text(error.smtp_error)}): check MAIL_USERNAME and "
                "MAIL_PASSWORD"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailConfigError(
                f"{s.host}:{s.port} offers no AUTH on this connection: set MAIL_USE_TLS=1 "
                "(STARTTLS) or MAIL_USE_SSL=1, or leave MAIL_USERNAME empty"
            ) from None

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage, to: str) -> Delivery:
        assert self._smtp is not None, "use SmtpSession as a context manager"
        try:
            self._smtp.send_message(
                message, from_addr=envelope_address(self.settings.sender), to_addrs=[to]
            )
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = error.recipients.get(to, (550, b""))
            return _refused(code, reply)
        except smtplib.SMTPDataError as error:  # refused after the content was sent
            self._smtp.rset()
            return _refused(error.smtp_code, error.smtp_error)
        except smtplib.SMTPSenderRefused as error:
            if error.smtp_code < 500:
                raise  # "try later" (a provider's rate limit): the job is retried
            raise MailConfigError(
                f"the SMTP server refused the sender {error.sender!r} ({error.smtp_code} "
                f"{_text(error.smtp_error)}): check MAIL_DEFAULT_SENDER"
            ) from None
        return Delivery("sent")


def _refused(code: int, reply: bytes | str) -> Delivery:
    return Delivery("bounced" if code >= 500 else "deferred", code, _text(reply))


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
