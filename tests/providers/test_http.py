"""The HTTP helpers the provider clients share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.providers.http import base_type, read_limited, retry_after, type_allowed
from converge.providers.types import PermanentSendError


def response(headers: dict[str, str] | None = None, body: bytes = b"") -> httpx.Response:
    return httpx.Response(200, headers=headers or {}, content=body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), ("inf", None), ("nan", None)],
)
def test_retry_after_seconds(value, expected):
    assert retry_after(response({"Retry-After": value} if value else {})) == expected


def test_retry_after_http_date():
    when = datetime.now(UTC) + timedelta(seconds=120)
    seconds = retry_after(response({"Retry-After": format_datetime(when, usegmt=True)}))
    assert seconds is not None and 100 < seconds <= 120


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_retry_after_never_raises(value):
    seconds = retry_after(response({"Retry-After": value}))
    assert seconds is None or seconds >= 0


def test_read_limited_refuses_by_declared_and_by_actual_size():
    assert read_limited(response(body=b"x" * 10), 10) == b"x" * 10
    with pytest.raises(PermanentSendError, match="larger"):
        read_limited(response({"Content-Length": "11"}, b""), 10)
    with pytest.raises(PermanentSendError, match="larger"):
        read_limited(response(body=b"x" * 11), 10)


def test_media_types():
    assert base_type("Image/JPEG; charset=binary") == "image/jpeg"
    assert type_allowed("image/png", ["image/*"])
    assert type_allowed("application/pdf", ["application/pdf"])
    assert not type_allowed("text/html", ["image/*", "application/pdf"])
    assert not type_allowed("garbage", ["*/*"])
