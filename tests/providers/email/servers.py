"""pytest fixtures with real mail servers; import the ones a test module uses from here.

(tests/providers/conftest.py belongs to another part of the suite, so these are explicit.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.providers.email.mailservers import (
    DOVECOT,
    DovecotServer,
    SmtpServer,
    TlsFiles,
    make_test_certificates,
)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_test_certificates(tmp_path_factory.mktemp("mail-tls"))


@pytest.fixture(scope="session")
def dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    if not os.path.exists(DOVECOT):
        pytest.skip(f"{DOVECOT} is not installed (apt-get install dovecot-imapd)")
    for attempt in range(3):  # a free port can be taken by someone else before dovecot binds
        try:
            server = DovecotServer(tls=tls_files).start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class ImapAccount:
    server: DovecotServer
    user: str
    password: str

    def append(self, raw: bytes, *, folder: str = "INBOX") -> int:
        return self.server.append(self.user, self.password, raw, folder=folder)


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A fresh IMAP user with an empty INBOX."""
    user, password = dovecot.new_user()
    return ImapAccount(dovecot, user, password)


def _smtp(mode: str, tls_files: TlsFiles) -> Iterator[SmtpServer]:
    server = SmtpServer(mode=mode, tls=tls_files).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """aiosmtpd without TLS, AUTH as clinic / smtp-secret."""
    yield from _smtp("plain", tls_files)


@pytest.fixture
def smtp_starttls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    yield from _smtp("starttls", tls_files)


@pytest.fixture
def smtp_ssl_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    yield from _smtp("ssl", tls_files)
