"""Red flags: recall on the phrasings patients use, in English and Spanish, with typos; and
negation, which must not silence a real complaint ("no, I have chest pain")."""

from __future__ import annotations

import pytest

from converge.routing.redflags import canonical, find_red_flags, fold, scan, tokens


def concepts(text: str) -> set[str]:
    return {flag.concept for flag in find_red_flags(text)}


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("I have chest pain", "chest pain"),
        ("there is a lot of pressure in my chest", "chest pain"),
        ("my chest feels really tight", "chest pain"),
        ("I'm having trouble breathing", "trouble breathing"),
        ("I can't breathe", "trouble breathing"),
        ("shortness of breath since this morning", "trouble breathing"),
        ("he is not breathing", "trouble breathing"),
        ("my husband's face is drooping", "stroke signs"),
        ("her speech is slurred", "stroke signs"),
        ("sudden weakness in my left arm", "stroke signs"),
        ("numbness on one side of my body", "stroke signs"),
        ("I fainted at work", "fainting or unresponsive"),
        ("my dad passed out", "fainting or unresponsive"),
        ("she won't wake up", "fainting or unresponsive"),
        ("the cut won't stop bleeding", "severe bleeding"),
        ("severe bleeding after the biopsy", "severe bleeding"),
        ("I'm coughing up blood", "severe bleeding"),
        ("vomiting blood", "severe bleeding"),
        ("my throat is swelling", "throat or tongue swelling"),
        ("my tongue and lips are swollen", "throat or tongue swelling"),
        ("severe allergic reaction to the new medication", "throat or tongue swelling"),
        ("I'm having suicidal thoughts", "suicidal thoughts or self-harm"),
        ("I want to kill myself", "suicidal thoughts or self-harm"),
        ("I've been cutting myself again", "suicidal thoughts or self-harm"),
        ("I think I overdosed", "overdose or poisoning"),
        ("I took too many pills", "overdose or poisoning"),
        ("my toddler drank bleach", "overdose or poisoning"),
        ("my son is having a seizure", "seizure"),
        ("my baby has a fever of 100.6", "fever in an infant"),
        ("my 6 week old feels hot and has a temperature", "fever in an infant"),
        ("newborn with a fever", "fever in an infant"),
        ("fever of 104 and I feel awful", "high fever"),
        ("he hit his head and keeps throwing up", "head injury with warning signs"),
        ("worst headache of my life", "worst headache"),
        ("I'm pregnant and bleeding", "pregnancy warning sign"),
        ("my water broke", "pregnancy warning sign"),
        ("took a double dose of my insulin and now I'm shaky and sweating", "overdose or poisoning"),
    ],
)
def test_english_red_flags(text: str, concept: str) -> None:
    assert concept in concepts(text)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("tengo dolor de pecho", "chest pain"),
        ("Me duele mucho el pecho", "chest pain"),
        ("no puedo respirar", "trouble breathing"),
        ("me falta el aire", "trouble breathing"),
        ("mi mamá tiene la cara caída de un lado", "stroke signs"),
        ("mi papá habla raro", "stroke signs"),
        ("me desmayé", "fainting or unresponsive"),
        ("la herida no para de sangrar", "severe bleeding"),
        ("estoy vomitando sangre", "severe bleeding"),
        ("se me está cerrando la garganta", "throat or tongue swelling"),
        ("me quiero morir", "suicidal thoughts or self-harm"),
        ("estoy pensando en quitarme la vida", "suicidal thoughts or self-harm"),
        ("me tomé demasiadas pastillas", "overdose or poisoning"),
        ("mi hija tuvo una convulsión", "seizure"),
        ("Convulsión", "seizure"),
        ("mi bebé de 2 meses tiene fiebre", "fever in an infant"),
        ("mi recién nacido tiene calentura", "fever in an infant"),
    ],
)
def test_spanish_red_flags(text: str, concept: str) -> None:
    assert concept in concepts(text)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("chest pian", "chest pain"),
        ("CHEST PAIN!!!", "chest pain"),
        ("cant breath", "trouble breathing"),
        ("breatheing is really hard", "trouble breathing"),
        ("my son is having a sezure", "seizure"),
        ("my daughter had a siezure", "seizure"),
        ("I feel suicidel", "suicidal thoughts or self-harm"),
        ("bleding wont stop", "severe bleeding"),
        ("no puedo respirrar", "trouble breathing"),
        ("mi hijo tuvo una combulsion", "seizure"),
        ("pleeease help I caaan't breathe", "trouble breathing"),
    ],
)
def test_misspellings(text: str, concept: str) -> None:
    assert concept in concepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "no chest pain",
        "I don't have trouble breathing",
        "I do not have any chest pain",
        "denies chest pain",
        "Patient denies chest pain or shortness of breath",
        "no chest pain or shortness of breath, just a cough",
        "sin dolor de pecho",
        "No tengo dolor de pecho ni falta de aire",
        "chest pain is gone",
        "The chest pain I mentioned last week is gone now",
        "El dolor de pecho que tenía ya se me quitó",
        "I'm not suicidal, just tired of this cough",
        "itchy rash but no swelling of my lips or tongue",
        "my baby has a cold but no fever",
        "history of seizures, need my refill",
    ],
)
def test_negated_or_resolved_mentions_do_not_fire(text: str) -> None:
    assert find_red_flags(text) == ()


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("no, I have chest pain", "chest pain"),
        ("No. I have chest pain", "chest pain"),
        ("no fever but I can't breathe", "trouble breathing"),
        ("I don't have a fever and I can't breathe", "trouble breathing"),
        ("my chest pain is gone but now I'm short of breath", "trouble breathing"),
        ("chest pain that won't go away", "chest pain"),
        ("I'm not sure if this is chest pain", "chest pain"),
        ("sin fiebre pero me duele el pecho", "chest pain"),
    ],
)
def test_negation_does_not_reach_across_clauses(text: str, concept: str) -> None:
    assert concept in concepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "Can you send a refill for my EpiPen? It expired.",
        "I need a refill on my blood pressure medicine",
        "can I get my blood work results",
        "I was painting the fence and hurt my back",
        "I can't talk right now, please text me",
        "you are not responding to my messages",
        "my blood sugar keeps dropping at night",
        "How do I add my newborn to my account?",
        "The billing office never called me back",
        "Is the office open on Memorial Day?",
        "I had food poisoning last week, better now",
        "Me duele la garganta y tengo tos",
        "I got my flu shot and my arm is sore",
        "de hecho, el color de la pastilla cambió",
    ],
)
def test_everyday_messages_do_not_fire(text: str) -> None:
    assert find_red_flags(text) == ()


