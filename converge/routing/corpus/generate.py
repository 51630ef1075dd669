"""Regenerate train.csv, test.csv and heldout.csv from the hand-written templates in templates/.

    python -m converge.routing.corpus.generate

Each split has its own template files (written separately, with different phrasings), so the
held-out figure measures messages whose wording the model never saw. Variants are systematic:
slot values, greetings and sign-offs, e-mail framing, SMS abbreviations, common misspellings,
random keyboard typos, casing and punctuation, missing Spanish accents, and mixed-topic messages
whose label follows the queue precedence urgent > clinical > refill > scheduling > administrative.
Deterministic: the same templates always give byte-identical CSVs.

Each CSV has the columns text,label,family: `family` is the red-flag family of an urgent row (a
trailing "@family" on its template, else the family of the first red flag the rules find in the
clean template text, else other_emergency) and empty for the other labels. heldout.csv is generated
last, from templates/heldout.*.txt only, and drops any variant that is also a test or training text,
so adding or replacing the held-out templates never changes train.csv or test.csv; it is never
read by training or tuning (see PROVENANCE.md). Without held-out templates it is a header only.
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
# Each earlier held-out set (dev..dev4) was evaluated blind once, then used for error analysis,
# so it became training data; "test" is the v5 set written after that (see PROVENANCE.md).
SPLIT_FILES = {"train": ("train", "dev", "dev2", "dev3", "dev4"), "test": ("test",), "heldout": ("heldout",)}
# Template files generated as a pool of their own, with their own quotas, and added to a split:
# the suicide/self-harm templates and their hard negatives (issue 14) go to training.
# dev5..dev10 were the v6..v11 held-out sets, spent on error analysis like dev..dev4.
# "everyday" holds short neutral messages (acknowledgements, channel switches, one-word answers)
# and idioms or past, negated red flags: the hard negatives the over-triage came from.
POOLS: dict[str, tuple[str, ...]] = {
    "train": (
        "selfharm",
        "dev5",
        "dev6",
        "dev7",
        "dev8",
        "dev9",
        "dev10",
        "everyday",
        "triage9",
        "triage10",
        "triage11",
    )
}
LABELS = ("administrative", "scheduling", "refill", "clinical", "urgent")
PRECEDENCE = {label: rank for rank, label in enumerate(LABELS)}

# Messages wanted per (split, language, label).
QUOTAS: dict[str, dict[str, dict[str, int]]] = {
    "train": {
        "en": {
            "administrative": 570,
            "scheduling": 590,
            "refill": 420,
            "clinical": 660,
            "urgent": 480,
        },
        "es": {
            "administrative": 185,
            "scheduling": 185,
            "refill": 130,
            "clinical": 210,
            "urgent": 165,
        },
    },
    "test": {
        "en": {
            "administrative": 110,
            "scheduling": 120,
            "refill": 85,
            "clinical": 120,
            "urgent": 130,
        },
        "es": {"administrative": 35, "scheduling": 40, "refill": 28, "clinical": 40, "urgent": 48},
    },
    # The held-out set (v9 onwards, issue 14): mostly suicide/self-harm risk and its hard negatives.
    "heldout": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    # The v6..v11 held-out sets once spent (training data now).
    "dev5": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    "dev6": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    "dev7": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    "dev8": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    "dev9": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    "dev10": {
        "en": {"administrative": 55, "scheduling": 45, "refill": 30, "clinical": 60, "urgent": 130},
        "es": {"administrative": 18, "scheduling": 15, "refill": 10, "clinical": 20, "urgent": 40},
    },
    # Written in issue 14's second round from triage knowledge and the C-SSRS steps (see PROVENANCE.md).
    "triage9": {
        "en": {"administrative": 36, "scheduling": 27, "refill": 18, "clinical": 60, "urgent": 150},
        "es": {"administrative": 15, "scheduling": 12, "refill": 9, "clinical": 21, "urgent": 39},
    },
    # Written in round three from the C-SSRS steps v10's analysis showed thin, and everyday hard negatives.
    "triage10": {
        "en": {"administrative": 40, "scheduling": 30, "refill": 30, "clinical": 45, "urgent": 80},
        "es": {"administrative": 20, "scheduling": 12, "refill": 15, "clinical": 18, "urgent": 30},
    },
    # Written in round four from triage knowledge (fever, pregnancy and other emergencies by who has them), the
    # C-SSRS plans v11 showed thin, and the admin/scheduling/refill/clinical boundaries its errors crowded on.
    "triage11": {
        "en": {"administrative": 45, "scheduling": 35, "refill": 25, "clinical": 75, "urgent": 90},
        "es": {"administrative": 20, "scheduling": 15, "refill": 12, "clinical": 30, "urgent": 45},
    },
    "everyday": {
        "en": {"administrative": 300, "scheduling": 150, "refill": 45, "clinical": 90},
        "es": {"administrative": 90, "scheduling": 40, "refill": 12, "clinical": 25},
    },
    "selfharm": {
        "en": {"administrative": 80, "scheduling": 30, "refill": 45, "clinical": 110, "urgent": 260},
        "es": {"administrative": 10, "scheduling": 12, "refill": 3, "clinical": 35, "urgent": 90},
    },
}

# Chance that a message also carries a sentence from a lower-precedence label.
MIX_RATE = {"scheduling": 0.06, "refill": 0.10, "clinical": 0.22, "urgent": 0.15}
# Risk messages wrapped in scheduling or admin wording are the point of these sets.
MIX_RATES = {
    name: {**MIX_RATE, "urgent": 0.3}
    for name in (
        "heldout",
        "selfharm",
        "dev5",
        "dev6",
        "dev7",
        "dev8",
        "dev9",
        "dev10",
        "triage9",
        "triage10",
        "triage11",
    )
}
OTHER_EMERGENCY = "other_emergency"
_FAMILY_TAG = re.compile(r"\s+@([a-z_]+)$")
# A hard negative that denies risk ("not suicidal") is not mixed into another message: glued to a
# risk message it would make a self-contradicting one.
_NOMIX = " @nomix"

# fmt: off
SLOTS: dict[str, list[str]] = {
    "day": [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "tomorrow", "next Tuesday", "this Thursday",
        "Monday morning", "Friday afternoon",
    ],
    "month": ["March", "April", "June", "September", "October", "December", "the spring"],
    "time": ["9am", "10:30", "2 pm", "3:15pm", "8:45 am", "noon", "4pm", "11:00", "1:30"],
    "date": ["March 3rd", "4/12", "the 15th", "June 2", "10/21", "the 28th", "May 9"],
    "doctor": [
        "Dr. Patel", "Dr. Nguyen", "Dr. Kim", "Dr. Alvarez", "Dr. Okafor", "Dr. Smith", "Dr. Rossi", "Dr. Chen",
        "Dr. Goldberg", "Dr. Morales",
    ],
    "name": [
        "Maria", "John", "Linda", "Carlos", "Aisha", "Tom", "Wei", "Fatima", "Kevin", "Rosa", "Guadalupe", "Priya",
        "Mike", "Ana", "Dwayne", "Hannah", "Jorge", "Mei",
    ],
    "location": ["downtown", "Elm Street", "north side", "Main St", "Riverside"],
    "insurer": [
        "Aetna", "Blue Cross", "Cigna", "UnitedHealthcare", "Medicare", "Medicaid", "Humana", "Molina", "Ambetter",
        "Tricare",
    ],
    "amount": ["$45", "$120.50", "$300", "$85", "$1,250", "$62.18", "$410", "$25"],
    "relation": ["my husband", "my wife", "my mom", "my dad", "my son", "my daughter", "my grandmother", "my partner"],
    "relation_f": ["my wife", "my mom", "my grandmother", "my sister", "my aunt"],
    "child": ["my son", "my daughter", "my 6 year old", "my kid", "my stepson"],
    "visit": [
        "annual physical", "follow-up visit", "well-child check", "flu shot", "sports physical",
        "Medicare wellness visit", "checkup", "pap smear",
    ],
    "drug": [
        "lisinopril", "metformin", "atorvastatin", "sertraline", "amlodipine", "levothyroxine", "omeprazole",
        "losartan", "simvastatin", "hydrochlorothiazide", "gabapentin", "metoprolol", "escitalopram", "montelukast",
        "rosuvastatin", "pantoprazole", "fluoxetine", "bupropion", "trazodone", "albuterol inhaler", "Synthroid",
        "Lipitor", "Zoloft", "Ventolin", "Flovent", "Lantus", "Ozempic", "Eliquis", "warfarin", "furosemide",
        "tamsulosin", "estradiol", "Wellbutrin", "Lexapro", "Jardiance", "meloxicam", "propranolol", "Trulicity",
    ],
    "adhd_drug": ["Adderall", "Concerta", "methylphenidate", "Vyvanse"],
    "dose": ["10 mg", "20mg", "500 mg", "40mg", "50 mcg", "1000mg", "25 mg", "5mg"],
    "pharmacy": [
        "CVS", "Walgreens", "the Walmart pharmacy", "Rite Aid", "the Kroger pharmacy", "Costco pharmacy",
        "the pharmacy on Main St", "Publix",
    ],
    "symptom": [
        "a sore throat", "a rash on my arm", "a cough", "ear pain", "lower back pain", "headaches", "heartburn",
        "diarrhea", "burning when I pee", "dizziness when I stand up", "pink eye", "sinus pressure", "knee pain",
        "trouble sleeping", "nausea", "a low fever", "a stuffy nose", "hip pain", "itchy skin", "constipation",
    ],
    "duration": ["3 days", "a week", "two weeks", "a couple of days", "5 days", "about a month", "since the weekend"],
    "test": [
        "blood work", "labs", "cholesterol test", "A1C", "thyroid test", "urine test", "x-ray", "MRI", "mammogram",
        "lipid panel",
    ],
    "lab": ["LDL", "A1C", "TSH", "ALT", "creatinine", "white count", "glucose", "triglycerides"],
    "procedure": [
        "my mole removal", "the biopsy", "my colonoscopy", "the knee injection", "my IUD insertion", "the skin biopsy",
        "getting my stitches", "the ingrown toenail removal", "my vasectomy",
    ],
    # Spanish
    "day_es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado"],
    "date_es": ["3 de marzo", "15 de abril", "2 de junio", "21 de octubre", "9 de mayo"],
    "time_es": ["10", "3 de la tarde", "9:30", "11 de la mañana", "4:15"],
    "doctor_es": ["la doctora Morales", "el doctor Alvarez", "el Dr. Ramírez", "la Dra. Patel", "el doctor Kim"],
    "child_es": ["mi hijo", "mi hija", "mi niño", "mi niña", "el niño"],
    "pharmacy_es": [
        "Walgreens", "CVS", "la farmacia del Walmart", "la farmacia de siempre", "la farmacia de la calle 8",
    ],
    "symptom_es": [
        "dolor de garganta", "tos", "un sarpullido", "dolor de oído", "dolor de espalda", "dolor de cabeza", "acidez",
        "diarrea", "ardor al orinar", "mareos", "el ojo rojo", "congestión", "dolor de rodilla", "náuseas",
        "comezón en la piel", "estreñimiento",
    ],
    "duration_es": ["3 días", "una semana", "dos semanas", "unos días", "un mes", "el fin de semana"],
    "procedure_es": [
        "la biopsia", "que me quitaron el lunar", "la colonoscopía", "la inyección en la rodilla", "los puntos",
    ],
}
# Held-out slot values: drugs, pharmacies, insurers and symptoms the model never sees in training.
TEST_ONLY_SLOTS: dict[str, list[str]] = {
    "drug": [
        "carvedilol", "citalopram", "glipizide", "spironolactone", "venlafaxine", "Symbicort", "lamotrigine", "Crestor",
        "duloxetine", "Farxiga",
    ],
    "pharmacy": ["Target pharmacy", "H-E-B pharmacy", "the Safeway pharmacy"],
    "insurer": ["Oscar", "Anthem", "Kaiser"],
    "symptom": ["a painful toe", "swollen glands", "a runny nose", "shoulder pain"],
    "symptom_es": ["dolor de muelas", "ronquera", "dolor en el hombro"],
    "procedure": ["the wart removal", "my cyst drainage"],
}
SLOT_ALIASES = {
    "day2": "day",
    "insurer2": "insurer",
    "time2": "time",
    "doctor2": "doctor",
    "drug2": "drug",
    "drug3": "drug",
    "symptom2": "symptom",
    "day2_es": "day_es",
    "symptom2_es": "symptom_es",
}

GREETINGS = {
    "en": [
        "Hi", "Hello", "Hey", "Good morning", "Hi there", "Good afternoon", "Hi, this is {name}.", "Hi it's {name}",
        "Hello, my name is {name}.",
    ],
    "es": ["Hola", "Buenos días", "Buenas tardes", "Hola buenas", "Hola, soy {name}.", "Buen día", "Buenas noches"],
}
SIGNOFFS = {
    "en": [
        "Thanks", "Thank you!", "Thanks, {name}", "- {name}", "Sent from my iPhone", "Thx", "{name}, DOB 02/14/1980",
        "Please call me back at 555-0142", "Thank you so much",
    ],
    "es": [
        "Gracias", "Saludos", "Muchas gracias, {name}", "Enviado desde mi Samsung", "Bendiciones", "Que tenga buen día",
        "Gracias de antemano",
    ],
}
EMAIL_FRAMES = {
    "en": [
        "Dear {doctor},\n\nI hope you are well. {body}\n\nBest regards,\n{name}",
        "Hello,\n\nMy name is {name} and I am a patient of {doctor}. {body}\n\nThank you for your time,\n{name}",
        "To whom it may concern,\n\n{context} {body}\n\nSincerely,\n{name}",
        "Hi,\n\n{context} {body}\n\nThanks,\n{name}",
    ],
    "es": [
        "Estimada doctora:\n\nEspero que se encuentre bien. {body}\n\nSaludos cordiales,\n{name}",
        "Buenas tardes,\n\nMi nombre es {name}. {context} {body}\n\nGracias,\n{name}",
    ],
}
EMAIL_CONTEXT = {
    "en": [
        "I was seen in your office last month.", "I've been a patient for about 5 years.",
        "I tried calling but the line was busy.", "Sorry to bother you on the weekend.",
        "I'm writing on behalf of my elderly mother.",
    ],
    "es": [
        "Intenté llamar pero nadie contestó.", "Soy paciente de la clínica desde hace años.",
        "Le escribo de parte de mi mamá.",
    ],
}
CONNECTORS = {
    "en": ["Also, ", "And ", "Oh and ", "One more thing: ", "Also ", "PS ", ""],
    "es": ["También, ", "Y ", "Otra cosa, ", "Aparte, ", ""],
}
ABBREVIATIONS = {
    "en": {
        "you": "u",
        "your": "ur",
        "please": "pls",
        "thanks": "thx",
        "appointment": "appt",
        "tomorrow": "tmrw",
        "prescription": "rx",
        "because": "bc",
        "with": "w/",
        "okay": "ok",
        "before": "b4",
    },
    "es": {
        "que": "q",
        "por favor": "porfa",
        "también": "tmb",
        "para": "pa",
        "gracias": "grax",
        "porque": "xq",
        "mañana": "mñn",
    },
}
MISSPELLINGS = {
    "en": {
        "appointment": ["appoitment", "apointment"],
        "prescription": ["perscription"],
        "tomorrow": ["tommorow", "tomorow"],
        "schedule": ["schedual", "shedule"],
        "insurance": ["insurence"],
        "pharmacy": ["pharmacey"],
        "breathe": ["breath"],
        "breathing": ["breathng", "breating", "breatheing"],
        "because": ["becuase"],
        "chest": ["chset"],
        "pain": ["pian", "pane"],
        "seizure": ["siezure", "seizur"],
        "bleeding": ["bleding"],
        "swelling": ["sweling"],
        "temperature": ["temprature"],
        "refill": ["refil", "refll"],
        "results": ["resluts"],
        "diarrhea": ["diarhea"],
        "allergic": ["alergic"],
        "unconscious": ["unconcious"],
        "vomiting": ["vomitting"],
        "medication": ["medicaiton", "medicaton"],
        "receive": ["recieve"],
        "dizzy": ["dizy"],
        "stomach": ["stomache"],
    },
    "es": {
        "cita": ["sita"],
        "receta": ["reseta"],
        "pastillas": ["pastiyas"],
        "respirar": ["respirrar", "resperar"],
        "necesito": ["nesesito"],
        "embarazada": ["embarasada"],
        "gracias": ["grasias"],
        "cabeza": ["cabesa"],
        "hinchada": ["inchada"],
        "hinchando": ["inchando"],
        "desmayé": ["desmalle"],
        "convulsión": ["combulsion"],
        "vómito": ["bomito"],
        "hace": ["ase"],
    },
}
# fmt: on
KEYBOARD_NEIGHBOURS = dict(
    zip("qwertyuiopasdfghjklzxcvbnm", "wqeerttyyuuiioopplsadsfdgfhgjhkjlkzxxcvcbvnbmn", strict=False)
)
SLOT_RE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    lang: str
    template: str  # "<split>.<lang>.<label>.<index>": lets tuning group variants of one template
    family: str = ""  # red-flag family of an urgent row


def load_templates(split: str, lang: str, files: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Template lines per label; a trailing "@family" tag stays on the line (see `untag`)."""
    sections: dict[str, list[str]] = {label: [] for label in LABELS}
    for name in files or SPLIT_FILES[split]:
        path = TEMPLATES / f"{name}.{lang}.txt"
        current: str | None = None
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
                if current not in sections:
                    raise ValueError(f"{path.name}: unknown section {current!r}")
                continue
            if current is None:
                raise ValueError(f"{path.name}: template before any [label] section")
            tag = _FAMILY_TAG.search(line.removesuffix(_NOMIX))
            if tag and (current != "urgent" or tag.group(1) not in _known_families()):
                raise ValueError(f"{path.name}: family tag {tag.group(1)!r} on a non-urgent or unknown family")
            sections[current].append(line.replace("\\n", "\n"))
    return sections


