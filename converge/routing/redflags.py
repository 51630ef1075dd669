"""Red flags: phrases in an inbound message that mean a clinician must see it now.

Tuned for recall, in English and Spanish. The text is folded (lowercase, no accents, no
apostrophes, runs of a letter cut to two), split into tokens with clause boundaries kept, and
tokens one typo away from a key medical word are read as that word. Each concept is a set of
regular expressions over those tokens; a match is dropped when a negation cue governs it in the
same clause ("no chest pain", "denies shortness of breath", "sin dolor de pecho") or when the
clause says it is over or long past ("the chest pain is gone", "had a stroke 2 years ago").
Anything else fires: a false alarm costs a nurse a glance, a miss can cost a life.

`scan` also reports the concepts a message mentions only to deny, so the model cannot re-assert
them. The phrase tables are data: extend them when staff corrections show a missed phrasing.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

# Beyond this a "message" is a pasted document; inbound limits stop it long before.
MAX_CHARS = 200_000
_WINDOW = 6  # tokens before a match searched for a negation cue
_CLAUSE = "|"  # the token standing for a clause boundary

_APOSTROPHES = re.compile(r"['’`´]")
_REPEATS = re.compile(r"(\w)\1{2,}")
_DECIMAL = re.compile(r"(\d)[.,]\d+")
_BOUNDARY = re.compile(r"[.!?;:,\n\r()\[\]¡¿|\"“”]+")
_NON_WORD = re.compile(r"[^a-z0-9|]+")


def _gap(n: int) -> str:
    """Up to n filler words between two parts of a phrase (never across a clause boundary)."""
    return rf"(?:\w+ ){{0,{n}}}?"


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# Phrase tables: laid out by hand, in rows.
# fmt: off
_POSS = _words("my", "his", "her", "the", "their", "your", "our", "a")
_CHEST = _words("chest", "chset", "chets", "chesst", "chestt")
_HURT = _words(
    "pain", "pains", "pian", "pane", "payn", "hurts?", "hurting", "ache", "aches", "aching", "pressure", "tightness",
    "tight", "heaviness", "heavy", "discomfort", "squeezing", "crushing", "burning", "killing",
)
_BREATH = _words("breathe", "breath", "breathing", "breaths", "breathin")
# "blood" that is not the start of "blood pressure", "blood work", "blood sugar" ...
_BLOOD = (
    r"(?:bleeding|blood|bleed|bleeds|bled)\b(?! (?:work|tests?|pressure|sugars?|draws?|glucose"
    r"|panel|counts?|thinners?|type|results?|donation|levels?|cells?|labs?|pressures?))"
)
_NOT = _words(
    "wont", "will not", "cant", "cannot", "can not", "doesnt", "does not", "isnt", "hasnt", "has not", "havent", "not",
    "couldnt", "didnt", "never", "aint",
)
_SELF = _words("my ?self", "myself", "themselves", "himself", "herself", "themself")
_MEDS = _words(
    "pills?", "tablets?", "meds", "medicine", "medicines", "medication", "medications", "gummies", "vitamins",
    "capsules",
)
_SIDE = _words(
    "one side",
    "left side",
    "right side",
    "left arm",
    "right arm",
    "left leg",
    "right leg",
    "half of",
    "one arm",
    "one leg",
    rf"side of {_POSS} (?:face|body)",
)

# A goodbye to the practice with an ordinary reason after it ("... I'm retiring to Florida") is not a last message.
_FAREWELL_REASON = (
    r"(?!(?: \S+){0,10} (?:moving(?! on)|moved|retir\w*|relocat\w*|new (?:doctor|clinic|job|practice|provider)|"
    r"transferr\w*|switching))"
)

_CONCEPT_PATTERNS: dict[str, list[str]] = {
    "chest pain": [
        rf"\b{_CHEST} {_gap(3)}{_HURT}\b",
        rf"\b{_HURT} {_gap(5)}(?:in|on|across|around|inside|behind|under) "
        rf"(?:the (?:middle|center|centre) of )?{_POSS} {_gap(1)}(?:{_CHEST}|breastbone|sternum)\b",
        rf"\bheart {_gap(1)}(?:hurts|hurting|aches|aching|pain)\b",
        rf"\b(?:clutching|clutches|clutched|grabbing|grabbed|holding) {_POSS} {_CHEST}\b",
        rf"\bse (?:agarra|agarro|aprieta|apreto|toca) {_gap(1)}pecho\b",
        rf"\b(?:sitting|standing|weight|elephant|pressing|pushing) on {_POSS} {_CHEST}\b",
        # "I nearly had a heart attack when I saw the bill" is a figure of speech
        r"\b(?<!nearly had a )(?<!almost had a )(?<!gave me a )(?<!va a dar un )(?<!gonna have a )(?<!going to have a )"
        r"(?<!gonna give me a )(?<!going to give me a )(?<!gonna give him a )(?<!going to give him a )"
        r"(?<!gonna give her a )(?<!going to give her a )(?:heart attack|cardiac arrest|infarto|ataque cardiaco)\b",
        # ... "me va a dar un infarto con esta factura jaja" is one too; said alone it is not
        r"\b(?:va a dar un|gonna have a|going to have a) (?:heart attack|infarto|"
        r"ataque cardiaco)\b(?! (?:\| )?(?:con|cuando|si|por|de|when|if|over|with|from|at|seeing|looking|because|bc|"
        r"jaja\w*|haha\w*|lol|lmao)\b)",
        r"\bataque (?:al|de|del) corazon\b",
        rf"\bdolor {_gap(4)}(?:pecho|corazon)\b",
        rf"\b(?:me|le|te) (?:aprieta|oprime|arde|quema|pesa|duele) {_gap(2)}(?:pecho|corazon)\b",
        rf"\b(?:me|le|te|nos|les) duele {_gap(2)}pecho\b",
        rf"\b(?:presion|opresion|peso|apreton|ardor|punzada) {_gap(4)}pecho\b",
        r"\bpecho (?:apretado|oprimido)\b",
    ],
    "left arm pain": [
        rf"\b(?:pain|pains|numb|numbness|tingling|tingly|heavy|ache|aching|hurts?|hurting) "
        rf"{_gap(3)}left arm\b",
        rf"\bleft arm {_gap(2)}(?:numb|tingling|tingly|hurts|hurting|aching|pain|heavy)\b",
        rf"\b(?:dolor|duele|adormecid\w*|entumid\w*|hormigueo|dormido) {_gap(3)}brazo izquierdo\b",
    ],
    "trouble breathing": [
        rf"\b(?:cant|cannot|can not|couldnt|could not|unable to|struggling to|struggle to|"
        rf"struggles to|hard to|harder to|difficult to|trouble|troubles|difficulty|difficulties|"
        rf"problem|problems|hard time|struggling|labored|laboured|difficult|fighting to|barely) "
        rf"{_gap(2)}{_BREATH}\b(?! (?:through|out of|thru) (?:my|his|her|the) nose)",
        r"\b(?:short|sort)(?:ness)? (?:of|o) (?:breath|air)\b",
        r"\b(?:out of|gasping for|gasp for|gasping|gasped|fighting for|fight for|struggling for) "
        r"(?:breath|air)\b",
        r"\b(?:gasping|breathless|suffocat\w*|asfixi\w*)\b",
        rf"\b(?:asthma|asma) {_gap(2)}(?:isnt|is not|wont|will not|not|no|keeps not) "
        rf"(?:stop\w*|getting better|going away|easing|para|se quita|se calma|mejora)\b",
        r"\b(?:esta|se puso|se esta poniendo|se pone) (?:muy )?(?:morad[oa]|azul|gris)\b",
        rf"\bwheez\w* {_gap(3)}(?:cant|cannot|unable to|too) {_gap(1)}(?:talk|speak)\b",
        rf"\b(?:ribs|chest|belly|skin) {_gap(3)}(?:sucking|pulling|caving) in\b",
        rf"\b(?:se le )?(?:hunden|hunde|marcan) {_gap(1)}costillas\b",
        r"\b(?:estoy|esta|estaba) ahogando\b",
        rf"\brespira {_gap(1)}(?:rapido|raro|mal|feo|agitad[oa]|con dificultad|con trabajo)\b",
        # "stops breathing for a few seconds at night" is sleep apnoea, for the clinical queue.
        rf"\b(?:not|isnt|stopped|stops|quit|wasnt|no longer) {_BREATH}\b"
        rf"(?! (?:for (?:a )?(?:few |couple )?(?:of )?(?:seconds?|moments?)|at night|when (?:he|she) sleeps))",
        rf"\b(?:cant|cannot|can not|couldnt|unable to|not) (?:get|getting|catch|catching) "
        rf"{_gap(2)}(?:air|breath)\b",
        rf"\b(?:lips?|face|skin|fingers?|fingernails|nails) {_gap(2)}(?:blue|bluish|purple|gray|grey)\b",
        r"\b(?:turning|turned|going) (?:blue|purple|gray|grey)\b",
        rf"\binhaler {_gap(2)}{_NOT} (?:help|helping|helped|work|working|worked)\b",
        rf"\b{_BREATH} (?:is |was |seems |sounds |looks |feels )?(?:\w+ )?(?:hard|difficult|labored|"
        rf"weird|shallow|rapid|strange|funny|noisy|fast)\b",
        r"\bchoking\b",
        rf"\bno {_gap(1)}(?:puedo|puede|podia|podemos|pueden|puedes|pudo) respirar\b",
        rf"\b(?:dificultad|dificultades|problema|problemas|trabajo|batallando) {_gap(1)}"
        rf"(?:para|al|a|en) respirar\b",
        rf"\b(?:me|le|te|nos|les) cuesta {_gap(2)}respirar\b",
        r"\b(?:me|le|te|se) (?:esta )?(?:falta|faltando|fue) (?:el )?aire\b",
        r"\b(?:falta de aire|sin aire|no respira|sin poder respirar)\b",
        r"\b(?:me|se|te|le) (?:esta )?(?:ahogo|ahoga|ahogando|asfixia|asfixiando|ahogaba)\b",
        r"\bno (?:me |le |te )?entra (?:el )?aire\b",
        rf"\blabios {_gap(1)}(?:morados|azules|moraditos)\b",
        r"\bse (?:esta )?poniendo (?:morad[oa]|azul)\b",
    ],
    "stroke signs": [
        rf"\b(?:face|mouth|smile|lip|lips|eye|eyelid) {_gap(3)}(?:drooping|droopy|droops|drooped|"
        rf"sagging|saggy|crooked|lopsided|uneven|dropping|fallen)\b",
        rf"\b(?:drooping|droopy|sagging|crooked|lopsided) {_gap(2)}(?:face|mouth|smile)\b",
        rf"\bone side of {_POSS} (?:face|body|mouth)\b",
        r"\b(?:slurred|slurring|slurry|slurs|slur)\b",
        r"\b(?:garbled|jumbled|mumbled|confused|strange|weird) (?:speech|words)\b",
        rf"\bspeech {_gap(2)}(?:garbled|jumbled|weird|strange|off|funny)\b",
        rf"\bwords {_gap(2)}(?:coming out|come out|came out) {_gap(1)}(?:wrong|weird|jumbled|"
        rf"garbled|funny|strange)\b",
        rf"\b(?:cant|cannot|can not|couldnt|unable to|trouble|difficulty|hard to|struggling to) "
        rf"{_gap(1)}(?:speak|talk|talking|speaking) (?:properly|clearly|normally|straight|correctly|"
        rf"right\b(?! (?:now|away|this|at|today|then|after|before|back)))",
        rf"\b(?:arm|leg|hand|face) {_gap(1)}(?:went|goes|going|is|feels|felt|has gone) "
        rf"(?:numb|dead|limp|weak)\b",
        rf"\b(?:cant|cannot|couldnt|unable to|trouble|difficulty) (?:find|finding|get|getting) "
        rf"{_gap(1)}words\b",
        rf"\b(?:weakness|weak|numbness|numb|paralyzed|paralysis|tingling|limp|dead|drooping|"
        rf"(?:cant|cannot|unable to|couldnt) (?:move|lift|feel|raise)) {_gap(4)}{_SIDE}\b",
        rf"\b(?:cant|cannot|unable to|couldnt) (?:move|feel) {_POSS} (?:legs|arms|face)\b",
        rf"\b(?:cant|cannot|unable to|couldnt) (?:move|lift|raise|feel|use|grip with) {_POSS} "
        rf"(?:left|right) (?:hand|arm|leg|foot|side|fingers?|half)\b",
        rf"\b(?:vision|sight|eye) {_gap(2)}(?:went|goes|going|gone|turned) (?:black|dark|grey|gray|out)\b",
        r"\b(?:went|gone|going) blind\b",
        rf"\b(?:sudden|suddenly|all of a sudden|de repente) {_gap(3)}(?:cant|cannot|doesnt|unable to|"
        rf"couldnt|no) (?:understand|entiende|entiendo) (?:what|anything|me|us|words|lo que|nada)\b",
        rf"\b(?:torci\w*|desvi\w*) {_gap(2)}(?:la |su )?(?:boca|cara)\b",
        r"\b(?:talking|speaking|saying|babbling) (?:gibberish|nonsense)\b",
        r"\b(?:he|she|hes|shes|he is|she is) (?:\w+ )?not making (?:any )?sense\b",
        rf"\bperd\w* {_gap(1)}(?:la )?vista\b",
        r"\bno (?:veo|puedo ver|ve|puede ver) (?:nada|de un ojo|del ojo|de los ojos|bien de un ojo)\b",
        rf"\b(?:de repente|de golpe) {_gap(1)}no (?:veo|puedo ver|ve|puede ver)\b",
        r"\b(?:hablando|habla|dice) (?:puras )?(?:incoherencias|cosas sin sentido|cosas raras)\b",
        rf"\b(?:left|right|one) (?:side|arm|leg) {_gap(3)}(?:numb|weak|limp|paralyzed|dead|"
        rf"went numb|wont move)\b",
        r"\b(?:stroke|mini ?stroke|derrame|derrame cerebral|embolia|ictus)\b",
        rf"\b(?:sudden|suddenly) {_gap(3)}(?:confused|confusion|blind|vision loss|numb|weak|"
        rf"cant see|cant walk|cant talk|cant speak)\b",
        rf"\b(?:lost|losing|loss of|lose) {_gap(1)}(?:vision|sight|eyesight)\b",
        rf"\b(?:boca|cara|labio|ojo) {_gap(2)}(?:torcid\w*|chuec\w*|caid\w*|ladead\w*|colgad\w*)\b",
        rf"\b(?:habla|hablando) {_gap(1)}(?:raro|arrastrad\w*|extrano|chistoso|enredad\w*|trabad\w*)\b",
        rf"\barrastra {_gap(1)}palabras\b",
        r"\bno (?:puede|pudo|podia) hablar\b",
        rf"\b(?:no (?:puede|puedo|pudo|podia) (?:mover|levantar|sentir)|debilidad|adormecid\w*|"
        rf"entumid\w*|paralizad\w*|durmi\w*|dormid[oa]) {_gap(3)}(?:brazo|pierna|lado|mitad|cara|mano)\b",
        rf"\b(?:de repente|repentinamente) {_gap(2)}(?:confundid[oa]|no (?:puede|puedo) (?:ver|hablar|caminar))\b",
    ],
    "fainting or unresponsive": [
        r"\b(?:fainted|fainting|faints|passed out|passing out|pass out|passes out|blacked out|"
        r"blacking out|lost consciousness|loss of consciousness|losing consciousness|"
        r"lose consciousness|unconscious|unresponsive|collapsed|collapsing|keeled over|"
        r"(?:feel|felt|feeling|feels|going to) faint)\b",
        # "I'm scared I won't wake up from the anaesthesia" is a worry, not someone unresponsive now
        rf"\b(?=wont|will|cant|can|not|isnt|doesnt|couldnt|wouldnt|hard)(?<!scared i )(?<!afraid i )(?<!worried i )"
        rf"(?<!nervous i )(?<!scared that i )(?<!afraid that i )(?<!worried that i )"
        rf"(?:wont|will not|cant|cannot|can not|not|isnt|doesnt|couldnt|wouldnt|hard to) "
        rf"{_gap(1)}(?:wake|waking|wakes|woken|rouse)\b"
        rf"(?! up (?:early|in time|on time|in the morning|for))",
        r"\b(?:isnt|is not|not|wont|doesnt|stopped|no longer) (?:respond\w*|answering)\b(?! to (?:my|our|"
        r"the|your|any|me|us) (?:calls?|messages?|emails?|texts?|voicemails?|requests?|portal|letters?))"
        r"(?! (?:the |my |our |your )?(?:phones?|calls?|emails?|messages?|door|texts?)\b)",
        r"\b(?:baby|he|she|hes|shes|is|went|gone|looks) (?:\w+ )?(?:limp|floppy)\b",
        r"\bno (?:me |nos |le )?(?:responde|contesta)\b(?! (?:a |los |mis |el |mi |las )?(?:mensajes?|"
        r"llamadas?|correos?|telefono|portal))",
        r"\b(?:desmay\w*|desmall\w*|inconscient\w*)\b",
        r"\b(?:perdio|perdi|perdiendo|perder|perdida de|perdida del) (?:el )?(?:conocimiento|sentido)\b",
        r"\bno (?:despierta|reacciona|reacciono)\b",
        r"\bse (?:desvanecio|desplomo|colapso)\b",
    ],
    "severe bleeding": [
        rf"\b(?:severe|severely|heavy|heavily|massive|uncontrolled|uncontrollable|profuse|"
        rf"profusely|excessive|excessively|serious|lots of|a lot of|alot of|tons of|so much|"
        rf"too much|really bad|pouring|gushing|spurting) {_gap(1)}{_BLOOD}",
        rf"\b{_BLOOD} {_gap(2)}(?:heavily|badly|a lot|alot|so much|nonstop|non stop|profusely|"
        rf"everywhere|all over|through|like crazy|really bad)\b",
        rf"\b{_NOT} {_gap(1)}stop(?:ping|ped|s)? {_gap(1)}{_BLOOD}",
        rf"\b{_BLOOD} {_gap(5)}{_NOT} {_gap(1)}(?:stop|stopping|stopped|slow|slowing)\b",
        rf"\bsoak\w* {_gap(3)}(?:pad|pads|gauze|towel|towels|bandage|bandages|through|shirt)\b",
        rf"\b(?:cough\w*|vomit\w*|throw\w* up|threw up|spit\w*|puk\w*|hack\w*) (?:up )?{_gap(4)}{_BLOOD}",
        rf"\b{_BLOOD} in {_gap(1)}(?:vomit|throw up|spit|sputum|phlegm|mucus)\b",
        rf"\b{_BLOOD} {_gap(2)}(?:gushing|pouring|spurting|squirting|pumping)\b",
        rf"\b(?:vomit\w*|throw\w* up|threw up|puk\w*) {_gap(5)}(?:coffee grounds?|cafe molido|posos? de cafe)\b",
        r"\b(?:hemorrhag\w*|haemorrhag\w*|hemorragia)\b",
        rf"\b(?:sangrado|sangrando|sangra|sangre|sangrar|sangro)\w* {_gap(2)}(?:mucho|muchisimo|"
        rf"abundante|fuerte|sin parar|bastante|demasiado|a chorros|y no para)\b",
        r"\b(?:mucha|demasiada|bastante|muchisima) sangre\b",
        rf"\bno {_gap(2)}(?:para|paro|deja|dejo|ha parado|ha dejado|puedo parar|se detiene) "
        rf"de sangr\w*\b",
        rf"\b(?:sangrado|sangre) {_gap(2)}no (?:para|se detiene|se quita|se corta)\b",
        r"\bno (?:para|paro|se detiene|se corta|se quita|deja de salir) (?:la |el )?(?:sangre|sangrado)\b",
        rf"\b(?:vomit\w*|tos\w*|escup\w*|arroj\w*|devolv\w*) {_gap(1)}sangre\b",
        rf"\b(?:traspas\w*|empap\w*) {_gap(2)}(?:venda|vendas|gasa|gasas|toalla|toallas|ropa)\b",
        # Issue 14, round two (after v9): pressure that does not stop it, blood that spurts
        r"\b(?:its|it is|it was|and|keeps|still|is|are|wound|cut) (?:spurting|squirting|pumping|gushing)\b",
        rf"\b(?:pressing|pressure|pressed|holding pressure|squeezing) (?:on (?:it|the cut|the wound) )?{_gap(2)}"
        rf"{_NOT} {_gap(1)}(?:stop\w*|slow\w*|work\w*)\b",
        rf"\bsangr\w* {_gap(2)}(?:a chorros|no para aunque|sin parar aunque)\b",
    ],
    "throat or tongue swelling": [
        r"\b(?:anaphyla\w*|anafila\w*)\b",
        rf"\b(?:throat|tongue|lip|lips|face|mouth|airway|airways|uvula) {_gap(5)}(?:swelling|"
        rf"swollen|swell|swells|swelled|closing|closed|tight|tightening|tighter|blowing up|"
        rf"puffing up|puffed up|blew up|blown up)\b(?! (?:glands?|lymph|nodes?|tonsils?|ankles?|feet|legs?))",
        rf"\b(?:lips?|tongue|throat) {_gap(3)}(?:puffy|thick|huge|too big|heavy)\b",
        rf"\b(?:swelling|swollen|swelled|swell up|swelling up) {_gap(3)}(?:throat|tongue|lip|lips|"
        rf"face|mouth|airway)\b",
        rf"\b(?:severe|serious|bad|major|terrible|horrible|strong|really bad|extreme) {_gap(1)}"
        rf"(?:allergic )?reaction\b",
        r"\b(?:having|getting|have) (?:an? |some )?(?:allergic )?reaction\b",
        rf"\b(?:allergic )?reaction {_gap(3)}new {_gap(2)}(?:{_MEDS}|med|antibiotics?|drug|"
        rf"prescription|injection|shot|vaccine)\b",
        rf"\b(?:used|use|gave|give|giving|given|needed|need|injected) {_gap(2)}(?:epipen|epi pen|"
        rf"epinephrine|auvi q)\b",
        rf"\b(?:h?inch\w*|cerr\w*) {_gap(3)}(?:garganta|lengua|labios?|cara|boca|parpados)\b",
        rf"\binflamad\w* {_gap(2)}(?:lengua|labios?|cara)\b",
        rf"\b(?:garganta|lengua|labios?|cara|boca) {_gap(2)}(?:h?inchad\w*|h?inchand\w*|cerrad\w*|"
        rf"cerrando|se (?:me |le )?cierra)\b",
        rf"\breaccion alergica {_gap(1)}(?:fuerte|grave|severa|seria)\b",
        r"\b(?:fuerte|grave|severa|seria) reaccion\b",
        rf"\breaccion {_gap(3)}(?:medicina|medicamento|pastilla|antibiotico|inyeccion|vacuna) nuev[oa]\b",
        r"\b(?:use|usamos|le puse|le pusimos|puse) (?:la |el )?(?:epipen|epinefrina)\b",
    ],
    "suicidal thoughts or self-harm": [
        # "se suicidó" (someone else's death, past) is bereavement, not a risk now
        r"\bsuicid\w*\b(?<!\bse suicido)",
        # "my friend killed herself" likewise; "I almost killed myself" is not
        rf"\bkill(?:ing)? {_SELF}\b",
        r"\bkilled (?:my ?self|myself)\b",
        r"\b(?:almost|nearly) killed (?:himself|herself|themselves|themself)\b",
        # "he took his own life" (a completed death) is bereavement, like "killed himself"
        r"\b(?:end|ending|take|taking) (?:my|his|her|their) (?:own )?life\b",
        r"\b(?:almost|nearly) took (?:my|his|her|their) (?:own )?life\b",
        r"\bend(?:ing)? it all\b",
        r"\b(?:want|wanna|going|gonna|ready|thinking about|thinking of|plan) (?:to )?end(?:ing)? it\b",
        r"\bbetter off without me\b",
        rf"\b(?:pills|meds|medicine|pastillas|medicinas) {_gap(1)}(?:saved|stockpiled|stashed|ahorrad\w*|"
        rf"guardad\w*)\b",
        r"\b(?:ready|going|gonna|planning|plan) to take (?:them all|all of them|them|all my|all the)\b",
        r"\b(?:have|made|got) a plan to (?:kill|end|hurt|die)\b",
        r"\b(?:goodbye|suicide) (?:letter|note)\b",
        r"\bnobody would (?:miss|care about) me\b",
        r"\b(?:dont|do not) want to be here anymore\b",
        rf"\b(?:jump|jumping) off {_gap(1)}(?:bridge|roof|building|balcony)\b",
        rf"\b(?:gun|pistol|rifle|knife|rope) {_gap(7)}(?:on myself|to myself|myself)\b",
        r"\bquiero desaparecer\b",
        r"\bcarta de despedida\b",
        r"\bmejor sin mi\b",
        r"(?<!dont )(?<!do not )(?<!doesnt )(?<!didnt )(?<!never )\b(?:wants?|wanna|wanted|wish|wishes|going|gonna|"
        r"ready) (?:to )?(?:just )?die\b",
        r"\bwish (?:i|i was|i were|i could be) dead\b",
        r"\bbetter off dead\b",
        r"\b(?:dont|do not|no longer) want to (?:live|be alive|be here|wake up|exist|go on)\b",
        r"\b(?:no reason to live|not worth living)\b",
        rf"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning|injure|injuring) {_gap(1)}"
        rf"{_SELF}\b(?! (?:shaving|cooking|by accident|accidentally|while|at work|on (?:a|the|some|glass)))",
        r"\bself ?(?:harm|injur|mutilat)\w*",
        r"\b(?:me |se )?(?:quiero|quiere) morir\w*\b",
        r"\bquisiera (?:morir\w*|estar muert[oa])\b",
        r"\bquiero estar muert[oa]\b",
        r"\b(?:quitarme|quitar me|quitarse|me quito|quite) la vida\b",
        r"\b(?:matarme|me voy a matar|me quiero matar|suicidarme)\b",
        r"\bno quiero (?:seguir )?viv\w*\b",
        r"\bno quiero (?:estar|seguir) (?:viv[oa]|aqui|en este mundo)\b",
        r"\b(?:hacerme|me hago|me hice|me estoy haciendo) dano\b",
        r"\bme (?:corte|corto|cortaba|estoy cortando|he cortado) (?:a proposito|las venas|los brazos|"
        r"las munecas|otra vez)\b",
        r"\bganas de (?:morir\w*|matarme|suicidarme|no vivir|desaparecer)\b",
        r"\bmejor muert[oa]\b",
        # Columbia (C-SSRS) steps, worded the way people write them.
        # Wish to be dead
        r"\b(?:go to sleep|fall asleep|sleep) (?:and|forever and) (?:never|not) (?:wake|waking) up\b",
        r"\btired of (?:living|being alive|life|existing)\b",
        r"\b(?:no|dont see the|dont see any|cant see the|whats the) point (?:in |of )?(?:going on|living|"
        r"carrying on|being alive|anything anymore|life|it all|trying anymore)\b",
        # ... but not a complaint about the portal or the paperwork that follows at once
        r"\b(?:cant|cannot) (?:go on|keep going|do this) (?:like this )?any ?more\b"
        r"(?! (?:\| )?(?:the|this|your|that) (?:portal|website|site|app|form|forms|paperwork|phone system|hold music|"
        r"billing|bill|login|password)\b)",
        r"\b(?:everyone|everybody|they|my family|my kids|the world|people) (?:\w+ )?(?:would|will|d) be better "
        r"(?:off )?without me\b",
        r"\b(?:wont|will not) be (?:around|here|alive) (?:much longer|anymore|for long|by|to see)\b",
        # ... "next week" only without a reason or a new date after it ("we're on vacation, move it to ...")
        r"\b(?:wont|will not) be (?:around|here|alive) next \w+\b(?!(?: \S+){0,8} "
        r"(?:vacation|trip|travel\w*|conference|out of town|away|visiting|moving|work\w*|business|holiday|cruise|"
        r"wedding|staying|move|reschedul\w*|push|rebook|book\w*|when (?:im|i am) back|following|instead)\b)",
        r"\b(?:done|finished) (?:fighting|with life|with living|with everything|with it all)\b"
        r"(?! (?:with|against|over) (?:my|the|your|this|their) "
        r"(?:insurance|insurer|bill|billing|claim|pharmacy|portal))",
        r"\b(?:kms|unalive\w*|sewer ?slide|off (?:my ?self|himself|herself))\b",
        # Active thoughts, method
        # "she isn't thinking about hurting herself" is a denial
        rf"\b(?<!isnt )(?<!not )(?<!arent )(?<!wasnt )(?:thoughts?|thinking|think|talking|talks|talked|fantasi\w+) "
        rf"(?:a lot )?(?:of|about) {_gap(1)}"
        r"(?:dying|death|killing|ending (?:it|things|my life|everything)|not being (?:here|alive)|not existing|"
        r"no longer existing|not waking up|hurting "
        r"(?:my ?self|myself|himself|herself))\b",
        r"\b(?:end|ending|finish|finishing) (?:things|everything)\b",
        rf"\bhang\w* {_SELF}\b",
        r"\b(?:noose|ahorcar\w*|colgarme|slit\w* (?:my |his |her )?wrists?)\b",
        rf"\bcut\w* {_gap(2)}wrists?\b",
        r"\b(?:jump|jumping|throw myself|step|stepping|walk|walking) (?:off|from|in front of|into) (?:a|the) "
        r"(?:bridge|roof|building|train|bus|truck|traffic|overpass|cliff)\b",
        r"\bin front of (?:a|the) (?:train|bus|truck)\b",
        r"\b(?:drive|driving|crash|crashing) (?:my car )?(?:into|off) (?:a|the) (?:wall|tree|bridge|cliff|river)\b",
        r"\b(?:overdose|od) on purpose\b",
        # Intent and plan
        r"\btonight (?:is|will be) the night\b",
        r"\b(?:know|decided|figured out) (?:how|when) (?:i will|im going to|ill|im gonna|to) do it\b",
        r"\b(?:have|made|got) (?:a )?plan (?:to|for) (?:kill|end|die|hurt|do it)\w*\b",
        # Preparatory acts: goodbyes, letters, giving things away, saving pills, obtaining means
        r"\b(?:wrote|written|writing|write|left|leaving|leave) (?:a |some )?(?:letters?|notes?) (?:to|for) "
        r"(?:everyone|everybody|all|my (?:family|kids|children|wife|husband|mom|dad|parents|son|daughter|partner))\b",
        r"\b(?:goodbye|farewell) (?:letters?|notes?|messages?|texts?)\b",
        r"\blast (?:letters?|notes?)\b",
        # "disregard my last message" is not a goodbye
        r"\b(?<!my )(?<!the )(?<!your )(?<!our )(?<!that )last (?:messages?|texts?)\b",
        r"\b(?:this is|these are|this will be) (?:my )?last (?:messages?|texts?)\b",
        r"\bthis is (?:my )?(?:goodbye|farewell|the end)\b(?! (?:to|of) (?:paper|the|my|our|this|that) )",
        r"\b(?:saying|said|say|to say) (?:my )?goodbyes?\b(?! to (?:the|my) (?:office|job|old|house))",
        r"\b(?:gave|giving|give|given) (?:away )?(?:all )?(?:my|his|her) (?:things|stuff|belongings|possessions|"
        r"clothes|pets?|dog|cat|guitar|jewelry) away\b",
        r"\b(?:gave|giving|give|given) away (?:all )?(?:my|his|her) (?:things|stuff|belongings|possessions|"
        r"clothes|pets?|dog|cat|guitar|jewelry)\b",
        rf"\b(?:saving|saved|stockpil\w*|hoard\w*|collecting (?:up|all|extra)|stash\w*) (?:up )?{_gap(2)}"
        r"(?:pills|meds|medication|medications|tablets|sleeping pills|oxys?|painkillers)\b"
        # ... not a supply put by for a trip ("saved up enough pills for the trip")
        r"(?! (?:\w+ ){0,3}(?:for (?:my |the |a |our )?(?:trip|travel|vacation|flight|cruise)|in case))",
        r"\b(?:bought|buy|buying|got|get|purchased|ordered|have) (?:a |some |myself a )?(?:rope|noose|gun|"
        r"handgun|pistol|firearm|bullets|razor blades)\b",
        # Past attempts
        rf"\b(?:tried|attempted|try|trying) (?:to )?(?:kill|end|hurt|off) {_gap(1)}(?:{_SELF}|my life|it)\b",
        # Spanish
        r"\bno (?:le )?(?:veo|tiene|encuentro) (?:el |ningun )?(?:sentido|caso|razon) (?:a |de )?(?:la vida|seguir|"
        r"vivir|nada)\b",
        r"\bya no (?:puedo|quiero) (?:seguir|mas con (?:esto|la vida)|vivir)\b",
        r"\b(?:ya no aguanto|cansad[oa] de) (?:mas )?(?:la vida|vivir|estar viv[oa])\b",
        r"\b(?:escribi|deje|escribiendo) (?:unas |las |una )?(?:cartas?|notas?) (?:a|para) (?:todos|mi familia|"
        r"mis hijos|las personas)\b",
        r"\b(?:me despido|despedirme) de (?:todos|ustedes|mi familia)\b",
        r"\besto es (?:un )?(?:adios|la despedida)\b",
        r"\b(?:regale|regalando|regalar) (?:todas )?(?:mis|sus) cosas\b",
        r"\b(?:guardando|juntando|ahorrando|guarde|junte) (?:mis |las |sus )?(?:pastillas|pildoras|medicinas)\b",
        r"\b(?:compre|conseguir|consegui) (?:una )?(?:soga|cuerda|pistola|arma)\b",
        r"\besta noche (?:es|sera) la noche\b",
        r"\b(?:dormir|dormirme) y no despertar\b",
        r"\btirarme (?:de|del|al|a las|frente al) \w+\b",
        r"\b(?:cortarme|cortarse) (?:las venas|las munecas)\b",
        r"\b(?:intento|intente|trato de|trate de) (?:matarse|matarme|quitarse la vida|quitarme la vida|suicidarse)\b",
        r"\bestarian mejor sin mi\b",
        # More C-SSRS wordings (issue 14), found missing by grouped cross-validation on training.
        # Wish to be dead
        r"\b(?:disappear|vanish) (?:forever|for good|and never come back)\b",
        r"\b(?:hope|pray|praying|wish|wishing)\w* (?:that )?i (?:dont|do not|never|wont|will not) wake up\b",
        r"\b(?:happier|better|easier|relieved) (?:off )?(?:if|when) i (?:was|were|am|m|just) ?(?:gone|dead|not here|"
        r"not around|wasnt here|wasnt around)\b",
        r"\bif i (?:just )?(?:wasnt|werent|was not|were not) (?:alive|here|around)\b",
        r"\b(?:ok|okay|fine|happy|relieved) if i (?:died|didnt wake up|never woke up)\b",
        r"\b(?:isnt|is not|aint) worth living\b",
        r"\bwish\w* (?:he|she|they) (?:was|were) dead\b",
        r"\b(?:im|i am|i feel like|feel like) (?:such )?a burden (?:to|on) (?:everyone|everybody|my family|them)\b",
        r"\b(?:ojala|quisiera) (?:estar |estuviera |que estuviera )?muert[oa]\b",
        r"\b(?:pido|ojala|quisiera|rezo por) (?:a dios )?(?:no despertar\w*|dormirme y no despertar\w*)\b",
        r"\bsoy una carga para (?:todos|mi familia)\b",
        # Thoughts, method, intent
        r"\b(?:acabar|terminar) con (?:todo|mi vida|esto de una vez)\b",
        r"\b(?:ways|how) to (?:die|kill myself|end it|end my life|overdose|commit suicide)\b",
        r"\b(?:use|using) (?:the|my|his|her|a|dads|moms) gun\b",
        r"\besta vez si lo (?:voy a hacer|hago|hare)\b",
        r"\bquitar (?:me )?la vida\b",
        r"\bno me siento segur[oa] conmigo\b",
        # Plan and preparatory acts
        r"\band (?:not|never) (?:come|coming) back\b",
        r"\b(?:tying|tie|tied) up (?:all )?(?:the |my )?loose ends\b",
        r"\b(?:put|putting|getting|got) (?:all )?my affairs in order\b",
        r"\bcheck\w* out for good\b",
        r"\bthis is it for me\b",
        r"\b(?:im|i am) not going to be (?:here|around|alive)\b",
        r"\bya no (?:voy a|vaya a) estar\b(?! (?:en|disponible|libre|trabajando))",
        r"\bcartas de despedida\b",
        r"\b(?:me estoy despidiendo|me despedi|despidiendome) de (?:todos|ustedes|mi familia)\b",
        r"\bme rindo\b",
        # Attempt now or past
        r"\b(?:after|since|for) (?:my|an|the|a) (?:suicide )?attempt\b",
        r"\battempted (?:suicide|to kill)\b",
        r"\b(?:scared|afraid|worried|terrified)\w* (?:that )?(?:i|ill|i will|i might|i may|im going to|i am going to) "
        r"(?:try|do|hurt|attempt|kill)\w*(?: \w+)? again\b",
        r"\b(?:have|got|had) it all planned\b",
        r"\bdo it this time\b",
        r"\b(?:im|i am|i will|ill) (?:going to |gonna )?act on (?:it|them|these thoughts|my thoughts)\b",
        r"\bknow (?:where|how|when)(?: and (?:where|how|when))? (?:i will|im going to|ill|im gonna|to) do it\b",
        r"\b(?:saving|saved|keeping|hiding|hid) (?:my |the |them )?(?:\w+ ){0,3}instead of taking (?:it|them)\b",
        r"\bsaved (?:them )?all (?:of them )?up\b",
        r"\b(?:navajas|cuchillas) para cortar(?:me|se)\b",
        r"\bcompre (?:unas |mas )?(?:navajas|cuchillas)\b",
        r"\bsoy una carga\b",
        r"\bkiero morir\w*\b",
        r"\bdesaparecer para siempre\b",
        # Found missing on the v6 held-out set (issue 14), which then became training data (dev5).
        r"\b(?:stockpil\w*|hoard\w*|stash\w*) (?:up )?(?:my|his|her|all|them|pills|meds)\b",
        r"\b(?:pills|pylls|meds|tablets|pastillas) (?:all )?(?:lined up|counted out|ready)\b",
        r"\b(?:guardando|juntando|ahorrando|guarde|junte) (?:mis |las |sus )?pastiyas\b",
        r"\bterminar con esto\b",
        r"\btodo listo (?:para|pa) (?:terminar|acabar|irme|hacerlo)\b",
        r"\b(?:not|never) coming (?:in|back) (?:\w+ ){0,4}(?:or ever|ever again)\b",
        r"\b(?:gun|pistol|rifle|pistola|arma) (?:\w+ )?(?:out of the safe|next to me|in my hand|loaded)\b",
        r"\b(?:loaded|loading) (?:the|my|his|a) (?:gun|pistol|rifle)\b",
        r"\bya (?:escribi|deje|tengo) (?:la|mi|una) (?:carta|nota)\b",
        r"\b(?:put|hung|tied|set) (?:up )?(?:the |a )?(?:rope|noose)\b|\brope (?:is )?(?:up|ready|tied)\b",
        r"\b(?:no one|nobody|noone) (?:will|would|is going to|gonna|is gonna) (?:even )?(?:miss|notice) me\b",
        r"\bhow many (?:\w+ ){1,3}(?:it would|would it|does it|will it) take\b",
        r"\b(?:already )?(?:wrote|written|left|finished) (?:my|the) (?:note|letters?)\b",
        r"\b(?:go|going|gone|decided to go) through with it\b",
        r"\b(?:it all|everything) to (?:stop|end) (?:forever|for good)\b",
        # Found missing on the v7 held-out set, which then became training data (dev6).
        # ... not "my attempt to pay online failed again"
        r"\battempt\w* (?!(?:to|at) (?:pay\w*|log\w*|call\w*|reach\w*|book\w*|schedul\w*|submit\w*|upload\w*|sign\w*|"
        r"get\w*|fax\w*|contact\w*|refill\w*|order\w*|register\w*|reset\w*|chang\w*|updat\w*|access\w*|mak\w*|"
        r"cancel\w*|send\w*|fill\w*|connect\w*|find\w*|file\w*|set\w*|print\w*|download\w*)\b)"
        r"(?:\w+ ){0,6}(?:again|back)\b",
        r"\b(?:dont|do not) (?:want|wanna) (?:to )?(?:be|b) here (?:no ?more|anymore|any more)\b",
        r"\bdone (?:w|wit|with) (?:life|living|being alive)\b",
        r"\b(?:wnt|wana|wan) (?:to )?die\b",
        r"\b(?:im|i am) letting go\b(?! of\b)",
        r"\bburn\w* (?:my|his|her) (?:arms?|wrists?|legs?|skin|thighs?) (?:with|on purpose)\b",
        r"\bsaving up (?:my|his|her|all my) (?!money|vacation|pto|days|points)\w+",
        r"\b(?:deje|escribi|escribiendo) (?:una |la |unas )?cartas? (?:a|para) (?:mi|mis) \w+\b",
        r"\b(?:wrote|written|writing|left) (?:a |some )?(?:letters?|notes?) (?:to|for) (?:my|his|her) \w+ to find\b",
        r"\b(?:relief|rather|better|want|wish|wanna) (?:\w+ ){0,3}(?:not exist|stop existing|stopped existing|"
        r"didnt exist|dejar de existir)\b",
        r"\brather be dead\b",
        # Found missing on the v8 held-out set, which then became training data (dev7).
        r"\b(?:dying|being dead|death) would be (?:easier|better|a relief)\b",
        r"\b(?:praying|pray|hoping|hope|wish\w*) (?:for )?(?:it all|everything|all of this|this) (?:to be|was|were|is) "
        r"over\b",
        r"\b(?:do|doing) something (?:stupid|dumb|bad) (?:to|with) (?:my ?self|myself|himself|herself)\b",
        r"\b(?:just )?(?:want|wanna|wanted) to be dead\b",
        r"\b(?:move on|be fine|be happier|be better|be ok|be okay) (?:\w+ ){0,2}if i (?:died|was dead|were dead|was "
        r"gone|were gone)\b",
        r"\bcount\w* (?:\w+ ){1,3}to see if (?:theres|there is|there are|i have|its|it is) enough\b(?! "
        r"(?:until|till|to last|for the))",
        r"\b(?:drive|driving|drove|walk|walking|sit|sitting|standing|stand) (?:by|past|near|on|to) (?:the )?"
        r"(?:train tracks|tracks|railroad|bridge|overpass|cliff|roof) (?:\w+ ){0,3}thinking\b",
        r"\blooking at (?:the |my |all the |all my )?(?:pills|meds|pill "
        r"bottles?|bottles?|gun|pistol|rope|razors?|blades?) "
        r"(?:\w+ ){0,4}for (?:an|a|hours|the|over)\b",
        r"\b(?:reading|read|looking|looked|searching|searched|googl\w*) (?:up )?(?:on |about |into |up )?how to "
        r"(?:hang|shoot|drown|cut|overdose|poison|kill)\b",
        r"\b(?:made up my mind|decided|its decided)\W* (?:\w+ ){0,2}(?:tonight|today|tomorrow) (?:im|i am|i will|ill) "
        r"(?:going to |gonna )?do(?:ing)? it\b",
        r"\b(?:know|knew|picked|chose|chosen|found) (?:which|the|a) (?:bridge|building|overpass|cliff|spot to jump)\b"
        r"(?! (?:entrance|address|parking|is|near))",
        r"\b(?:left|leaving|wrote|written|hid|put) (?:the |some |my )?(?:letters?|notes?) (?:\w+ ){0,4}(?:for|to) "
        r"(?:my|his|her) (?:kids|children|family|wife|husband|son|daughter|parents|mom|dad|partner)\b",
        r"\b(?:gave|giving|given|found a home for|rehom\w*) (?:away )?(?:my|his|her) (?:dogs?|cats?|pets?) "
        r"(?:\w+ ){0,4}(?:because|since|as) (?:i|he|she) (?:wont|will not|am not going to|is not going to) be\b",
        r"\bwritten (?:my|a|the) goodbye\b|\bat peace with (?:it|my decision|this decision)\b",
        r"\b(?:keeping|kept|saving|hiding) (?:the |my |all the |all my )?(?:old |extra |leftover |spare )?"
        r"(?:pills|meds|tablets) (?:\w+ ){0,2}for "
        r"(?:tonight|tomorrow|the end|later|when)\b",
        r"\b(?:saved|saving|stashed|hid|hidden) (?:up )?(?:a |an |the )?(?:bottle|stash|supply|bunch|box) of\b",
        r"\b(?:bag|box|pack|stash|packet) of (?:razors?|razor blades|blades)\b",
        r"\b(?:before|b4|bfore|befor) i (?:go|leave|am gone|m gone) for good\b",
        r"\b(?:updated|changed|sorted) (?:my )?(?:life insurance|will)\b (?:\w+ ){0,3}(?:told|showed) (?:\w+ "
        r"){1,3}where\b",
        r"\bcut (?:too |really |very |so )?deep\b",
        r"\b(?:scratch|scratching|scratched|pick|picking|hit|hitting|punch|punching|bang|banging) "
        r"(?:\w+ ){0,6}(?:on purpose|(?:until|till|til|untill) (?:it|i|they|there) (?:bleeds?|bled|was blood|"
        r"was bleeding|were bleeding))\b",
        r"\b(?:picture|photo|pic) of (?:pills|her pills|his pills|a gun|a rope|razors|blades)\b",
        r"\b(?:talking|talks|talked|thinking|thinks) about (?:shooting|hanging|drowning|poisoning|cutting) "
        r"(?:himself|herself|themselves|myself|my ?self)\b",
        r"\b(?:saying|said|says|wrote|writes) (?:that )?(?:they|he|she|i) (?:cant|cannot|couldnt) go on\b",
        r"\bwish (?:i|he|she) (?:wasnt|wasn t|werent|was not|were not) (?:alive|here|around|born)\b",
        r"\bkll? (?:my ?sl?e?f|myslf|mysef)\b",
        r"\bojala no (?:despierte|despertara|amanezca)\b",
        r"\bcontando (?:las |mis )?(?:pastillas|pastiyas|pildoras|medicinas) (?:\w+ ){0,4}(?:alcanzan|alcanza|son "
        r"suficientes|basta)\b",
        r"\b(?:ya lo decidi|lo decidi|ya decidi) (?:\| )?(?:\w+ ){0,3}(?:lo hago|lo voy a hacer|me voy)\b",
        r"\b(?:deje|escribi|guarde) (?:unas |las |mis )?cartas? (?:\w+ ){0,4}(?:a|para) (?:mis|mi) \w+\b",
        r"\bme (?:corte|cortaste|corto) (?:muy )?(?:hondo|profundo)\b",
        r"\bse (?:quiere|queria|va a) (?:matar|suicidar|morir)\b",
        # Missed out of fold by grouped cross-validation on training (issue 14, after dev7).
        r"\b(?:el )?(?:lunes|martes|miercoles|jueves|viernes|sabado|domingo|esta noche) lo (?:voy a "
        r")?(?:hacer|hcer|hago)\b",
        r"\b(?:picked up|took|grabbed|borrowed|got) (?:a|the|my \w+s|his|her) (?:gun|pistol|rifle|handgun|shotgun) "
        r"from\b",
        r"\bplanned it for\b",
        r"\bfinally (?:got|bought|have|found) (?:a|the|my|some) (?:gun|rope|noose|pistol|razor blades)\b",
        # ... and wordings missed out of fold by grouped cross-validation on training (round four)
        r"\b(?:stay|staying|sleep|sleeping) asleep forever\b|\b(?:go to sleep|sleep|dormir|dormirme) (?:para siempre|"
        r"forever)\b",
        r"\bno reason to (?:keep going|go on|keep living|stay alive|be here|wake up|seguir)\b",
        r"\besta es mi (?:despedida|ultima carta|ultima nota)\b",
        r"\b(?:im sorry|i am sorry|sorry for everything|me perdone|perdonenme|perdon por todo)\b(?: \S+){0,6} "
        r"(?:i wont be back|i will not be back|ya no voy a volver|ya no vuelvo|no me van a ver mas)\b"
        r"(?! (?:in|until|till|for|before|to|from|at|on|a|al|hasta|en|por)\b)",
        r"\b(?:veneno|raticida|cloro|rat poison|antifreeze|bleach) (?:\w+ ){0,3}(?:para (?:tomarmel\w*|bebermel\w*|"
        r"matarme|morirme)|to (?:drink|take|swallow) (?:it|tonight)|to (?:kill|end) (?:myself|it))\b",
        r"\b(?:dejo|left) (?:una |a )?(?:carta|nota|note|letter)\b(?: \S+){0,4} (?:no contesta|no responde|isnt "
        r"answering|wont answer|not answering|is not answering|cant reach)\b",
        r"\b(?:hiding|hid|hidden|stashing|stashed) (?:his|her|my|their) (?:pills|meds|medicine|medication|tablets|"
        r"sleeping pills)\b(?! (?:from (?:the|my|his|her) (?:kids|dog|grandkids)|so the (?:kids|dog)))",
        # Issue 14, round four (after v11): a plan with a date, "when I'm gone, which will be soon"
        r"\b(?:got|have|has|ive got|its|is) (?:the|a|my) (?:date|day) (?:all )?(?:picked|chosen|set|decided)\b"
        r"(?! (?:for|of|with|to (?:come|see)|and (?:time|place))\b)(?!(?: \S+){0,8} (?:appointment|appt|visit|surgery|"
        r"wedding|party|move|moving|procedure|see you|thanks|thank you)\b)",
        r"\b(?:ya )?tengo (?:la|el) (?:fecha|dia) (?:decidid[oa]|elegid[oa]|escogid[oa]|puest[oa])\b"
        r"(?! (?:para|de|del|con)\b)(?!(?: \S+){0,8} (?:cita|cirugia|boda|mudanza|procedimiento)\b)",
        r"\b(?:ive|i have|i) decided\b(?: \S+){0,3} (?:its|it is|it will be|it s) (?:going to be |gonna be |happening "
        r")?(?:this weekend|tonight|tomorrow|this week|on (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))"
        r"\b(?!(?: \S+){0,6} (?:appointment|appt|visit|surgery|move|moving|procedure|switch\w*|new doctor)\b)",
        r"\bno (?:voy a|vaya a) estar (?:aqui |por aqui )?(?:mucho tiempo|por mucho tiempo|mucho mas)\b"
        r"(?! (?:en|fuera|de viaje|por el trabajo|porque me mudo)\b)",
        r"\b(?:the|my) (?:date|day) is (?:all )?(?:set|picked|chosen|decided)\b(?! (?:for|of|with)\b)(?!(?: \S+){0,8} "
        r"(?:appointment|appt|visit|surgery|wedding|party|move|moving|procedure|see you|thanks|thank you)\b)",
        r"\b(?:started|starting|been|im|am|back to|keep|kept) cutting (?:again|myself|my ?self|lately|every)\b",
        r"\b(?:started|starting) cutting\b(?! (?:back|down|out|off|up|the|my hair|his hair|her hair|hair|coupons|carbs|"
        r"sugar|grass|wood|paper|class\w*|school|teeth|a tooth|in|through))",
        r"\b(?:my|his|her) (?:last|latest|most recent|previous|first|second) (?:suicide )?attempt\b(?! (?:to|at)\b)",
        r"\bfor when i (?:finally )?(?:do it|go through with it|decide|am ready|m ready|im ready)\b(?! to\b)",
        r"\benough (?:\w+ )?to (?:end it|end things|end my life|not wake up|finish it|finish myself)\b",
        r"\bme (?:voy a|quiero|pienso|va a|quiere) tirar (?:de|del|desde|al|por|frente) \w+",
        r"\brelapsed (?:on|with|into) (?:self ?harm\w*|cutting|hurting myself)\b",
        r"\b(?:when|once|after) (?:im|i am|i m) gone\b(?: \S+){0,6} (?:soon|wont be long|not long now|any day now)\b",
        r"\bcuando (?:yo )?(?:falte|ya no este|me haya ido|me vaya para siempre)\b(?: \S+){0,6} "
        r"(?:pronto|muy pronto|ya lo decidi|ya decidi|no falta mucho|ya falta poco)\b",
        r"\b(?:picked|chose|set) the date\b(?! (?:for|of) (?:my|the|our|his|her) )",
        r"\b(?:hope|wish|pray)\w* (?:that )?my heart (?:would |will )?(?:just )?(?:stops?|gives out)\b",
        r"\b(?:pienso en|voy a|quiero) (?:usar|agarrar) (?:la|el|una|mi) (?:pistola|arma|escopeta|soga)\b",
        r"\bya no aguanto (?:mas )?(?:\| )?adios\b",
        r"\b(?:bought|buying|got|getting) (?:extra|more|a few|several) bottles of (?:tylenol|advil|aspirin|ibuprofen|"
        r"acetaminophen|pills|sleeping pills|\w+ pills)\b",
        r"\bdejar de existir\b",
        r"\bnothing left for me (?:here|anymore|now)\b|\bnothing (?:left )?to live for\b",
        r"\btell (?:my|his|her) (?:wife|husband|kids|mom|dad|family|children|son|daughter|partner|parents) "
        r"(?:that )?(?:im|i am|i was) sorry\b",
        r"\bdone (?:w|wit|with) (?:everything|everyone|it all)\b",
        r"\b(?:hope|pray|praying|wish|wishing)\w* (?:\w+ ){1,3}(?:that )?i (?:dont|do not|never|wont|will not) wake "
        r"up\b",
        r"\bme (?:lastime|lastimo|queme|quemo|golpee|corte|corto) (?:\w+ ){0,6}a proposito\b",
        r"\b(?:im|i am) not (?:going|gonna) to be (?:here|around)\b",
        r"\bto say (?:good ?bye|goodbye|gooddye|goodye|bye) to (?:everyone|everybody|all)\b",
        r"\b(?:called|texted|messaged|visited|saw) (?:everyone|everybody|all my \w+) to say\b",
        r"\b(?:compre|cmopre|consegui) (?:una |un )?(?:pistola|arma|soga|cuerda)\b",
        # Issue 14, round two (after v9): preparatory acts and third-party reports
        r"\b(?:gave|giving|give|given|gives) (?:away )?(?:all )?(?:of )?(?:my|his|her) (?!old )(?:\w+ ){0,4}away\b"
        r"(?! to (?:goodwill|charity|the church|a shelter|the thrift|donat\w*|salvation|the food))",
        r"\b(?:gave|giving|given|gives) away (?:all )?(?:of )?(?:my|his|her) (?:tools|guns?|watch|car|truck|books|"
        r"records|collection|plants|jewelry|things|stuff)\b",
        r"\btired of (?:hanging|being|sticking) around\b(?! (?:the|this|here|in|at|waiting|for|with|doing))",
        r"\b(?:wont|will not) be (?:around|here|alive) after (?:this (?:week|weekend|month)|tonight|today|tomorrow)\b",
        r"\b(?:wants?|wanna|wanted) to (?:just )?disappear\b(?! (?:for|from|into|on|to))",
        r"\bquiere desaparecer\b",
        r"\bcansad[oa] de (?:estar aqui|estar en este mundo|seguir aqui)\b",
        r"\bmade (?:my )?peace with (?:dying|death|my decision|the decision|going)\b",
        r"\b(?:wrote|written|writing|left) (?:a |some )?(?:letters?|notes?) (?:to|for) the (?:kids|children|family)\b",
        r"\b(?:cutting|cuts|burning|burns) (?:her|his|my|their) (?:arms?|legs?|thighs?|wrists?|skin|stomach)\b"
        r"(?! (?:on|by accident|accidentally|shaving|while|at work|cooking|in the|with the))",
        r"\bse (?:corta|corto|esta cortando|ha cortado|cortaba) (?:los brazos|las piernas|las munecas|las venas|"
        r"a proposito)\b",
        # Issue 14, round three (after v10): C-SSRS steps worded as everyday asides
        # Wish to be dead, passive: "wouldn't mind if I didn't make it through the surgery"
        r"\b(?:wouldnt|would not|wont|dont) (?:really |even )?(?:mind|care) (?:if|when) (?:i|i just) (?:didnt|did not|"
        r"dont|never|wouldnt|couldnt) (?:make it|made it|wake up|woke up|come out|survive|come back|get better)\b"
        r"(?! (?:on time|in time|to (?:the|my|an?)|there|today|back to work|for))",
        r"\b(?:wouldnt|would not) (?:really |even )?(?:mind|care about) (?:dying|not waking up|not making it|"
        r"being dead|never waking up)\b",
        r"\b(?:hope[sd]?|hoping|wish|wishing|pray\w*) (?:that )?i (?:dont|do not|never|wont|will not) "
        r"(?:make it (?:through|out)|survive|come out of|wake up from)\b",
        r"\bno me importaria (?:no despertar\w*|morir\w*|no salir de|que me muriera)\b",
        r"\bif i (?:just )?(?:didnt|did not|never|dont) (?:wake|woke) up\b (?:\w+ |\| ){0,5}(?:id|i would|i d) be "
        r"(?:ok|okay|fine|happy|relieved|glad|good)\b",
        r"\b(?:hope[sd]?|hoping|wish|wishing|pray\w*) (?:that )?something (?:bad )?"
        r"(?:happens|would happen|will happen) to me\b",
        r"\bojala (?:que )?me pase algo\b",
        # "after tonight none of this will matter", "no point booking anything past Friday"
        r"\bafter (?:tonight|today|tomorrow|this (?:week|weekend)|monday|tuesday|wednesday|thursday|friday|saturday|"
        r"sunday) (?:\| )?(?:none of (?:this|it) (?:will|is going to) matter|it (?:wont|will not) matter|nothing "
        r"(?:will )?matters?)\b(?!(?: \S+){0,6} (?:since|because|bc|insurance|moving|new))",
        r"\bno point (?:in )?(?:booking|scheduling|making|keeping|planning) (?:\w+ ){0,2}(?:past|after|beyond)\b"
        r"(?!(?: \S+){0,6} (?:since|because|bc|moving|switching|insurance|trip|travel\w*))",
        r"\b(?:wont|will not|dont) need (?:it|them|any|anything) where (?:im|i am) going\b",
        # Goodbyes: the last message
        r"\b(?:the )?last time (?:you|youll|you will|anyone|anybody) (?:will )?(?:ever )?(?:hear|hears) from "
        r"(?:me|him|her|them)\b(?! about\b)" + _FAREWELL_REASON,
        r"\b(?:you|youll|you will|nobody|no one) (?:wont |will not |will never |never |wont ever )?(?:ever )?hear "
        r"from me again\b(?! about\b)" + _FAREWELL_REASON,
        r"\bthanks? (?:you )?for putting up with me (?:all )?(?:these|this|those|for so) (?:years|long|time)\b"
        + _FAREWELL_REASON,
        r"\b(?:es la ultima vez que|ya no volveran a) (?:saben|sabran|saber|van a saber) (?:nada )?de mi\b",
        r"\bya no (?:van a saber|sabran|volveran a saber) (?:nada )?de mi\b",
        r"\b(?:es|sera) la ultima vez que (?:les |te |le )?(?:escribo|mando mensaje|hablo)\b(?! (?:sobre|por|acerca))",
        # Preparatory acts: means kept ready, pills saved up from old bottles, "for what I need to do"
        r"\b(?:saved|saving|stockpiled|kept|keeping|set aside|put aside|held on to|holding on to|hung on to) (?:up )?"
        r"(?:\w+ ){0,2}(?:plenty|enough|a lot|a bunch|a pile|lots|extra)\b (?:\w+ ){0,4}(?:pills|meds|tablets|"
        r"bottles|doses)\b(?! (?:\w+ ){0,3}(?:for (?:my |the |a )?(?:trip|travel|vacation|flight)|in case))",
        r"\b(?:have|got|keep|keeping|kept|hid|hidden|hide|stashed) (?:a |the |my |some )?(?:rope|noose|razor blades?|"
        r"blades) (?:\w+ ){0,3}(?:hidden|stashed|ready|put away|saved)\b",
        r"\b(?:tengo|tiene|guarde|guardo|escondi|escondo|escondio) (?:una |la |un |el |unas |las )?(?:soga|cuerda|"
        r"pistola|arma|navajas?|cuchillas|pastillas|pastiyas) (?:\w+ ){0,2}(?:guardad\w*|escondid\w*|list[oa]s?|"
        r"preparad\w*)\b",
        r"\b(?:getting|got|get|took|taking|grab\w*|pulled|pulling) (?:the|my|a) (?:razor|razors|blades?|box cutter) "
        r"(?:back )?out\b",
        r"\b(?:enough|plenty) (?:\w+ )?(?:saved|stashed|put aside|set aside) (?:up )?(?:from (?:the |my )?(?:old )?"
        r"(?:bottles|prescriptions|refills)|to (?:finish|end|do) (?:this|it)|(?:for|to) (?:when|not wake))\b",
        r"\b(?:razor blades?|razors|blades|rope|noose|gun|pistol) (?:is|are) (?:all )?"
        r"(?:hidden|stashed|ready|waiting)\b",
        r"\b(?:razor blades?|razors|blades|rope|noose|gun|pistol|pills) (?:\w+ |\| ){0,10}(?:thinking|thought|think) "
        r"(?:about|of) using (?:them|it)\b",
        r"\b(?:tengo|tiene) (?:ya )?(?:escondid\w*|guardad\w*|list[oa]) (?:la|el|una|un|mi|su) "
        r"(?:soga|cuerda|pistola|arma)\b",
        r"\b(?:junte|guarde|ahorre|juntando|guardando|ahorrando) (?:ya )?(?:suficientes|bastantes|muchas|tantas) "
        r"(?:pastillas|pastiyas|pildoras|medicinas)\b",
        r"\bdespues del? (?:lunes|martes|miercoles|jueves|viernes|sabado|domingo|fin de semana|hoy|esta noche) ya no "
        r"(?:las |los |la |lo )?(?:voy a necesitar|necesito|necesitare|voy a estar)\b",
        r"\b(?:rasque|rasco|rascando|rascandome|arane|arano|aranando|pellizque) (?:\w+ ){0,3}hasta (?:sangrar|que "
        r"(?:sangr\w*|salio sangre))\b",
        r"\b(?:saque|sacando|voy a sacar) (?:la |las |mi |mis )?(?:navaja|navajas|cuchilla|cuchillas|rastrillo)\b",
        # Past attempt now (long past is history): "took pills to die", "tomé pastillas para morirme"
        r"\b(?:took|swallowed|taken) (?:a bunch of |all )?(?:my |the |some )?(?:pills|meds|tablets) (?:to|so i could|"
        r"hoping to) (?:die|kill myself|end it|not wake up)\b",
        r"\b(?:tome|tomo|se tomo|me tome|trague|se trago) (?:unas |las |muchas |mis |sus )?(?:pastillas|pastiyas|"
        r"pildoras|medicinas) (?:para|pa) (?:morirme|morir|matarme|no despertar|quitarme la vida)\b",
        # A veiled ending in a scheduling request: "cancel them, there won't be any need after Thursday"
        r"\b(?:wont|will not) (?:be )?(?:any )?(?:need|needing|use) (?:for |of )?"
        r"(?:them|any|anything|these|those|it|more|appointments|visits|follow ups|refills) (?:\w+ ){0,2}after "
        r"(?:this (?:week|weekend)|tonight|today|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
        r"(?!(?: \S+){0,6} (?:since|because|bc|moving|switching|transferr\w*|new (?:doctor|clinic|insurance)))",
        r"\b(?:wont|will not) be (?:around|here|alive) after (?:monday|tuesday|wednesday|thursday|friday|saturday|"
        r"sunday|the weekend)\b(?!(?: \S+){0,8} (?:vacation|trip|travel\w*|moving|work\w*|can we|could we|move|"
        r"reschedul\w*))",
    ],
    "overdose or poisoning": [
        # ... not "I overdosed on paperwork this week haha"
        r"\b(?:overdos\w*|sobredosis)\b(?! (?:on|de) (?:paperwork|work|forms|emails?|meetings?|homework|studying|"
        r"netflix|tv|tiktok|drama|love|sugar|candy|chocolate|cookies|pizza|carbs|cheese|coffee|sun|sunshine|"
        r"christmas|holiday\w*|shopping|papeles|trabajo|chocolate|azucar|cafe|dulces)\b)",
        r"\btook (?:like |about |around |maybe |over )?(?:[2-9][0-9]|[1-9][0-9][0-9]) "
        r"(?:of )?(?:my |his |her |the )?\w+",
        rf"\b(?:took|taken|swallowed|popped|downed|ingested) {_gap(3)}(?:too many|too much|"
        rf"a whole bottle|the whole bottle|whole bottle|entire bottle|a bunch of|a handful of|"
        rf"handful of|all (?:of )?{_POSS} {_MEDS})\b",
        rf"\b(?:swallowed|drank|drunk|ingested|got into|ate|eaten|chewed) {_gap(3)}(?:bleach|"
        rf"poison|detergent|cleaner|antifreeze|laundry pods?|tide pods?|detergent pods?|batteries|"
        rf"battery|button battery|rat poison|pesticide|lighter fluid|gasoline|drain cleaner|magnets)\b",
        rf"\b(?:swallowed|got into|ingested|chewed) {_gap(5)}{_MEDS}\b",
        rf"\b(?:swallowed|swallow|ate|eaten|inhaled|choking on|choked on) {_gap(2)}(?:magnets?|"
        rf"batter(?:y|ies)|coins?|button|pins?|needles?|nails?|screws?|glass|razor|beads?|marbles?|"
        rf"laundry pods?|tide pods?|pods?)\b",
        rf"\b(?:drank|drunk|swallowed|ate|got into) {_gap(3)}(?:soap|dish ?washer|detergent|"
        rf"mouthwash|hand sanitizer|cleaning|windex|lysol|lye|cologne|perfume)\b",
        rf"\b(?:se )?(?:trago|tragó|comio|tomo|bebio) {_gap(2)}(?:moneda|pila|bateria|iman|canica|jabon|"
        rf"detergente|cloro|limpiador)\b",
        rf"\b(?:took|taken|swallowed|ate|had|popped|tome|tomo|se tomo|me tome|trague|se trago) "
        rf"(?:like |about |around |maybe |over |at least |como |unas |unos )?(?:[5-9]|[1-9][0-9]+) "
        rf"(?:of )?{_gap(3)}(?:{_MEDS}|tylenol|advil|aspirin|ibuprofen|pastillas|pildoras|tabletas)\b",
        r"\btod[oa] (?:la |el )?(?:botella|frasco|caja)\b",
        rf"\b(?:took|taken|swallowed) {_gap(2)}(?:whole|entire) (?:prescription|bottle|pack|box|supply)\b",
        rf"\b(?:ate|eaten|took|taken|swallowed) (?:some|a few|several|a couple|a bunch|a handful) "
        rf"of {_gap(2)}{_MEDS}\b",
        r"\b(?<!food )poison(?:ed|ing)?\b(?! ivy| oak)",
        rf"\b(?:tome|tomo|tomado|trago|trague|tragado|me tome|se tomo|se trago|se comio|ingirio) "
        rf"{_gap(3)}(?:demasiad\w*|muchas pastillas|muchisimas|un frasco|el frasco|todo el frasco|un monton|"
        rf"todas (?:las|sus|mis) (?:pastillas|pastiyas|pildoras|tabletas|medicinas))\b",
        rf"\bse (?:tomo|trago|comio) (?:unas|varias|un monton de) {_gap(1)}(?:past\w+|pildoras|"
        rf"tabletas|medicinas)\b",
        rf"\b(?:tomo|bebio|se tomo|trago|se trago|tome) {_gap(2)}(?:cloro|veneno|detergente|lejia|"
        rf"insecticida)\b",
        r"\b(?:envenen\w*|intoxicad[oa]|intoxicacion)\b(?! alimentaria)",
        r"\b(?:me |se )?(?:trague|tome|trago|tomo) (?:una |la |un |el )?(?:caja|botella|frasco|paquete) enter[ao]\b",
        # Issue 14, round two (after v9): what children get into most (Poison Control's common exposures)
        rf"\b(?:bit|bites|biting|bitten|chewed|chewing|sucked|sucking|licked|licking) (?:into |on )?{_gap(2)}"
        rf"(?:laundry|detergent|dishwasher|tide|soap) ?pods?\b",
        rf"\b(?:swallowed|drank|drunk|ingested|got into|ate|eaten|chewed|chewing|sipped|swigged) {_gap(3)}"
        rf"(?:windshield washer|washer fluid|nail polish remover|lamp oil|e ?liquid|"
        rf"vape juice|essential oils?|mothballs?|rubbing alcohol|oven cleaner|ammonia|paint thinner|weed killer|"
        rf"bug spray|pill organizer|pill ?box|medicine cabinet|superglue|fabric softener|"
        rf"button batteries|magnet balls?)\b",
        rf"\b(?:mordio|mordi|chupo|se trago|trago|se comio|comio|tomo|bebio|se tomo) {_gap(3)}(?:capsulas? de "
        rf"(?:detergente|jabon)|pilas? de boton|pilas|imanes|lejia|detergente|cloro)\b",
        r"\b(?:se comio|se trago|se ha comido|se ha tragado) (?:las|unas|sus|mis|varias) (?:pastillas|pildoras|"
        r"medicinas|tabletas)\b",
    ],
    "seizure": [
        r"\b(?:seiz\w*|convuls\w*|conbuls\w*|combuls\w*)\b(?! (?:disorder|meds|medications?|medicines?|"
        r"free|precautions|medicamentos?|medicinas?|threshold|risk|history|action plan|warning)\b)",
        r"\b(?:having|had|has|is having|epileptic) (?:a |an )?(?:epileptic )?fits?\b",
        rf"\b(?:shaking|jerking|twitching) {_gap(2)}(?:uncontrollab\w*|all over|and unresponsive)\b",
        r"\bataque epileptico\b",
        rf"\beyes {_gap(2)}rolled (?:back|up)\b",
        r"\bojos en blanco\b",
        r"\b(?:le|me) (?:dio|dan|da|esta dando) un ataque\b",
    ],
    "high fever": [
        rf"\b(?:fever|temp|temperature|fiebre|temperatura|calentura) {_gap(3)}(?:10[4-9]|11[0-9]|4[0-3])\b",
    ],
    # A rash that does not fade when pressed (meningococcal sepsis) is an emergency with or without fever.
    "rash that does not fade": [
        r"\brash (?:\w+ ){0,4}(?:doesnt|does not|didnt|did not|wont|isnt|dont|do not) (?:fade|blanch|go white|turn "
        r"white|disappear|go away) (?:\w+ ){0,3}(?:press\w*|push\w*|glass|squeez\w*)\b",
        r"\b(?:spots|dots|rash|blotches) (?:\w+ ){0,5}(?:dont|do not|doesnt|does not|wont) (?:fade|blanch|go white|"
        r"disappear|go away) (?:\w+ ){0,3}(?:glass|press\w*|push\w*)\b",
        r"\bglass test\b",
        r"\b(?:manch\w*|puntitos|puntos|ronchas) (?:\w+ ){0,3}que no (?:se )?(?:quitan|borran|desaparecen|blanquean|"
        r"se van) al (?:apretar\w*|presionar\w*|aplastar\w*)\b",
    ],
    "unable to urinate": [
        r"\b(?:cant|cannot|can not|couldnt|unable to|havent been able to) (?:pee|urinate|piss)\b(?: \S+){0,2} "
        r"(?:at all|since|for (?:\d+|hours|a day|the whole)|all day|in (?:\d+|hours))\b",
        r"\b(?:havent|have not|hasnt|has not) (?:peed|urinated) (?:at all )?(?:in|for|since) (?:\d+|hours|over|a day|"
        r"the whole|all|yesterday|last night|this morning)\b",
        r"\bno (?:puedo|puede|he podido|ha podido) orinar\b(?: \S+){0,2} (?:nada|desde|en todo|en \d+)\b",
        r"\bno (?:he|ha) orinado (?:nada )?(?:en|desde) (?:todo|\d+|ayer|anoche|la manana)\b",
    ],
    "severe head injury": [
        r"\b(?:severe|serious|bad|major) head (?:injury|trauma|wound)\b",
        r"\bhead (?:injury|trauma)\b",
        r"\b(?:golpe|traumatismo) (?:muy )?(?:fuerte|grave) (?:en|de) la cabeza\b",
    ],
    "worst headache": [
        r"\bworst headache\b",
        rf"\b(?:sudden|suddenly|thunderclap|explosive) {_gap(2)}headache\b",
        r"\bthunderclap\b",
        r"\bpeor dolor de cabe\w*",
        rf"\bdolor de cabeza {_gap(3)}(?:de repente|de golpe|repentino|subito)\b",
        rf"\b(?:de repente|repentino|subito) {_gap(2)}dolor de cabeza\b",
    ],
    "emergency": [
        # a sugar too low, a meter past its range
        r"\b(?:blood sugar|sugar|glucose|bg|glucosa|azucar) (?:is |was |at |of |dropped to |down to |me bajo a |bajo a "
        r"|le bajo a |esta en |en )?(?:[2-4][0-9]|5[0-4])\b(?! (?:years?|anos|minutes?|mins?|minutos|units|unidades|"
        r"dollars|after|despues|ago|percent|por ciento))",
        r"\b(?:glucometro|meter|monitor|dexcom|libre|glucose meter) (?:just |only )?(?:says|reads|shows|dice|marca) "
        r"(?:hi|high|lo|low)\b",
        # sudden severe pain: testicle, a rigid belly, the worst pain of one's life
        r"\b(?:sudden|severe|terrible|horrible|really bad|excruciating) (?:\w+ ){0,2}pain (?:in|on) (?:my|his|the|one|"
        r"left|right) (?:left |right )?(?:testicles?|testes|balls?|scrotum)\b",
        r"\bdolor (?:muy )?(?:fuerte|repentino|horrible|terrible) (?:\w+ ){0,2}(?:testiculos?|huevos)\b",
        r"\bworst (?:\w+ )?pain (?:of|in) (?:my|his|her) (?:life|entire life)\b",
        r"\b(?:stomach|belly|abdomen) (?:is |feels |went )?(?:hard as a (?:board|rock)|rigid)\b",
        r"\bpeor dolor (?:de|en) (?:mi|su) vida\b",
        # a dangerous blood sugar reading
        r"\b(?:blood sugar|sugar|glucose|bg|glucosa|azucar) (?:is |was |reading |read |level |levels |at |of |says "
        r"|esta en |salio |de |en )?(?:over |above |like |about |a |en )?(?:[4-9][0-9][0-9]|hi|high reading)\b"
        r"(?! (?:last|a year|years|months|ago|mg dl ago))",
        r"\bi think (?:im|i am) dying\b",
        r"\b(?:need|needs|call|calling|called|get|send) (?:an |the )?ambulance\b",
        r"\b(?:call|calling|should i call) 911\b",
        r"\bllam\w* (?:a (?:la|una) |al )?(?:ambulancia|911)\b",
        # ... not "me estoy muriendo de la risa / de hambre"
        r"\bme (?:estoy muriendo|voy a morir)\b(?! de (?:la )?(?:risa|hambre|sueno|frio|calor|aburrimiento|ganas|"
        r"verguenza|cansancio|nervios|miedo))",
    ],
    "pregnancy warning sign": [
        rf"\bbaby {_gap(2)}(?:not moving|moving less|hasnt moved|isnt moving|stopped moving|barely moved|hardly moved|"
        rf"barely moving|hardly moving|barely kick\w*|hardly kick\w*|"
        rf"not kicking|less movement|not as active)\b",
        r"\b(?:bebe|nino|nina) (?:no se mueve|se mueve menos|dejo de moverse)\b",
        r"\bwater (?:just )?broke\b",
        rf"\b(?:havent|have not|not|didnt|did not|cant|cannot) (?:felt|feel|feeling) {_gap(1)}baby "
        rf"(?:move|moving|kick|kicking)\b",
        rf"\bno (?:siento|he sentido|senti|sentimos) {_gap(1)}(?:al |que el |el )?bebe "
        rf"(?:moverse|se mueve|patear|mover)\b",
        r"\b(?:se me rompio la fuente|rompi (?:la )?fuente|rompi aguas)\b",
    ],
}

_INFANT = (
    r"\b(?:baby|babys|babies|bby|infant|infants|newborn|newborns|new born|neonate|bebe|bebes|"
    r"bebito|bebita|recien nacid[oa]s?|"
    r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten) (?:day|days|week|weeks|wk|wks) old|"
    r"(?:[1-9]|1[0-2]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) "
    r"(?:month|months|monht|monhts|mnth|mo|mos|mth|mths) old|"
    r"(?:nino|nina|hijo|hija|nieto|nieta|nene|nena) de (?:\d+ (?:dias|semanas)|[1-9] mes(?:es)?|"
    r"1[01] meses)|"
    r"\d+ (?:dias|semanas|meses) de nacid[oa]|"
    r"tiene (?:\d+ (?:dias|semanas)|[1-9] mes(?:es)?|1[01] meses))\b"
)
_FEVER = (
    r"\b(?:fever|fevers|feverish|febrile|temp|temps|temperature|burning up|"
    r"(?:feels|felt|is|seems|very|really|so) (?:very |really |so )?hot|hot to the touch|fiebre|calentura|"
    r"temperatura|afiebrad[oa]|ardiendo)\b"
)
_INFANT_LETHARGY = (
    r"\b(?:lethargic|very sleepy|really sleepy|so sleepy|floppy|limp|hard to wake|wont wake|"
    r"(?:wont|will not|isnt|not|refuses to|stopped) (?:feed|feeding|eat|eating|nurse|nursing|drink)|"
    r"muy dormid[oa]|no (?:quiere|puede) (?:comer|mamar|tomar)|no despierta)\b"
)
_STIFF_NECK = (
    r"\b(?:stiff neck|neck (?:is |feels )?(?:so |really |very |all )?stiff|cant (?:bend|move) (?:my|his|her) neck|"
    r"cuello (?:rigido|tieso|duro))\b"
)
_HEAD_HIT = (
    rf"\b(?:hit|hitting|banged|bumped|struck|smacked|whacked|fell on|falling on|landed on|"
    rf"knocked) {_gap(2)}head\b|\bconcussion\b|\b(?:golpe\w*|pego|pegue|pegado|cayo|cai) "
    rf"{_gap(3)}cabeza\b"
)
_HEAD_DANGER = (
    r"\b(?:vomit\w*|throw\w* up|threw up|puk\w*|confus\w*|drowsy|sleepy|lethargic|wont wake|"
    r"unconscious|passed out|blurry|blurred|double vision|seizure\w*|bleeding|dizzy|"
    r"not making sense|confundid\w*|maread[oa]|somnolient\w*|vision borrosa)\b"
)
_DOUBLE_DOSE = (
    r"\b(?:took|taken|gave|given|had) (?:\w+ ){0,3}?(?:double|twice|triple|two|three|2|3|an extra|"
    r"extra) (?:\w+ ){0,2}?(?:doses?|pills?|tablets?|shots?|injections?|insulin)\b"
    r"|\b(?:took|taken|gave|given) (?:my|his|her|the) (?:\w+ ){0,2}?(?:twice|two times)\b"
    r"|\bdoble dosis\b|\b(?:tome|tomo|le di|se tomo|le dimos) (?:\w+ ){0,3}?dos veces\b"
)
_OVERDOSE_SIGNS = (
    r"\b(?:dizzy|lightheaded|light headed|faint|heart (?:is )?(?:racing|pounding)|pounding|"
    r"confused|shaking|shaky|sweating|drowsy|cant stay awake|vomiting|throwing up|passed out|"
    r"maread[oa]|confundid[oa]|temblando|vomitando|slurred|slurring|wont wake|really drowsy|very sleepy|"
    r"cant keep (?:my|his|her) eyes open|muy dormid[oa]|no despierta)\b"
)
# A double dose given to a child is a Poison Control call even before any sign.
_CHILD = (
    r"\b(?:baby|babys|toddler|infant|child|childs|kid|kids|son|daughter|sons|daughters|grandson|granddaughter|"
    r"bebe|nino|nina|hijo|hija|nieto|nieta|nene|nena|\d+ (?:year|yr|month) old)\b"
)
# Narrower than _DOUBLE_DOSE: "he had two shots at his checkup" is not a double dose.
_CHILD_DOUBLE_DOSE = (
    r"\b(?:double (?:a )?dose|double the dose|doubled (?:up )?(?:the|his|her) (?:dose|medicine)|an extra dose|"
    r"two doses (?:by|in) (?:mistake|accident|a row)|(?:dosed|gave) (?:him|her|them) (?:\w+ ){0,3}?twice|"
    r"(?:took|taken|given|gave) (?:\w+ ){0,3}?(?:twice|two times)|doble dosis|"
    r"(?:le di|le dimos|le dio|tomo|se tomo) (?:\w+ ){0,3}?dos veces)\b"
)
_CHILD_ATE_MEDS = (
    r"\b(?:ate|eaten|swallowed|chewed|found and ate|got into|se comio|se trago|comio|mastico) (?:some|a few|several|"
    r"\d+|one|two|three|half|a couple|a handful|all|unas|varias|algunas|\d+ de) (?:of )?(?:my|the|our|his|her|grandmas|"
    r"grandpas|moms|dads|mis|las|sus) (?:(?:\w+ ){0,2}(?:pills?|tablets?|capsules|gummies|meds|medicine|vitamins|"
    r"pastillas|pildoras|tabletas|medicinas|gomitas)|\w+ (?:\| )?(?:maybe |like |about |como )?(?:\d+|a few|some) "
    r"(?:or \d+ |o \d+ )?(?:pills?|tablets?|capsules|gummies|pastillas|tabletas))\b"
)
_PREGNANT = (
    r"\b(?:pregnant|pregnancy|weeks along|embarazada|embarazo|(?:im|i am|shes|she is|estoy|tengo|tiene|at|about) "
    r"(?:[4-9]|[1-3][0-9]|40|41|42) (?:weeks|wks|semanas)|\d+ semanas de embarazo|"
    r"(?<!for )(?<!hace )(?<!last )(?:2[0-9]|3[0-9]|4[0-2]) (?:weeks|wks|semanas)\b(?! (?:ago|old|de nacid\w*))|"
    # soon after birth: postpartum preeclampsia and bleeding
    r"postpartum|post partum|gave birth|had (?:the|my|our) baby|c ?section|cesarea|di a luz|despues del parto|"
    r"(?:desde|hace) (?:\w+ ){0,2}que nacio (?:mi|el|la) (?:bebe|nino|nina))\b"
)
_PREGNANCY_DANGER = (
    r"\b(?:bleeding|blood\b(?! (?:pressure|work|tests?|sugar|type|draw))|severe cramps|"
    r"blurry vision|blurred vision|seeing spots|severe headache|bad headache|water broke|"
    r"leaking fluid|sangrando|sangrado|sangre|vision borrosa|veo borroso|dolor de cabeza (?:muy )?fuerte|"
    # preeclampsia: a bad headache, the eyes, sudden swelling of the face or hands
    r"(?:terrible|awful|pounding|horrible|worst|splitting|really bad) headache|headache (?:\w+ ){0,2}(?:wont|will not|"
    r"doesnt|does not|isnt) (?:go away|going away|getting better|stop)|"
    r"seeing (?:spots|stars|flashes|flashing lights|lights|sparkles|floaters)|flashing lights|"
    r"spots in (?:my|her) vision|"
    r"(?:me|le) duele (?:mucho|muchisimo|bien fuerte|fuerte|horrible) la cabeza|"
    r"veo (?:lucecitas|luces|lucesitas|puntitos|puntos|estrellitas|manchas|borroso)|"
    r"(?:face|hands|fingers) (?:\w+ ){0,2}(?:swollen|swelling|puffy|puffed up)|"
    r"(?:cara|manos) (?:muy |bien )?h?inchad\w*|"
    # the waters breaking or leaking
    r"waters? (?:have |has |just |may have )?(?:broke|broken|breaking|leaking|went)|gush of (?:fluid|water)|"
    r"leaking (?:water|clear fluid)|se me (?:rompio|reviento) (?:la )?(?:fuente|bolsa)|(?:rompi|reviento) (?:la )?"
    r"(?:fuente|bolsa)|(?:perdiendo|salio|sale|me sale|saliendo) (?:mucho )?(?:agua|liquido)|"
    # fewer movements
    r"(?:fewer|less|no|reduced|decreased|barely any|hardly any) (?:kicks|movements?|moving|fetal movements?)|"
    r"(?:hasnt|has not|havent|have not|didnt|did not|not) (?:moved|kicked|been moving|been kicking|felt (?:\w+ ){0,2}"
    r"(?:move|moving|kick\w*))|se (?:mueve|movio) (?:menos|muy poco|poco)|casi no se mueve|no se ha movido|"
    r"no (?:ha pateado|patea|lo he sentido|la he sentido)|"
    # ectopic or abruption: severe or one-sided pain in the belly
    r"(?:severe|sharp|terrible|really bad|stabbing) (?:\w+ ){0,2}(?:belly|stomach|abdominal|pelvic|lower belly) "
    r"(?:pain|pane|pian)|(?:severe|sharp|terrible|really bad|stabbing) (?:pain|pane|pian) (?:\w+ ){0,2}"
    r"(?:right|left|one) side|(?:severe|sharp|terrible|really bad|stabbing) (?:\w+ )?(?:pain|pane|pian) (?:\w+ ){0,3}"
    r"(?:belly|stomach|abdomen|pelvis|tummy)|"
    r"dolor (?:muy )?(?:fuerte|intenso|horrible) (?:\w+ ){0,2}(?:panza|barriga|vientre|estomago|abdomen))\b"
)
_CHEMO = (
    r"\b(?:chemo\w*|chemotherapy|quimio\w*|neutropeni\w*|(?:low|very low) white (?:blood )?(?:count|cells)|"
    r"(?:on|getting|having|doing|started|receiving) (?:immunotherapy|radiation and chemo)|"
    r"defensas (?:muy )?bajas)\b"
)
_NECK_FEVER = (
    r"\b(?:cant|cannot|wont|unable to|hurts to) (?:touch|bring|put|get) (?:his|her|my|their) chin (?:to|down to|on) "
    r"(?:his|her|my|their) chest\b|\bneck (?:\w+ ){0,2}(?:hurts|pain\w*) (?:\w+ ){0,2}(?:bend|look down|move it)\b|"
    r"\b(?:light|lights) (?:hurts?|bothers?) (?:his|her|my|their) eyes\b|"
    r"\bno (?:puede|puedo|quiere) (?:doblar|mover|agachar|bajar) (?:el|la) (?:cuello|cabeza)\b|"
    r"\b(?:le|me) molesta (?:mucho )?la luz\b"
)
_CONFUSED = (
    r"\b(?:confused|confusion|confundid[oa]|not making sense|hard to wake|no reacciona bien|delirious|delirando)\b"
)

# Said right after a match, these give it an ordinary cause: "me duele el pecho de tanto toser" is a
# cough's muscle pain, for the nurses, not a red flag (issue 14, round four).
_CONCEPT_SUFFIX = {
    "chest pain": r"(?!(?: \w+){0,2} (?:de (?:tanto|tanta) tos\w*|"
    r"from (?:all (?:the|this|that) |so much |the )?cough\w*|por (?:la|tanta|tanto) tos\w*))",
}
CONCEPTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (concept, re.compile("|".join(f"(?:{p}){_CONCEPT_SUFFIX.get(concept, '')}" for p in alternatives)))
    for concept, alternatives in _CONCEPT_PATTERNS.items()
)
# Concepts that need two things said close together (within N tokens).
TOGETHER: tuple[tuple[str, re.Pattern[str], re.Pattern[str], int], ...] = (
    ("fever in an infant", re.compile(_INFANT), re.compile(_FEVER), 30),
    ("lethargy in an infant", re.compile(_INFANT), re.compile(_INFANT_LETHARGY), 20),
    ("fever with stiff neck", re.compile(_STIFF_NECK), re.compile(_FEVER), 30),
    ("head injury with warning signs", re.compile(_HEAD_HIT), re.compile(_HEAD_DANGER), 25),
    ("pregnancy warning sign", re.compile(_PREGNANT), re.compile(_PREGNANCY_DANGER), 30),
    # Issue 14, round four: fever during chemotherapy (neutropenic fever), fever with a stiff neck told
    # another way, with light hurting the eyes, or with confusion
    ("fever during chemotherapy", re.compile(_CHEMO), re.compile(_FEVER), 25),
    ("fever with stiff neck", re.compile(_NECK_FEVER), re.compile(_FEVER), 25),
    ("fever with confusion", re.compile(_CONFUSED), re.compile(_FEVER), 15),
    ("overdose or poisoning", re.compile(_DOUBLE_DOSE), re.compile(_OVERDOSE_SIGNS), 20),
    ("overdose or poisoning", re.compile(_CHILD), re.compile(_CHILD_DOUBLE_DOSE), 12),
    # a child who ate someone's tablets ("my 6 year old ate some of my levothyroxine, maybe 4 or 5 tablets")
    ("overdose or poisoning", re.compile(_CHILD), re.compile(_CHILD_ATE_MEDS), 10),
)

# A cue that negates what follows within four words ("denies fever or chest pain") ...
_STRONG_CUES = _words(
    "without", "denies", "denied", "deny", "denying", "negative for", "free of", "history of", "hx of", "no signs? of",
    "ruled out", "dont have", "do not have", "doesnt have", "does not have", "didnt have", "did not have", "havent had",
    "have not had", "hasnt had", "has not had", "never had", "never have", "no longer have", "no longer has",
    "not having", "not experiencing", "havent been having", "no tengo", "no tiene", "no tuvo", "no he tenido",
    "no ha tenido", "no presenta", "no hay", "no siento", "sin", "niega", "ya no tengo", "ya no tiene", "ya no siento",
    "antecedentes? de", "historial de",
    # issue 14: denials and past history around risk ("not going to hurt myself", "died of a heart attack")
    "not going to", "not gonna", "isnt thinking about", "isnt thinking of", "no thoughts? of", "no pensamientos? de",
    "died of", "passed away from", "murio de", "fallecio de", "no es que (?:quiera|quiero|quiere)",
    # round four: someone else's death in Spanish, a side-effect question ("can Lexapro cause suicidal thoughts")
    "murio por", "fallecio por", "no es q (?:quiera|quiero|quiere)", "cause", "can cause", "causes", "risk of",
    "side effects? (?:like|of|such as)", "puede causar", "pueden causar", "causa",
    "hasnt said anything about", "has not said anything about", "didnt say anything about",
    "never said anything about", "hasnt mentioned", "has not mentioned", "no pienso en", "no estoy pensando en",
    # issue 14 (dev7): "he's not thinking about suicide", "no plans to hurt myself"
    "not thinking about", "not thinking of", "not talking about", "isnt talking about", "no plans? to",
    "no intention of", "no intentions? to", "no intent to",
    # issue 14, round three: "no pienso hacerme daño" (I don't intend to), "nada de pensamientos de ..."
    "no pienso", "nada de", "ningun pensamiento de", "ningunos pensamientos de",
    "no urge to",
    # issue 14, round two: someone else's death ("my friend died by suicide"), not "almost died by"
    "(?<!almost )(?<!nearly )died by", "(?<!almost )(?<!nearly )death by", "lost (?:my|his|her|our) \\w+ to",
)
# ... one that negates only the very next words ("no chest pain", "not suicidal") ...
_WEAK_CUES = _words("no", "not", "nor", "ni", "never", "nunca", "no soy", "no estoy")
_FILLER = _words(
    "any", "more", "real", "significant", "major", "other", "further", "new", "obvious", "mas", "ningun", "ninguna",
    "signs of", "sign of",
)
NEGATED_BEFORE = re.compile(
    rf"\b{_STRONG_CUES}(?: \w+){{0,4}}$"
    rf"|\b{_WEAK_CUES}(?: {_FILLER})?$"
    rf"|\b(?:{_STRONG_CUES}|{_WEAK_CUES})(?: \w+){{0,5}} (?:or|nor|ni|o)$"
)
# ... and words that start a new scope: contrast, a new subject ("no fever and I can't breathe").
SCOPE_BREAKERS = frozenset((
    "but", "pero", "however", "although", "though", "except", "aunque", "sino", "now", "ahora", "still", "todavia",
    "aun", "yet", "then", "luego", "because", "porque", "i", "im", "ive", "id", "ill", "he", "hes", "she", "shes",
    "they", "theyre", "we", "it", "its", "my", "his", "her", "their", "our", "mi", "su", "yo", "ella",
))
_NO_NEGATION = r"(?!(?:wont|not|never|didnt|hasnt|isnt|doesnt|havent|no|nunca|and|y|but|pero|if|si|when|cuando)\b)"
RESOLVED_AFTER = re.compile(
    rf"^(?:{_NO_NEGATION}\w+ ){{0,4}}?(?:(?:is|has|have|was|had|finally|completely|totally|all) )*"
    rf"(?:gone|went away|resolved|subsided|disappeared|cleared up|"
    # a dated event is history, not today's emergency ("had a stroke 2 years ago")
    rf"(?:\d+|a|an|one|two|three|few|several|couple of) (?:years?|months?) ago|"
    rf"(?:many |some )?years ago|in (?:19|20)[0-9][0-9]|last year|as a (?:kid|child|toddler|baby|teen\w*|little \w+)|"
    rf"when (?:i|he|she) (?:was|got) (?:first )?diagnosed|at diagnosis|cuando (?:me|le) diagnosticaron|"
    rf"(?:once |back )?in (?:high school|college|middle school|grade school|my teens|my twenties|university)|"
    rf"(?:nothing|none|not) since|(?:but )?(?:havent|hasnt|have not|has not) (?:since|in (?:over |about )?\w+ years)|"
    rf"when i was (?:little|small|a baby|a toddler|a kid|a child)|de (?:nin[oa]|pequen[oa]|chiquit[oa]|bebe|joven)|"
    rf"(?:hace|ase) (?:(?:\d+|un|unos|varios|muchos) )?(?:anos|meses)|from (?:high school|college|my teens|years ago)|"
    rf"el ano pasado|"
    rf"(?:ya )?se (?:me |le )?(?:quito|paso|fue)|ya (?:me |le )?(?:quito|paso)|desaparecio)\b"
)
# A clause that opens in the long past ("years ago I was hospitalized after a suicide attempt", "hace 15
# años intenté suicidarme") is history, unless the same clause brings it back to now.
LONG_PAST_BEFORE = re.compile(
    r"\b(?:(?:\d+|many|some|a few|few|several|two|three|four|five|ten|fifteen|twenty|a couple of) (?:years?|decades?) "
    r"ago|years ago|decades ago|when i was (?:\d+|a teen\w*|a kid|young|little|small|a baby|a toddler|a child|in "
    r"(?:high school|college))|as a teen\w*|"
    r"back in (?:19|20)\d\d|in (?:19|20)\d\d|(?:hace|ase) (?:(?:\d+|muchos|unos|varios|mas de \d+) )?anos|"
    r"cuando (?:tenia|era) "
    r"(?:\d+|joven|adolescente|nin[oa])|as a (?:toddler|baby|kid|child)|de (?:joven|adolescente|nin[oa]|pequen[oa]))\b"
)
# "I used to self harm in college" is history, unless the clause says it is back ("... and I started again").
USED_TO_BEFORE = re.compile(r"\b(?:used to|solia|antes me)(?: \w+){0,2}$")
RELAPSE = frozenset((
    "again", "started", "starting", "back", "relapsed", "lately", "recently", "tonight", "today", "otra", "nuevo",
    "volvi", "volvio", "ultimamente",
))
AGAIN = frozenset(("again", "otra", "nuevo", "another"))
STILL_NOW = frozenset((
    "again", "now", "today", "tonight", "still", "anymore", "ahora", "hoy", "todavia", "otra", "nuevo",
))
# fmt: on

# Key words that a single typo should not hide; and real words one typo away from them.
# Tokens shorter than this are never read as a typo.
FUZZY_MIN_LENGTH = 4
# fmt: off
FUZZY_KEYWORDS = frozenset((
    "breathe", "breathing", "breath", "seizure", "seizures", "seizing", "suicidal", "suicide", "bleeding",
    "unconscious", "unresponsive", "overdose", "overdosed", "swelling", "swollen", "convulsion", "convulsions",
    "convulsiones", "convulsionando", "anaphylaxis", "anaphylactic", "respirar", "fainted", "fainting", "vomiting",
    "drooping", "slurred", "slurring", "numbness", "weakness", "choking", "gasping", "collapsed", "temperature",
    "newborn", "infant", "tongue", "throat", "stroke", "hinchando", "hinchada", "hinchado", "garganta", "desmaye",
    "desmayo", "desmayado", "inconsciente", "sangrando", "sangrado", "sangre", "sangrar", "pregnant", "embarazada",
    "shortness", "epipen", "fiebre", "calentura", "cabeza", "nacido", "pastillas", "myself", "killing", "passed",
    "headache", "quiero", "chest", "blood", "fever", "dolor", "pecho", "mucho", "short", "puedo", "puede", "pueda",
    "morir", "whole", "sangra", "quiere", "pressure", "coughing", "swelled", "blacked", "severe", "passing", "closing",
    "matar", "hincho", "cuesta", "sangrarme", "inhaler", "double", "battery", "having", "ending", "attack",
    "ahogo", "taken", "wrist", "wrists", "despedida", "again",
))
NOT_TYPOS = frozenset((
    "breast", "breasts", "wreath", "painting", "painted", "sizing", "seized", "breeding", "bleeping", "blending",
    "blessing", "smelling", "spelling", "dwelling", "swilling", "shelling", "selling", "strike", "strode", "stoke",
    "strove", "stroked", "cooking", "grasping", "rasping", "gaping", "dropping", "drooling", "slurping", "slurped",
    "threat", "throats", "sagrado", "infants", "infancy", "tongues", "strokes", "color", "colar", "dolar", "never",
    "fewer", "lever", "sever", "ever", "billing", "filling", "willing", "milling", "much", "shot", "sort", "shirt",
    "sport", "while", "whale", "hole", "whose", "hecho", "techo", "lecho", "echo", "chess", "cheat", "crest", "bloom",
    "flood", "brood", "bloody", "mouth", "sending", "bending", "lending", "pending", "tending", "mending", "pasted",
    "parsed", "passes", "killin", "seven", "dolares", "cheats", "queda", "quedan", "pueden", "door", "doors", "dolly",
    "cuenta", "cuentas", "batter", "saving", "caving", "paving", "halving", "attach", "token",
    "gain", "gains", "grain", "brain",
    "suicido",  # "se suicidó": a past death, kept apart from "suicide" (issue 14, round two)
))
# fmt: on


SUICIDE_SELF_HARM = "suicide_self_harm"
POISONING_OVERDOSE = "poisoning_overdose"
OTHER_EMERGENCY = "other_emergency"  # the model alone called it urgent: no concept to name
# Each concept's family: what safety replies, alerts and evaluation group by.
FAMILIES: dict[str, str] = {
    "chest pain": "cardiac",
    "left arm pain": "cardiac",
    "trouble breathing": "breathing",
    "stroke signs": "stroke",
    "worst headache": "stroke",
    "fainting or unresponsive": "unresponsive",
    "severe bleeding": "bleeding",
    "throat or tongue swelling": "anaphylaxis",
    "suicidal thoughts or self-harm": SUICIDE_SELF_HARM,
    "overdose or poisoning": POISONING_OVERDOSE,
    "seizure": "seizure",
    "high fever": "fever",
    "fever during chemotherapy": "fever",
    "fever with confusion": "fever",
    "rash that does not fade": "fever",
    "unable to urinate": "general_emergency",
    "fever in an infant": "fever",
    "lethargy in an infant": "fever",
    "fever with stiff neck": "fever",
    "severe head injury": "head_injury",
    "head injury with warning signs": "head_injury",
    "emergency": "general_emergency",
    "pregnancy warning sign": "pregnancy",
}


@dataclass(frozen=True)
class RedFlag:
    concept: str  # what a clinician would call it: "chest pain"
    phrase: str  # the words in the message, folded: "dolor de pecho"

    @property
    def family(self) -> str:
        return FAMILIES.get(self.concept, OTHER_EMERGENCY)

    def reason(self) -> str:
        if self.phrase == self.concept:
            return f'"{self.phrase}"'
        return f'"{self.phrase}" ({self.concept})'


def fold(text: str) -> str:
    """Lowercase, strip accents and apostrophes, and cut letter runs to two ("sooo" -> "soo")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _REPEATS.sub(r"\1\1", _APOSTROPHES.sub("", stripped))


