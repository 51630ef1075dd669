"""The demo practice: Sunrise Family Clinic, with fictional staff, patients, appointments and
conversations on simulator channels. Created once, then reused."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from converge.connectors.models import Channel
from converge.connectors.services import simulator_channel_create
from converge.connectors.webchat import webchat_demo_channel_ensure
from converge.conversations import services as conversation_services
from converge.conversations.inbound.pipeline import message_receive
from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Location, Practice, Role, StaffMember
from converge.practices.services import practice_create, staff_create
from converge.providers.types import ChannelKind, DeliveryStatus, InboundMessage
from converge.reminders.models import Reminder, ReminderStatus
from converge.reminders.services import reminders_dispatch_due
from converge.reminders.waitlist import waitlist_add, waitlist_send_batches
from converge.replies.models import CannedResponse
from converge.replies.services import canned_response_create
from converge.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    FollowUpItem,
    Provider,
    WorkingHours,
)
from converge.scheduling.services import appointment_book, appointment_set_status

SLUG = "sunrise"
PASSWORD = "sunrise-demo-2026"  # noqa: S105 -- the documented demo login
DOMAIN = "sunrise.example"

STAFF = (
    ("maria", "Maria Lopez", Role.FRONT_DESK, ("front-desk",)),
    ("james", "James Carter", Role.FRONT_DESK, ("front-desk",)),
    ("aisha", "Aisha Khan", Role.FRONT_DESK, ("front-desk", "scheduling")),
    ("tom", "Tom Nguyen", Role.SCHEDULER, ("scheduling",)),
    ("rosa", "Rosa Martinez", Role.SCHEDULER, ("scheduling",)),
    ("grace", "Grace Kim, RN", Role.NURSE, ("nursing",)),
    ("daniel", "Daniel Brooks, RN", Role.NURSE, ("nursing",)),
    ("lucia", "Lucía Fernández, LPN", Role.NURSE, ("nursing",)),
    ("patel", "Dr. Anika Patel", Role.PROVIDER, ("providers",)),
    ("reyes", "Dr. Miguel Reyes", Role.PROVIDER, ("providers",)),
    ("chen", "Dr. Emily Chen", Role.PROVIDER, ("providers",)),
    ("sarah", "Sarah Whitfield", Role.MANAGER, ("front-desk",)),
    ("admin", "Practice Admin", Role.ADMIN, ()),
)

FIRST_EN = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Chris",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
]
LAST_EN = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
]
FIRST_ES = [
    "José",
    "Juan",
    "Luis",
    "Carlos",
    "Jorge",
    "Miguel",
    "Ana",
    "Carmen",
    "Rosa",
    "Lucía",
    "Sofía",
    "Valentina",
    "Camila",
    "Diego",
    "Javier",
    "Gabriela",
    "Elena",
    "Isabel",
    "Fernando",
    "Alejandro",
]
LAST_ES = [
    "García",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Cruz",
    "Morales",
    "Ortiz",
    "Gutiérrez",
    "Chávez",
    "Ramos",
]

CONVERSATIONS_EN = (
    ("Hi, can I get a refill on my lisinopril? I have 3 pills left.", "refill"),
    ("Do you take Blue Cross PPO? My employer switched plans.", "administrative"),
    ("I need to move my appointment on Thursday, something came up at work", "scheduling"),
    ("What time do you open on Saturday?", "administrative"),
    ("I've had a headache for three days and ibuprofen isn't helping", "clinical"),
    ("Are my lab results back yet? I did the blood draw Monday.", "clinical"),
    ("Got a bill for $85 but I thought my copay was $25, can someone explain?", "administrative"),
    ("Yes see you then", "scheduling"),
    ("My incision from Tuesday's procedure is a little red, is that normal?", "clinical"),
    ("Can you send my records to Dr. Allen at Valley Orthopedics?", "administrative"),
    ("Is there parking near the Main St office?", "administrative"),
    ("I started the new blood pressure pill and feel dizzy when I stand up", "clinical"),
)
CONVERSATIONS_ES = (
    ("Hola, necesito una receta nueva para la metformina por favor", "refill"),
    ("¿Aceptan Medicaid? Mi hijo necesita una cita", "administrative"),
    ("No puedo ir a mi cita del martes, ¿podemos cambiarla?", "scheduling"),
    ("Sí, confirmo mi cita. Gracias", "scheduling"),
    ("Mi hija tiene fiebre de 38.5 desde ayer, ¿qué hago?", "clinical"),
    ("¿Cuánto cuesta una consulta sin seguro?", "administrative"),
)
REPLIES_EN = (
    "Thanks for reaching out! I've sent this to our team and we'll get back to you today.",
    "Happy to help. Could you confirm your date of birth?",
    "Done — you're all set. Let us know if there's anything else.",
)
REPLIES_ES = (
    "¡Gracias por escribirnos! Ya lo pasamos al equipo y le respondemos hoy.",
    "Con gusto. ¿Nos confirma su fecha de nacimiento?",
)
NOTES = (
    "Called pharmacy, refill sent to CVS on Elm.",
    "Patient prefers afternoon appointments.",
    "Checked with Dr. Patel — ok to move to next week.",
    "Insurance verified, copay is $25.",
)


@dataclass(frozen=True)
class DemoLogins:
    password: str
    staff: list[tuple[str, str, str]]


def _logins(practice: Practice) -> DemoLogins:
    staff = StaffMember.objects.filter(practice=practice).select_related("user").order_by("id")
    return DemoLogins(PASSWORD, [(s.user.email, s.display_name, s.get_role_display()) for s in staff])


def ensure_demo(*, seed: int = 7) -> DemoLogins:
    practice = Practice.objects.filter(slug=SLUG).first()
    if practice is not None:
        _working_hours_ensure(practice)  # a demo made before hours were seeded gets them now
        _canned_responses_ensure(practice)  # ... and canned responses
        _on_call_ensure(practice)  # ... and an on-call list
        webchat_demo_channel_ensure(practice)
        return _logins(practice)
    rng = random.Random(seed)
    with transaction.atomic():
        practice = practice_create(name="Sunrise Family Clinic", slug=SLUG, time_zone="America/New_York")
        practice.phone = "+1 555 201 4400"
        practice.save(update_fields=["phone"])
        main = Location.objects.create(practice=practice, name="Main Street", address="120 Main St, Springfield")
        east = Location.objects.create(practice=practice, name="Eastside", address="45 Lake Ave, Springfield")
        staff = {
            key: staff_create(
                practice=practice,
                email=f"{key}@{DOMAIN}",
                password=None,
                display_name=name,
                role=role,
                team_slugs=teams,
                validate=False,
            )
            for key, name, role, teams in STAFF
        }
        # One shared, documented password: hashed once (argon2 takes ~0.4 s a hash), not 13 times.
        get_user_model().objects.filter(pk__in=[m.user_id for m in staff.values()]).update(
            password=make_password(PASSWORD)
        )
        channels = {kind: simulator_channel_create(practice=practice, kind=kind) for kind in SIMULATOR_KINDS}
        patients = _patients(practice, rng)
        providers = [
            Provider.objects.create(practice=practice, staff=staff[k], display_name=staff[k].display_name, location=loc)
            for k, loc in (("patel", main), ("reyes", main), ("chen", east))
        ]
        _working_hours_ensure(practice)
        _canned_responses_ensure(practice)
        _on_call_ensure(practice)
        types = _appointment_types(practice)
        recalled = _recall_history(practice, rng, patients, providers, types)
        regulars = [p for p in patients if p.pk not in recalled]
        _appointments(practice, rng, regulars, providers, types, channels)
        _conversations(practice, rng, patients, channels, staff)
        _waitlist(practice, rng, regulars, providers, types, staff)
        _follow_ups(practice, rng, patients)
        _urgent_and_portal(practice, patients, channels, staff)
        _past_urgent_acknowledged(practice, staff)
        _history_delivered(practice)
    webchat_demo_channel_ensure(practice)
    return _logins(practice)


SIMULATOR_KINDS = (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.EMAIL, ChannelKind.WEBCHAT)


# Monday to Friday, 8 AM to 5 PM: the seeded visits (8:00 + 40 min steps, the last at 16:00 for
# 40 minutes) all fall inside, and the calendar offers the gaps between them.
DEMO_HOURS = (time(8), time(17))


# Who is paged, in order, when an urgent alert is not acknowledged (fictional 555-01xx numbers,
# delivered to the simulator).
ON_CALL = (("grace", "+15550101001"), ("patel", "+15550101002"), ("daniel", "+15550101003"))


def _on_call_ensure(practice: Practice) -> None:
    from converge.routing.models import RoutingSettings

    settings, _ = RoutingSettings.objects.get_or_create(practice=practice)
    if settings.on_call_list:
        return
    members = {
        m.user.email.split("@")[0]: m for m in StaffMember.objects.filter(practice=practice).select_related("user")
    }
    entries = []
    for key, phone in ON_CALL:
        member = members.get(key)
        if member is None:
            continue
        if not member.phone:
            member.phone = phone
            member.save(update_fields=["phone"])
        entries.append({"staff": member.pk})
    settings.on_call_list = entries
    settings.save(update_fields=["on_call_list"])


def _working_hours_ensure(practice: Practice) -> None:
    """Working hours for every demo provider that has none, so the calendar can book."""
    start, end = DEMO_HOURS
    for provider in Provider.objects.filter(practice=practice, working_hours__isnull=True):
        WorkingHours.objects.bulk_create(
            WorkingHours(practice=practice, provider=provider, weekday=weekday, start=start, end=end)
            for weekday in range(5)
        )


def _patients(practice: Practice, rng: random.Random) -> list[Patient]:
    rows = []
    for i in range(220):
        spanish = i % 4 == 0
        first = rng.choice(FIRST_ES if spanish else FIRST_EN)
        last = rng.choice(LAST_ES if spanish else LAST_EN)
        rows.append(
            Patient(
                practice=practice,
                first_name=first,
                last_name=last,
                date_of_birth=date(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28)),
                language="es" if spanish else "en",
                preferred_channel=rng.choice(["sms", "sms", "whatsapp", "email"]),
                is_verified=True,
                external_id=f"SFC{10000 + i}",
            )
        )
    patients = Patient.objects.bulk_create(rows)
    contacts = []
    for i, patient in enumerate(patients):
        phone = f"+1555{2000000 + i * 37:07d}"
        contacts.append(
            ContactPoint(
                practice=practice,
                patient=patient,
                kind="sms",
                address=phone,
                is_verified=True,
                consent_at=clock.now(),
            )
        )
        if patient.preferred_channel == "whatsapp" or i % 3 == 0:
            contacts.append(
                ContactPoint(
                    practice=practice,
                    patient=patient,
                    kind="whatsapp",
                    address=phone,
                    is_verified=True,
                )
            )
        email = f"{patient.first_name}.{patient.last_name}{i}@mail.example".lower()
        contacts.append(
            ContactPoint(
                practice=practice,
                patient=patient,
                kind="email",
                address=_ascii(email),
                is_verified=True,
            )
        )
    ContactPoint.objects.bulk_create(contacts)
    return patients


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _appointment_types(practice: Practice) -> list[AppointmentType]:
    return [
        AppointmentType.objects.create(
            practice=practice,
            name="Annual physical",
            duration_minutes=40,
            may_name_in_reminders=True,
            instructions="Please arrive 15 minutes early and bring a list of your medicines.",
        ),
        AppointmentType.objects.create(
            practice=practice,
            name="Follow-up visit",
            duration_minutes=20,
            may_name_in_reminders=True,
        ),
        AppointmentType.objects.create(practice=practice, name="Sick visit", duration_minutes=20),
        AppointmentType.objects.create(
            practice=practice,
            name="Lab draw",
            duration_minutes=10,
            instructions="Fast for 8 hours before your visit (water is fine).",
        ),
    ]


def _slot(day: date, slot: int, tz: ZoneInfo) -> datetime:
    """A 40-minute grid from 8:00 (the longest visit type), so demo visits never overlap and the
    last one (16:00 + 40 min) ends inside the working hours."""
    return datetime.combine(day, time(8), tzinfo=tz) + timedelta(minutes=40 * slot)


def _recall_history(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    providers: list[Provider],
    types: list[AppointmentType],
) -> set[int]:
    """Patients last seen 13 to 30 months ago and not booked since: the recall page's candidates."""
    tz = ZoneInfo(practice.time_zone)
    today = clock.now().astimezone(tz).date()
    chosen = rng.sample(patients, 18)
    for n, patient in enumerate(chosen):
        day = today - timedelta(days=rng.randint(400, 900))
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        provider = providers[n % len(providers)]
        start = _slot(day, n % 13, tz)
        kind = types[0]
        # Recorded when the visit ended: the front desk checked the patient out.
        with clock.frozen(start + timedelta(minutes=kind.duration_minutes)):
            appointment_book(
                patient=patient,
                provider=provider,
                start=start,
                appointment_type=kind,
                source="demo",
                external_id=f"demo-recall-{n}",
                status=AppointmentStatus.COMPLETED,
            )
    return {p.pk for p in chosen}


