"""Text helpers for email: HTML to safe plain text, quoted-history stripping, subjects.

Pure functions on `str`; no email parsing here (see `parse`).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = [
    "html_to_text",
    "normalize_subject",
    "normalize_text",
    "strip_quoted_text",
    "unflow_text",
]

# --- subjects ---------------------------------------------------------------------------------

# Reply / forward prefixes in the languages patients' mail clients use, with Outlook's counters
# ("RE[2]:", "AW(3):") and any repetition ("Re: Fwd: RE: ...").
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|vs|fwd?|fw|wg|rv|res|enc|tr|doorst)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_WS = re.compile(r"\s+")


def normalize_subject(subject: str) -> str:
    """Strip reply/forward prefixes and collapse whitespace; case is kept (compare casefolded)."""
    previous = None
    text = _WS.sub(" ", subject).strip()
    while previous != text:
        previous = text
        text = _SUBJECT_PREFIX.sub("", text).strip()
    return text


# --- plain text ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
# What str.splitlines() breaks on, which is also what the email package does when composing.
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def normalize_text(text: str) -> str:
    """Unix line ends, no control characters, no trailing whitespace, no outer blank lines."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def unflow_text(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks (Apple Mail and Thunderbird send it)."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw_line) - len(raw_line.lstrip(">"))
        line = raw_line[depth:]
        if line.startswith(" "):  # space-stuffing
            line = line[1:]
        if pending is not None and depth != pending_depth:
            out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
            pending = None
        flowed = line.endswith(" ") and line != "-- "
        if flowed and delsp:
            line = line[:-1]
        joined = (pending or "") + line
        if flowed:
            pending, pending_depth = joined, depth
        else:
            out.append(">" * depth + (" " if depth else "") + joined)
            pending = None
    if pending is not None:
        out.append(">" * pending_depth + (" " if pending_depth else "") + pending)
    return "\n".join(out)


# --- HTML ---------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})
_HTML_WS = re.compile(r"[ \t\r\n\f]+")  # not \xa0: &nbsp; is content
_QUOTE_MARK = re.compile(r"\x00Q(\d+)\x00")
_SAFE_LINK = re.compile(r"^(?:https?|mailto|tel):", re.IGNORECASE)
# Containers that mail clients wrap around quoted history, dropped when `drop_quotes` is set.
_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_quote_container", "gmail_extra", "yahoo_quoted", "moz-cite-prefix"})
_QUOTE_IDS = frozenset({"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container"})