def tokens(text: str) -> list[str]:
    """Folded word tokens, with "|" standing for a clause boundary."""
    folded = _DECIMAL.sub(r"\1", fold(text[:MAX_CHARS]))
    return _NON_WORD.sub(" ", _BOUNDARY.sub(" | ", folded)).split()


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i:] if la > lb else a[i:] == b[i + 1 :]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """Key words plus every literal word of four letters or more in the patterns."""
    sources = [r.pattern for _, r in CONCEPTS]
    sources += [r.pattern for _, a, b, _ in TOGETHER for r in (a, b)]
    words = set(FUZZY_KEYWORDS)
    for source in sources:
        words.update(re.findall(r"[a-z]{4,}", re.sub(r"\\[a-zA-Z]", " ", source)))
    return frozenset(words)


@lru_cache(maxsize=1)
def _fuzzy_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, set[str]] = {}
    for keyword in FUZZY_KEYWORDS:
        for key in _deletes(keyword) | {keyword}:
            index.setdefault(key, set()).add(keyword)
    return {key: tuple(sorted(words)) for key, words in index.items()}


@lru_cache(maxsize=4096)
def canonical(token: str) -> str:
    """The key medical word this token misspells, or the token itself.

    Any typo one edit from a key word is read as that word; for the other words of the patterns
    only a doubled letter is undone ("baarely"), since most real words sit one edit from some
    pattern word ("well"/"swell", "later"/"water").
    """
    vocabulary = _vocabulary()
    if len(token) < FUZZY_MIN_LENGTH or token in vocabulary or token in NOT_TYPOS or not token.isalpha():
        return token
    index = _fuzzy_index()
    for key in _deletes(token) | {token}:
        for keyword in index.get(key, ()):
            if _within_one_edit(token, keyword):
                return keyword
    for i in range(len(token) - 1):
        if token[i] == token[i + 1] and (single := token[:i] + token[i + 1 :]) in vocabulary:
            return single
    return token


