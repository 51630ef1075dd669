"""Mailbox channels: their settings, the IMAP/SMTP clients built from them, and creating one.

A mailbox channel keeps host names, ports and limits in `Channel.settings` and the user names and
passwords encrypted in `Channel.credentials`. `tls` is "ssl", "starttls" or "none"; "none" is
refused for anything but a server on this machine, so patient mail never crosses a network in the
clear.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier
from converge.practices.models import Practice, StaffMember
from converge.providers.email import ImapMailbox, SmtpSender, TlsMode, is_valid_address
from converge.providers.types import ChannelKind

DEFAULT_POLL_SECONDS = 60
MIN_POLL_SECONDS = 15
DEFAULT_MAX_ATTACHMENT_BYTES = 10_000_000
TLS_MODES: tuple[TlsMode, ...] = ("ssl", "starttls", "none")
_TLS_BY_PORT: dict[int, TlsMode] = {993: "ssl", 143: "starttls", 465: "ssl", 587: "starttls", 25: "starttls"}


class EmailSetupError(ValueError):
    """A setting that cannot work; the message names the field."""


@dataclass(frozen=True)
class EmailConfig:
    address: str
    from_name: str
    imap_host: str
    imap_port: int
    imap_user: str
    imap_password: str
    imap_folder: str
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_tls: TlsMode
    poll_seconds: int
    max_attachment_bytes: int

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def tls_context() -> ssl.SSLContext:
    """Certificates are always verified (the system trust store, or SSL_CERT_FILE)."""
    return ssl.create_default_context()


def email_config(channel: Channel) -> EmailConfig:
    settings: dict[str, Any] = channel.settings or {}
    secrets = channel.credentials()
    imap, smtp = settings.get("imap", {}), settings.get("smtp", {})
    return EmailConfig(
        address=channel.display_address,
        from_name=str(settings.get("from_name") or channel.practice.name),
        imap_host=str(imap.get("host", "")),
        imap_port=int(imap.get("port", 993)),
        imap_user=str(secrets.get("imap_user", "")),
        imap_password=str(secrets.get("imap_password", "")),
        imap_folder=str(imap.get("folder") or "INBOX"),
        imap_tls=imap.get("tls", "ssl"),
        smtp_host=str(smtp.get("host", "")),
        smtp_port=int(smtp.get("port", 587)),
        smtp_user=str(secrets.get("smtp_user", "")),
        smtp_password=str(secrets.get("smtp_password", "")),
        smtp_tls=smtp.get("tls", "starttls"),
        poll_seconds=max(MIN_POLL_SECONDS, int(settings.get("poll_seconds", DEFAULT_POLL_SECONDS))),
        max_attachment_bytes=int(settings.get("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES)),
    )


def mailbox_for(config: EmailConfig) -> ImapMailbox:
    return ImapMailbox(
        config.imap_host,
        config.imap_port,
        config.imap_user,
        config.imap_password,
        folder=config.imap_folder,
        tls=config.imap_tls,
        ssl_context=tls_context(),
        use_idle=False,
    )


def smtp_for(config: EmailConfig) -> SmtpSender:
    return SmtpSender(
        config.smtp_host,
        config.smtp_port,
        config.smtp_user or None,
        config.smtp_password or None,
        tls=config.smtp_tls,
        ssl_context=tls_context(),
        from_address=config.address,
        from_name=config.from_name,
        domain=config.domain,
    )


def _is_local(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_for(field: str, value: str | None, port: int, host: str) -> TlsMode:
    """The TLS mode: as given, else what the port conventionally uses."""
    mode = value or _TLS_BY_PORT.get(port)
    if mode is None:
        raise EmailSetupError(f"{field}: choose ssl, starttls or none (port {port} has no usual mode)")
    if mode not in TLS_MODES:
        raise EmailSetupError(f"{field}: must be ssl, starttls or none")
    if mode == "none" and not _is_local(host):
        raise EmailSetupError(f"{field}: none is only allowed for a server on this machine; use ssl or starttls")
    return mode  # type: ignore[return-value]


def _host(field: str, value: str) -> str:
    host = value.strip()
    if not host or len(host) > 253 or any(c.isspace() or c in "/:@" for c in host):
        raise EmailSetupError(f"{field}: expected a host name such as imap.example.org")
    return host


def _port(field: str, value: int) -> int:
    if not 1 <= value <= 65535:
        raise EmailSetupError(f"{field}: must be between 1 and 65535")
    return value


@dataclass(frozen=True)
class EmailSetup:
    address: str
    imap_host: str
    imap_port: int
    imap_user: str
    imap_password: str
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    imap_folder: str = "INBOX"
    tls: str | None = None  # both servers, unless imap_tls / smtp_tls say otherwise
    imap_tls: str | None = None
    smtp_tls: str | None = None
    name: str = "Email"
    poll_seconds: int = DEFAULT_POLL_SECONDS
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    skip_existing: bool = False


def email_setup_validate(setup: EmailSetup) -> tuple[dict[str, Any], dict[str, str]]:
    """The channel's settings and credentials, or EmailSetupError naming the bad field."""
    address = setup.address.strip().lower()
    if not is_valid_address(address) or "." not in address.rpartition("@")[2]:
        raise EmailSetupError("address: expected the mailbox's email address, e.g. frontdesk@clinic.example")
    if "+" in address.partition("@")[0]:
        raise EmailSetupError("address: must not contain '+' (reply addresses add '+<token>' to it)")
    imap_host, smtp_host = _host("imap-host", setup.imap_host), _host("smtp-host", setup.smtp_host)
    imap_port, smtp_port = _port("imap-port", setup.imap_port), _port("smtp-port", setup.smtp_port)
    imap_tls = tls_for("imap tls", setup.imap_tls or setup.tls, imap_port, imap_host)
    smtp_tls = tls_for("smtp tls", setup.smtp_tls or setup.tls, smtp_port, smtp_host)
    if not setup.imap_user or not setup.imap_password:
        raise EmailSetupError("imap-user / imap-password: both are required")
    folder = setup.imap_folder.strip() or "INBOX"
    if len(folder) > 200:
        raise EmailSetupError("imap-folder: too long")
    if setup.poll_seconds < MIN_POLL_SECONDS:
        raise EmailSetupError(f"poll interval: at least {MIN_POLL_SECONDS} seconds")
    if not 1_000 <= setup.max_attachment_bytes <= 50_000_000:
        raise EmailSetupError("max attachment size: between 1 kB and 50 MB")
    settings = {
        "imap": {"host": imap_host, "port": imap_port, "tls": imap_tls, "folder": folder},
        "smtp": {"host": smtp_host, "port": smtp_port, "tls": smtp_tls},
        "poll_seconds": setup.poll_seconds,
        "max_attachment_bytes": setup.max_attachment_bytes,
        "skip_existing": setup.skip_existing,
    }
    credentials = {
        "imap_user": setup.imap_user,
        "imap_password": setup.imap_password,
        "smtp_user": setup.smtp_user,
        "smtp_password": setup.smtp_password,
    }
    return settings, credentials


