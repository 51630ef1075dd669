"""Understanding a patient's reply to a reminder or a slot offer: pure logic, no database.

The rule is "recognise, never guess": a reply gets an intent only when it says one thing
clearly; anything hedged, mixed, qualified ("yes but ..."), negated ("don't cancel"), late
("running late"), or carrying much else is ``UNKNOWN`` and goes to a person.

Decisions (tests in tests/reminders/test_intents.py):

* SMS codes ``1/2/3`` and ``C/R/X`` are read on SMS only (other channels never asked for
  them). WhatsApp button ids ``confirm``/``reschedule``/``cancel`` are exact matches.
* Carrier keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT, START,
  UNSTOP, HELP, INFO) sent as the whole message, and any message containing an opt-out word,
  are ``UNKNOWN``: opt-out handling owns them. A bare "cancel" is a cancel outside SMS only.
* With ``offered_options > 0`` (the last message offered numbered slots) a bare number or
  ordinal (``2``, ``option 2``, ``the second one``, ``la 2``) picks that slot
  (``RESCHEDULE``, ``option=n``); out of range is ``UNKNOWN``. A plain "yes" picks the slot
  only when exactly one was offered. A cancel-like reply to an offer stays ``CANCEL``: the
  caller decides whether that declines the offer or cancels the visit.
* "can't make it, can we do next week?" (cancel + reschedule) is ``RESCHEDULE``: moving is
  the non-destructive reading, and a request to move implies the current time does not work.
  Confirm mixed with anything else is ``UNKNOWN``.
* Questions: a confirm or cancel phrased as a question ("confirmed?", "can I cancel?") is
  ``UNKNOWN``; reschedule requests are naturally questions and stay ``RESCHEDULE``.
* Weak acknowledgements ("ok", "no problem", "👍") confirm only when nothing stronger is
  said; "no problem" is never a cancel. A bare "no" is ``UNKNOWN``; "thanks" alone is too.
* Spanish "si" without an accent is also "if": it confirms only alone, before punctuation,
  or with nothing but other confirm words ("si confirmo"); otherwise the reply is hedged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CARRIER_KEYWORDS",
    "SMS_OPTIONS",
    "Intent",
    "ReplyUnderstanding",
    "normalize_language",
    "reminder_reply_instructions",
    "understand_reply",
]


class Intent(StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReplyUnderstanding:
    intent: Intent
    confidence: float
    matched: str
    option: int | None = None


SMS_OPTIONS: dict[str, Intent] = {
    "1": Intent.CONFIRM,
    "2": Intent.RESCHEDULE,
    "3": Intent.CANCEL,
    "C": Intent.CONFIRM,
    "R": Intent.RESCHEDULE,
    "X": Intent.CANCEL,
}

CARRIER_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
_KEYWORD_MESSAGES = frozenset(k.lower() for k in CARRIER_KEYWORDS) | {
    "start",
    "unstop",
    "help",
    "info",
}
_OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "optout", "unstop"})
_BUTTON_IDS = {"confirm": Intent.CONFIRM, "reschedule": Intent.RESCHEDULE, "cancel": Intent.CANCEL}

MAX_CHARS = 1000
MAX_TOKENS = 40
MAX_LEFTOVER = 6
# A confirmation with much else in it may carry a request that auto-confirming would bury.
MAX_CONFIRM_LEFTOVER = 3
_UNKNOWN_CONFIDENCE = 0.0

_DAYS_EN = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_DAYS_ES = "lunes|martes|miercoles|jueves|viernes|sabado|domingo"
_WHEN_EN = f"{_DAYS_EN}|tomorrow|today|next|another|later|earlier|a different|other|morning|afternoon|evening|the \\d+"
_END = r"(?= \.|$)"

# Normalised text: casefolded, accents and apostrophes removed, clause punctuation as " . ".
_PHRASES: dict[str, list[str]] = {
    "confirm": [
        r"y+e+s+",
        r"yeah+",
        r"yea",
        r"yep+",
        r"yup+",
        r"yesi",
        r"sii+",
        r"sip",
        r"si si",
        r"(i )?confirm(ed|ing)?",
        r"confirm(o|ado|ada|amos|ar)",
        r"see (you|ya)",
        r"(ill|i will|well|we will|will|i ll) be there",
        r"(ill|i will|we will|i can|we can) make it",
        r"(i|we) can (come|go|attend)",
        r"((im|i am|were|we are|still) )?coming",
        r"(i will|ill|we will) (attend|come)",
        r"absolutely",
        r"definitely",
        r"of course",
        r"sure",
        r"sounds (good|great|perfect)",
        r"perfect",
        r"works for (me|us)",
        r"that works",
        r"looking forward",
        r"count (me|us) in",
        r"de acuerdo",
        r"claro( que (si|yesi))?",
        r"por supuesto",
        r"perfecto",
        r"(ahi|alli|alla) (estare|estaremos|voy|vamos|ire|iremos)",
        r"(estare|estaremos) (ahi|alli|puntual|presente|ahi)",
        r"nos vemos",
        r"asistire(mos)?",
        r"voy" + _END,
        r"ire" + _END,
        r"(voy|vamos) a (ir|estar|asistir)",
        r"cuente(n)? conmigo",
        r"listo",
        r"dale",
    ],
    "confirm_weak": [
        r"o+k+(ay|ey|ie|i)?",
        r"k+",
        r"alright",
        r"all right",
        r"fine",
        r"good",
        r"great",
        r"cool",
        r"vale",
        r"bueno",
        r"(esta|muy|todo) bien",
        r"no (problem|prob|worries)",
        r"(sin|ningun) problema",
        r"noted",
        r"got it",
        r"entendido",
        r"recibido",
        r"emojiok",
    ],
    "cancel": [
        r"cancel+(ed|ing|ation|led|ling)?",
        r"cancel(ar|arla|arlo|a|ala|o|en|enla|e|ela|amos|acion|ado|ada)",
        r"anul(ar|arla|a|o|en|e)",
        r"(cant|cannot|can not|couldnt|could not) (make|come|go|attend|be there|do it|keep it)",
        r"(wont|will not|not going to|not gonna) (make it|come|go|attend|be there|be coming)",
        r"(wont|will not|not) be able( to)?",
        r"(un|not )able to (come|make|attend|go|be there)",
        r"not (coming|attending|going|making it)",
        r"no longer (need|coming|able)",
        r"dont need (the|my|this) (appointment|appt)",
        r"call (it )?off",
        r"no (puedo|podre|podemos|podremos)( (ir|asistir|acudir|venir))?",
        r"no (voy|vamos) a (poder|ir|asistir|acudir)",
        r"no (voy|vamos|ire|iremos|asistire|asistiremos)",
        r"no me (es|sera) posible( (ir|asistir|acudir))?",
    ],
    "reschedule": [
        r"re ?schedul(e|ing|ed)",
        r"re ?book(ing)?",
        r"re ?agend(ar|arla|arlo|en|e|a)",
        r"reprogram(ar|arla|arlo|en|e|a)",
        r"move (it|my|the|our|this|to)",
        r"moving (it|my|the)",
        r"change (it|the|my|our|this)( (appointment|appt|time|date|day|visit))?",
        r"(different|another|other|new|later|earlier) (time|day|date|slot)s?",
        r"any other (time|day|date)s?",
        r"(next|following) week",
        r"((i|we) )?(can )?come (later|earlier|another day)",
        r"postpone",
        r"push (it|back|my|the)",
        r"swap",
        r"switch (it|the|my|to)",
        r"instead",
        rf"(can|could) (we|i) (do|make it|come|go)( it)? ((on|in|at) )?(the )?({_WHEN_EN})",
        r"cambiar(la|lo)?( (la|mi|de|el))? (cita|hora|fecha|dia|horario|turno)",
        r"cambiar(la|lo)",
        r"cambiar" + _END,
        r"cambio de (cita|hora|fecha|dia|horario|turno)",
        r"(otro|otra) (dia|hora|fecha|horario|turno|momento|semana)",
        r"mas (tarde|temprano)",
        r"(la )?(proxima|siguiente|otra) semana",
        r"la semana que viene",
        r"pospon(er|erla|erlo|gan|ga)",
        r"aplazar(la|lo)?",
        r"mover(la|lo)?",
        r"nueva (cita|fecha|hora)",
        r"en vez de",
        rf"(puedo|podemos|podria|podriamos) (ir|venir) (el|otro|otra|mas|la proxima|"
        rf"la siguiente|en la|por la|{_DAYS_ES})",
    ],
    "negated": [
        r"(dont|do not|no need to|not|never|didnt|did not) (want to )?"
        r"(cancel|reschedul|change|move)\w*",
        r"no (quiero|hace falta|es necesario|necesito|hay que) "
        r"(cancelar|cambiar|reprogramar|mover|anular|reagendar)\w*",
        r"no (cancel|anul|reprogram|reagend|cambi)\w*",
        r"(cant|cannot|can not|couldnt|not) confirm\w*",
        r"no (puedo|podemos) confirmar",
        r"not (good|ok|okay|fine|great|yet)",
        r"no (esta bien|vale|me sirve|me va bien)",
        r"(todavia|aun) no",
    ],
    "hedge": [
        r"maybe",
        r"might",
        r"perhaps",
        r"probably",
        r"possibly",
        r"not sure",
        r"unsure",
        r"if",
        r"unless",
        r"depends",
        r"i (think|guess)",
        r"hopefully",
        r"(ill|i will|will) try",
        r"try to",
        r"late",
        r"running behind",
        r"tal vez",
        r"quizas?",
        r"a lo mejor",
        r"puede que",
        r"depende",
        r"creo que",
        r"no (se|estoy segur[oa])",
        r"ojala",
        r"intentare",
        r"tratare",
        r"(llego|llegare|llegar|voy|vamos|un poco|algo) tarde",
        r"no (voy|vamos) a llegar( a tiempo)?",
        r"retras(o|ad[oa])",
    ],
    "extra": [
        r"also",
        r"btw",
        r"by the way",
        r"(another|quick|one more) question",
        r"question",
        r"ademas",
        r"tambien",
        r"(otra|una) pregunta",
        r"pregunta",
    ],
    "contrast": [
        r"but",
        r"however",
        r"although",
        r"though",
        r"except",
        r"pero",
        r"aunque",
        r"sin embargo",
        r"excepto",
        r"salvo",
        r"solo que",
    ],
    "negative": [r"no+", r"nope", r"nah", r"nop", r"negative"],
    "neutral": [
        r"good (morning|afternoon|evening|night|day)",
        r"buen(os|as)? (dias|tardes|noches|dia)",
        r"thank (you|u)",
        r"no thanks",
    ],
    "si": [r"si"],
}

_CATEGORY_RE = {
    category: re.compile(
        r"\b(?:" + "|".join(sorted(patterns, key=len, reverse=True)) + r")\b",
    )
    for category, patterns in _PHRASES.items()
}

_NEUTRAL_WORDS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "dear",
        "thanks",
        "thank",
        "thx",
        "ty",
        "you",
        "u",
        "please",
        "pls",
        "plz",
        "sorry",
        "so",
        "very",
        "much",
        "really",
        "just",
        "i",
        "im",
        "me",
        "my",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "the",
        "a",
        "an",
        "to",
        "for",
        "at",
        "on",
        "in",
        "of",
        "and",
        "with",
        "will",
        "would",
        "be",
        "is",
        "am",
        "are",
        "was",
        "have",
        "has",
        "do",
        "dr",
        "doctor",
        "doc",
        "appointment",
        "appt",
        "visit",
        "tomorrow",
        "today",
        "tonight",
        "then",
        "there",
        "again",
        "all",
        "your",
        "time",
        "pm",
        "oclock",
        "clock",
        "can",
        "need",
        "want",
        "like",
        "sir",
        "maam",
        "miss",
        "mr",
        "mrs",
        "ms",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "morning",
        "afternoon",
        "evening",
        "hola",
        "buenas",
        "buenos",
        "dias",
        "tardes",
        "noches",
        "gracias",
        "muchas",
        "mil",
        "por",
        "favor",
        "perdon",
        "disculpe",
        "disculpa",
        "lo",
        "siento",
        "la",
        "el",
        "los",
        "las",
        "un",
        "una",
        "de",
        "del",
        "a",
        "al",
        "y",
        "e",
        "mi",
        "me",
        "yo",
        "cita",
        "consulta",
        "turno",
        "doctora",
        "dra",
        "manana",
        "hoy",
        "pasado",
        "para",
        "con",
        "en",
        "que",
        "es",
        "esta",
        "muy",
        "entonces",
        "le",
        "les",
        "su",
        "nos",
        "senor",
        "senora",
        "senorita",
        "saludos",
        "atentamente",
        "bendiciones",
        "hasta",
        "luego",
        "pronto",
        "ya",
        "lunes",
        "martes",
        "miercoles",
        "jueves",
        "viernes",
        "sabado",
        "domingo",
    ]
)

_OPTION_FILLERS = frozenset(
    [
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "thx",
        "ty",
        "you",
        "gracias",
        "por",
        "favor",
        "the",
        "la",
        "el",
        "lo",
        "option",
        "opcion",
        "number",
        "numero",
        "num",
        "i",
        "id",
        "ill",
        "take",
        "want",
        "quiero",
        "would",
        "like",
        "prefer",
        "prefiero",
        "me",
        "quedo",
        "con",
        "choose",
        "pick",
        "elijo",
        "slot",
        "time",
        "hora",
        "horario",
        "turno",
        "one",
    ]
)

_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "primera": 1,
    "primero": 1,
    "segunda": 2,
    "segundo": 2,
    "tercera": 3,
    "tercero": 3,
    "cuarta": 4,
    "cuarto": 4,
    "quinta": 5,
    "quinto": 5,
    "uno": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
}
_NUMBERED = re.compile(r"(\d{1,3})(st|nd|rd|th|o|a|ro|do|er|ra|da|to)?")
_CONFIRM_EMOJI = re.compile("[\U0001f44d\U0001f44c\u2705\u2714\u2611\U0001f197]")
_CLAUSE_BREAK = re.compile(r"[.,;:!?¡¿()\[\]\n\r\t/|]+")
_NON_WORD = re.compile(r"[^\w.]+")
_SI_ACCENT = re.compile(r"(?<!\w)sí(?!\w)")
_INTENT_OF = {
    "confirm": Intent.CONFIRM,
    "cancel": Intent.CANCEL,
    "reschedule": Intent.RESCHEDULE,
}


def normalize_language(language: str) -> str:
    """``"es"`` for any Spanish tag (es, es-MX, es_US), otherwise ``"en"``."""
    base = re.split(r"[-_]", (language or "").strip().lower(), maxsplit=1)[0]
    return "es" if base == "es" else "en"


def reminder_reply_instructions(language: str, channel: str) -> str:
    """How to answer a reminder on ``channel``. SMS never asks for a carrier keyword."""
    spanish = normalize_language(language) == "es"
    channel = channel.strip().lower()
    if channel == "sms":
        if spanish:
            return "Responda 1 para confirmar, 2 para cambiar la cita, 3 para cancelarla."
        return "Reply 1 to confirm, 2 to reschedule, 3 to cancel."
    if channel == "whatsapp":
        if spanish:
            return "Use los botones de abajo para confirmar, cambiar o cancelar la cita."
        return "Use the buttons below to confirm, reschedule or cancel."
    if channel == "email":
        if spanish:
            return "Use los enlaces de abajo para confirmar, cambiar o cancelar la cita."
        return "Use the links below to confirm, reschedule or cancel."
    if spanish:
        return "Responda a este mensaje para confirmar, cambiar o cancelar la cita."
    return "Reply to this message to confirm, reschedule or cancel."


def _unknown(reason: str) -> ReplyUnderstanding:
    return ReplyUnderstanding(Intent.UNKNOWN, _UNKNOWN_CONFIDENCE, reason, None)


def _normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _SI_ACCENT.sub(" yesi ", folded)
    folded = _CONFIRM_EMOJI.sub(" emojiok ", folded)
    stripped = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    stripped = re.sub(r"['’‘`´]", "", stripped)
    stripped = _CLAUSE_BREAK.sub(" . ", stripped)
    stripped = _NON_WORD.sub(" ", stripped.replace("_", " "))
    stripped = re.sub(r"\.(?:\s*\.)+", ".", stripped)
    return " ".join(stripped.split()).strip(" .")


def _option_number(token: str) -> int | None:
    if token in _ORDINALS:
        return _ORDINALS[token]
    m = _NUMBERED.fullmatch(token)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    category: str
    text: str


def _find_matches(norm: str) -> list[_Match]:
    found = [
        _Match(m.start(), m.end(), category, m.group(0))
        for category, pattern in _CATEGORY_RE.items()
        for m in pattern.finditer(norm)
    ]
    found.sort(key=lambda m: (m.start - m.end, m.start))
    accepted: list[_Match] = []
    for m in found:
        if all(m.end <= a.start or m.start >= a.end for a in accepted):
            accepted.append(m)
    accepted.sort(key=lambda m: m.start)
    return accepted


def _leftover(norm: str, matches: list[_Match]) -> list[str]:
    covered = [" "] * len(norm)
    for m in matches:
        covered[m.start : m.end] = ["#"] * (m.end - m.start)
    rest = "".join(" " if c == "#" else ch for ch, c in zip(norm, covered, strict=True))
    return [t for t in rest.split() if t != "." and t not in _NEUTRAL_WORDS and not t.isdigit()]


def _decide(matches: list[_Match]) -> tuple[Intent, float] | str:
    """The single intent these matches express, or a reason it is unknown."""
    categories = {m.category for m in matches}
    strong = {_INTENT_OF[c] for c in categories if c in _INTENT_OF}
    negative = "negative" in categories
    if negative and Intent.CONFIRM in strong:
        return "mixed"
    if not strong:
        if "confirm_weak" in categories and not negative:
            return Intent.CONFIRM, 0.7
        return "bare no" if negative else "no intent"
    if len(strong) == 1:
        return strong.pop(), 0.9
    if strong == {Intent.CANCEL, Intent.RESCHEDULE}:
        return Intent.RESCHEDULE, 0.75
    return "mixed"


def understand_reply(text: str, *, channel: str, offered_options: int = 0) -> ReplyUnderstanding:
    """What a reply to a reminder (or, with ``offered_options``, to a slot offer) asks for."""
    if not text or not text.strip():
        return _unknown("empty")
    if len(text) > MAX_CHARS:
        return _unknown("too long")
    channel = (channel or "").strip().lower()
    bare = unicodedata.normalize("NFKC", text).strip().casefold()

    if channel == "whatsapp" and bare in _BUTTON_IDS:
        return ReplyUnderstanding(_BUTTON_IDS[bare], 1.0, f"button:{bare}", None)

    norm = _normalize(text)
    tokens = [t for t in norm.split() if t != "."]
    if not tokens:
        return _unknown("no words")
    if len(tokens) > MAX_TOKENS:
        return _unknown("too long")

    whole = "".join(tokens)
    if whole in _KEYWORD_MESSAGES:
        if whole == "cancel" and channel != "sms":
            return ReplyUnderstanding(Intent.CANCEL, 0.95, "cancel", None)
        return _unknown("carrier keyword")
    if any(t in _OPT_OUT_WORDS for t in tokens):
        return _unknown("opt-out words")

    content = [t for t in tokens if t not in _OPTION_FILLERS]
    if not content and "one" in tokens:
        content = ["one"]
    if len(content) == 1:
        token = content[0]
        if offered_options > 0:
            number = _option_number(token)
            if number is not None:
                if 1 <= number <= offered_options:
                    confidence = 1.0 if token.isdigit() else 0.95
                    return ReplyUnderstanding(Intent.RESCHEDULE, confidence, token, number)
                return _unknown("option out of range")
            if token.upper() in SMS_OPTIONS:
                return _unknown("code during a slot offer")
        elif token.upper() in SMS_OPTIONS:
            if channel == "sms":
                return ReplyUnderstanding(SMS_OPTIONS[token.upper()], 1.0, token.upper(), None)
            return _unknown("code outside sms")

    matches = _find_matches(norm)
    categories = [m.category for m in matches]
    if "hedge" in categories:
        return _unknown("hedged")
    if "negated" in categories:
        return _unknown("negated")
    if "extra" in categories:
        return _unknown("extra request")

    if "si" in categories:
        others = [m for m in matches if m.category != "si"]
        resolved: list[_Match] = []
        for m in matches:
            if m.category != "si":
                resolved.append(m)
                continue
            before_break = norm[m.end :].lstrip().startswith(".") or not norm[m.end :].strip()
            only_confirm = all(o.category in ("confirm", "confirm_weak") for o in others)
            if before_break or (only_confirm and not _leftover(norm, matches)):
                resolved.append(_Match(m.start, m.end, "confirm", m.text))
            else:
                return _unknown("si (if) conditional")
        matches = resolved

    contrast = [m for m in matches if m.category == "contrast"]
    confidence_cap = 1.0
    if contrast:
        if len(contrast) > 1:
            return _unknown("contrast")
        pivot = contrast[0]
        head = [m for m in matches if m.end <= pivot.start and m.category != "neutral"]
        if head:
            return _unknown("contrast")
        matches = [m for m in matches if m.start >= pivot.end]
        confidence_cap = 0.8

    decision = _decide(matches)
    if isinstance(decision, str):
        return _unknown(decision)
    intent, confidence = decision
    if ("?" in bare or "¿" in bare) and intent in (Intent.CONFIRM, Intent.CANCEL):
        return _unknown("question")
    leftover = _leftover(norm, matches if not contrast else _find_matches(norm))
    if len(leftover) > (MAX_CONFIRM_LEFTOVER if intent is Intent.CONFIRM else MAX_LEFTOVER):
        return _unknown("extra content")
    matched = "+".join(m.text for m in matches if m.category in (*_INTENT_OF, "confirm_weak"))

    if offered_options > 0 and intent is Intent.CONFIRM:
        if offered_options == 1:
            return ReplyUnderstanding(Intent.RESCHEDULE, 0.85, matched, 1)
        return _unknown("which option")
    confidence = min(confidence, confidence_cap) - 0.03 * len(leftover)
    return ReplyUnderstanding(intent, round(max(confidence, 0.5), 2), matched, None)
