"""Automatic replies from routing, in the patient's language. No PHI, no clinical advice beyond
pointing to emergency services."""

from __future__ import annotations

from datetime import datetime

SAFETY = {
    "en": (
        "If this is an emergency, call {emergency} or go to the nearest emergency room now. "
        "We have alerted our clinical team and will contact you as soon as possible. — {practice}"
    ),
    "es": (
        "Si es una emergencia, llame al {emergency} o vaya a la sala de emergencias más cercana ahora. "
        "Hemos avisado a nuestro equipo clínico y le contactaremos lo antes posible. — {practice}"
    ),
}
SAFETY_SUICIDE = {
    "en": (
        "You are not alone. Please call or text {crisis} (Suicide & Crisis Lifeline) now, any hour. "
        "If you are in danger, call {emergency}. We have alerted our clinical team and will contact you "
        "as soon as possible. — {practice}"
    ),
    "es": (
        "No está solo/a. Llame o envíe un texto al {crisis} (Línea de Prevención del Suicidio y Crisis) "
        "ahora, a cualquier hora; marque 2 para español. Si está en peligro, llame al {emergency}. Hemos "
        "avisado a nuestro equipo clínico y le contactaremos lo antes posible. — {practice}"
    ),
}
SAFETY_POISON = {
    "en": (
        "Call Poison Control at {poison} now. If the person is unconscious, has a seizure or has trouble "
        "breathing, call {emergency}. We have alerted our clinical team. — {practice}"
    ),
    "es": (
        "Llame a Control de Envenenamientos al {poison} ahora. Si la persona está inconsciente, tiene una "
        "convulsión o le cuesta respirar, llame al {emergency}. Hemos avisado a nuestro equipo clínico. — {practice}"
    ),
}


def safety_text(families: list[str], language: str, *, practice: str, emergency: str, crisis: str, poison: str) -> str:
    """The safety reply that fits the risk: the crisis line for suicide or self-harm (with Poison
    Control too when an overdose is also named), Poison Control for a poisoning, else emergency."""
    lang = "es" if language == "es" else "en"
    values = {"practice": practice, "emergency": emergency, "crisis": crisis, "poison": poison}
    if "suicide_self_harm" in families:
        text = SAFETY_SUICIDE[lang].format(**values)
        if "poisoning_overdose" in families:
            extra = "Control de Envenenamientos: {poison}." if lang == "es" else "Poison Control: {poison}."
            text = f"{extra.format(poison=poison)} {text}"
        return text
    if "poisoning_overdose" in families:
        return SAFETY_POISON[lang].format(**values)
    return SAFETY[lang].format(**values)


AFTER_HOURS = {
    "en": "Thanks for your message. {practice} is closed now; we will answer {when}. "
    "If this is an emergency, call 911.",
    "es": "Gracias por su mensaje. {practice} está cerrado ahora; le responderemos {when}. "
    "Si es una emergencia, llame al 911.",
}
# The on-call page goes on a standard channel: the practice and a link, never the patient or text.
ON_CALL = "Urgent message waiting at {practice}: {link}"
DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def when_text(opening: datetime, now: datetime, language: str) -> str:
    hour = opening.strftime("%I:%M %p").lstrip("0") if language != "es" else f"{opening.hour}:{opening.minute:02d}"
    if opening.date() == now.date():
        return f"hoy a las {hour}" if language == "es" else f"today at {hour}"
    if (opening.date() - now.date()).days == 1:
        return f"mañana a las {hour}" if language == "es" else f"tomorrow at {hour}"
    day = (DAYS_ES if language == "es" else DAYS_EN)[opening.weekday()]
    return f"el {day} a las {hour}" if language == "es" else f"on {day} at {hour}"


_SPANISH = frozenset(
    {
        "de", "la", "el", "que", "y", "en", "los", "las", "por", "para", "con", "una", "un", "mi", "me", "tengo",
        "tiene", "es", "está", "estoy", "muy", "pero", "cita", "hola", "gracias", "no", "puedo", "dolor", "usted",
        "necesito", "quiero", "favor", "hoy", "mañana", "ayer",
    }
)  # fmt: skip
_ENGLISH = frozenset(
    {
        "the", "and", "my", "is", "i", "to", "a", "of", "in", "it", "have", "has", "am", "are", "was", "for", "with",
        "you", "can", "please", "not", "no", "pain", "need", "want", "today", "tomorrow", "yesterday", "hi", "thanks",
    }
)  # fmt: skip


def guess_language(text: str) -> str:
    """ "es" or "en" from common function words: enough to answer an unknown sender in the
    language they wrote in."""
    words = [w.strip(".,;:!?¿¡()\"'").lower() for w in text.split()]
    spanish = sum(w in _SPANISH for w in words)
    english = sum(w in _ENGLISH for w in words)
    return "es" if spanish > english else "en"
