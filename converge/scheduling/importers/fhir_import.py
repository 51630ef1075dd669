"""Appointments from a FHIR R4 Bundle (validated with ``fhir.resources.R4B``, wire-compatible
with R4 for the resources used here).

The Bundle (type collection, transaction, batch or searchset) holds Appointment resources and
the Patient, and optionally Practitioner and Location, resources their participants reference.
References resolve against entry ``fullUrl`` (``urn:uuid:…`` or absolute), ``Type/id``
(also inside an absolute URL, ``/_history/n`` ignored) and ``#id`` for contained resources.
Other resource types are ignored.

- external_id: Appointment.id, else its first identifier value.
- status: proposed/pending/booked → booked, arrived/checked-in → checked_in, fulfilled →
  completed, cancelled/entered-in-error → cancelled, noshow → no_show; waitlist entries are
  reported, not imported.
- start, and end or minutesDuration (instants, so always with an offset).
- appointment_type: appointmentType (display, text or code), else the first serviceType.
- sequence: meta.versionId when it is a whole number, else 0.
- patient: the participant whose actor is a Patient in the Bundle (required); its external id
  is Patient.id, else an MR identifier, else the first identifier. The first valid phone or SMS
  number (mobile first) becomes the E.164 phone; a number that does not parse is dropped.
- provider: the first Practitioner (or PractitionerRole) participant; location: the first
  Location participant. Either may be missing from the Bundle: the reference's display and id
  are used.

Errors name the entry (1-based position in Bundle.entry) as the row and a path inside the
resource (``start``, ``participant[0].actor``) as the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from .normalize import check_birth_date, first_phone, in_range, language_or_blank, parse_email, split_name
from .records import AppointmentRecord, ParseResult, PatientRecord, RowError

BUNDLE_TYPES = frozenset({"collection", "transaction", "batch", "searchset"})
_INDEXED_TYPES = ("Appointment", "Patient", "Practitioner", "PractitionerRole", "Location")
_STATUS = {
    "proposed": "booked",
    "pending": "booked",
    "booked": "booked",
    "arrived": "checked_in",
    "checked-in": "checked_in",
    "fulfilled": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
    "noshow": "no_show",
}
_MAX_ERRORS_PER_RESOURCE = 5


class _EntryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class _Entry:
    row: int
    resource_type: str
    resource: Any | None  # the validated model, None when validation failed


def parse_fhir_bundle(data: bytes | str) -> ParseResult:
    """Parse a FHIR R4 Bundle; ValueError when the document is not a usable Bundle."""
    document = _load(data)
    entries = document.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ValueError("Bundle.entry is not a list")
    _validate_shell(document, entries)

    result = ParseResult(records=[], errors=[], format="fhir")
    index: dict[str, _Entry] = {}
    appointments: list[_Entry] = []
    for row, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        resource_type = resource.get("resourceType")
        if resource_type not in _INDEXED_TYPES:
            continue
        model, errors = _validate(resource_type, resource, row)
        result.errors.extend(errors)
        indexed = _Entry(row, resource_type, model)
        for key in _keys(entry, resource_type, resource):
            index.setdefault(key, indexed)
        if resource_type == "Appointment" and model is not None:
            appointments.append(indexed)

    for appointment in appointments:
        try:
            result.records.append(_record(appointment, index))
        except ValueError as exc:
            field = exc.field if isinstance(exc, _EntryError) else "Appointment"
            result.errors.append(RowError(appointment.row, field, str(exc)))
    result.errors.sort(key=lambda error: error.row)
    return result


def _load(data: bytes | str) -> dict[str, Any]:
    if isinstance(data, str):
        data = data.removeprefix("\ufeff")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not a FHIR Bundle: the file is not valid JSON") from exc
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise ValueError("not a FHIR Bundle: resourceType is not Bundle")
    bundle_type = document.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"Bundle.type must be one of {', '.join(sorted(BUNDLE_TYPES))}, not {str(bundle_type)[:40]!r}")
    return document


def _validate_shell(document: dict[str, Any], entries: list[Any]) -> None:
    """Validate the Bundle itself; entry resources are validated one by one for row errors."""
    shell = {key: value for key, value in document.items() if key != "entry"}
    shell_entries = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"Bundle.entry[{position}] is not an object")
        shell_entries.append({key: value for key, value in entry.items() if key != "resource"})
    if shell_entries:
        shell["entry"] = shell_entries
    try:
        get_fhir_model_class("Bundle").model_validate(shell)
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:
        raise ValueError(f"not a valid FHIR Bundle: {_first_problem(exc)}") from exc


def _first_problem(exc: BaseException) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        return f"{_path(error.get('loc', ()))}: {error.get('msg', 'invalid')}"
    return type(exc).__name__


def _validate(resource_type: str, resource: dict[str, Any], row: int) -> tuple[Any, list[RowError]]:
    try:
        return get_fhir_model_class(resource_type).model_validate(resource), []
    except ValidationError as exc:
        problems = exc.errors()[:_MAX_ERRORS_PER_RESOURCE]
        return None, [
            RowError(row, _path(problem.get("loc", ())) or resource_type, _message(problem)) for problem in problems
        ]
    except (ValueError, TypeError, RecursionError) as exc:
        problem = f"invalid {resource_type} ({type(exc).__name__})"
        return None, [RowError(row, resource_type, problem)]


def _message(problem: Any) -> str:
    text = str(problem.get("msg", "invalid"))
    return " ".join(text.removeprefix("Value error, ").split())[:200]


def _path(loc: Any) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _keys(entry: dict[str, Any], resource_type: str, resource: dict[str, Any]) -> list[str]:
    keys = []
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url:
        keys.append(full_url)
        tail = _type_and_id(full_url)
        if tail:
            keys.append(tail)
    resource_id = resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        keys.append(f"{resource_type}/{resource_id}")
    return keys


def _type_and_id(reference: str) -> str:
    """ "Patient/123" from "Patient/123", "https://x/fhir/Patient/123/_history/2"; else ""."""
    parts = [part for part in reference.split("/") if part]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-2].isalpha():
        return f"{parts[-2]}/{parts[-1]}"
    return ""


def _resolve(reference: str, index: dict[str, _Entry], contained: dict[str, Any]) -> Any:
    """The resource a reference points at: a validated model, or None when not in the Bundle.

    Raises when it points at an entry whose resource failed validation.
    """
    if reference.startswith("#"):
        return contained.get(reference[1:])
    entry = index.get(reference) or index.get(_type_and_id(reference))
    if entry is None:
        return None
    if entry.resource is None:
        raise ValueError(f"refers to entry {entry.row}, which is not a valid {entry.resource_type}")
    return entry.resource


def _record(entry: _Entry, index: dict[str, _Entry]) -> AppointmentRecord:
    appointment: Any = entry.resource
    if appointment is None:
        raise _EntryError("Appointment", "invalid Appointment")
    external_id = appointment.id or next(
        (identifier.value for identifier in appointment.identifier or [] if identifier.value), ""
    )
    if not external_id:
        raise _EntryError("id", "the Appointment has no id or identifier")

    raw_status = appointment.status or ""
    if raw_status == "waitlist":
        raise _EntryError("status", "waitlist appointments are not imported")
    status = _STATUS.get(raw_status)
    if status is None:
        raise _EntryError("status", f"unknown Appointment status {raw_status[:40]!r}")

    if appointment.start is None:
        raise _EntryError("start", "missing")
    start = _instant(appointment.start, "start")
    if appointment.end is not None:
        end = _instant(appointment.end, "end")
        if end <= start:
            raise _EntryError("end", "must be after start")
    elif appointment.minutesDuration is not None:
        if not 0 < appointment.minutesDuration <= 24 * 60:
            raise _EntryError("minutesDuration", "must be between 1 and 1440")
        end = start + timedelta(minutes=appointment.minutesDuration)
    else:
        raise _EntryError("end", "missing (no end or minutesDuration)")

    contained = {resource.id: resource for resource in appointment.contained or [] if resource.id}
    patient: PatientRecord | None = None
    provider_name = provider_id = location_name = ""
    have_provider = have_location = False
    for position, participant in enumerate(appointment.participant or []):
        field = f"participant[{position}].actor"
        actor = participant.actor
        if actor is None:
            continue
        reference = actor.reference or ""
        try:
            resource = _resolve(reference, index, contained) if reference else None
        except ValueError as exc:
            raise _EntryError(field, str(exc)) from exc
        kind = (
            resource.get_resource_type()
            if resource is not None
            else (_type_and_id(reference).split("/")[0] or actor.type or "")
        )
        if kind == "Patient" and patient is None:
            if resource is None:
                raise _EntryError(field, f"{reference[:80] or 'patient'} is not in the Bundle")
            patient = _patient(resource)
        elif kind in ("Practitioner", "PractitionerRole") and not have_provider:
            have_provider = True
            provider_name, provider_id = _provider(resource, actor, reference)
        elif kind == "Location" and not have_location:
            have_location = True
            location_name = (getattr(resource, "name", None) or "") if resource else ""
            location_name = location_name or actor.display or ""
    if patient is None:
        raise _EntryError("participant", "no Patient participant")

    return AppointmentRecord(
        source="fhir",
        external_id=external_id,
        status=status,
        start=start,
        end=end,
        patient=patient,
        provider_name=provider_name,
        provider_external_id=provider_id,
        location_name=location_name,
        appointment_type=_appointment_type(appointment),
        sequence=_sequence(appointment),
        row=entry.row,
    )


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _EntryError(field, "not an instant with a time zone")
    try:
        return in_range(value.astimezone(UTC))
    except (OverflowError, ValueError) as exc:
        raise _EntryError(field, "date/time out of range") from exc


def _concept_text(concept: Any) -> str:
    if concept is None:
        return ""
    for coding in concept.coding or []:
        if coding.display:
            return str(coding.display)
    if concept.text:
        return str(concept.text)
    for coding in concept.coding or []:
        if coding.code:
            return str(coding.code)
    return ""


def _appointment_type(appointment: Any) -> str:
    text = _concept_text(appointment.appointmentType)
    if not text:
        text = next((t for t in (_concept_text(c) for c in appointment.serviceType or []) if t), "")
    return text


def _sequence(resource: Any) -> int:
    version = resource.meta.versionId if resource.meta is not None else None
    return int(version) if isinstance(version, str) and version.isdigit() else 0


def _human_name(names: Any) -> Any:
    names = list(names or [])
    for use in ("official", "usual"):
        for name in names:
            if name.use == use:
                return name
    return names[0] if names else None


def _patient(resource: Any) -> PatientRecord:
    name = _human_name(resource.name)
    first = last = ""
    if name is not None:
        first = (name.given or [""])[0]
        last = name.family or ""
        if not (first or last) and name.text:
            first, last = split_name(name.text)

    external_id = resource.id or ""
    if not external_id:
        identifiers = [i for i in resource.identifier or [] if i.value]
        medical_records = [
            i for i in identifiers if i.type is not None and any(c.code == "MR" for c in i.type.coding or [])
        ]
        chosen = (medical_records or identifiers or [None])[0]
        external_id = chosen.value if chosen is not None else ""

    date_of_birth = resource.birthDate if type(resource.birthDate) is date else None
    if date_of_birth is not None:
        try:
            check_birth_date(date_of_birth)
        except ValueError:
            date_of_birth = None

    telecoms = list(resource.telecom or [])
    phones = [t for t in telecoms if t.system in ("phone", "sms") and t.value]
    phones.sort(key=lambda t: t.use != "mobile")
    email = ""
    for telecom in telecoms:
        if telecom.system == "email" and telecom.value:
            try:
                email = parse_email(telecom.value)
                break
            except ValueError:
                continue

    language = ""
    communications = sorted(resource.communication or [], key=lambda c: c.preferred is not True)
    for communication in communications:
        codes = [c.code for c in communication.language.coding or [] if c.code]
        language = language_or_blank(codes[0] if codes else communication.language.text or "")
        if language:
            break

    return PatientRecord(
        external_id=external_id,
        first_name=first,
        last_name=last,
        date_of_birth=date_of_birth,
        phone=first_phone([t.value for t in phones]),
        email=email,
        language=language,
    )


def _provider(resource: Any, actor: Any, reference: str) -> tuple[str, str]:
    name = ""
    if resource is not None and resource.get_resource_type() == "Practitioner":
        human = _human_name(resource.name)
        if human is not None:
            name = human.text or " ".join([*(human.prefix or []), *(human.given or []), human.family or ""]).strip()
    name = name or actor.display or ""
    provider_id = getattr(resource, "id", None) if resource is not None else None
    if not provider_id:
        tail = _type_and_id(reference)
        provider_id = tail.split("/", 1)[1] if tail else ""
    return name, provider_id
