"""Patient-facing text for reminders and the messages around them, in English and Spanish.

Content is minimal by default (practice, day, date, time, location): the appointment type and
preparation instructions appear only when the caller passes them, because the caller knows
whether the channel's privacy tier allows naming them. Language tags other than Spanish fall
back to English. Dates are written out here (no locale module): "Tuesday, March 10 at 9:30 AM"
and "martes 10 de marzo a las 9:30" (24-hour clock, as is usual in written Spanish).

Datetimes passed as ``*_local`` are used as wall-clock values exactly as given: convert to the
patient's or location's time zone before calling.

The wording never says "today" or "tomorrow": quiet-hours adjustment can move a reminder across
midnight, so relative words could be wrong; for the same reason the text does not depend on the
reminder ``kind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from converge.reminders.intents import Intent, normalize_language, reminder_reply_instructions

__all__ = [
    "confirmation_text",
    "followup_prompt_text",
    "format_when",
    "missed_you_text",
    "reminder_text",
    "slot_options_text",
    "waitlist_offer_text",
]

_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ES_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_ES_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def _clean(value: str | None) -> str:
    """One line, trimmed: names come from staff-entered records."""
    return " ".join((value or "").split())


def format_when(moment: datetime, language: str) -> str:
    """``Tuesday, March 10 at 9:30 AM`` / ``martes 10 de marzo a las 9:30``."""
    if normalize_language(language) == "es":
        article = "la" if moment.hour == 1 else "las"
        return (
            f"{_ES_DAYS[moment.weekday()]} {moment.day} de {_ES_MONTHS[moment.month - 1]} "
            f"a {article} {moment.hour}:{moment.minute:02d}"
        )
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return (
        f"{_EN_DAYS[moment.weekday()]}, {_EN_MONTHS[moment.month - 1]} {moment.day} "
        f"at {hour}:{moment.minute:02d} {suffix}"
    )


def reminder_text(
    *,
    language: str,
    practice_name: str,
    start_local: datetime,
    location_name: str,
    appointment_type: str | None,
    instructions: str | None,
    channel: str,
    kind: str,
) -> str:
    """A reminder: who, when, where, then optional type/instructions, then how to answer."""
    spanish = normalize_language(language) == "es"
    practice = _clean(practice_name)
    when = format_when(start_local, language)
    location = _clean(location_name)
    kind_of_visit = _clean(appointment_type)
    if spanish:
        visit = f"su cita ({kind_of_visit})" if kind_of_visit else "su cita"
        lines = [f"{practice}: le recordamos {visit} el {when}"]
        if location:
            lines[0] += f" en {location}"
    else:
        visit = f"your appointment ({kind_of_visit})" if kind_of_visit else "your appointment"
        lines = [f"{practice}: a reminder of {visit} on {when}"]
        if location:
            lines[0] += f" at {location}"
    lines[0] += "."
    if instructions and instructions.strip():
        lines.append(instructions.strip())
    lines.append(reminder_reply_instructions(language, channel))
    return "\n".join(lines)


def _take_it(spanish: bool, channel: str) -> str:
    channel = channel.strip().lower()
    if channel == "sms":
        return "Responda 1 para reservarla." if spanish else "Reply 1 to take it."
    if channel == "whatsapp":
        return "Use el botón de abajo para reservarla." if spanish else "Use the button below to take it."
    if channel == "email":
        return "Use el enlace de abajo para reservarla." if spanish else "Use the link below to take it."
    if spanish:
        return "Responda a este mensaje para reservarla."
    return "Reply to this message to take it."


def waitlist_offer_text(
    *,
    language: str,
    practice_name: str,
    start_local: datetime,
    location_name: str,
    channel: str,
    hold_until_local: datetime | None = None,
) -> str:
    """Offer one freed-up time to a waitlisted patient (answer "1"/"yes" → option 1)."""
    spanish = normalize_language(language) == "es"
    practice = _clean(practice_name)
    when = format_when(start_local, language)
    location = _clean(location_name)
    if spanish:
        first = f"{practice}: hay una cita libre el {when}"
        first += f" en {location}." if location else "."
        parts = [first, _take_it(True, channel)]
        if hold_until_local is not None:
            parts.append(f"Se la guardamos hasta el {format_when(hold_until_local, language)}.")
        parts.append("Si no le conviene, no hace falta responder.")
    else:
        first = f"{practice}: an appointment time has opened up on {when}"
        first += f" at {location}." if location else "."
        parts = [first, _take_it(False, channel)]
        if hold_until_local is not None:
            parts.append(f"We can hold it until {format_when(hold_until_local, language)}.")
        parts.append("If it doesn't suit you, there is no need to reply.")
    return "\n".join(parts)


def slot_options_text(language: str, slots_local: Sequence[datetime]) -> str:
    """Numbered choices 1..n; the reply is read with ``offered_options=len(slots_local)``."""
    spanish = normalize_language(language) == "es"
    if not slots_local:
        if spanish:
            return "Ahora mismo no tenemos horarios libres. Alguien de la consulta se pondrá en contacto con usted."
        return "We have no open times to offer right now. Someone from the practice will contact you."
    header = "Tenemos estos horarios libres:" if spanish else "These times are available:"
    footer = (
        "Responda con el número del horario que prefiera." if spanish else "Reply with the number of the time you want."
    )
    numbered = [f"{i}. {format_when(slot, language)}" for i, slot in enumerate(slots_local, 1)]
    return "\n".join([header, *numbered, footer])


def confirmation_text(
    intent: Intent | str,
    language: str,
    *,
    practice_name: str,
    start_local: datetime | None = None,
    new_start_local: datetime | None = None,
    location_name: str | None = None,
) -> str:
    """The answer to an understood reply (``UNKNOWN``: a person will get back to them)."""
    intent = Intent(intent)
    spanish = normalize_language(language) == "es"
    practice = _clean(practice_name)
    location = _clean(location_name)
    when = format_when(start_local, language) if start_local is not None else None
    if intent is Intent.CONFIRM:
        if spanish:
            return f"Gracias, su cita del {when} está confirmada." if when else ("Gracias, su cita está confirmada.")
        return (
            f"Thank you, your appointment on {when} is confirmed."
            if when
            else ("Thank you, your appointment is confirmed.")
        )
    if intent is Intent.CANCEL:
        if spanish:
            head = f"Su cita del {when} ha sido cancelada." if when else "Su cita ha sido cancelada."
            return f"{head} Para pedir otra, responda a este mensaje o llame a {practice}."
        head = f"Your appointment on {when} has been cancelled." if when else "Your appointment has been cancelled."
        return f"{head} To book a new time, reply to this message or call {practice}."
    if intent is Intent.RESCHEDULE:
        if new_start_local is not None:
            new_when = format_when(new_start_local, language)
            if spanish:
                where = f" en {location}" if location else ""
                return f"Listo: su cita ahora es el {new_when}{where}."
            where = f" at {location}" if location else ""
            return f"Done: your appointment is now on {new_when}{where}."
        if spanish:
            return "Gracias, en breve le enviaremos otros horarios."
        return "Thanks, we will send you some other times shortly."
    if spanish:
        return f"Gracias por su mensaje. Alguien de {practice} le responderá pronto."
    return f"Thanks for your message. Someone from {practice} will get back to you soon."


def missed_you_text(language: str, practice_name: str, rebook_hint: str | None = None) -> str:
    """After a no-show: kind, no blame, no clinical detail."""
    practice = _clean(practice_name)
    hint = _clean(rebook_hint)
    if normalize_language(language) == "es":
        default = "Responda a este mensaje y le buscaremos otra hora."
        return f"{practice}: vemos que no pudo venir a su cita. {hint or default}"
    default = "Reply to this message and we will find you a new time."
    return f"{practice}: we missed you at your appointment. {hint or default}"


def followup_prompt_text(language: str, practice_name: str, *, when_hint: str | None = None) -> str:
    """Invite the patient to book a follow-up visit; the reason is never named."""
    practice = _clean(practice_name)
    hint = _clean(when_hint)
    if normalize_language(language) == "es":
        first = f"{practice}: es momento de reservar su visita de seguimiento"
        first += f" ({hint})." if hint else "."
        return f"{first} Responda a este mensaje y le buscaremos una hora que le convenga."
    first = f"{practice}: it is time to book your follow-up visit"
    first += f" ({hint})." if hint else "."
    return f"{first} Reply to this message and we will find a time that suits you."
