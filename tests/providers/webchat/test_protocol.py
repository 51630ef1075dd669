"""The website chat widget's checks on origins and on what a visitor's browser sends."""

from __future__ import annotations

import pytest

from converge.providers.webchat.protocol import MAX_MESSAGE_CHARS, WebchatError, message_text, normalize_origin


def test_origins_are_normalized_and_http_is_only_for_this_machine():
    assert normalize_origin("HTTPS://WWW.Example.com:443/") == "https://www.example.com"
    assert normalize_origin("https://example.com:8443") == "https://example.com:8443"
    assert normalize_origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    for bad in (
        "http://example.com",
        "https://example.com/page",
        "ftp://example.com",
        "example.com",
        "https://u@x.com",
    ):
        with pytest.raises(ValueError):
            normalize_origin(bad)


def test_a_message_is_its_text_without_what_no_database_stores():
    assert message_text("  a\x00b\udb36c \n", "m-1") == "abc"
    assert message_text("x" * MAX_MESSAGE_CHARS, "max") == "x" * MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    ("text", "client_id", "code"),
    [("x" * (MAX_MESSAGE_CHARS + 1), "big", "too_long"), ("   ", "empty", "invalid"), ("hi", "not ok!", "invalid")],
)
def test_a_message_too_long_empty_or_without_a_valid_id_is_refused(text, client_id, code):
    with pytest.raises(WebchatError) as refused:
        message_text(text, client_id)
    assert refused.value.code == code