def _known_families() -> set[str]:
    from converge.routing.redflags import FAMILIES

    return {*FAMILIES.values(), OTHER_EMERGENCY}


def untag(template: str) -> tuple[str, str]:
    """(template text, its "@family" tag or "")."""
    template = template.removesuffix(_NOMIX)
    tag = _FAMILY_TAG.search(template)
    return (template[: tag.start()], tag.group(1)) if tag else (template, "")


def family_of(body: str, tag: str) -> str:
    """The red-flag family of an urgent message: its tag, else what the rules find in the clean text."""
    if tag:
        return tag
    from converge.routing.redflags import find_red_flags

    flags = find_red_flags(body)
    return flags[0].family if flags else OTHER_EMERGENCY


def fill(template: str, rng: random.Random, split: str) -> str:
    used: dict[str, str] = {}

    def pick(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in used:
            return used[slot]
        base = SLOT_ALIASES.get(slot, slot)
        values = SLOTS[base] + (TEST_ONLY_SLOTS.get(base, []) if split == "test" else [])
        # A second slot of the same kind ({drug2}) gets a different value from the first.
        choices = [v for v in values if v not in used.values()] or values
        used[slot] = rng.choice(choices)
        return used[slot]

    return SLOT_RE.sub(pick, template)


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def replace_words(text: str, table: dict[str, str], rng: random.Random, rate: float) -> str:
    for word, short in table.items():
        pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        if pattern.search(text) and rng.random() < rate:
            text = pattern.sub(short, text)
    return text


def misspell(text: str, lang: str, rng: random.Random) -> str:
    for word, variants in MISSPELLINGS[lang].items():
        pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        if pattern.search(text) and rng.random() < 0.3:
            text = pattern.sub(rng.choice(variants), text, count=1)
    return text


def keyboard_typo(text: str, rng: random.Random) -> str:
    words = [m for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not words:
        return text
    m = rng.choice(words)
    word = m.group(0)
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap":
        typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    elif kind == "drop":
        typo = word[:i] + word[i + 1 :]
    elif kind == "double":
        typo = word[:i] + word[i] + word[i:]
    else:
        typo = word[:i] + KEYBOARD_NEIGHBOURS.get(word[i].lower(), word[i]) + word[i + 1 :]
    return text[: m.start()] + typo + text[m.end() :]


def dress(body: str, lang: str, rng: random.Random, split: str) -> str:
    """Dress a filled template the way a patient would actually send it."""
    text = body
    if "\n" not in body and len(body) > 30 and rng.random() < 0.08:
        frame = rng.choice(EMAIL_FRAMES[lang]).replace("{context}", rng.choice(EMAIL_CONTEXT[lang]))
        text = fill(frame.replace("{body}", "\0"), rng, split).replace("\0", body)
    else:
        already_greets = re.match(r"(hi|hello|hey|hola|buen|dear|estimad)", body, re.IGNORECASE)
        if not already_greets and rng.random() < 0.25:
            greeting = fill(rng.choice(GREETINGS[lang]), rng, split)
            joints = [" ", chr(10)] if greeting.endswith(".") else [" ", ", ", "! ", chr(10)]
            text = f"{greeting}{rng.choice(joints)}{text}"
        if rng.random() < 0.2:
            text = f"{text}{rng.choice([' ', '. ', chr(10), chr(10) * 2])}"
            text += fill(rng.choice(SIGNOFFS[lang]), rng, split)
    if rng.random() < 0.2:
        text = replace_words(text, ABBREVIATIONS[lang], rng, 0.7)
    text = misspell(text, lang, rng)
    if rng.random() < 0.2:
        text = keyboard_typo(text, rng)
    roll = rng.random()
    if roll < 0.35:
        text = text.lower()
    elif roll < 0.38:
        text = text.upper()
    if rng.random() < 0.2:
        text = re.sub(r"[?!¿¡'’]", "", text).rstrip(".")
    if lang == "es" and rng.random() < 0.45:
        text = strip_accents(text)
    return text


def combine(main: str, extra: str, lang: str, rng: random.Random) -> str:
    connector = rng.choice(CONNECTORS[lang])
    if connector and extra[:1].isupper() and not extra.startswith(("I ", "I'")):
        extra = extra[0].lower() + extra[1:]
    first, second = (main, extra) if rng.random() < 0.5 else (extra, main)
    if first[-1:] not in ".?!" and rng.random() < 0.7:
        first += "."
    return f"{first} {connector if second is extra else ''}{second}"


def dedupe_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", strip_accents(text).lower()).split())


def generate_split(split: str, seen: set[str], pool: str | None = None) -> list[Row]:
    """One split, or (with `pool`) the rows of one template pool that are added to it."""
    name = pool or split
    rows: list[Row] = []
    for lang, quotas in QUOTAS[name].items():
        templates = load_templates(split, lang, (pool,) if pool else None)
        for label, quota in quotas.items():
            rng = random.Random(f"{name}-{lang}-{label}" if pool is None else f"pool-{pool}-{lang}-{label}")
            lower = [
                (other, untag(t)[0])
                for other in LABELS
                if PRECEDENCE[other] < PRECEDENCE[label]
                for t in templates[other]
                if len(t.split()) >= 4 and not t.endswith(_NOMIX)
            ]
            produced, attempts = 0, 0
            while produced < quota:
                attempts += 1
                if attempts > quota * 50:
                    raise RuntimeError(f"{name}/{lang}/{label}: too few distinct variants")
                index = rng.randrange(len(templates[label]))
                template, tag = untag(templates[label][index])
                body = fill(template, rng, split)
                family = family_of(body, tag) if label == "urgent" else ""
                if lower and rng.random() < MIX_RATES.get(name, MIX_RATE).get(label, 0.0):
                    _, extra = rng.choice(lower)
                    body = combine(body, fill(extra, rng, split), lang, rng)
                text = dress(body, lang, rng, split)
                key = dedupe_key(text)
                if not key or key in seen:
                    continue
                seen.add(key)
                rows.append(Row(text, label, lang, f"{name}.{lang}.{label}.{index}", family))
                produced += 1
    if pool is None:
        random.Random(f"shuffle-{split}").shuffle(rows)
    return rows


def has_templates(split: str) -> bool:
    return all((TEMPLATES / f"{name}.{lang}.txt").is_file() for name in SPLIT_FILES[split] for lang in QUOTAS[split])


def generate() -> dict[str, list[Row]]:
    # Test first, so no training text is a test text; the held-out set last, so it can be replaced
    # (a fresh blind set dropped in as templates/heldout.*.txt) without changing train or test.
    seen: set[str] = set()
    test = generate_split("test", seen)
    train = generate_split("train", seen)
    extra = [row for pool in POOLS["train"] for row in generate_split("train", seen, pool)]
    if extra:
        train = train + extra
        random.Random("shuffle-train-pools").shuffle(train)
    heldout = generate_split("heldout", seen) if has_templates("heldout") else []
    return {"train": train, "test": test, "heldout": heldout}


def write_csv(rows: list[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label", "family"])
        for row in rows:
            writer.writerow([row.text, row.label, row.family])


def main() -> None:
    splits = generate()
    for split, rows in splits.items():
        write_csv(rows, HERE / f"{split}.csv")
        counts = Counter((row.lang, row.label) for row in rows)
        families = Counter(row.family for row in rows if row.family)
        print(f"{split}: {len(rows)} messages; urgent by family: {dict(sorted(families.items()))}")
        for lang in ("en", "es"):
            per_label = ", ".join(f"{label} {counts[lang, label]}" for label in LABELS)
            print(f"  {lang}: {sum(counts[lang, label] for label in LABELS)} ({per_label})")


if __name__ == "__main__":
    main()
