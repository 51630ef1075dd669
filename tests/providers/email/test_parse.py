"""parse_email on mails shaped like real ones (tests/providers/email/fixtures) and on garbage."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.providers.email import (
    MalformedEmail,
    ParsedEmail,
    html_to_text,
    normalize_subject,
    parse_email,
    strip_quoted_text,
    to_inbound_message,
)
from converge.providers.types import MalformedPayload

FIXTURES = Path(__file__).parent / "fixtures"
OUR_ID = "<conv-7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f.42@clinic.example>"


def load(name: str, **kwargs: object) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes(), **kwargs)  # type: ignore[arg-type]


# --- fixtures ----------------------------------------------------------------------------------


def test_gmail_reply() -> None:
    mail = load("gmail_reply.eml")
    assert mail.message_id == "<CAJx8Qm3ZpL1dXK9wq7n0F2vA5e-Tq@mail.gmail.com>"
    assert mail.in_reply_to == OUR_ID
    assert mail.references == (OUR_ID,)
    assert mail.from_address == "maria.lopez@gmail.com"
    assert mail.from_name == "María López"
    assert mail.to_addresses == ("frontdesk+a1b2c3d4e5f6@clinic.example",)
    assert mail.delivered_to == ("frontdesk+a1b2c3d4e5f6@clinic.example",)
    assert mail.subject == "Re: Your appointment on Tuesday"
    assert mail.normalized_subject == "Your appointment on Tuesday"
    assert mail.date == datetime(2025, 1, 6, 18, 15, 32, tzinfo=UTC)
    assert mail.display_text == "Hi, yes I can come at 3pm.\n\nCan I bring my daughter too?"
    assert mail.text.startswith("Hi, yes I can come at 3pm.")
    assert "> Your appointment is on Tuesday, January 7 at 3:00 PM with Dr. Patel." in mail.text
    assert not mail.is_auto_reply and mail.auto_reply_reason == ""
    assert mail.bounce is None
    assert mail.attachments == () and mail.rejected_attachments == ()


def test_outlook_reply_with_from_sent_block() -> None:
    mail = load("outlook_reply.eml")
    assert mail.message_id == ("<DM6PR02MB12340C5F7A0B4E2D9F1A3B5CA1234@DM6PR02MB1234.namprd02.prod.outlook.com>")
    assert mail.normalized_subject == "Your appointment on Tuesday"
    assert mail.display_text == "Thank you, Tuesday works for me.\n\nBest regards,\nJohn Smith"
    assert "Sent: Monday, January 6, 2025 9:02 AM" in mail.text


def test_outlook_html_only_with_original_message_block() -> None:
    mail = load("outlook_desktop_html.eml")
    assert mail.from_address == "rbrown@contoso.example"
    assert mail.from_name == "Robert Brown"
    assert mail.display_text == (
        "Hello, I need to cancel my appointment – my son is sick.\n"
        "Could you call me at 555‑0147 to rebook? See the school note "
        "(https://example.org/note).\n"
        "\n"
        "Thanks & regards,\n"
        "Robert Brown"
    )
    assert "-----Original Message-----" in mail.text
    assert "Your appointment is tomorrow at 10:00 AM." in mail.text
    for text in (mail.text, mail.display_text):
        assert "<" not in text.replace("<frontdesk@", "").replace("<rbrown@", "")
        assert "alert(" not in text and "MsoNormal" not in text and "&amp;" not in text


def test_apple_mail_reply_quoted_printable_with_signature() -> None:
    mail = load("apple_mail_reply.eml")
    assert mail.message_id == "<B8F2C1D4-7E3A-4B5C-9D6E-0F1A2B3C4D5E@icloud.com>"
    assert mail.date == datetime(2025, 1, 6, 18, 44, 3, tzinfo=UTC)
    assert mail.display_text == "Perfect, see you then. I’ll bring my insurance card."
    assert "Ana Torres\n555-0100" in mail.text


def test_spanish_gmail_reply() -> None:
    mail = load("gmail_spanish_reply.eml")
    assert mail.from_name == "Lucía Gómez"
    assert mail.subject == "RE: Recordatorio de cita médica"
    assert mail.normalized_subject == "Recordatorio de cita médica"
    assert mail.cc_addresses == ("pedro.gomez@example.es",)
    assert mail.display_text == "Sí, confirmo la cita del martes.\nGracias."
    assert "escribió:" in mail.text


def test_auto_reply() -> None:
    mail = load("auto_reply.eml")
    assert mail.is_auto_reply
    assert mail.auto_reply_reason == "Auto-Submitted: auto-replied (vacation)"
    assert mail.display_text == "I am away until January 13 with limited access to email."
    assert to_inbound_message(mail).metadata["auto_reply"] is True


def test_exchange_out_of_office() -> None:
    mail = load("exchange_out_of_office.eml")
    assert mail.is_auto_reply
    assert mail.auto_reply_reason == "X-Auto-Response-Suppress"
    assert mail.in_reply_to == OUR_ID
    assert mail.bounce is None


def test_dsn_bounce() -> None:
    mail = load("dsn_bounce.eml")
    assert mail.bounce is not None
    assert mail.bounce.recipients == ("old.address@example.net",)
    assert mail.bounce.action == "failed"
    assert mail.bounce.status == "5.1.1"
    assert mail.bounce.permanent
    assert mail.bounce.diagnostic == (
        "smtp; 550 5.1.1 <old.address@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert mail.bounce.original_message_id == OUR_ID
    assert mail.is_auto_reply
    assert mail.from_address == "mailer-daemon@mx.clinic.example"


def test_malformed_fixture() -> None:
    with pytest.raises(MalformedEmail) as info:
        load("malformed.eml")
    assert info.value.reason == "The email has no From header."
    assert isinstance(info.value, MalformedPayload) and isinstance(info.value, ValueError)


def test_pdf_attachment_kept_and_executable_rejected() -> None:
    mail = load("pdf_attachment.eml")
    assert mail.display_text == (
        "Hello, attached is the referral letter from my cardiologist. The appointment they "
        "recommend is within the next two weeks.\n\nSam"
    )  # format=flowed undone
    (pdf,) = mail.attachments
    assert (pdf.filename, pdf.content_type) == ("referral-letter.pdf", "application/pdf")
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.size == len(pdf.content)
    (exe,) = mail.rejected_attachments
    assert exe.filename == "setup.exe"
    assert "not accepted" in exe.reason
    inbound = to_inbound_message(mail)
    assert inbound.attachments[0].content == pdf.content
    assert inbound.attachments[0].sha256 == pdf.sha256
    assert inbound.metadata["rejected_attachments"][0]["filename"] == "setup.exe"


def test_large_attachment_is_rejected_with_reason() -> None:
    msg = EmailMessage()
    msg["From"] = "Pat <pat@example.com>"
    msg["To"] = "frontdesk@clinic.example"
    msg["Subject"] = "scan"
    msg["Message-ID"] = "<big@example.com>"
    msg.set_content("Here is the scan.")
    msg.add_attachment(b"\x89PNG" + b"\x00" * 3_000_000, maintype="image", subtype="png",
                       filename="scan.png")  # fmt: skip
    msg.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf",
                       filename="ok.pdf")  # fmt: skip
    mail = parse_email(msg.as_bytes(), max_attachment_bytes=1_000_000)
    assert [a.filename for a in mail.attachments] == ["ok.pdf"]
    (big,) = mail.rejected_attachments
    assert big.filename == "scan.png" and big.content_type == "image/png"
    assert big.size >= 3_000_000
    assert big.reason == "larger than the limit of 1000000 bytes"
    assert mail.display_text == "Here is the scan."


def test_allowed_types_accept_patterns() -> None:
    msg = EmailMessage()
    msg["From"] = "pat@example.com"
    msg.set_content("x")
    msg.add_attachment(b"GIF89a", maintype="image", subtype="gif", filename="a.gif")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="b.pdf")
    mail = parse_email(msg.as_bytes(), allowed_types={"image/*"})
    assert [a.filename for a in mail.attachments] == ["a.gif"]
    assert [r.filename for r in mail.rejected_attachments] == ["b.pdf"]


# --- to_inbound_message ------------------------------------------------------------------------


def test_to_inbound_message() -> None:
    mail = load("gmail_reply.eml")
    inbound = to_inbound_message(mail)
    assert inbound.provider_message_id == mail.message_id
    assert inbound.sender_address == "maria.lopez@gmail.com"
    assert inbound.sender_name == "María López"
    assert inbound.body == mail.display_text
    assert inbound.sent_at == mail.date
    assert inbound.reply_to_provider_id == OUR_ID
    assert inbound.metadata["subject"] == "Re: Your appointment on Tuesday"
    assert inbound.metadata["full_text"] == mail.text
    assert inbound.metadata["message_id"] == mail.message_id
    assert inbound.metadata["in_reply_to"] == OUR_ID
    assert inbound.metadata["references"] == [OUR_ID]
    assert inbound.metadata["auto_reply"] is False


def test_missing_message_id_gets_stable_hash_id() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    first = to_inbound_message(parse_email(raw)).provider_message_id
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert to_inbound_message(parse_email(raw)).provider_message_id == first
    assert to_inbound_message(parse_email(raw + b"x")).provider_message_id != first


# --- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Appointment", "Appointment"),
        ("RE[2]: Appointment", "Appointment"),
        ("AW: WG: Termin", "Termin"),
        ("Fwd: FW: Re:  Re: lab   results", "lab results"),
        ("Re(3): x", "x"),
        ("SV: Tid", "Tid"),
        ("Regarding: x", "Regarding: x"),
        ("Re: Fwd: ", ""),
        ("Appointment re: Tuesday", "Appointment re: Tuesday"),
    ],
)
def test_normalize_subject(subject: str, expected: str) -> None:
    assert normalize_subject(subject) == expected


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: vacation", "Auto-Submitted: vacation"),
        ("X-Autoreply: yes", "x-autoreply: yes"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: junk", "Precedence: junk"),
        ("List-Unsubscribe: <mailto:unsub@example.com>", "mailing list"),
        ("X-MS-Exchange-Inbox-Rules-Loop: a@example.com", "X-MS-Exchange-Inbox-Rules-Loop"),
        ("Subject: Out of Office: Re: appointment", "out-of-office subject"),
        ("Subject: Respuesta automática: cita", "out-of-office subject"),
    ],
)
def test_auto_reply_headers(header: str, reason: str) -> None:
    subject = "" if header.startswith("Subject:") else "Subject: Re: appointment\n"
    raw = f"From: a@example.com\n{subject}{header}\n\nbody\n".encode()
    mail = parse_email(raw)
    assert mail.is_auto_reply
    assert mail.auto_reply_reason == reason


def test_auto_submitted_no_is_a_person() -> None:
    mail = parse_email(b"From: a@example.com\nAuto-Submitted: no\nSubject: hi\n\nbody\n")
    assert not mail.is_auto_reply


def test_x_failed_recipients_bounce() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
        b"To: frontdesk@clinic.example\n"
        b"Subject: Mail delivery failed: returning message to sender\n"
        b"X-Failed-Recipients: gone@example.net\n"
        b"Content-Type: text/plain\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"  gone@example.net\n    host mx.example.net said: 550 5.1.1 No such user\n\n"
        b"------ This is a copy of the message, including all the headers. ------\n\n"
        b"Message-ID: <conv-7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f.7@clinic.example>\n"
        b"Subject: Reminder\n"
    )
    mail = parse_email(raw)
    assert mail.bounce is not None
    assert mail.bounce.recipients == ("gone@example.net",)
    assert mail.bounce.permanent and mail.bounce.status == "5.1.1"
    assert mail.bounce.original_message_id == ("<conv-7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f.7@clinic.example>")
    assert mail.is_auto_reply


def test_delayed_dsn_is_not_permanent() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nDelayed.\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; slow@example.net\nAction: delayed\nStatus: 4.4.1\n\n"
        b"--b\nContent-Type: message/rfc822\n\n"
        b"Message-ID: <orig@clinic.example>\nFrom: frontdesk@clinic.example\n\nhello\n"
        b"--b--\n"
    )
    mail = parse_email(raw)
    assert mail.bounce is not None
    assert mail.bounce.action == "delayed" and not mail.bounce.permanent
    assert mail.bounce.status == "4.4.1"
    assert mail.bounce.original_message_id == "<orig@clinic.example>"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "The email is empty."),
        (b"   \r\n  ", "The email is empty."),
        (b"just some text without any headers at all", "This is not an email: it has no headers."),
        (b"From: not an address\nSubject: x\n\nbody", "The email's From header has no valid address."),
        (b"From: a@example.com\nFrom: b@example.com\n\nbody", "The email has more than one From header."),
        (
            b"From: a@example.com\nSubject: =?utf-8?q?hi=0D=0ABcc:_x@example.com?=\n\nbody",
            "The subject header contains line breaks or NUL characters (possible header injection).",
        ),
        (
            b"From: =?utf-8?q?Eve=0D=0ABcc:_x@example.com?= <eve@example.com>\n\nbody",
            "An address header contains line breaks or NUL characters (possible header injection).",
        ),
    ],
)  # fmt: skip
def test_malformed_input(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEmail) as info:
        parse_email(raw)
    assert info.value.reason == reason


def test_not_bytes_is_malformed() -> None:
    with pytest.raises(MalformedEmail):
        parse_email("From: a@example.com\n\nhi")  # type: ignore[arg-type]


def test_odd_but_readable_headers() -> None:
    raw = (
        'From: "Doe, Jane" <JANE@Example.COM>\n'
        "To: =?utf-8?q?Cl=C3=ADnica?= <frontdesk@clinic.example>, bogus, <x@y.example>\n"
        "Subject: =?unknown-8bit?q?caf=E9?= ok\n"
        "Message-ID: no-brackets@example.com\n"
        "References: <a@x> junk <b@x>\n"
        "  <c@x>\n"
        "In-Reply-To: Your message of Monday <c@x>\n"
        "Date: Mon, 6 Jan 2025 10:00:00\n"
        "Content-Type: text/plain; charset=does-not-exist\n\n"
        "h\xe9llo\n"
    ).encode("latin-1")
    mail = parse_email(raw)
    assert mail.from_address == "jane@example.com" and mail.from_name == "Doe, Jane"
    assert mail.to_addresses == ("frontdesk@clinic.example", "x@y.example")
    assert mail.message_id == "<no-brackets@example.com>"
    assert mail.references == ("<a@x>", "<b@x>", "<c@x>")
    assert mail.in_reply_to == "<c@x>"
    assert mail.date == datetime(2025, 1, 6, 10, 0, tzinfo=UTC)  # no zone: taken as UTC
    assert mail.subject.endswith("ok")
    assert mail.text == "h\ufffdllo"


def test_raw_utf8_headers() -> None:
    raw = "From: José Núñez <jose@example.com>\nSubject: Cita mañana\n\nhola\n".encode()
    mail = parse_email(raw)
    assert mail.from_name == "José Núñez" and mail.subject == "Cita mañana"


# --- HTML and quote stripping ------------------------------------------------------------------


def test_html_to_text_is_safe() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<script>document.write('x')</script><p>Dear &amp; dear &lt;b&gt; &#8364;5</p>"
        "<p>See <a href='https://example.org/x'>this</a>, <a href='javascript:evil()'>that</a>"
        " and <a href='mailto:a@example.com'>a@example.com</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><img src='cid:x' alt='logo'>"
        "<iframe src='https://evil'></iframe><!-- comment --></body></html>"
    )
    assert html_to_text(html) == (
        "Dear & dear <b> €5\n\nSee this (https://example.org/x), that and a@example.com.\n\n- one\n- two\n[logo]"
    )


def test_strip_quoted_text_variants() -> None:
    assert strip_quoted_text("ok\n\n> quoted\n> more") == "ok"
    assert strip_quoted_text("Yes.\n\nAm Mo., 6. Jan. 2025 um 09:02 Uhr schrieb Praxis <p@x.de>:\n> a") == "Yes."
    assert strip_quoted_text("Oui.\n\nLe lun. 6 janv. 2025 à 09:02, Cabinet <c@x.fr> a écrit :\n> a") == "Oui."
    assert strip_quoted_text("Fine\n\n-----Mensaje original-----\nDe: x\nEnviado: y") == "Fine"
    assert strip_quoted_text("Sure\n\nDe: Clinica <c@x>\nEnviado: lunes\nPara: Yo\nAsunto: Cita\n\nold") == "Sure"
    assert strip_quoted_text("Call me\n\nSent from my iPhone") == "Call me"
    assert strip_quoted_text("Thanks\n--\nBob\n555") == "Thanks"
    # Only quotes: nothing would remain, so the full text is shown.
    assert strip_quoted_text("> only quoted") == "> only quoted"
    # A line that merely starts with "From:" is not a header block.
    assert strip_quoted_text("From: my phone, sorry\nSee you Tuesday") == ("From: my phone, sorry\nSee you Tuesday")


def test_forwarded_message_is_kept() -> None:
    text = (
        "Please see the lab's message below.\n\n"
        "Begin forwarded message:\n\n"
        "From: Lab <lab@example.com>\nSubject: Results\nDate: 6 January 2025\nTo: me\n\n"
        "Your results are ready."
    )
    assert strip_quoted_text(text) == text


# --- property tests ----------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    try:
        mail = parse_email(raw)
    except MalformedEmail as exc:
        assert exc.reason
        return
    assert "@" in mail.from_address


_header_names = st.sampled_from(
    [
        "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted",
        "X-Failed-Recipients", "Reply-To", "Delivered-To", "MIME-Version",
    ]
)  # fmt: skip
_header_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "a@example.com", "<x@y>", "=?utf-8?q?=C3=A9t=C3=A9?=", "=?bogus?b?////?=",
            "multipart/mixed; boundary=b", "multipart/report; report-type=delivery-status",
            "text/plain; charset=utf-7", "base64", "quoted-printable", "attachment; filename*=x",
            "\"Doe, J\" <j@x.example>, <<>>", "Mon, 99 Foo 2025 99:99:99 +9999",
        ]
    ),
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.tuples(_header_names, _header_values), max_size=12),
    st.text(max_size=300),
    st.booleans(),
)
def test_generated_headers_never_raise_anything_else(
    headers: list[tuple[str, str]], body: str, with_from: bool
) -> None:
    lines = [f"{name}: {value}" for name, value in headers]
    if with_from:
        lines.insert(0, "From: Someone <someone@example.com>")
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogatepass")
    try:
        mail = parse_email(raw)
    except MalformedEmail as exc:
        assert exc.reason
        return
    assert mail.date is None or mail.date.tzinfo is not None
    for field in (mail.subject, mail.from_name, *mail.to_addresses):
        assert "\n" not in field and "\r" not in field


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=2000))
def test_random_attachment_bytes(data: bytes) -> None:
    encoded = base64.encodebytes(data).decode()
    raw = (
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n"
        "Content-Type: text/plain\n\nhi\n--zz\nContent-Type: application/pdf; name=x.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{encoded}\n--zz--\n"
    ).encode()
    mail = parse_email(raw)
    assert [a.content for a in mail.attachments] == [data]