@dataclass
class _Fate:
    """What the patient does with their reminders, decided up front (the seed makes it fixed)."""

    reply_on: str  # "48h", "24h" or "" (never answers)
    answer: str  # "confirm" or "cancel"
    outcome: str  # for a visit still booked when it ends: completed or no_show


def _fate(rng: random.Random) -> _Fate:
    roll = rng.random()
    if roll < 0.48:
        fate = _Fate("48h", "confirm", "")
    elif roll < 0.63:
        fate = _Fate("24h", "confirm", "")
    elif roll < 0.70:
        fate = _Fate("48h", "cancel", "")
    else:
        fate = _Fate("", "", "")
    # Patients who never answer miss more often.
    no_show = 0.22 if not fate.reply_on else 0.04
    fate.outcome = AppointmentStatus.NO_SHOW if rng.random() < no_show else AppointmentStatus.COMPLETED
    return fate


ANSWERS = {
    # (channel kind, answer, language) -> what the patient writes back
    ("sms", "confirm", "en"): ("1", "C", "Yes", "1 thanks"),
    ("sms", "confirm", "es"): ("1", "Sí", "Sí, confirmo"),
    ("sms", "cancel", "en"): ("3",),
    ("sms", "cancel", "es"): ("3",),
    ("email", "confirm", "en"): ("Yes", "Yes, I'll be there"),
    ("email", "confirm", "es"): ("Sí", "Sí, confirmo"),
    ("email", "cancel", "en"): ("Cancel",),
    ("email", "cancel", "es"): ("No puedo ir, cancelar",),
}