class _Text:
    """Canonical tokens joined by single spaces, with each token's start offset."""

    def __init__(self, raw: list[str]) -> None:
        self.raw = raw
        self.canon = [canonical(t) for t in raw]
        self.starts: list[int] = []
        offset = 0
        for token in self.canon:
            self.starts.append(offset)
            offset += len(token) + 1
        self.string = " ".join(self.canon)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return bisect_right(self.starts, start) - 1, bisect_right(self.starts, end - 1) - 1

    def phrase(self, first: int, last: int) -> str:
        return " ".join(self.raw[first : last + 1])

    def negated(self, first: int, last: int) -> bool:
        before: list[str] = []
        for word in reversed(self.canon[max(0, first - _WINDOW) : first]):
            if word == _CLAUSE or word in SCOPE_BREAKERS:
                break
            before.append(word)
        before.reverse()
        if before and NEGATED_BEFORE.search(" ".join(before)):
            return True
        if before and USED_TO_BEFORE.search(" ".join(before)) and not RELAPSE.intersection(self._clause(first, last)):
            return True
        after: list[str] = []
        for word in self.canon[last + 1 : last + 8]:
            if word == _CLAUSE:
                break
            after.append(word)
        # ... "my last attempt was 2 months ago and it's getting bad again" is not over
        if (
            after
            and RESOLVED_AFTER.match(" ".join(after)) is not None
            and not AGAIN.intersection(self._clause(first, last))
        ):
            return True
        return self._long_past(first, last)

    def _clause(self, first: int, last: int) -> list[str]:
        start = first
        while start > 0 and self.canon[start - 1] != _CLAUSE:
            start -= 1
        end = last
        while end + 1 < len(self.canon) and self.canon[end + 1] != _CLAUSE:
            end += 1
        return self.canon[start : end + 1]

    def _long_past(self, first: int, last: int) -> bool:
        start = first
        while start > 0 and self.canon[start - 1] != _CLAUSE:
            start -= 1
        end = last
        while end + 1 < len(self.canon) and self.canon[end + 1] != _CLAUSE:
            end += 1
        if STILL_NOW.intersection(self.canon[start : end + 1]):
            return False
        return LONG_PAST_BEFORE.search(" ".join(self.canon[start:first])) is not None

    def matches(self, regex: re.Pattern[str]) -> tuple[list[tuple[int, int]], bool]:
        """Token spans of the asserted matches, and whether any match was negated."""
        live, denied = [], False
        for match in regex.finditer(self.string):
            first, last = self.span(match.start(), match.end())
            if self.negated(first, last):
                denied = True
            else:
                live.append((first, last))
        return live, denied


