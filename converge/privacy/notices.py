"""Texts that stand in for clinical content on standard-tier channels.

When a message may not travel on WhatsApp, SMS or email, the patient gets one of these instead,
pointing at the secure portal. They must say nothing about why: no condition, test, visit type
or result, only who is writing and where to read it. `converge.privacy.phi.scan` finds nothing
in them (tested), given a practice name and link that are themselves free of PHI.
"""

from __future__ import annotations

__all__ = ["portal_invitation_text", "secure_notice_text"]

_SECURE_NOTICE = {
    "en": "You have a new secure message from {practice}: {link}",
    "es": "Tiene un nuevo mensaje seguro de {practice}: {link}",
}

_PORTAL_INVITATION = {
    "en": (
        "{practice} would like to continue this conversation in the secure patient portal. "
        "Please sign in to read and reply: {link}"
    ),
    "es": (
        "{practice} desea continuar esta conversación en el portal seguro para pacientes. "
        "Inicie sesión para leer y responder: {link}"
    ),
}

_FALLBACK_PRACTICE = {"en": "your healthcare provider", "es": "su proveedor de salud"}


def _language(language: str) -> str:
    # "es", "es-MX", "es_US", "ES" are Spanish; anything we have no text for falls back to English.
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return "es" if primary == "es" else "en"


def _fill(templates: dict[str, str], language: str, practice_name: str, link: str) -> str:
    link = link.strip()
    if not link or any(c.isspace() for c in link):
        raise ValueError("link must be a single non-empty URL")
    lang = _language(language)
    # Collapse newlines and runs of spaces so a stored name cannot reshape the message.
    practice = " ".join(practice_name.split())
    if practice:
        return templates[lang].format(practice=practice, link=link)
    text = templates[lang].format(practice=_FALLBACK_PRACTICE[lang], link=link)
    return text[0].upper() + text[1:]


def secure_notice_text(language: str, practice_name: str, link: str) -> str:
    """Short notice that a secure message is waiting, e.g. in place of a blocked reply."""
    return _fill(_SECURE_NOTICE, language, practice_name, link)


def portal_invitation_text(language: str, practice_name: str, link: str) -> str:
    """Invitation to move a clinical conversation into the secure portal, neutral wording."""
    return _fill(_PORTAL_INVITATION, language, practice_name, link)