def _appointments(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    providers: list[Provider],
    types: list[AppointmentType],
    channels: dict[ChannelKind, Channel],
) -> None:
    """340 visits from 60 days ago to 45 days ahead, all through the booking service. The past is
    lived, not written: each past visit is booked days ahead, its 48 h / 24 h reminders go out at
    their time, patients confirm or cancel by replying (through the inbound pipeline), and the
    visit ends completed or as a no-show — so the figures page has real rates."""
    tz = ZoneInfo(practice.time_zone)
    now = clock.now()
    today = now.astimezone(tz).date()
    planned: list[tuple[datetime, Provider, AppointmentType, Patient]] = []
    taken: set[tuple[int, datetime]] = set()
    while len(planned) < 340:
        offset = rng.randint(-60, 45)
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        provider = rng.choice(providers)
        start = _slot(day, rng.randint(0, 12), tz)
        if (provider.pk, start) in taken or (offset == 0 and start < now + timedelta(hours=1)):
            continue
        taken.add((provider.pk, start))
        planned.append((start, provider, rng.choice(types), rng.choice(patients)))
    planned.sort(key=lambda row: row[0])
    # The lived past: a queue of what happens, in time order.
    queue: list[tuple[datetime, int, str, Any]] = []
    seq = 0

    def push(at: datetime, what: str, payload: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (at, seq, what, payload))

    future: list[tuple[datetime, Provider, AppointmentType, Patient, AppointmentStatus]] = []
    for n, (start, provider, kind, patient) in enumerate(planned):
        if start < now:
            booked_at = datetime.combine(start.date() - timedelta(days=rng.randint(4, 21)), time(9), tzinfo=tz)
            booked_at += timedelta(minutes=rng.randint(0, 480))
            push(booked_at, "book", (n, start, provider, kind, patient, _fate(rng)))
        else:
            status = rng.choices([AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED], [58, 42])[0]
            future.append((start, provider, kind, patient, status))
    fates: dict[int, _Fate] = {}
    while queue:
        at, _seq, what, payload = heapq.heappop(queue)
        if at >= now:
            break
        with clock.frozen(at):
            if what == "book":
                n, start, provider, kind, patient, booked_fate = payload
                visit = appointment_book(
                    patient=patient,
                    provider=provider,
                    start=start,
                    appointment_type=kind,
                    location=provider.location,
                    source="demo",
                    external_id=f"demo-{n}",
                )
                fates[visit.pk] = booked_fate
                for reminder in Reminder.objects.filter(appointment=visit, status=ReminderStatus.PLANNED):
                    if reminder.due_at is not None:
                        push(reminder.due_at, "remind", reminder.pk)
                push(visit.end, "outcome", visit.pk)
            elif what == "remind":
                reminders_dispatch_due()
                reminder = Reminder.objects.select_related("message__contact_point").get(pk=payload)
                fate = fates[reminder.appointment_id]
                if reminder.status == ReminderStatus.QUEUED and fate.reply_on == reminder.kind:
                    push(at + timedelta(minutes=rng.randint(2, 240)), "reply", reminder)
            elif what == "reply":
                _reminder_reply(payload, fates, channels, rng)
            elif what == "outcome":
                visit = Appointment.objects.select_related("patient__practice").get(pk=payload)
                if visit.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
                    appointment_set_status(appointment=visit, status=fates[visit.pk].outcome, actor=None)
    for n, (start, provider, kind, patient, status) in enumerate(future):
        visit = appointment_book(
            patient=patient,
            provider=provider,
            start=start,
            appointment_type=kind,
            location=provider.location,
            source="demo",
            external_id=f"demo-next-{n}",
        )
        if status == AppointmentStatus.CONFIRMED:  # confirmed already, by phone or at the desk
            appointment_set_status(appointment=visit, status=status, actor=None)


