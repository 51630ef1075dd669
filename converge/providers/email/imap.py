"""Fetch mail from an IMAP folder without losing or duplicating any, and wait with IDLE.

The caller owns the `MailboxState` (UIDVALIDITY + last stored UID) and follows this loop:

    for mail in box.fetch_new(state):
        store(mail.raw)                      # idempotent on Message-ID
        state = state.after(mail)
        persist(state)                       # only after the mail is stored
        box.mark_processed(mail.uid, uidvalidity=mail.uidvalidity)

A crash anywhere in it costs at most a second fetch of mails that were not yet recorded; the
store's Message-ID dedupe makes that harmless.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import itertools
import logging
import re
import select
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from converge.providers.email.common import ConnectionCheck, TlsMode, describe_network_error

__all__ = ["FetchedMail", "ImapMailbox", "MailboxError", "MailboxState"]

logger = logging.getLogger(__name__)

_MAX_IDLE_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
_SEARCH_WINDOW = 5000
_idle_tags = itertools.count(1)


class MailboxError(Exception):
    """Talking to the mailbox failed; `reason` is for staff, `retryable` says if later may work."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    uidvalidity: int
    raw: bytes
    flags: tuple[str, ...] = ()
    # The folder's UIDVALIDITY differed from the stored one, so fetching restarted at UID 1:
    # mails stored before come again and must be deduplicated by Message-ID.
    uidvalidity_changed: bool = False


@dataclass(frozen=True)
class MailboxState:
    uidvalidity: int | None = None
    last_uid: int = 0

    def after(self, mail: FetchedMail) -> MailboxState:
        """The state to persist once `mail` is stored."""
        return MailboxState(uidvalidity=mail.uidvalidity, last_uid=mail.uid)


class _SocketReader:
    """Replaces imaplib's buffered socket file so that IDLE can wait with select(): a
    BufferedReader hides how much it has buffered and is unusable after a read timeout."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        if not data:
            return False
        self._buffer += data
        return True

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or (0 < limit <= len(self._buffer)):
                cut = end + 1 if end >= 0 else limit
                if limit > 0:
                    cut = min(cut, limit)
                return self._take(cut)
            if not self._fill():
                return self._take(len(self._buffer))

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(min(size, len(self._buffer)))

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def wait_readable(self, timeout: float) -> bool:
        if self._buffer:
            return True
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True
        readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        return bool(readable)

    def close(self) -> None:
        self._buffer.clear()


class _IMAP4(imaplib.IMAP4):
    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        super().open(host, port, timeout)
        self.file.close()
        self.file = _SocketReader(self.sock)  # type: ignore[assignment]

    def starttls(self, ssl_context: Any = None) -> Any:
        result = super().starttls(ssl_context)
        self.file = _SocketReader(self.sock)  # type: ignore[assignment]
        return result


class _IMAP4_SSL(imaplib.IMAP4_SSL):
    def open(self, host: str = "", port: int | None = 993, timeout: float | None = None) -> None:
        super().open(host, port, timeout)
        self.file.close()
        self.file = _SocketReader(self.sock)  # type: ignore[assignment]


def _encode_mailbox(name: str) -> str:
    """Modified UTF-7 (RFC 3501 5.1.3), quoted for the command line."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_EXISTS = re.compile(rb"^\* (\d+) EXISTS", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")


