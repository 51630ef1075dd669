"""Choose the parser for an uploaded appointment file.

Content decides first: an MLLP frame (``0x0B`` + ``MSH``, anywhere in the head, as captures
often start mid-stream) or a first line that is an ``MSH``/``FHS``/``BHS`` segment → hl7;
``BEGIN:VCALENDAR`` → ical; a JSON object naming ``"resourceType"`` → fhir. The extension only
breaks the tie when the content matches none of those (``.ics``/``.ical`` → ical, ``.json`` →
fhir, ``.hl7`` → hl7), so that parser can report what is wrong with the file. Any other text is
read as CSV; binary files (spreadsheets, PDFs, images) are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from .csv_import import parse_csv
from .fhir_import import parse_fhir_bundle
from .hl7_import import parse_hl7
from .ical_import import parse_ical
from .records import ParseResult

Format = Literal["csv", "ical", "fhir", "hl7"]

HEAD_BYTES = 8192
MAX_FILE_BYTES = 50 * 1024 * 1024

_EXTENSIONS: dict[str, Format] = {
    ".ics": "ical",
    ".ical": "ical",
    ".ifb": "ical",
    ".json": "fhir",
    ".hl7": "hl7",
}
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or Excel workbook (.xlsx); export it as CSV",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office document (.xls); export it as CSV",
    b"%PDF": "a PDF",
}
_RESOURCE_TYPE = re.compile(r'"resourceType"\s*:\s*"')
_MLLP_FRAME = re.compile(rb"\x0b\s*(MSH|FHS|BHS)")
_HL7_START = re.compile(r"^(MSH|FHS|BHS)[^A-Za-z0-9\s]")


def detect_format(path: Path, head: bytes) -> Format:
    """The format of a file from its first bytes, with the extension as tiebreak."""
    for signature, description in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise ValueError(f"{path.name} is {description}, not an appointment file")
    if _MLLP_FRAME.search(head):
        return "hl7"
    text = _head_text(head)
    if text is None:
        raise ValueError(f"{path.name} is not a text file; expected CSV, iCalendar, FHIR or HL7")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if _HL7_START.match(first_line):
        return "hl7"
    if first_line.upper().startswith("BEGIN:VCALENDAR"):
        return "ical"
    if first_line.startswith("{") and _RESOURCE_TYPE.search(text):
        return "fhir"
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    if first_line.startswith(("{", "[")):
        raise ValueError(f"{path.name} is JSON but not a FHIR resource (no resourceType)")
    return "csv"


def parse_file(path: Path, *, default_tz: str, max_bytes: int = MAX_FILE_BYTES) -> ParseResult:
    """Read ``path``, detect its format and parse it; ValueError for unusable files."""
    path = Path(path)
    if path.stat().st_size > max_bytes:
        raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
    data = path.read_bytes()
    kind = detect_format(path, data[:HEAD_BYTES])
    if kind == "csv":
        return parse_csv(data, default_tz=default_tz)
    if kind == "ical":
        return parse_ical(data, default_tz=default_tz)
    if kind == "fhir":
        return parse_fhir_bundle(data)
    return parse_hl7(data, default_tz=default_tz)


def _head_text(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    if b"\x00" in head:
        return None
    return head.decode("utf-8", errors="ignore").removeprefix("\ufeff")