def _reminder_reply(
    reminder: Reminder, fates: dict[int, _Fate], channels: dict[ChannelKind, Channel], rng: random.Random
) -> None:
    """The patient answers the reminder on the channel it came on."""
    message = reminder.message
    if message is None or message.contact_point is None:
        return
    patient = message.contact_point.patient
    fate = fates[reminder.appointment_id]
    kind = message.contact_point.kind
    metadata: dict[str, object] = {}
    if kind == "whatsapp":
        body = {"confirm": "Confirmar" if patient.language == "es" else "Confirm", "cancel": "Cancel"}[fate.answer]
        metadata["reply_id"] = fate.answer  # the tapped button
    else:
        body = rng.choice(ANSWERS[(kind, fate.answer, "es" if patient.language == "es" else "en")])
    message_receive(
        channel=channels[ChannelKind(kind)],
        inbound=InboundMessage(
            provider_message_id=f"demo-reply-{reminder.pk}",
            sender_address=message.contact_point.address,
            body=body,
            metadata=metadata,
        ),
    )


def _conversations(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    channels: dict[ChannelKind, Channel],
    staff: dict[str, StaffMember],
) -> None:
    now = clock.now()
    tz = ZoneInfo(practice.time_zone)
    responders = [staff[k] for k in ("maria", "james", "aisha", "tom", "grace", "daniel")]
    chosen = rng.sample(patients, 62)
    for n, patient in enumerate(chosen):
        spanish = patient.language == "es"
        text, category = rng.choice(CONVERSATIONS_ES if spanish else CONVERSATIONS_EN)
        kind = rng.choice(["sms", "sms", "whatsapp", "email", "webchat"]) if n % 7 else "whatsapp"
        if n % 3 == 0:  # still waiting: arrived in the last two days
            started = now - timedelta(minutes=rng.randint(5, 60 * 24 * 2))
        else:  # answered: arrived on a weekday of the past four weeks, in opening hours
            day = (now - timedelta(days=rng.randint(0, 27))).astimezone(tz).date()
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            started = datetime.combine(day, time(8), tzinfo=tz) + timedelta(minutes=rng.randint(0, 8 * 60))
            started = min(started, now - timedelta(hours=3))
        contact = ContactPoint.objects.filter(patient=patient, kind="sms" if kind == "webchat" else kind).first()
        if contact is None:
            contact = ContactPoint.objects.filter(patient=patient, kind="sms").first()
            kind = "sms"
        address = contact.address if contact and kind != "webchat" else f"visitor-{patient.pk}"
        with clock.frozen(started):
            received = message_receive(
                channel=channels[ChannelKind(kind)],
                inbound=InboundMessage(provider_message_id=f"demo-{n}-0", sender_address=address, body=text),
            )
        conversation = Conversation.objects.get(pk=received.message.conversation_id)
        with clock.frozen(started + timedelta(minutes=1)):
            conversation_services.conversation_set_triage(conversation=conversation, actor=None, category=category)
        if n % 3 == 0:
            continue  # left waiting for an answer
        responder = rng.choice(responders)
        with clock.frozen(started + timedelta(minutes=rng.randint(3, 40))):
            conversation_services.conversation_assign(conversation=conversation, actor=responder, assignee=responder)
            reply = conversation_services.message_queue(
                conversation=conversation,
                channel=channels[ChannelKind(kind)],
                body=rng.choice(REPLIES_ES if spanish else REPLIES_EN),
                sender=responder,
            )
        # The demo's history is already delivered; only new replies go through the worker.
        Message.objects.filter(pk=reply.pk).update(
            status=rng.choice([DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.SENT]),
            provider_message_id=f"sim-{reply.idempotency_key}",
            sent_at=reply.created_at,
            next_attempt_at=None,
        )
        if n % 4 == 1:
            with clock.frozen(started + timedelta(minutes=45)):
                conversation_services.note_add(conversation=conversation, author=responder, body=rng.choice(NOTES))
        if n % 5 == 2:
            with clock.frozen(started + timedelta(hours=2)):
                conversation_services.conversation_set_status(
                    conversation=conversation, actor=responder, status="resolved"
                )


