"""MLLP (Minimal Lower Layer Protocol) framing and a small asyncio listener for HL7 v2 feeds.

A frame is ``0x0B`` + message + ``0x1C 0x0D``. The decoder is lenient the way interface engines
are: bytes outside a frame are dropped, a frame ends at ``0x1C`` (the ``0x0D`` after it is then
just a byte outside a frame), and a ``0x0B`` inside a frame starts over, dropping the truncated
frame before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from .hl7_import import hl7_ack, parse_message, split_messages

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

Handler = Callable[[str], Awaitable[str]]


class FrameTooLarge(ValueError):
    pass


def frame(message: str, *, encoding: str = "utf-8") -> bytes:
    """``message`` wrapped in an MLLP block; ValueError if it contains a block character."""
    if "\x0b" in message or "\x1c" in message:
        raise ValueError("an MLLP message cannot contain 0x0B or 0x1C")
    return START_BLOCK + message.encode(encoding) + END_BLOCK + CARRIAGE_RETURN


class MllpDecoder:
    """Turns a byte stream, fed in chunks of any size, into the messages it frames."""

    def __init__(self, *, encoding: str = "utf-8", max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.encoding = encoding
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._in_frame = False

    def feed(self, data: bytes) -> list[str]:
        """The messages completed by ``data``; FrameTooLarge if one exceeds the size limit."""
        messages: list[str] = []
        view = memoryview(data)
        position = 0
        while position < len(view):
            if not self._in_frame:
                start = data.find(START_BLOCK, position)
                if start < 0:
                    break
                self._in_frame = True
                self._buffer.clear()
                position = start + 1
                continue
            restart = data.find(START_BLOCK, position)
            end = data.find(END_BLOCK, position)
            if restart >= 0 and (end < 0 or restart < end):
                self._buffer.clear()
                position = restart + 1
                continue
            stop = end if end >= 0 else len(data)
            self._buffer.extend(view[position:stop])
            if len(self._buffer) > self.max_message_bytes:
                self._buffer.clear()
                self._in_frame = False
                raise FrameTooLarge(f"MLLP message larger than {self.max_message_bytes} bytes")
            if end < 0:
                break
            messages.append(bytes(self._buffer).decode(self.encoding, errors="replace"))
            self._buffer.clear()
            self._in_frame = False
            position = end + 1
        return messages

    @property
    def pending(self) -> bool:
        """True while a frame has started but not ended."""
        return self._in_frame


def error_ack(message: str, text: str) -> str:
    """An AE ACK for ``message``, even when it has no usable MSH (MSA-2 is then empty)."""
    try:
        return hl7_ack(message, "AE", text)
    except ValueError:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
        control_id = secrets.token_hex(10)
        return f"MSH|^~\\&|||||{stamp}||ACK|{control_id}|P|2.5\rMSA|AE||{text}\r"


async def serve_mllp(
    host: str,
    port: int,
    handler: Handler,
    *,
    encoding: str = "utf-8",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    idle_timeout: float | None = None,
) -> asyncio.Server:
    """Listen for MLLP connections and answer each message with ``handler``'s ACK.

    Messages on one connection are handled one at a time, in order (HL7 original mode). A
    message without a parsable MSH, or one whose handler raises, is answered with an AE ACK.
    The caller owns the returned server (``close()`` + ``wait_closed()``).
    """

    async def respond(message: str) -> str:
        if len(split_messages(message)) != 1:
            return error_ack(message, "not a single HL7 message")
        try:
            parse_message(message)
        except ValueError:
            return error_ack(message, "message could not be parsed")
        try:
            answer = await handler(message)
            if not isinstance(answer, str):
                raise TypeError("handler did not return a string")
            frame(answer, encoding=encoding)
        except Exception as exc:
            # Exception text can carry PHI from the message; log only its type.
            logger.warning("MLLP handler failed: %s", type(exc).__name__)
            return error_ack(message, "application error")
        return answer

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder(encoding=encoding, max_message_bytes=max_message_bytes)
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=idle_timeout)
                if not chunk:
                    break
                for message in decoder.feed(chunk):
                    writer.write(frame(await respond(message), encoding=encoding))
                    await writer.drain()
        except FrameTooLarge:
            logger.warning("MLLP connection closed: message over %d bytes", max_message_bytes)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(on_connection, host, port)
