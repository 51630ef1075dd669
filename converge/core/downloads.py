"""Serving a stored file that someone outside the practice named and typed (a patient's
attachment) as a download the browser never renders: a sanitised RFC 6266 file name, a content
type that cannot be active content, nosniff, no caching, and a sandboxing CSP."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath
from urllib.parse import quote

from django.http import HttpResponse

OCTET_STREAM = "application/octet-stream"
# Types kept as declared because browsers treat them as passive media or documents. No SVG, HTML,
# XML or script: anything else is served as octet-stream.
SERVED_AS_DECLARED = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/pdf",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/wav",
        "video/mp4",
        "video/3gpp",
        "video/quicktime",
    }
)
FALLBACK_NAME = "attachment"
MAX_NAME_CHARS = 120
MAX_EXTENSION_CHARS = 16
# What the quoted ASCII `filename=` may hold: no quote, backslash, semicolon or control character.
_NOT_FALLBACK_SAFE = re.compile(r"[^A-Za-z0-9._ ()+-]+")
_SEPARATORS = re.compile(r"[/\\]")
DOWNLOAD_CSP = "default-src 'none'; sandbox"


def safe_content_type(declared: str) -> str:
    """The declared type without parameters if it is known to be passive, else octet-stream."""
    bare = declared.split(";", 1)[0].strip().lower()
    return bare if bare in SERVED_AS_DECLARED else OCTET_STREAM


def visible_name(filename: str) -> str:
    """The last path segment, without control or formatting characters (CR/LF, bidi overrides)
    or leading and trailing dots and spaces, shortened with its extension kept."""
    name = _SEPARATORS.split(unicodedata.normalize("NFC", filename))[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in ("Zl", "Zp")
    )
    name = name.strip(" .")
    if len(name) > MAX_NAME_CHARS:
        suffix = PurePath(name).suffix
        suffix = suffix if len(suffix) <= MAX_EXTENSION_CHARS else ""
        name = name[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix
    return name or FALLBACK_NAME


def _ascii_fallback(name: str) -> str:
    without_accents = "".join(ch for ch in unicodedata.normalize("NFKD", name) if unicodedata.category(ch) != "Mn")
    return _NOT_FALLBACK_SAFE.sub("_", without_accents).strip(" .") or FALLBACK_NAME


def content_disposition(filename: str) -> str:
    """`attachment; filename="<ascii>"`, plus `filename*=UTF-8''<percent-encoded>` when the name
    is not plain ASCII (RFC 6266 / 5987)."""
    name = visible_name(filename)
    header = f'attachment; filename="{_ascii_fallback(name)}"'
    if not name.isascii():
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def file_download(content: bytes, *, filename: str, declared_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=safe_content_type(declared_type))
    response["Content-Disposition"] = content_disposition(filename)
    response["Content-Length"] = str(len(content))
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    return response