def test_reasons_quote_the_words_used_and_name_the_concept() -> None:
    (flag,) = find_red_flags("tengo dolor de pecho desde anoche")
    assert flag.phrase == "dolor de pecho"
    assert flag.reason() == '"dolor de pecho" (chest pain)'
    (same,) = find_red_flags("chest pain")
    assert same.reason() == '"chest pain"'


def test_each_concept_reported_once() -> None:
    flags = find_red_flags("chest pain, chest pressure, and my chest hurts")
    assert [f.concept for f in flags] == ["chest pain"]


def test_fold_lowercases_strips_accents_and_cuts_repeats() -> None:
    assert fold("Convulsión ¡AYUDAAAA! can't") == "convulsion ¡ayudaa! cant"


def test_tokens_keep_clause_boundaries() -> None:
    assert tokens("No, I have pain.") == ["no", "|", "i", "have", "pain", "|"]


@pytest.mark.parametrize(
    "word", ["breast", "painting", "never", "billing", "much", "while", "door", "cooking", "color"]
)
def test_real_words_are_not_read_as_typos(word: str) -> None:
    assert canonical(word) == word


def test_empty_and_symbol_only_text() -> None:
    assert find_red_flags("") == ()
    assert find_red_flags("👍🏽 ... ???") == ()