CANNED = (
    # (shortcut, title, English, Spanish)
    (
        "hours",
        "Opening hours",
        "We're open Monday to Friday, 8 AM to 5 PM, at 120 Main St and 45 Lake Ave (Eastside).",
        "Abrimos de lunes a viernes, de 8 a. m. a 5 p. m., en 120 Main St y 45 Lake Ave (Eastside).",
    ),
    (
        "refill",
        "Refill request received",
        "Thanks {first_name}, we've sent your refill request to your provider. Most refills are ready at the"
        " pharmacy within 2 business days.",
        "Gracias, {first_name}: enviamos su pedido de receta a su médico. La mayoría están listas en la"
        " farmacia en 2 días hábiles.",
    ),
    (
        "insurance",
        "Insurance we accept",
        "We accept most major plans, including Blue Cross, Aetna, UnitedHealthcare and Medicaid. Bring your card"
        " to your visit and we'll check your coverage.",
        "Aceptamos la mayoría de los seguros, incluidos Blue Cross, Aetna, UnitedHealthcare y Medicaid. Traiga"
        " su tarjeta a la cita y revisamos su cobertura.",
    ),
    (
        "reschedule",
        "Happy to move your visit",
        "No problem — what days and times work best for you? We'll find the nearest free time.",
        "Con gusto — ¿qué días y horas le convienen? Le buscamos la hora libre más cercana.",
    ),
    (
        "results",
        "Results take a few days",
        "Lab results usually take 2–3 business days. Your provider will contact you through the secure portal"
        " once they've reviewed them.",
        "Los resultados suelen tardar 2 o 3 días hábiles. Su médico le escribirá por el portal seguro cuando"
        " los haya revisado.",
    ),
    (
        "parking",
        "Parking",
        "Free parking is behind the Main St building; the Eastside office has spaces by the entrance.",
        "Hay estacionamiento gratis detrás del edificio de Main St; en Eastside hay lugares junto a la entrada.",
    ),
    (
        "dob",
        "Confirm date of birth",
        "To make sure we have the right record, could you confirm your date of birth?",
        "Para confirmar que tenemos el expediente correcto, ¿nos indica su fecha de nacimiento?",
    ),
    (
        "emergency",
        "Call 911",
        "If this is an emergency, please call 911 or go to the nearest emergency room now.",
        "Si es una emergencia, llame al 911 o vaya a la sala de emergencias más cercana ahora.",
    ),
)