class _TextExtractor(HTMLParser):
    def __init__(self, *, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_quotes = drop_quotes
        self.parts: list[str] = []
        self.stack: list[str] = []  # open elements, to find matching end tags
        self.skip_depth: int | None = None  # stack depth of the element being skipped
        self.quote_depth = 0
        self.pre_depth = 0
        self.links: list[str | None] = []
        self.link_text: list[list[str]] = []
        self.stopped = False  # Outlook's reply header: everything after it is history
        self.newlines = 1  # newlines at the end of the output so far (start counts as a line)
        self.paragraph_gaps: list[int] = []

    # output helpers
    def _emit(self, text: str) -> None:
        if not text:
            return
        if self.link_text:
            self.link_text[-1].append(text)
        else:
            self.parts.append(text)
        plain = _QUOTE_MARK.sub("", text)
        if plain.strip(" \n"):
            self.newlines = len(plain) - len(plain.rstrip("\n"))
        else:
            self.newlines += plain.count("\n")

    def _newline(self) -> None:
        self._emit("\n")

    def _ensure_newlines(self, count: int) -> None:
        """Start a new line (1) or leave a blank line (2), without stacking blank lines."""
        if self.newlines < count:
            self._emit("\n" * (count - self.newlines))

    def _skipping(self) -> bool:
        return self.skip_depth is not None or self.stopped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            self._void(tag, attrs)
            return
        self.stack.append(tag)
        if self._skipping():
            return
        attributes = {k.lower(): (v or "") for k, v in attrs}
        if tag in _SKIP_TAGS or self._is_quote_container(tag, attributes):
            self.skip_depth = len(self.stack)
            return
        if tag == "p":
            # Outlook's MsoNormal paragraphs have no margins: they are lines, not paragraphs.
            gap = 1 if "msonormal" in attributes.get("class", "").lower() else 2
            self.paragraph_gaps.append(gap)
            self._ensure_newlines(gap)
        elif tag in _BLOCK_TAGS:
            self._ensure_newlines(1)
        if tag == "blockquote":
            self.quote_depth += 1
        elif tag == "pre":
            self.pre_depth += 1
        elif tag == "li":
            self._emit("- ")
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "a":
            href = attributes.get("href", "").strip()
            self.links.append(href if _SAFE_LINK.match(href) else None)
            self.link_text.append([])

    def _is_quote_container(self, tag: str, attributes: dict[str, str]) -> bool:
        if not self.drop_quotes:
            return False
        classes = set(attributes.get("class", "").lower().split())
        if classes & _QUOTE_CLASSES:
            return True
        if attributes.get("id", "").lower() in _QUOTE_IDS:
            if attributes.get("id", "").lower() == "divrplyfwdmsg":
                # Outlook puts the history after this header block, not inside it.
                self.stopped = True
            return True
        return tag == "blockquote" and attributes.get("type", "").lower() == "cite"

    def _void(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping():
            return
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._ensure_newlines(1)
            self._emit("----------\n")
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            if alt.strip():
                self._emit(f"[{alt.strip()}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            self._void(tag, attrs)
        else:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS or tag not in self.stack:
            return
        while self.stack:
            open_tag = self.stack.pop()
            self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag: str) -> None:
        if self.skip_depth is not None:
            if len(self.stack) + 1 == self.skip_depth:
                self.skip_depth = None
            return
        if self.stopped:
            return
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag == "a" and self.link_text:
            text = "".join(self.link_text.pop())
            href = self.links.pop()
            self._emit(text)
            label = text.strip()
            if href and label != href and label != href.removeprefix("mailto:"):
                self._emit(f" ({href})")
        if tag == "p":
            self._ensure_newlines(self.paragraph_gaps.pop() if self.paragraph_gaps else 2)
        elif tag in _BLOCK_TAGS:
            self._ensure_newlines(1)

    def handle_data(self, data: str) -> None:
        if self._skipping():
            return
        text = data if self.pre_depth else _HTML_WS.sub(" ", data)
        if not self.pre_depth and not text.strip(" ") and self.newlines:
            return  # indentation between block elements
        if self.quote_depth and text:
            marker = f"\x00Q{self.quote_depth}\x00"
            text = marker + text.replace("\n", "\n" + marker)
        self._emit(text)

    def result(self) -> str:
        while self.link_text:  # unclosed <a>
            text = "".join(self.link_text.pop())
            self.links.pop()
            self._emit(text)
        return "".join(self.parts)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Render HTML as plain text. Scripts/styles are dropped, entities decoded, link targets
    kept as text in parentheses; nothing of the markup survives.

    With `drop_quotes`, containers that clients use for quoted history (Gmail's gmail_quote,
    Apple's blockquote type=cite, Outlook's divRplyFwdMsg and what follows) are left out.
    """
    parser = _TextExtractor(drop_quotes=drop_quotes)
    try:
        parser.feed(html.replace("\x00", ""))
        parser.close()
    except (AssertionError, ValueError):  # old HTMLParser versions assert on some garbage
        pass
    raw = parser.result()
    lines: list[str] = []
    for chunk in raw.split("\n"):
        depth = max((int(m) for m in _QUOTE_MARK.findall(chunk)), default=0)
        chunk = _QUOTE_MARK.sub("", chunk)
        stripped = chunk.strip(" \t")
        if depth and not stripped.startswith(">"):
            stripped = "> " * depth + stripped
        lines.append(stripped.replace("\xa0", " ").rstrip())
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return normalize_text(text)


# --- quoted history and signatures -------------------------------------------------------------

# An attribution line introducing quoted history ("On Mon, 6 Jan 2025 at 10:15, Jane <j@x>
# wrote:"); Gmail wraps long ones over two or three lines, so these are matched on joined lines.
_ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\s.{1,300}\swrote\s?:"
    r"|El\s.{1,300}\sescribi[óo]\s?:"
    r"|Am\s.{1,300}\sschrieb.{0,100}:"
    r"|Le\s.{1,300}\sa\s[ée]crit\s?:"
    r"|Em\s.{1,300}\sescreveu\s?:"
    r"|Op\s.{1,300}\sschreef.{0,100}:"
    r"|Il\s.{1,300}\sha\sscritto\s?:"
    r")\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Mensaje original|Ursprüngliche Nachricht|"
    r"Message d'origine|Mensagem original|Oorspronkelijk bericht|Messaggio originale)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|De|Von|Van|Da)\s*:\*?\s+\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Enviado|Fecha|Gesendet|Datum|Envoyé|Verzonden|Inviato|Data)\s*:\*?\s",
    re.IGNORECASE,
)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(?:To|Para|An|Aan|À|A|Cc|Subject|Asunto|Assunto|Betreff|Onderwerp|Objet|Oggetto)"
    r"\s*:\*?\s",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:_{5,}|-{5,})\s*$")
_FORWARD = re.compile(
    r"^\s*(?:Begin forwarded message\s*:|-{3,}\s*Forwarded message\s*-{3,}|"
    r"-{3,}\s*Mensaje reenviado\s*-{3,}|Inicio del mensaje reenviado\s*:|"
    r"-{3,}\s*Weitergeleitete Nachricht\s*-{3,})\s*$",
    re.IGNORECASE,
)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:Sent from my .{1,40}|Sent from Outlook.{0,40}|Get Outlook for .{1,30}|"
    r"Enviado desde mi .{1,40}|Von meinem .{1,40} gesendet|Envoyé de mon .{1,40}|"
    r"Sent from Mail for Windows.{0,10}|Sent from Yahoo Mail.{0,40})$",
    re.IGNORECASE,
)


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _history_start(lines: list[str], end: int) -> int | None:
    """Index of the first line of quoted history before `end`, if any."""
    for i in range(end):
        line = lines[i]
        stripped = line.strip()
        if not stripped or _is_quote(line):
            continue
        for span in (1, 2, 3):
            if i + span > end:
                break
            joined = " ".join(part.strip() for part in lines[i : i + span])
            if _ATTRIBUTION.match(joined):
                return i
        if _ORIGINAL_MESSAGE.match(line):
            return i
        if _HEADER_FROM.match(line) and _looks_like_header_block(lines, i, end):
            # An Outlook separator line just above belongs to the history too.
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            return j if j >= 0 and _SEPARATOR.match(lines[j]) else i
    return None


def _looks_like_header_block(lines: list[str], start: int, end: int) -> bool:
    """True for a "From: … / Sent: … / To: … / Subject: …" block, as Outlook writes it."""
    seen_sent = seen_other = False
    for line in lines[start + 1 : min(end, start + 6)]:
        if _HEADER_SENT.match(line):
            seen_sent = True
        elif _HEADER_OTHER.match(line):
            seen_other = True
        elif line.strip():
            break
    return seen_sent and seen_other


def strip_quoted_text(text: str) -> str:
    """What the sender wrote in this message: quoted history and signature removed.

    Forwarded messages ("Begin forwarded message:", Gmail's "Forwarded message") are the point
    of a forward, so they are kept. When nothing would remain, the full text is returned.
    """
    full = normalize_text(text)
    lines = full.split("\n")
    forward_at = next((i for i, line in enumerate(lines) if _FORWARD.match(line)), len(lines))
    cut = _history_start(lines, forward_at)
    head = lines[: cut if cut is not None else forward_at]
    head = [line for line in head if not _is_quote(line)]
    for i, line in enumerate(head):
        if line in ("-- ", "--"):
            head = head[:i]
            break
    while head and (not head[-1].strip() or _SEPARATOR.match(head[-1])):
        head.pop()
    if head and _MOBILE_SIGNATURE.match(head[-1].strip()):
        head.pop()
    body = head + ([""] if head and forward_at < len(lines) else []) + lines[forward_at:]
    result = re.sub(r"\n{3,}", "\n\n", normalize_text("\n".join(body)))
    return result if result.strip() else full