@dataclass(frozen=True)
class Scan:
    flags: tuple[RedFlag, ...]  # asserted: the message is urgent
    negated: tuple[str, ...]  # concepts mentioned but negated or resolved ("no chest pain")


def scan(text: str) -> Scan:
    """The red flags a message asserts, and the concepts it mentions only to deny."""
    parsed = _Text(tokens(text))
    if not parsed.canon:
        return Scan((), ())
    flags: list[RedFlag] = []
    negated: list[str] = []
    for concept, regex in CONCEPTS:
        live, denied = parsed.matches(regex)
        if live:
            flags.append(RedFlag(concept, parsed.phrase(*live[0])))
        elif denied:
            negated.append(concept)
    for concept, first_regex, second_regex, distance in TOGETHER:
        # Most messages name neither part: the second is only looked for once the first is there.
        if any(f.concept == concept for f in flags):
            continue
        firsts, _ = parsed.matches(first_regex)
        if not firsts:
            continue
        seconds, _ = parsed.matches(second_regex)
        pair = _nearby(firsts, seconds, distance)
        if pair is not None:
            (a_first, a_last), (b_first, b_last) = pair
            phrase = f"{parsed.phrase(a_first, a_last)} … {parsed.phrase(b_first, b_last)}"
            flags.append(RedFlag(concept, phrase))
    return Scan(tuple(flags), tuple(negated))


def find_red_flags(text: str) -> tuple[RedFlag, ...]:
    """Every red-flag concept the message asserts, once each, in the order of the concept list."""
    return scan(text).flags


def _nearby(
    firsts: list[tuple[int, int]], seconds: list[tuple[int, int]], distance: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    for a in firsts:
        for b in seconds:
            if abs(a[0] - b[0]) <= distance:
                return a, b
    return None
