"""Small types shared by the SMTP and IMAP clients."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal

__all__ = ["ConnectionCheck", "TlsMode", "describe_network_error"]

TlsMode = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of a "test connection" button: `message` is meant for staff."""

    ok: bool
    message: str


def describe_network_error(exc: BaseException, host: str, port: int) -> str:
    """A staff-readable sentence for a connection-level failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The TLS certificate of {host} could not be verified ({exc.verify_message or 'untrusted certificate'})."
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {host}:{port} failed ({exc.reason or type(exc).__name__})."
    if isinstance(exc, TimeoutError):
        return f"{host}:{port} did not answer in time."
    if isinstance(exc, ConnectionRefusedError):
        return f"{host}:{port} refused the connection."
    if isinstance(exc, socket.gaierror):
        return f"The host name {host} could not be resolved."
    return f"Could not talk to {host}:{port} ({type(exc).__name__}: {exc})."