# Paraphrases written from triage knowledge (not taken from any test split): each must raise a flag.
PARAPHRASES = [
    "my chest feels heavy like a brick",
    "there's an ache in the middle of my chest that won't go away",
    "pain in my chest when I walk and it spreads to my shoulder",
    "I have pain behind my breastbone",
    "my heart hurts",
    "squeezing feeling in my chest",
    "me aprieta el pecho",
    "me arde el pecho y me duele el brazo",
    "siento un dolor muy fuerte en el corazón",
    "I can't get my breath",
    "I'm breathless even at rest",
    "I'm out of breath just talking",
    "he's wheezing and can't talk",
    "my son is breathing really fast and his ribs are sucking in",
    "I'm suffocating",
    "respira muy rápido y se le hunden las costillas",
    "le cuesta trabajo respirar al niño",
    "me estoy ahogando",
    "no puede respirar bien mi hijo",
    "my mom's face is crooked",
    "her smile is uneven all of a sudden",
    "my dad is confused and can't move his left hand",
    "my vision went black in one eye",
    "I suddenly lost vision in my right eye",
    "all of a sudden I can't see",
    "I went blind in one eye",
    "my husband is talking gibberish",
    "he's not making sense and his arm is weak",
    "de repente no puedo ver",
    "perdí la vista de un ojo",
    "mi papá no puede mover la mano izquierda",
    "está hablando incoherencias",
    "se le durmió la mitad de la cara",
    "my grandmother won't respond to me",
    "he is not answering me and he's breathing weird",
    "she's limp and not responding",
    "the baby is limp and won't wake up",
    "no reacciona y tiene los ojos en blanco",
    "mi abuela no responde y está muy pálida",
    "se desmayó y no despierta",
    "I'm bleeding heavily from my leg",
    "blood is gushing from the cut",
    "my nose won't stop bleeding after an hour",
    "he's vomiting blood and it looks like coffee grounds",
    "she is passing large clots and soaking pads",
    "sangra mucho y no para",
    "está sangrando sin parar",
    "vomité algo como café molido",
    "my throat feels like it is closing up",
    "my face blew up after the shot",
    "lips and tongue are puffy and I feel dizzy",
    "he can't swallow and his throat is swollen after the bee sting",
    "tengo la cara hinchada y me cuesta tragar",
    "se me hincharon los labios",
    "I want to end it",
    "I am going to end my life tonight",
    "I have a plan to kill myself",
    "I've been thinking about suicide",
    "I keep thinking everyone would be better off without me",
    "I don't want to wake up tomorrow",
    "quiero quitarme la vida",
    "no quiero seguir viviendo",
    "pienso en matarme",
    "me quiero suicidar",
    "I took 15 of my sleeping pills",
    "she swallowed a whole bottle of advil",
    "my toddler got into the medicine cabinet and ate some pills",
    "I took 30 tylenol",
    "me tomé 20 pastillas",
    "mi hijo se tomó el jarabe de toda la botella",
    "he's having a seizure and won't stop shaking",
    "she's convulsing",
    "my son is seizing",
    "está convulsionando",
    "le dio un ataque y está temblando todo",
    "my 3 week old has a temperature of 100.4",
    "newborn running a temp",
    "my 2 month old is burning up",
    "mi bebé de un mes tiene fiebre",
    "el recién nacido tiene calentura de 38",
    "my baby is 1 month and has a fever",
    "temp 40.5 and stiff neck",
    "fever of 105",
    "tengo fiebre de 40 y el cuello duro",
    "he fell and hit his head and is now very sleepy",
    "she banged her head and is vomiting",
    "se cayó y se golpeó la cabeza y está vomitando",
    "worst headache ever, came on like a thunderclap",
    "sudden explosive headache",
    "el peor dolor de cabeza de mi vida",
    "me dio un dolor de cabeza horrible de repente",
    "I'm pregnant and my water broke",
    "I'm 30 weeks and bleeding",
    "the baby stopped moving",
    "estoy embarazada y estoy sangrando",
    "se me rompió la fuente",
    "my 2 yr old drank some of the dishwasher soap",
    "he swallowed a magnet",
    "my toddler swallowed a coin and is drooling",
    "she ate a laundry pod",
    "mi niño se tragó una moneda",
    "mi hija se tomó el jabón de la ropa",
    "I have pills saved up and I'm ready to take them",
    "I wrote a goodbye letter",
    "I don't want to be here anymore",
    "nobody would miss me if I was gone",
    "I'm going to jump off the bridge",
    "I have a gun and I'm thinking of using it on myself",
    "ya no aguanto, quiero desaparecer para siempre",
    "tengo las pastillas guardadas para matarme",
    "my asthma attack isn't stopping even with the inhaler",
    "mi ataque de asma no se quita",
    "my wife suddenly can't understand what I'm saying",
    "de repente no entiende lo que le digo",
    "newborn is very hot and sleepy",
    "my 3 week old won't feed and is very sleepy",
    "my newborn is floppy and hard to wake",
    "mi recién nacido está muy dormido y no quiere comer",
    "I'm 28 weeks pregnant and haven't felt the baby move today",
    "tengo 32 semanas de embarazo y no siento al bebé moverse",
    "threw up what looks like blood",
    "me tomé muchas pastillas para dormir",
    "a mi papá de repente se le torció la boca",
    "my daughter is shaking and her eyes rolled back",
    "tiene los ojos en blanco y está temblando",
    "my husband is clutching his chest and can't talk",
    "mi esposo se agarra el pecho",
    "hives all over and my tongue feels thick",
    "mi abuelo está morado y no respira bien",
    "his lips are grey",
    "my son is choking on a grape",
    "I think I'm dying",
    "something is very wrong, I think I need an ambulance",
]