def _canned_responses_ensure(practice: Practice) -> None:
    """Eight shortcuts in English and Spanish, for a demo that has none yet."""
    if CannedResponse.objects.filter(practice=practice).exists():
        return
    for shortcut, title, english, spanish in CANNED:
        for language, body in (("en", english), ("es", spanish)):
            canned_response_create(
                practice_id=practice.pk, actor=None, shortcut=shortcut, title=title, body=body, language=language
            )


def _waitlist(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    providers: list[Provider],
    types: list[AppointmentType],
    staff: dict[str, StaffMember],
) -> None:
    """Patients waiting for an earlier time, and one cancelled visit being offered to them now."""
    now = clock.now()
    booked = set(
        Appointment.objects.filter(practice=practice, start__gte=now, status__in=ACTIVE_STATUSES).values_list(
            "patient_id", flat=True
        )
    )
    waiting = [p for p in patients if p.pk not in booked]
    rng.shuffle(waiting)
    wishes: tuple[dict[str, object], ...] = (
        {},
        {"provider": providers[0]},
        {"appointment_type": types[1]},
        {"weekdays": [0, 2, 4]},
        {"earliest_time": time(12), "latest_time": time(16, 30)},
        {},
        {"provider": providers[2], "weekdays": [1, 3]},
    )
    for n, wish in enumerate(wishes):
        with clock.frozen(now - timedelta(days=14 - 2 * n, hours=rng.randint(0, 6))):
            waitlist_add(patient=waiting[n], actor=staff["aisha"], **wish)  # type: ignore[arg-type]
    # A patient cancels a visit two to four days out: the freed slot is offered to the waitlist.
    soon = (
        Appointment.objects.filter(
            practice=practice,
            status=AppointmentStatus.BOOKED,
            start__gte=now + timedelta(days=2),
            start__lt=now + timedelta(days=8),
        )
        .select_related("patient__practice")
        .order_by("start", "id")
        .first()
    )
    if soon is not None:
        appointment_set_status(
            appointment=soon, status=AppointmentStatus.CANCELLED, actor=staff["tom"], reason="patient called"
        )
        waitlist_send_batches()


