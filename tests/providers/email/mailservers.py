"""Real mail servers on loopback for the email connector tests.

- `DovecotServer`: Debian's dovecot-imapd (`/usr/sbin/dovecot`, apt package `dovecot-imapd`)
  started with a generated config in a temp dir: IMAP on 127.0.0.1 (plain + STARTTLS) and IMAPS,
  passwd-file users, maildir storage. It shares nothing with a system dovecot (own base_dir,
  state_dir, instance name and ports).
- `SmtpServer`: aiosmtpd on 127.0.0.1 with a handler that records mails and answers chosen
  recipients with 4xx/5xx; plain, STARTTLS or implicit TLS, with AUTH.
- `make_test_certificates`: a throwaway CA and a server certificate for 127.0.0.1/localhost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DOVECOT = "/usr/sbin/dovecot"
USER_POOL = 500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 15.0, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def make_test_certificates(directory: Path) -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Converge test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


# --- Dovecot ------------------------------------------------------------------------------------


def dovecot_version() -> tuple[int, int]:
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=True)
    found = re.match(r"(\d+)\.(\d+)", out.stdout.strip())
    if not found:
        raise RuntimeError(f"unexpected dovecot --version output: {out.stdout!r}")
    return int(found.group(1)), int(found.group(2))


def _dovecot_config_23(d: dict[str, Any]) -> str:
    ssl_lines = f"ssl = yes\nssl_cert = <{d['cert']}\nssl_key = <{d['key']}\n" if d["cert"] else "ssl = no\n"
    return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {d["root"]}/run
state_dir = {d["root"]}/state
instance_name = {d["instance"]}
log_path = {d["root"]}/dovecot.log
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no delays for the other tests on 127.0.0.1.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
default_internal_user = {d["internal_user"]}
default_login_user = {d["login_user"]}
first_valid_uid = {min(d["uid"], 500)}
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d["root"]}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d["root"]}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {d["imap_port"]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {d["imaps_port"]}
    ssl = yes
  }}
}}
"""


def _dovecot_config_24(d: dict[str, Any]) -> str:
    # Dovecot 2.4 (Debian trixie) renamed most settings.
    ssl_lines = (
        f"ssl = yes\nssl_server_cert_file = {d['cert']}\nssl_server_key_file = {d['key']}\n"
        if d["cert"]
        else "ssl = no\n"
    )
    return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = imap