# Everyday messages that contain trigger words: none may raise a flag.
EVERYDAY_WITH_TRIGGER_WORDS = [
    "I took 5 mg of lisinopril this morning, is that the right dose?",
    "I take 2 tablets of metformin a day",
    "the office is not answering the phone",
    "nobody is answering my calls",
    "you guys are not responding to my messages",
    "I have a limp since I sprained my ankle",
    "I walk with a limp",
    "my heart rate is 70",
    "I had a heart attack in 2015, need my refill",
    "I'm 12 weeks and want to schedule my ultrasound",
    "I'm 30 weeks, can I get the flu shot?",
    "my vision is blurry when I read, need new glasses?",
    "I can't see the portal link",
    "I can't see my appointment in the app",
    "can't move my appointment online, can you help",
    "I can't move my left shoulder much since the fall",
    "the left side of my bill is cut off lol",
    "my throat is sore and my tonsils are swollen",
    "my face is puffy in the mornings",
    "lips are dry and cracked",
    "I want to end my membership",
    "the doctor no me contesta los mensajes",
    "nadie contesta el teléfono",
    "llamé y no me responden",
    "tome 2 pastillas de tylenol",
    "se le durmió el pie",
    "mi bebé de 2 meses necesita sus vacunas",
    "my baby is 2 months and due for shots",
    "breathing treatment refill please",
    "I'm breathing fine, just congested",
    "my son has a cough but his breathing is fine",
    "he's not making any noise when he sleeps, is that normal?",
    "this bill is not making sense",
    "I got a bill for my ER visit where they checked my heart",
    "my chest x-ray results are on the portal",
    "I need a copy of my chest CT report",
    "pressure in my ears after flying",
    "sinus pressure and headache",
    "my blood pressure has been high, 150/90",
    "can you explain the blood in my urine test result",
    "coffee in the morning makes me jittery",
    "I need my records sent to Dr. Chest lol wrong name",
    "I drank too much coffee",
    "I had too much to eat",
    "my kid ate some crayons, is that ok?",
    "I took my pills with food like you said",
    "my daughter has a seizure disorder and needs her keppra refilled",
    "history of stroke, need blood thinner refill",
    "I had a stroke 2 years ago and need a follow up",
    "my mom is confused about her medication schedule",
    "he is confused about the bill",
    "my dad's hands shake a little when he holds a cup",
]


@pytest.mark.parametrize("text", PARAPHRASES)
def test_paraphrases_raise_a_flag(text: str) -> None:
    assert find_red_flags(text), text


@pytest.mark.parametrize("text", EVERYDAY_WITH_TRIGGER_WORDS)
def test_trigger_words_in_everyday_messages(text: str) -> None:
    assert find_red_flags(text) == (), text


def test_scan_reports_denied_concepts() -> None:
    found = scan("I don't have any chest pain, but my blood pressure was 160/100 twice today")
    assert found.flags == ()
    assert found.negated == ("chest pain",)