def _follow_ups(practice: Practice, rng: random.Random, patients: list[Patient]) -> None:
    """Beside the no-shows (queued by the no-show hook): calls after a visit, and recalls due."""
    tz = ZoneInfo(practice.time_zone)
    now = clock.now()
    today = now.astimezone(tz).date()
    seen = list(
        Appointment.objects.filter(
            practice=practice, status=AppointmentStatus.COMPLETED, start__gte=now - timedelta(days=10)
        ).order_by("-start")[:4]
    )
    notes = (
        "Check how the new blood pressure medicine is going",
        "Call with the plan after the lab review",
        "Ask whether the referral appointment was made",
        "Check the ankle is healing; book a follow-up if not",
    )
    rows = [
        FollowUpItem(
            practice=practice,
            patient_id=visit.patient_id,
            appointment=visit,
            kind="post_visit",
            note=note,
            due_date=visit.start.astimezone(tz).date() + timedelta(days=7),
            created_at=visit.end,
        )
        for visit, note in zip(seen, notes, strict=False)
    ]
    for n, patient in enumerate(rng.sample(patients, 3)):
        rows.append(
            FollowUpItem(
                practice=practice,
                patient=patient,
                kind="recall",
                note="Yearly diabetes check due",
                due_date=today - timedelta(days=3 * n),
                created_at=now - timedelta(days=30),
            )
        )
    FollowUpItem.objects.bulk_create(rows)


