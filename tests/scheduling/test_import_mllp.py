import asyncio
from pathlib import Path

import pytest

from converge.scheduling.importers.hl7_import import hl7_ack, parse_hl7
from converge.scheduling.importers.mllp import FrameTooLarge, MllpDecoder, frame, serve_mllp

FIXTURES = Path(__file__).parent / "fixtures"
S12 = (FIXTURES / "siu_s12.hl7").read_text()
S26 = (FIXTURES / "siu_s26.hl7").read_text()


def test_frame_wraps_message() -> None:
    assert frame("MSH|x\r") == b"\x0bMSH|x\r\x1c\r"
    assert frame("é", encoding="latin-1") == b"\x0b\xe9\x1c\r"
    with pytest.raises(ValueError):
        frame("a\x1cb")
    with pytest.raises(ValueError):
        frame("a\x0bb")


def test_decoder_partial_concatenated_and_junk() -> None:
    decoder = MllpDecoder()
    stream = b"noise\r\n" + frame("one") + frame("two") + b"\x00junk\r" + frame("three")

    assert decoder.feed(stream[:10]) == []
    assert decoder.pending
    assert decoder.feed(stream[10:]) == ["one", "two", "three"]
    assert not decoder.pending


def test_decoder_end_split_from_carriage_return() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bMSH|a\x1c") == ["MSH|a"]
    assert decoder.feed(b"\r\x0bMSH|b") == []
    assert decoder.feed(b"\x1c\r") == ["MSH|b"]


def test_decoder_drops_a_truncated_frame_when_a_new_one_starts() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bhalf a mess\x0bMSH|whole\x1c\r") == ["MSH|whole"]


def test_decoder_size_limit() -> None:
    decoder = MllpDecoder(max_message_bytes=8)
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\x0b0123456789")
    assert decoder.feed(frame("small")) == ["small"]


def test_capture_fixture_decodes_to_three_messages() -> None:
    messages = MllpDecoder().feed((FIXTURES / "siu_capture.mllp").read_bytes())

    assert [m.split("\r")[0].split("|")[8] for m in messages] == [
        "SIU^S12^SIU_S12",
        "SIU^S26^SIU_S12",
        "SIU^S13^SIU_S12",
    ]


async def _exchange(port: int, payload: bytes, expected: int) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = MllpDecoder()
    answers: list[str] = []
    writer.write(payload)
    await writer.drain()
    while len(answers) < expected:
        chunk = await asyncio.wait_for(reader.read(4096), timeout=5)
        assert chunk, "server closed the connection early"
        answers.extend(decoder.feed(chunk))
    writer.close()
    await writer.wait_closed()
    return answers


def _msa(ack: str) -> list[str]:
    segment = next(s for s in ack.split("\r") if s.startswith("MSA"))
    return segment.split("|")


def test_server_answers_ack_and_ae_over_loopback(caplog: pytest.LogCaptureFixture) -> None:
    handled: list[str] = []

    async def handler(message: str) -> str:
        handled.append(message)
        result = parse_hl7(message, default_tz="America/New_York")
        if "S26" in message:
            raise RuntimeError("patient Tom Nguyen could not be stored")
        return hl7_ack(message, "AA" if not result.errors else "AE")

    async def scenario() -> list[str]:
        server = await serve_mllp("127.0.0.1", 0, handler)
        port = server.sockets[0].getsockname()[1]
        try:
            payload = frame(S12) + b"junk" + frame(S26) + frame("not hl7 at all")
            return await _exchange(port, payload, 3)
        finally:
            server.close()
            await server.wait_closed()

    answers = asyncio.run(scenario())

    assert _msa(answers[0])[:3] == ["MSA", "AA", "MSG00001"]
    assert answers[0].split("|")[2:6] == ["CONVERGE", "MAINST", "EPIC", "NORTHCLINIC"]
    assert _msa(answers[1])[:4] == ["MSA", "AE", "MSG00005", "application error"]
    assert "Nguyen" not in answers[1]
    assert _msa(answers[2])[:3] == ["MSA", "AE", ""]
    assert len(handled) == 2
    assert "RuntimeError" in caplog.text
    assert "Nguyen" not in caplog.text


def test_server_handles_chunked_input_and_several_connections() -> None:
    async def handler(message: str) -> str:
        return hl7_ack(message, "AA")

    async def one_client(port: int) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = frame(S12) + frame(S26)
        for start in range(0, len(payload), 7):
            writer.write(payload[start : start + 7])
            await writer.drain()
        decoder = MllpDecoder()
        answers: list[str] = []
        while len(answers) < 2:
            answers.extend(decoder.feed(await asyncio.wait_for(reader.read(4096), timeout=5)))
        writer.close()
        await writer.wait_closed()
        return answers

    async def scenario() -> list[list[str]]:
        server = await serve_mllp("127.0.0.1", 0, handler)
        port = server.sockets[0].getsockname()[1]
        try:
            return list(await asyncio.gather(*(one_client(port) for _ in range(3))))
        finally:
            server.close()
            await server.wait_closed()

    for answers in asyncio.run(scenario()):
        assert [_msa(a)[1:3] for a in answers] == [["AA", "MSG00001"], ["AA", "MSG00005"]]


def test_server_answers_ae_when_handler_returns_garbage() -> None:
    async def handler(message: str) -> str:
        return "\x1c"

    async def scenario() -> list[str]:
        server = await serve_mllp("127.0.0.1", 0, handler)
        port = server.sockets[0].getsockname()[1]
        try:
            return await _exchange(port, frame(S12), 1)
        finally:
            server.close()
            await server.wait_closed()

    assert _msa(asyncio.run(scenario())[0])[1:3] == ["AE", "MSG00001"]


def test_server_closes_connection_on_oversized_frame() -> None:
    async def handler(message: str) -> str:
        return hl7_ack(message, "AA")

    async def scenario() -> bytes:
        server = await serve_mllp("127.0.0.1", 0, handler, max_message_bytes=64)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame(S12))
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout=5)
            writer.close()
            return data
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == b""
