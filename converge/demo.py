"""The demo practice: Sunrise Family Clinic, with fictional staff, patients, appointments and
conversations on simulator channels. Created once, then reused."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from converge.connectors.models import Channel
from converge.connectors.services import simulator_channel_create
from converge.connectors.types import ChannelKind, DeliveryStatus, InboundMessage
from converge.connectors.webchat import webchat_demo_channel_ensure
from converge.conversations import services as conversation_services
from converge.conversations.inbound import message_receive
from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Location, Practice, Role, StaffMember
from converge.practices.services import practice_create, staff_create
from converge.scheduling.models import Appointment, AppointmentStatus, AppointmentType, Provider, WorkingHours

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
                password=PASSWORD,
                display_name=name,
                role=role,
                team_slugs=teams,
                validate=False,
            )
            for key, name, role, teams in STAFF
        }
        channels = {kind: simulator_channel_create(practice=practice, kind=kind) for kind in SIMULATOR_KINDS}
        patients = _patients(practice, rng)
        providers = [
            Provider.objects.create(practice=practice, staff=staff[k], display_name=staff[k].display_name, location=loc)
            for k, loc in (("patel", main), ("reyes", main), ("chen", east))
        ]
        _working_hours_ensure(practice)
        _appointments(practice, rng, patients, providers, (main, east))
    _conversations(practice, rng, patients, channels, staff)
    webchat_demo_channel_ensure(practice)
    return _logins(practice)


SIMULATOR_KINDS = (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.EMAIL, ChannelKind.WEBCHAT)


# Monday to Friday, 8 AM to 5 PM: the seeded visits (8:00 + 40 min steps, the last at 16:00 for
# 40 minutes) all fall inside, and the calendar offers the gaps between them.
DEMO_HOURS = (time(8), time(17))


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


def _appointments(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    providers: list[Provider],
    locations: tuple[Location, Location],
) -> None:
    tz = ZoneInfo(practice.time_zone)
    types = [
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
    today = clock.now().astimezone(tz).date()
    rows: list[Appointment] = []
    taken: set[tuple[int, datetime]] = set()
    while len(rows) < 340:
        offset = rng.randint(-60, 45)
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        provider = rng.choice(providers)
        # A 40-minute grid (the longest visit type) so demo visits never overlap.
        slot = rng.randint(0, 12)
        start_local = datetime.combine(day, time(8), tzinfo=tz) + timedelta(minutes=40 * slot)
        if (provider.pk, start_local) in taken:
            continue
        taken.add((provider.pk, start_local))
        kind = rng.choice(types)
        if offset < 0:
            status = rng.choices(
                [
                    AppointmentStatus.COMPLETED,
                    AppointmentStatus.NO_SHOW,
                    AppointmentStatus.CANCELLED,
                ],
                [85, 8, 7],
            )[0]
        else:
            status = rng.choices(
                [
                    AppointmentStatus.BOOKED,
                    AppointmentStatus.CONFIRMED,
                    AppointmentStatus.CANCELLED,
                ],
                [55, 40, 5],
            )[0]
        rows.append(
            Appointment(
                practice=practice,
                patient=rng.choice(patients),
                provider=provider,
                location=provider.location or locations[0],
                appointment_type=kind,
                start=start_local,
                end=start_local + timedelta(minutes=kind.duration_minutes),
                blocked_until=start_local + timedelta(minutes=kind.duration_minutes + kind.buffer_minutes),
                status=status,
                source="demo",
                external_id=f"demo-{len(rows)}",
            )
        )
    Appointment.objects.bulk_create(rows)


def _conversations(
    practice: Practice,
    rng: random.Random,
    patients: list[Patient],
    channels: dict[ChannelKind, Channel],
    staff: dict[str, StaffMember],
) -> None:
    now = clock.now()
    responders = [staff[k] for k in ("maria", "james", "aisha", "tom", "grace", "daniel")]
    chosen = rng.sample(patients, 62)
    for n, patient in enumerate(chosen):
        spanish = patient.language == "es"
        text, category = rng.choice(CONVERSATIONS_ES if spanish else CONVERSATIONS_EN)
        kind = rng.choice(["sms", "sms", "whatsapp", "email", "webchat"]) if n % 7 else "whatsapp"
        started = now - timedelta(minutes=rng.randint(5, 60 * 24 * 6))
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
