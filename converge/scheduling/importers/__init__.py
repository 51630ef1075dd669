"""Appointment import: files from other systems (CSV, iCalendar, FHIR R4, HL7 v2 SIU) turned
into neutral ``AppointmentRecord``s plus a per-row error report. Pure Python: no Django, no
database; the upsert by external id is built on top of this.
"""

from .csv_import import parse_csv
from .detect import detect_format, parse_file
from .fhir_import import parse_fhir_bundle
from .hl7_import import hl7_ack, parse_hl7
from .ical_import import fetch_ical_feed, parse_ical
from .mllp import MllpDecoder, frame, serve_mllp
from .records import AppointmentRecord, ParseResult, PatientRecord, RowError

__all__ = [
    "AppointmentRecord",
    "MllpDecoder",
    "ParseResult",
    "PatientRecord",
    "RowError",
    "detect_format",
    "fetch_ical_feed",
    "frame",
    "hl7_ack",
    "parse_csv",
    "parse_fhir_bundle",
    "parse_file",
    "parse_hl7",
    "parse_ical",
    "serve_mllp",
]