def email_channel_create(*, practice: Practice, setup: EmailSetup, actor: StaffMember | str | None) -> Channel:
    settings, credentials = email_setup_validate(setup)
    address = setup.address.strip().lower()
    if Channel.objects.filter(practice=practice, kind=ChannelKind.EMAIL, display_address=address).exists():
        raise EmailSetupError(f"address: this practice already has a channel for {address}")
    with transaction.atomic():
        channel = Channel(
            practice=practice,
            kind=ChannelKind.EMAIL,
            provider=Provider.MAILBOX,
            name=(setup.name or "Email")[:100],
            display_address=address,
            tier=Tier.STANDARD,
            settings=settings,
        )
        channel.set_credentials(credentials)
        channel.save()
        audit_record(
            practice_id=practice.id,
            actor=actor,
            action="channel.create",
            obj=channel,
            detail={"kind": ChannelKind.EMAIL, "provider": Provider.MAILBOX},
        )
    return channel


def email_channel_check(channel: Channel) -> list[tuple[str, bool, str]]:
    """Log in to both servers; (server, ok, staff-readable message) for each."""
    config = email_config(channel)
    imap = mailbox_for(config).check_connection()
    smtp = smtp_for(config).check_connection()
    return [("IMAP", imap.ok, imap.message), ("SMTP", smtp.ok, smtp.message)]