class ImapMailbox:
    """One IMAP folder. Not thread-safe: use one instance per polling loop."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        folder: str = "INBOX",
        tls: TlsMode,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
        batch_size: int = 25,
        mark_seen: bool = True,
        use_idle: bool = True,
        poll_interval: float = 30,
    ) -> None:
        if tls not in ("starttls", "ssl", "none"):
            raise ValueError("tls must be 'ssl', 'starttls' or 'none'")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.folder = folder
        self.tls: TlsMode = tls
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.batch_size = batch_size
        self.mark_seen = mark_seen
        self.use_idle = use_idle
        self.poll_interval = poll_interval
        self._conn: imaplib.IMAP4 | None = None
        self._selected = False
        self._exists = 0
        self.uidvalidity: int | None = None
        self.uidnext: int | None = None

    # --- connection -----------------------------------------------------------------------

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        context = self.ssl_context or ssl.create_default_context()
        conn: imaplib.IMAP4
        try:
            if self.tls == "ssl":
                conn = _IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
            else:
                conn = _IMAP4(self.host, self.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._network_error(exc) from None
        try:
            if self.tls == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    raise MailboxError(
                        "The mail server does not offer STARTTLS; choose another TLS mode.",
                        retryable=False,
                    )
                conn.starttls(context)
            try:
                conn.login(self.username, self.password)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                raise MailboxError("The mail server rejected the username or password.", retryable=False) from None
        except MailboxError:
            self._shutdown(conn)
            raise
        except (OSError, imaplib.IMAP4.error) as exc:
            self._shutdown(conn)
            raise self._network_error(exc) from None
        self._conn = conn
        self._selected = False
        return conn

    def _network_error(self, exc: BaseException) -> MailboxError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailboxError(describe_network_error(exc, self.host, self.port), retryable=False)
        if isinstance(exc, OSError):
            return MailboxError(describe_network_error(exc, self.host, self.port))
        return MailboxError(f"The mail server answered unexpectedly ({type(exc).__name__}).")

    @staticmethod
    def _shutdown(conn: imaplib.IMAP4) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            conn.shutdown()

    def close(self) -> None:
        conn, self._conn, self._selected = self._conn, None, False
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            self._shutdown(conn)

    def _drop(self) -> None:
        conn, self._conn, self._selected = self._conn, None, False
        if conn is not None:
            self._shutdown(conn)

    def _select(self, *, refresh: bool = False) -> imaplib.IMAP4:
        conn = self._connect()
        if self._selected and not refresh:
            return conn
        typ, data = conn.select(_encode_mailbox(self.folder))
        if typ != "OK":
            raise MailboxError(f"The folder {self.folder!r} cannot be opened.", retryable=False)
        self._exists = int(data[0] or 0) if data and data[0] else 0
        # imaplib leaves SELECT's EXISTS in untagged_responses; later ones mean new mail.
        conn.untagged_responses.pop("EXISTS", None)
        self.uidvalidity = self._response_int(conn, "UIDVALIDITY")
        self.uidnext = self._response_int(conn, "UIDNEXT")
        if self.uidvalidity is None:
            typ, status = conn.status(_encode_mailbox(self.folder), "(UIDVALIDITY)")
            found = re.search(rb"UIDVALIDITY (\d+)", status[0] or b"") if typ == "OK" else None
            if found is None:
                raise MailboxError("The mail server did not report UIDVALIDITY.", retryable=False)
            self.uidvalidity = int(found.group(1))
        self._selected = True
        return conn

    @staticmethod
    def _response_int(conn: imaplib.IMAP4, name: str) -> int | None:
        _, data = conn.response(name)
        for item in data or []:
            if isinstance(item, bytes) and item.strip().isdigit():
                return int(item)
        return None

    def _guard(self, exc: Exception) -> MailboxError:
        """Map a failure and drop a connection that can no longer be trusted."""
        if isinstance(exc, MailboxError):
            return exc
        self._drop()
        if isinstance(exc, OSError | imaplib.IMAP4.abort):
            return self._network_error(exc)
        return MailboxError(f"The mail server answered unexpectedly: {exc}")

    # --- fetching -------------------------------------------------------------------------

    def fetch_new(self, state: MailboxState) -> Iterator[FetchedMail]:
        """Mails after `state.last_uid` in UID order, fetched in batches with BODY.PEEK[]
        (nothing is marked \\Seen here). If the folder's UIDVALIDITY is not the stored one,
        fetching starts again at UID 1 and each mail says `uidvalidity_changed`."""
        try:
            conn = self._select(refresh=True)
            validity = self.uidvalidity
            assert validity is not None
            changed = state.uidvalidity is not None and state.uidvalidity != validity
            if changed:
                logger.warning(
                    "imap uidvalidity changed host=%s old=%s new=%s: refetching the folder",
                    self.host,
                    state.uidvalidity,
                    validity,
                )
            start = 1 if changed else max(1, state.last_uid + 1)
            uids = self._search(conn, start)
        except Exception as exc:
            raise self._guard(exc) from None
        for offset in range(0, len(uids), self.batch_size):
            batch = uids[offset : offset + self.batch_size]
            try:
                fetched = self._fetch_batch(self._select(), batch)
            except Exception as exc:
                raise self._guard(exc) from None
            if self.uidvalidity != validity:
                # Changed under us mid-run: stop, the next call starts over from UID 1.
                return
            for uid in batch:
                if uid not in fetched:
                    logger.info("imap uid gone before fetch host=%s uid=%s", self.host, uid)
                    continue
                raw, flags = fetched[uid]
                yield FetchedMail(
                    uid=uid,
                    uidvalidity=validity,
                    raw=raw,
                    flags=flags,
                    uidvalidity_changed=changed,
                )

    def _search(self, conn: imaplib.IMAP4, start: int) -> list[int]:
        found: set[int] = set()
        if self.uidnext is not None:
            # Windows keep each SEARCH answer short on folders with many thousand mails.
            low = start
            while low < self.uidnext:
                high = min(low + _SEARCH_WINDOW - 1, self.uidnext - 1)
                found.update(self._search_range(conn, f"{low}:{high}"))
                low = high + 1
        else:
            found.update(self._search_range(conn, f"{start}:*"))
        return sorted(uid for uid in found if uid >= start)

    @staticmethod
    def _search_range(conn: imaplib.IMAP4, uid_range: str) -> list[int]:
        typ, data = conn.uid("SEARCH", "UID", uid_range)
        if typ != "OK":
            raise MailboxError("The mail server refused to list messages.")
        return [int(token) for item in data if item for token in item.split() if token.isdigit()]

    @staticmethod
    def _fetch_batch(conn: imaplib.IMAP4, batch: list[int]) -> dict[int, tuple[bytes, tuple[str, ...]]]:
        typ, data = conn.uid("FETCH", ",".join(map(str, batch)), "(UID FLAGS BODY.PEEK[])")
        if typ != "OK":
            raise MailboxError("The mail server refused to return messages.")
        out: dict[int, tuple[bytes, tuple[str, ...]]] = {}
        for index, item in enumerate(data):
            if not (isinstance(item, tuple) and len(item) == 2):
                continue
            meta, body = item
            # Servers may put UID/FLAGS after the literal, in the next item.
            trailer = data[index + 1] if index + 1 < len(data) else b""
            info = bytes(meta) + b" " + (trailer if isinstance(trailer, bytes) else b"")
            uid_match = _UID.search(info)
            if uid_match is None:
                continue
            flags_match = _FLAGS.search(info)
            flags = tuple(flags_match.group(1).decode().split()) if flags_match else ()
            out[int(uid_match.group(1))] = (bytes(body), flags)
        return out

    def mark_processed(self, uid: int, *, uidvalidity: int | None = None) -> bool:
        """Set \\Seen on a stored mail (when `mark_seen`). With `uidvalidity`, a mail from an
        older UIDVALIDITY is left alone. Returns whether the flag was set."""
        if not self.mark_seen:
            return False
        try:
            conn = self._select()
            if uidvalidity is not None and uidvalidity != self.uidvalidity:
                return False
            typ, _ = conn.uid("STORE", str(int(uid)), "+FLAGS.SILENT", "(\\Seen)")
        except Exception as exc:
            raise self._guard(exc) from None
        return typ == "OK"

    # --- waiting --------------------------------------------------------------------------

    def supports_idle(self) -> bool:
        try:
            conn = self._connect()
        except Exception as exc:
            raise self._guard(exc) from None
        return self.use_idle and "IDLE" in conn.capabilities

    def idle_wait(self, seconds: float) -> bool:
        """Wait until new mail arrives (True) or `seconds` pass (False). Uses IMAP IDLE when the
        server offers it, else polls with NOOP every `poll_interval` seconds."""
        try:
            conn = self._select()
            if conn.untagged_responses.pop("EXISTS", None):
                return True  # reported during an earlier command
            if not self.supports_idle():
                return self._poll_wait(conn, seconds)
            return self._idle(conn, min(seconds, _MAX_IDLE_SECONDS))
        except Exception as exc:
            raise self._guard(exc) from None

    def _poll_wait(self, conn: imaplib.IMAP4, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(self.poll_interval, remaining))
            typ, _ = conn.noop()
            if typ != "OK":
                raise MailboxError("The mail server did not answer NOOP.")
            if conn.untagged_responses.pop("EXISTS", None):
                return True
        return False

    def _read_line(self, conn: imaplib.IMAP4) -> bytes:
        line = conn.readline()
        if not line:
            raise MailboxError("The mail server closed the connection.")
        literal = _LITERAL.search(line)
        if literal:  # an untagged response with a literal: consume it whole
            conn.read(int(literal.group(1)))
            line += conn.readline()
        return line

    def _idle(self, conn: imaplib.IMAP4, seconds: float) -> bool:
        reader = conn.file
        if not isinstance(reader, _SocketReader):
            return self._poll_wait(conn, seconds)
        tag = f"CVI{next(_idle_tags)}".encode()
        deadline = time.monotonic() + seconds
        conn.send(tag + b" IDLE\r\n")
        arrived = False
        while True:
            line = self._read_line(conn)
            if line.startswith(b"+"):
                break
            if line.startswith(tag):
                raise MailboxError("The mail server refused IDLE.")
            arrived = arrived or bool(_EXISTS.match(line))
            if line.upper().startswith(b"* BYE"):
                raise MailboxError("The mail server ended the session.")
        while not arrived:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not reader.wait_readable(remaining):
                break
            line = self._read_line(conn)
            if line.upper().startswith(b"* BYE"):
                raise MailboxError("The mail server ended the session.")
            arrived = bool(_EXISTS.match(line))
        conn.send(b"DONE\r\n")
        while True:
            line = self._read_line(conn)
            if line.startswith(tag):
                if b" OK" not in line[: len(tag) + 4].upper():
                    raise MailboxError("IDLE ended with an error.")
                return arrived
            arrived = arrived or bool(_EXISTS.match(line))

    # --- test button ----------------------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        """Log in and open the folder; for a "test connection" button."""
        try:
            self._select(refresh=True)
            count = self._exists
        except Exception as exc:
            return ConnectionCheck(False, self._guard(exc).reason)
        finally:
            self.close()
        return ConnectionCheck(True, f"Connected to {self.host}:{self.port}; {self.folder} holds {count} messages.")