listen = 127.0.0.1
base_dir = {d["root"]}/run
state_dir = {d["root"]}/state
instance_name = {d["instance"]}
log_path = {d["root"]}/dovecot.log
{ssl_lines}auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
default_internal_user = {d["internal_user"]}
default_login_user = {d["login_user"]}
first_valid_uid = {min(d["uid"], 500)}
mail_driver = maildir
mail_path = ~/Maildir
mailbox_idle_check_interval = 1s
passdb passwd-file {{
  passwd_file_path = {d["root"]}/users
  default_password_scheme = PLAIN
}}
userdb passwd-file {{
  passwd_file_path = {d["root"]}/users
}}
service imap-login {{
  inet_listener imap {{
    listen = 127.0.0.1
    port = {d["imap_port"]}
  }}
  inet_listener imaps {{
    listen = 127.0.0.1
    port = {d["imaps_port"]}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    """A private Dovecot IMAP server. Each `new_user()` gets its own empty mailbox."""

    def __init__(self, tls: TlsFiles | None = None) -> None:
        self.tls = tls
        self.imap_port = 0
        self.imaps_port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._users = 0
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            # Dovecot will not run mail processes as root; the Debian package creates these.
            self.uid = self.gid = 65534
            self.internal_user, self.login_user = "dovecot", "dovenull"
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            name = pwd.getpwuid(self.uid).pw_name
            self.internal_user = self.login_user = name

    def start(self) -> DovecotServer:
        self.root = Path(tempfile.mkdtemp(prefix="converge-dovecot-"))
        self.root.chmod(0o755)  # the login and mail processes run as other users
        for sub in ("run", "state"):
            (self.root / sub).mkdir()
        (self.root / "home").mkdir()
        os.chown(self.root / "home", self.uid, self.gid)
        # All users up front: dovecot may not notice a passwd-file that changes within a second.
        (self.root / "users").write_text(
            "".join(
                f"{user}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{self.root / 'home' / user}::\n"
                for user, password in map(self._user, range(1, USER_POOL + 1))
            )
        )
        self.imap_port, self.imaps_port = free_port(), free_port()
        settings = {
            "root": self.root,
            "instance": f"converge-test-{self.imap_port}",
            "cert": str(self.tls.cert) if self.tls else "",
            "key": str(self.tls.key) if self.tls else "",
            "internal_user": self.internal_user,
            "login_user": self.login_user,
            "uid": self.uid,
            "imap_port": self.imap_port,
            "imaps_port": self.imaps_port,
        }
        major_minor = dovecot_version()
        text = _dovecot_config_24(settings) if major_minor >= (2, 4) else _dovecot_config_23(settings)
        config = self.root / "dovecot.conf"
        config.write_text(text)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.imap_port, process=self.process)
            wait_for_port(self.imaps_port, process=self.process)
        except RuntimeError as exc:
            output = (
                self.process.stdout.read().decode() if self.process.poll() is not None and self.process.stdout else ""
            )
            log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
            self.stop()
            raise RuntimeError(f"dovecot did not start: {exc}\n{output}\n{log}") from None
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _user(self, number: int) -> tuple[str, str]:
        return f"patient{number}", f"pw-{number}-secret"

    def new_user(self) -> tuple[str, str]:
        """An unused user (with an empty mailbox) from the pool written at start."""
        with self._lock:
            self._users += 1
            if self._users > USER_POOL:
                raise RuntimeError("test user pool exhausted: raise USER_POOL")
            return self._user(self._users)

    def log(self) -> str:
        assert self.root is not None
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""

    @contextlib.contextmanager
    def client(self, user: str, password: str) -> Any:
        """A plain imaplib session for setting up test data (not the code under test)."""
        conn = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        try:
            conn.login(user, password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def append(self, user: str, password: str, raw: bytes, *, folder: str = "INBOX") -> int:
        """APPEND a mail; returns its UID."""
        with self.client(user, password) as conn:
            typ, data = conn.append(folder, None, None, raw)
            assert typ == "OK", data
            found = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
            assert found, data
            return int(found.group(1))

    def create_folder(self, user: str, password: str, folder: str) -> None:
        with self.client(user, password) as conn:
            typ, data = conn.create(folder)
            assert typ == "OK", data

    def delete_folder(self, user: str, password: str, folder: str) -> None:
        with self.client(user, password) as conn:
            typ, data = conn.delete(folder)
            assert typ == "OK", data

    def flags(self, user: str, password: str, uid: int, *, folder: str = "INBOX") -> str:
        with self.client(user, password) as conn:
            conn.select(folder, readonly=True)
            typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
            assert typ == "OK", data
            return b" ".join(d for d in data if isinstance(d, bytes)).decode()


# --- SMTP (aiosmtpd) ----------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool


@dataclass
class RecordingHandler:
    """Records accepted mails; `rcpt_replies` / `data_replies` map a recipient (lower-case) to
    the reply the server gives at RCPT TO / after DATA, e.g. "550 5.1.1 Mailbox unavailable"."""

    messages: list[ReceivedMail] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            reply = self.data_replies.get(rcpt.lower())
            if reply:
                return reply
        content = envelope.original_content or envelope.content
        self.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=content if isinstance(content, bytes) else content.encode(),
                tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.users.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)


SmtpMode = Literal["plain", "starttls", "ssl"]


class SmtpServer:
    """aiosmtpd in a background thread on 127.0.0.1."""

    def __init__(
        self,
        *,
        mode: SmtpMode = "plain",
        tls: TlsFiles | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.mode = mode
        self.tls = tls
        self.users = users if users is not None else {"clinic": "smtp-secret"}
        self.handler = RecordingHandler()
        self.port = 0
        self._controller: Any = None

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        kwargs: dict[str, Any] = {
            "authenticator": _Authenticator(self.users),
            # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is encrypted anyway.
            "auth_require_tls": self.mode == "starttls",
            # Required only with STARTTLS: aiosmtpd warns about AUTH required without TLS.
            # The client under test logs in whenever it has a username, which is what we check.
            "auth_required": bool(self.users) and self.mode == "starttls",
        }
        ssl_context = None
        if self.mode == "starttls":
            assert self.tls is not None
            kwargs["tls_context"] = self.tls.server_context()
            kwargs["require_starttls"] = True
        elif self.mode == "ssl":
            assert self.tls is not None
            ssl_context = self.tls.server_context()
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=ssl_context,
            server_hostname="localhost",
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class SilentServer:
    """Accepts TCP connections and never answers: for client timeouts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()
