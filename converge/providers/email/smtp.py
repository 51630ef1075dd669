"""Send mail with smtplib, mapping every failure to Retryable/PermanentSendError."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from converge.providers.email.common import ConnectionCheck, TlsMode, describe_network_error
from converge.providers.email.compose import OutgoingAttachment, compose_email
from converge.providers.types import (
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
    SendError,
)

__all__ = ["SmtpSender", "classify_smtp_error"]

logger = logging.getLogger(__name__)


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()[:500]


def _by_code(code: int, message: bytes | str, what: str) -> SendError:
    reason = f"{what}: {_reply_text(code, message)}"
    if 500 <= code < 600:
        return PermanentSendError(reason, code=str(code))
    return RetryableSendError(reason, code=str(code))


def classify_smtp_error(exc: BaseException, host: str = "", port: int = 0) -> SendError:
    """Retryable for 4xx replies and network trouble, Permanent for 5xx and bad credentials."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return _by_code(exc.smtp_code, exc.smtp_error, "The mail server could not log in now")
        return PermanentSendError(
            f"The mail server rejected the username or password ({_reply_text(exc.smtp_code, exc.smtp_error)}).",
            code="auth",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentSendError(f"The mail server does not support a required feature ({exc}).", code="config")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        for code, message in exc.recipients.values():
            return _by_code(code, message, "The mail server refused the recipient")
        return RetryableSendError("The mail server refused the recipient.")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _by_code(exc.smtp_code, exc.smtp_error, "The mail server refused the sender")
    if isinstance(exc, smtplib.SMTPDataError):
        return _by_code(exc.smtp_code, exc.smtp_error, "The mail server refused the message")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, exc.smtp_error, "The mail server answered")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if "timed out" in str(exc):  # smtplib reports a read timeout as a disconnect
            return RetryableSendError(describe_network_error(TimeoutError(), host, port), code="network")
        return RetryableSendError("The mail server closed the connection.", code="disconnected")
    if isinstance(exc, ssl.SSLCertVerificationError):
        # A configuration problem: retrying will not help until someone fixes it.
        return PermanentSendError(describe_network_error(exc, host, port), code="tls")
    if isinstance(exc, OSError):
        return RetryableSendError(describe_network_error(exc, host, port), code="network")
    return RetryableSendError(f"Sending failed ({type(exc).__name__}).", code="error")


class SmtpSender:
    """Sends `OutboundMessage`s through one SMTP account; one connection per send."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        *,
        tls: TlsMode,
        timeout: float = 20,
        ssl_context: ssl.SSLContext | None = None,
        from_address: str = "",
        from_name: str = "",
        domain: str = "",
        local_hostname: str | None = None,
    ) -> None:
        if tls not in ("starttls", "ssl", "none"):
            raise ValueError("tls must be 'starttls', 'ssl' or 'none'")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls: TlsMode = tls
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.from_address = from_address
        self.from_name = from_name
        self.domain = domain or from_address.rpartition("@")[2]
        self.local_hostname = local_hostname

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        client: smtplib.SMTP
        if self.tls == "ssl":
            client = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._context(),
            )
        else:
            client = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            client.ehlo()
            if self.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise PermanentSendError(
                        "The mail server does not offer STARTTLS; choose another TLS mode.",
                        code="config",
                    )
                client.starttls(context=self._context())
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(
        self,
        message: OutboundMessage,
        *,
        from_address: str | None = None,
        from_name: str | None = None,
        domain: str | None = None,
        attachments: Sequence[OutgoingAttachment] = (),
    ) -> ProviderReceipt:
        sender = from_address or self.from_address
        try:
            msg = compose_email(
                message,
                from_address=sender,
                from_name=self.from_name if from_name is None else from_name,
                domain=domain or self.domain or sender.rpartition("@")[2],
                attachments=attachments,
            )
        except ValueError as exc:
            raise PermanentSendError(f"The email could not be built: {exc}.", code="invalid") from None
        return self.send_email(msg, envelope_from=sender, recipients=[message.to_address])

    def send_email(
        self,
        msg: EmailMessage,
        *,
        envelope_from: str | None = None,
        recipients: Sequence[str] | None = None,
    ) -> ProviderReceipt:
        """Send an already composed mail. The receipt's id is its Message-ID header."""
        message_id = str(msg.get("Message-ID", "")).strip()
        try:
            client = self._connect()
        except Exception as exc:
            raise self._failed(exc) from None
        try:
            client.send_message(
                msg,
                from_addr=envelope_from or self.from_address or None,
                to_addrs=list(recipients) if recipients is not None else None,
            )
        except Exception as exc:
            client.close()
            raise self._failed(exc) from None
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            # The server accepted the mail; a failing QUIT must not cause a second send.
            client.close()
        logger.info("smtp sent host=%s message_id=%s", self.host, message_id)
        return ProviderReceipt(provider_message_id=message_id)

    def _failed(self, exc: Exception) -> SendError:
        error = classify_smtp_error(exc, self.host, self.port)
        logger.warning(
            "smtp send failed host=%s kind=%s code=%s",
            self.host,
            type(error).__name__,
            error.code,
        )
        return error

    def check_connection(self) -> ConnectionCheck:
        """Connect, negotiate TLS, log in and say goodbye; for a "test connection" button."""
        try:
            client = self._connect()
        except Exception as exc:
            return ConnectionCheck(False, classify_smtp_error(exc, self.host, self.port).reason)
        try:
            client.noop()
            client.quit()
        except (smtplib.SMTPException, OSError) as exc:
            client.close()
            return ConnectionCheck(False, classify_smtp_error(exc, self.host, self.port).reason)
        login = " and logged in" if self.username else ""
        return ConnectionCheck(True, f"Connected to {self.host}:{self.port}{login}.")