URGENT_TEXT = "I have crushing chest pain going down my left arm and I can't catch my breath"
PORTAL_QUESTION = "Hi, did my A1c results come back? I did the blood test last week."
PORTAL_ANSWER = (
    "Your HbA1c came back at 7.4%, up from 6.9%. Dr. Patel would like to raise your metformin to 1000 mg twice"
    " a day and recheck in 3 months."
)
PORTAL_REPLY = "Thank you. Should I take the extra metformin with breakfast or with dinner?"


def _past_urgent_acknowledged(practice: Practice, staff: dict[str, StaffMember]) -> None:
    """Urgent messages of past days were handled at the time: a nurse acknowledged each a few
    minutes after it came in, so day one shows only today's urgent message waiting."""
    from converge.routing.models import UrgentAlert
    from converge.routing.services import urgent_acknowledge

    cutoff = clock.now() - timedelta(hours=2)
    waiting = UrgentAlert.objects.filter(practice=practice, acknowledged_at__isnull=True, created_at__lt=cutoff)
    for alert in waiting.select_related("conversation").order_by("created_at"):
        with clock.frozen(alert.created_at + timedelta(minutes=4)):
            urgent_acknowledge(conversation=alert.conversation, staff=staff["grace"])


def _urgent_and_portal(
    practice: Practice,
    patients: list[Patient],
    channels: dict[ChannelKind, Channel],
    staff: dict[str, StaffMember],
) -> None:
    """An urgent message waiting for clinical staff, and a lab result answered through the secure
    portal (the PHI guard converts the nurse's SMS reply), with the patient's reply there."""
    from converge.portal.services import PortalGrant, portal_reply

    now = clock.now()
    urgent, portal = patients[5], patients[9]
    with clock.frozen(now - timedelta(minutes=12)):
        message_receive(
            channel=channels[ChannelKind.SMS],
            inbound=InboundMessage(
                provider_message_id="demo-urgent-0", sender_address=_sms_address(urgent), body=URGENT_TEXT
            ),
        )
    with clock.frozen(now - timedelta(hours=5)):
        received = message_receive(
            channel=channels[ChannelKind.SMS],
            inbound=InboundMessage(
                provider_message_id="demo-portal-0", sender_address=_sms_address(portal), body=PORTAL_QUESTION
            ),
        )
    conversation = Conversation.objects.get(pk=received.message.conversation_id)
    grace = staff["grace"]
    with clock.frozen(now - timedelta(hours=4, minutes=35)):
        conversation_services.conversation_assign(conversation=conversation, actor=grace, assignee=grace)
        conversation_services.message_queue(
            conversation=conversation, channel=channels[ChannelKind.SMS], body=PORTAL_ANSWER, sender=grace
        )
    with clock.frozen(now - timedelta(hours=1, minutes=10)):
        portal_reply(
            PortalGrant(patient_id=portal.pk, practice_id=practice.pk, conversation_id=conversation.pk), PORTAL_REPLY
        )


def _sms_address(patient: Patient) -> str:
    contact = ContactPoint.objects.get(patient=patient, kind="sms")
    return contact.address


def _history_delivered(practice: Practice) -> None:
    """Everything the demo's past sent went out long ago (on the simulator): only what staff and
    the worker send from now on goes through the outbox."""
    now = clock.now()
    queued = Message.objects.filter(
        practice=practice, direction="out", status=DeliveryStatus.QUEUED, created_at__lt=now - timedelta(seconds=1)
    )
    for status, parity in ((DeliveryStatus.DELIVERED, 0), (DeliveryStatus.READ, 1)):
        Message.objects.filter(pk__in=[pk for pk in queued.values_list("pk", flat=True) if pk % 2 == parity]).update(
            status=status,
            sent_at=F("created_at"),
            provider_message_id=Concat(Value("sim-"), "idempotency_key"),
            next_attempt_at=None,
        )
