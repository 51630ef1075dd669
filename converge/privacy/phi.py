"""Detect PHI and clinical content in outgoing text (English and Spanish).

Pure Python, no Django. `scan()` is called on every staff reply, reminder, template and
automatic reply before it may leave on a standard-tier channel (WhatsApp, SMS, email); the
practice's policy decides what to do with the result.

How it works: the text is folded (lower case, accents and compatibility forms removed) while
keeping a map back to the original offsets, then one regular expression compiled at import
walks it. The vocabulary (drugs, conditions, procedures, symptoms, lab phrases) is compiled
into a character trie so the regex engine never tries hundreds of alternatives at a position.
Structured patterns (lab values, doses, dates of birth, record, member and social security
numbers) are alternatives of the same regex, tried before the vocabulary so that "A1c 7.2%"
wins over the bare "A1c".

Never log the scanned text or a finding's text: they are PHI by definition.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PHI_KINDS", "PhiFinding", "PhiScan", "scan"]

PHI_KINDS: frozenset[str] = frozenset(
    {
        "medication",
        "diagnosis",
        "lab_result",
        "lab_value",
        "procedure",
        "date_of_birth",
        "record_number",
        "ssn",
        "insurance_id",
        "symptom",
        "mental_health",
        "sexual_health",
        "pregnancy",
        "substance_use",
        "genetic",
        "patient_name",
    }
)


@dataclass(frozen=True)
class PhiFinding:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class PhiScan:
    findings: tuple[PhiFinding, ...]

    @property
    def has_phi(self) -> bool:
        return bool(self.findings)

    def summary(self) -> str:
        """Human-readable list of what was found, for staff eyes only (it quotes the PHI)."""
        seen: set[tuple[str, str]] = set()
        parts: list[str] = []
        for finding in self.findings:
            shown = " ".join(finding.text.split())
            if finding.kind == "ssn":
                # Staff need to know an SSN is there, not to read it again on a warning banner.
                digits = re.sub(r"\D", "", shown)
                shown = "***-**-" + digits[-4:]
            key = (finding.kind, shown.casefold())
            if key in seen:
                continue
            seen.add(key)
            parts.append(f"{finding.kind.replace('_', ' ')} ({shown})")
        return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Vocabulary, comma-separated; written as a patient or a clinician would write it
# (accents allowed: everything is folded). In a term, a space matches any run of spaces or
# hyphens, a hyphen an optional one, and an apostrophe an optional one. A trailing "!" turns
# off plural generation for an entry whose plural is a common word or name ("Dolores").

_MEDICATIONS = """
lisinopril, losartan, valsartan, irbesartan, olmesartan, telmisartan, candesartan, enalapril,
ramipril, benazepril, quinapril, captopril, amlodipine, amlodipino, nifedipine, nifedipino,
diltiazem, verapamil, metoprolol, atenolol, carvedilol, propranolol, bisoprolol, nebivolol,
labetalol, hydrochlorothiazide, hidroclorotiazida, hctz, chlorthalidone, clortalidona,
furosemide, furosemida, bumetanide, torsemide, spironolactone, espironolactona, eplerenone,
hydralazine, clonidine, clonidina, doxazosin, terazosin, prazosin, isosorbide, nitroglycerin,
nitroglicerina, digoxin, digoxina, amiodarone, amiodarona, sacubitril, entresto, warfarin,
warfarina, coumadin, apixaban, eliquis, rivaroxaban, xarelto, dabigatran, pradaxa, enoxaparin,
enoxaparina, lovenox, heparin, heparina, clopidogrel, plavix, ticagrelor, brilinta, prasugrel,
atorvastatin, atorvastatina, lipitor, simvastatin, simvastatina, zocor, rosuvastatin,
rosuvastatina, crestor, pravastatin, pravastatina, lovastatin, pitavastatin, ezetimibe,
ezetimiba, zetia, fenofibrate, fenofibrato, gemfibrozil, icosapent, vascepa, statin, estatina,
metformin, metformina, glucophage, glipizide, glipizida, glyburide, glibenclamida, glimepiride,
glimepirida, amaryl, pioglitazone, pioglitazona, sitagliptin, sitagliptina, januvia, janumet,
linagliptin, linagliptina, tradjenta, empagliflozin, empagliflozina, jardiance, dapagliflozin,
dapagliflozina, farxiga, canagliflozin, invokana, semaglutide, semaglutida, ozempic, wegovy,
rybelsus, liraglutide, liraglutida, victoza, saxenda, dulaglutide, dulaglutida, trulicity,
tirzepatide, tirzepatida, mounjaro, zepbound, exenatide, byetta, insulin, insulina,
insulin glargine, insulina glargina, lantus, basaglar, toujeo, semglee, insulin lispro, humalog,
insulin aspart, novolog, insulin detemir, levemir, insulin degludec, tresiba, nph, humulin,
novolin, glucagon, levothyroxine, levotiroxina, synthroid, levoxyl, euthyrox, liothyronine,
armour thyroid, methimazole, metimazol, tapazole, propylthiouracil, sertraline, sertralina,
zoloft, fluoxetine, fluoxetina, prozac, citalopram, celexa, escitalopram, lexapro, paroxetine,
paroxetina, paxil, venlafaxine, venlafaxina, effexor, desvenlafaxine, pristiq, duloxetine,
duloxetina, cymbalta, bupropion, wellbutrin, mirtazapine, mirtazapina, remeron, trazodone,
trazodona, amitriptyline, amitriptilina, nortriptyline, buspirone, buspirona, buspar,
hydroxyzine, hidroxizina, alprazolam, xanax, lorazepam, ativan, clonazepam, klonopin, rivotril,
diazepam, valium, temazepam, zolpidem, ambien, quetiapine, quetiapina, seroquel, aripiprazole,
aripiprazol, abilify, risperidone, risperidona, risperdal, olanzapine, olanzapina, zyprexa,
lurasidone, latuda, haloperidol, lithium, litio, lamotrigine, lamotrigina, lamictal, valproate,
valproato, divalproex, depakote, carbamazepine, carbamazepina, tegretol, oxcarbazepine,
levetiracetam, keppra, topiramate, topiramato, topamax, gabapentin, gabapentina, neurontin,
pregabalin, pregabalina, lyrica, phenytoin, fenitoina, dilantin, methylphenidate, metilfenidato,
ritalin, concerta, amphetamine, anfetamina, adderall, lisdexamfetamine, vyvanse, atomoxetine,
strattera, guanfacine, donepezil, aricept, memantine, memantina, namenda, sumatriptan, imitrex,
rizatriptan, maxalt, cyclobenzaprine, ciclobenzaprina, flexeril, methocarbamol, tizanidine,
baclofen, tramadol, ultram, hydrocodone, hidrocodona, vicodin, oxycodone, oxicodona, oxycontin,
percocet, morphine, morfina, codeine, codeina, fentanyl, fentanilo, hydromorphone, dilaudid,
acetaminophen, paracetamol, tylenol, ibuprofen, ibuprofeno, advil, motrin, naproxen, naproxeno,
aleve, meloxicam, mobic, diclofenac, diclofenaco, voltaren, celecoxib, celebrex, indomethacin,
ketorolac, aspirin, aspirina, excedrin, prednisone, prednisona, prednisolone, prednisolona,
methylprednisolone, metilprednisolona, medrol, dexamethasone, dexametasona, hydrocortisone,
hidrocortisona, triamcinolone, fluticasone, fluticasona, flonase, budesonide, budesonida,
mometasone, nasonex, beclomethasone, albuterol, salbutamol, ventolin, proair, proventil,
levalbuterol, ipratropium, tiotropium, spiriva, montelukast, singulair, advair, symbicort, breo,
trelegy, qvar, flovent, inhaler, inhalador, cetirizine, cetirizina, zyrtec, levocetirizine,
xyzal, loratadine, loratadina, claritin, fexofenadine, fexofenadina, diphenhydramine,
difenhidramina, benadryl, pseudoephedrine, sudafed, guaifenesin, mucinex, omeprazole, omeprazol,
prilosec, esomeprazole, esomeprazol, nexium, pantoprazole, pantoprazol, protonix, lansoprazole,
prevacid, famotidine, famotidina, pepcid, ranitidine, zantac, ondansetron, zofran,
metoclopramide, metoclopramida, reglan, promethazine, prometazina, phenergan, docusate, colace,
polyethylene glycol, miralax, bisacodyl, dulcolax, loperamide, loperamida, imodium, dicyclomine,
bentyl, sucralfate, tamsulosin, tamsulosina, flomax, finasteride, finasterida, proscar,
propecia, dutasteride, avodart, oxybutynin, oxibutinina, tolterodine, mirabegron, myrbetriq,
sildenafil, viagra, tadalafil, cialis, vardenafil, levitra, minoxidil, rogaine, amoxicillin,
amoxicilina, amoxicillin clavulanate, augmentin, penicillin, penicilina, ampicillin, cephalexin,
cefalexina, keflex, cefdinir, omnicef, cefuroxime, ceftriaxone, ceftriaxona, azithromycin,
azitromicina, zithromax, z-pak, zpack, clarithromycin, claritromicina, doxycycline, doxiciclina,
minocycline, tetracycline, ciprofloxacin, ciprofloxacino, cipro, levofloxacin, levofloxacino,
levaquin, moxifloxacin, sulfamethoxazole, trimethoprim, bactrim, nitrofurantoin,
nitrofurantoina, macrobid, metronidazole, metronidazol, flagyl, clindamycin, clindamicina,
vancomycin, linezolid, fluconazole, fluconazol, diflucan, terbinafine, terbinafina, lamisil,
nystatin, nistatina, clotrimazole, clotrimazol, ketoconazole, ketoconazol, acyclovir, aciclovir,
zovirax, valacyclovir, valaciclovir, valtrex, famciclovir, oseltamivir, tamiflu, paxlovid,
nirmatrelvir, hydroxychloroquine, hidroxicloroquina, plaquenil, ivermectin, ivermectina,
permethrin, mupirocin, antibiotic, antibiotico, alendronate, alendronato, fosamax, risedronate,
ibandronate, boniva, denosumab, prolia, raloxifene, evista, estradiol, estrace, premarin,
medroxyprogesterone, medroxiprogesterona, depo-provera, depo shot, provera, progesterone,
progesterona, norethindrone, levonorgestrel, drospirenone, nexplanon, testosterone,
testosterona, clomiphene, clomid, letrozole, tamoxifen, tamoxifeno, anastrozole, methotrexate,
metotrexato, sulfasalazine, adalimumab, humira, etanercept, enbrel, infliximab, remicade,
ustekinumab, stelara, dupilumab, dupixent, apremilast, otezla, allopurinol, zyloprim,
febuxostat, uloric, colchicine, colchicina, colcrys, ferrous sulfate, sulfato ferroso,
folic acid, acido folico, cyanocobalamin, potassium chloride, epinephrine, epinefrina, epipen,
varenicline, vareniclina, chantix, isotretinoin, isotretinoina, accutane, tretinoin, tretinoina,
retin-a, antidepressant, antidepresivo, blood thinner, anticoagulante, steroid, esteroide,
corticosteroid, corticoide
"""

_DIAGNOSES = """
diabetes, diabetic, diabetico, diabetica, prediabetes, prediabetic, type 1 diabetes,
type 2 diabetes, gestational diabetes, diabetes gestacional, hypertension, hipertension, htn,
high blood pressure, presion alta, hypotension, hipotension, hyperlipidemia, hiperlipidemia,
high cholesterol, colesterol alto, hypercholesterolemia, hypothyroidism, hipotiroidismo,
hyperthyroidism, hipertiroidismo, hashimoto's, graves' disease, cancer, tumor, tumour,
malignant, maligno, maligna, malignancy, carcinoma, melanoma, lymphoma, linfoma, leukemia,
leucemia, sarcoma, metastasis, metastasis!, metastatic, metastasico, asthma, asma, copd, epoc,
emphysema, enfisema, bronchitis, bronquitis, pneumonia, neumonia, tuberculosis, influenza,
hepatitis, hep b, hep c, cirrhosis, cirrosis, fatty liver, higado graso, kidney disease,
enfermedad renal, ckd, renal failure, kidney failure, insuficiencia renal, kidney stone,
calculo renal, heart failure, insuficiencia cardiaca, chf, atrial fibrillation,
fibrilacion auricular, afib, a-fib, arrhythmia, arritmia, heart attack, infarto,
ataque al corazon, ataque cardiaco, myocardial infarction, coronary artery disease,
heart disease, enfermedad cardiaca, angina, stroke, derrame cerebral, accidente cerebrovascular,
aneurysm, aneurisma, dvt, deep vein thrombosis, trombosis, pulmonary embolism, embolia,
blood clot, coagulo, anemia, sickle cell, hemophilia, hemofilia, osteoporosis, osteopenia,
arthritis, artritis, rheumatoid arthritis, osteoarthritis, gout, lupus, fibromyalgia,
fibromialgia, multiple sclerosis, esclerosis multiple, parkinson's, parkinson, alzheimer's,
alzheimer, dementia, demencia, epilepsy, epilepsia, seizure, convulsion, migraine, migrana,
neuropathy, neuropatia, celiac, celiaquia, crohn's, ulcerative colitis, colitis, ibs,
irritable bowel, gerd, acid reflux, reflujo, ulcer, ulcera, diverticulitis, gallstone,
calculo biliar, appendicitis, apendicitis, pancreatitis, hernia, hemorrhoid, hemorroide,
psoriasis, eczema, eccema, dermatitis, acne, shingles, culebrilla, herpes zoster, cellulitis,
celulitis, mrsa, sepsis, infection, infeccion, uti, urinary tract infection, infeccion urinaria,
infeccion de orina, bladder infection, kidney infection, yeast infection, infeccion por hongos,
sinusitis, sinus infection, strep throat, strep, faringitis, amigdalitis, tonsillitis,
ear infection, infeccion de oido, otitis, conjunctivitis, conjuntivitis, pink eye,
mononucleosis, chickenpox, varicela, measles, sarampion, whooping cough, tos ferina, obesity,
obese, obesidad, sleep apnea, apnea del sueno, glaucoma, cataract, catarata,
macular degeneration, hearing loss, concussion, conmocion cerebral, fracture, fractura,
torn ligament, tendonitis, tendinitis, carpal tunnel, tunel carpiano, endometriosis, pcos,
polycystic ovary, ovario poliquistico, fibroid, mioma, menopause, menopausia, autism, autismo,
allergic reaction, reaccion alergica, anaphylaxis, anafilaxia, oncology, oncologist, oncologia,
oncologo, oncologa, kidney cyst, thyroid, tiroides, thyroid nodule, nodulo tiroideo,
prostate enlargement, bph, incontinence, incontinencia, diagnosis, diagnostico, diagnosed,
diagnosticado, diagnosticada
"""

_MENTAL_HEALTH = """
depression, depressed, depresion, deprimido, deprimida, anxiety, ansiedad, panic attack,
ataque de panico, panic disorder, trastorno de panico, bipolar, schizophrenia, esquizofrenia,
ptsd, tept, adhd, tdah, ocd, toc!, suicidal, suicide, suicidio, suicida, self-harm, self harm,
autolesion, eating disorder, trastorno alimentario, anorexia, bulimia, psychosis, psicosis,
psychiatric, psiquiatrico, psiquiatrica, psychiatrist, psiquiatra, psychotherapy, psicoterapia,
insomnia, insomnio, postpartum depression, depresion posparto
"""

_SEXUAL_HEALTH = """
hiv, vih, sida, chlamydia, clamidia, gonorrhea, gonorrhoea, gonorrea, syphilis, sifilis, herpes,
genital herpes, herpes genital, hpv, vph, genital warts, verrugas genitales, trichomoniasis,
tricomoniasis, bacterial vaginosis, vaginosis, std, sti, ets, sexually transmitted,
transmision sexual, erectile dysfunction, disfuncion erectil, contraception, contraceptive,
anticonceptivo, anticoncepcion, birth control, emergency contraception, morning-after pill,
pastilla del dia despues, vaginal discharge, flujo vaginal, iud, diu
"""

_PREGNANCY = """
pregnant, pregnancy, embarazo, embarazada, pregnancy test, prueba de embarazo, prenatal,
trimester, trimestre, miscarriage, aborto espontaneo, abortion, aborto, ectopic, ectopico,
preeclampsia, postpartum, posparto, infertility, infertilidad, ivf, in vitro,
fertility treatment, tratamiento de fertilidad
"""

_SUBSTANCE_USE = """
alcoholism, alcoholismo, alcoholic, alcoholico, alcoholica, alcohol use disorder, substance use,
substance abuse, abuso de sustancias, drug abuse, drug use, consumo de drogas, addiction,
adiccion, addicted, opioid use disorder, opioid dependence, overdose, sobredosis, rehab, detox,
desintoxicacion, withdrawal symptoms, alcohol withdrawal, opioid withdrawal, methadone,
metadona, suboxone, buprenorphine, buprenorfina, naloxone, naloxona, narcan, naltrexone,
naltrexona, vivitrol, disulfiram, antabuse, acamprosate, smoking cessation, nicotine dependence,
cocaine, cocaina, heroin, heroina, methamphetamine, metanfetamina, marijuana, marihuana,
cannabis
"""

_GENETIC = """
genetic testing, genetic test, genetic counseling, genetic results, genetic mutation,
gene mutation, prueba genetica, asesoramiento genetico, mutacion genetica, brca, brca1, brca2,
carrier screening, lynch syndrome, down syndrome, sindrome de down, cystic fibrosis,
fibrosis quistica, huntington's, tay-sachs, karyotype, cariotipo, nipt
"""

_PROCEDURES = """
colonoscopy, colonoscopia, endoscopy, endoscopia, biopsy, biopsia, mammogram, mammography,
mamografia, mri, resonancia magnetica, ct scan, cat scan, pet scan, tomografia, x-ray,
radiografia, ultrasound, ultrasonido, ecografia, sonogram, echocardiogram, ecocardiograma, ekg,
ecg, electrocardiogram, electrocardiograma, stress test, prueba de esfuerzo, pap smear,
pap test, papanicolaou, papanicolau, vasectomy, vasectomia, iud insertion, iud removal,
insercion de diu, hysterectomy, histerectomia, tubal ligation, ligadura de trompas, c-section,
cesarean, cesarea, dialysis, dialisis, chemotherapy, chemo, quimioterapia, quimio!,
radiation therapy, radioterapia, surgery, cirugia, operacion quirurgica, knee replacement,
hip replacement, reemplazo de rodilla, reemplazo de cadera, cataract surgery, appendectomy,
cholecystectomy, angioplasty, stent, bypass surgery, catheterization, cateterismo, spirometry,
espirometria, sleep study, estudio del sueno, bone density scan, dexa scan, densitometria,
amniocentesis, circumcision, circuncision, mole removal, skin biopsy, cryotherapy,
steroid injection, cortisone shot, physical therapy, fisioterapia, sigmoidoscopy, colposcopy,
colposcopia, cystoscopy, cistoscopia, lumbar puncture, puncion lumbar, allergy test,
prueba de alergia
"""

_LAB_RESULTS = """
test results, test result, your labs, covid test, covid-19 test, prueba de covid, lab results,
lab result, lab work, labwork, blood work, bloodwork, blood test, blood panel, metabolic panel,
lipid panel, cbc, cmp, bmp, urinalysis, urine test, urine culture, throat culture, strep test,
drug test, drug screen, pathology, pathology report, biopsy results, imaging results,
positive for, negative for, tested positive, tested negative, tested positive for,
tested negative for, came back positive, came back negative, came back abnormal,
came back normal, came back high, abnormal, elevated, resultados de laboratorio,
resultados del laboratorio, resultados de sus analisis, resultados de tus analisis,
sus analisis, tus analisis, resultados de la biopsia, analisis de sangre, analisis de orina,
analisis clinicos, examen de sangre, examen de orina, prueba de sangre, dio positivo,
dio negativo, dio positiva, dio negativa, salio positivo, salio negativo, salio positiva,
salio negativa, resulto positivo, resulto negativo, resulto positiva, resulto negativa,
salio normal, salio anormal, salio alto, salio alta, positivo para, negativo para,
positiva para, negativa para, patologia, anormal, anormales, a1c, hba1c, hb a1c, hemoglobin a1c,
cholesterol, ldl, hdl, triglycerides, creatinine, egfr, gfr, tsh, free t4, t4, inr, ferritin,
hemoglobin, hematocrit, platelet count, wbc, white blood cell count, glucose, fasting glucose,
blood sugar, microalbumin, bilirubin, spo2, oxygen saturation, viral load, cd4 count, troponin,
d-dimer, crp, c-reactive protein, liver enzymes, psa test, psa level, vitamin d level,
hemoglobina glicosilada, colesterol, trigliceridos, creatinina, glucosa, glucemia,
azucar en la sangre, azucar en sangre, hemoglobina, hematocrito, plaquetas, carga viral,
ferritina, bilirrubina, enzimas hepaticas
"""

_SYMPTOMS = """
chest pain, shortness of breath, fever, cough, coughing, chills, rash, nausea, nauseous,
vomiting, diarrhea, diarrhoea, constipation, headache, dizziness, dizzy, lightheaded, bleeding,
lump, swelling, swollen, back pain, abdominal pain, stomach pain, stomachache, stomach ache,
sore throat, fatigue, palpitations, numbness, tingling, blood in stool, blood in urine,
burning when urinating, painful urination, in pain, pain medication, pain meds, joint pain,
wheezing, hives, urticaria, runny nose, nasal congestion, chest congestion, fiebre, calentura,
tos, escalofrio, nausea, vomito, vomitando, diarrea, estrenimiento, mareo, mareado, mareada,
dolor!, dolor de cabeza, dolor de pecho, dolor en el pecho, dolor de estomago, dolor abdominal,
dolor de espalda, dolor de garganta, falta de aire, dificultad para respirar, sangrado,
hemorragia, sarpullido, erupcion, bulto!, hinchazon, hinchado, hinchada, cansancio, fatiga,
palpitaciones, entumecimiento, hormigueo, sangre en la orina, sangre en las heces,
ardor al orinar, me duele!, le duele!, te duele!
"""

# Acronyms that collide with everyday words when lower-cased ("hearing aids", "bowel prep",
# "tía"): matched only when written exactly like this.
_EXACT_CASE: dict[str, str] = {
    "AIDS": "sexual_health",
    "PrEP": "sexual_health",
    "PEP": "sexual_health",
    "TB": "diagnosis",
    "TIA": "diagnosis",
    "CAD": "diagnosis",
}

_VOCABULARY: tuple[tuple[str, str], ...] = (
    # Order matters only for a term listed under two kinds: the first kind wins.
    ("lab_result", _LAB_RESULTS),
    ("genetic", _GENETIC),
    ("substance_use", _SUBSTANCE_USE),
    ("mental_health", _MENTAL_HEALTH),
    ("sexual_health", _SEXUAL_HEALTH),
    ("pregnancy", _PREGNANCY),
    ("procedure", _PROCEDURES),
    ("diagnosis", _DIAGNOSES),
    ("symptom", _SYMPTOMS),
    ("medication", _MEDICATIONS),
)

# Analytes that name a lab test on their own ("your LDL") are in _LAB_RESULTS; these are
# everyday words ("iron", "sugar", "pressure") and count only when a value follows.
_VALUE_ONLY_ANALYTES = """
potassium, sodium, calcium, iron, magnesium, vitamin d, vitamin b12, b12, sugar, psa, alt, ast,
bun, t3, hgb, hct, plt, bp, blood pressure, pulse, heart rate, oxygen, o2 sat, o2, temperature,
temp, bmi, potasio, sodio, calcio, hierro, magnesio, vitamina d, vitamina b12, azucar, presion,
presion arterial, pulso, frecuencia cardiaca, temperatura, oxigeno, saturacion, imc
"""
_STRONG_ANALYTES = """
a1c, hba1c, hb a1c, hemoglobin a1c, glycated hemoglobin, cholesterol, total cholesterol, ldl,
hdl, triglycerides, creatinine, egfr, gfr, tsh, free t4, t4, inr, ferritin, hemoglobin,
hematocrit, platelets, platelet count, wbc, white count, glucose, fasting glucose,
blood glucose, blood sugar, fasting blood sugar, microalbumin, bilirubin, albumin, spo2,
oxygen saturation, viral load, cd4, cd4 count, hcg, troponin, crp, uric acid,
hemoglobina glicosilada, hemoglobina a1c, colesterol, colesterol total, colesterol ldl,
colesterol hdl, trigliceridos, creatinina, glucosa, glucosa en ayunas, glucemia,
azucar en la sangre, azucar en sangre, hemoglobina, hematocrito, plaquetas, acido urico,
carga viral, ferritina, bilirrubina
"""
# Body weight is only health data with a unit ("peso" is also the currency).
_UNIT_REQUIRED_ANALYTES = "weight, peso"


# --------------------------------------------------------------------------------------------
# Folding: lower case, accents stripped, compatibility forms (full-width, ligatures, micro
# sign) decomposed, typographic apostrophes and dashes made plain. Every folded character
# remembers the index of the original character it came from.

_PUNCT = {
    "\u2018": "'",
    "\u2019": "'",
    "\u02bc": "'",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00a0": " ",
}


@functools.lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    if char in _PUNCT:
        return _PUNCT[char]
    decomposed = unicodedata.normalize("NFKD", char.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# Code points whose fold is not exactly one character (combining marks fold to nothing,
# ligatures and fractions to several). Text free of them folds one-to-one, so str.translate
# does it in C and offsets need no map.
_IRREGULAR: set[str] = set()


class _FoldTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = _fold_char(char)
        if len(folded) != 1:
            _IRREGULAR.add(char)
        if code < 0x3000:
            # Bounded: the scripts our patients write in; the rest is folded on every call.
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def _fold(text: str) -> tuple[str, list[int] | None]:
    """Return the folded text and, unless it is the identity, the folded-to-original map."""
    if text.isascii():
        return text.lower(), None
    translated = text.translate(_FOLD_TABLE)
    if _IRREGULAR.isdisjoint(text):
        return translated, None
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        if folded:
            pieces.append(folded)
            origin.extend([index] * len(folded))
    return "".join(pieces), origin


def _fold_term(term: str) -> str:
    return "".join(_fold_char(c) for c in term)


# --------------------------------------------------------------------------------------------
# Vocabulary trie -> regex.

_SEP, _OPT_SEP, _OPT_APOS = "\x00sep", "\x00opt", "\x00apos"
_UNIT_REGEX = {_SEP: r"[\s\-]+", _OPT_SEP: r"[\s\-]?", _OPT_APOS: r"'?"}


def _units(term: str) -> tuple[str, ...]:
    units: list[str] = []
    for char in term:
        if char == " ":
            units.append(_SEP)
        elif char == "-":
            units.append(_OPT_SEP)
        elif char == "'":
            units.append(_OPT_APOS)
        else:
            units.append(char)
    return tuple(units)


def _canonical(matched: str) -> str:
    return re.sub(r"[\s\-']+", "", matched)


def _plurals(term: str) -> list[str]:
    head, _, last = term.rpartition(" ")
    prefix = head + " " if head else ""
    if last[-1:] == "y" and last[-2:-1] not in "aeiou":
        forms = [last[:-1] + "ies"]
    elif last[-1:] in "aeiou":
        forms = [last + "s"]
    elif last[-1:] in "sxz" or last.endswith(("ch", "sh")):
        forms = [last + "es"]
    elif last[-1:] == "'":
        forms = []
    elif last[-1:] in "nlrdj":
        # English adds -s, Spanish -es after these ("infeccion" -> "infecciones").
        forms = [last + "s", last + "es"]
    else:
        forms = [last + "s"]
    return [prefix + form for form in forms]


def _split_terms(block: str) -> list[str]:
    # Commas separate terms; a line break is just a space, so a term may wrap.
    return [" ".join(t.split()) for t in block.split(",") if t.strip()]


def _trie_regex(terms: Iterable[str]) -> str:
    trie: dict[str, Any] = {}
    end = "\x00end"
    for term in terms:
        node = trie
        for unit in _units(term):
            node = node.setdefault(unit, {})
        node[end] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = []
        for unit in sorted(k for k in node if k != end):
            piece = _UNIT_REGEX.get(unit) or re.escape(unit)
            branches.append(piece + emit(node[unit]))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end in node:
            # Greedy optional: prefer the longest term, fall back to the shorter one.
            return "(?:" + body + ")?"
        return body

    return emit(trie)


def _build_vocabulary() -> tuple[dict[str, str], set[str]]:
    kinds: dict[str, str] = {}
    variants: set[str] = set()
    for kind, block in _VOCABULARY:
        for raw in _split_terms(block):
            no_plural = raw.endswith("!")
            term = _fold_term(raw.rstrip("!"))
            forms = [term] if no_plural else [term, *_plurals(term)]
            for form in forms:
                variants.add(form)
                kinds.setdefault(_canonical(form), kind)
    for exact, kind in _EXACT_CASE.items():
        variants.add(exact.lower())
        kinds.setdefault(exact.lower(), kind)
    return kinds, variants


_TERM_KINDS, _TERM_VARIANTS = _build_vocabulary()
_EXACT_BY_KEY = {exact.lower(): exact for exact in _EXACT_CASE}

# --------------------------------------------------------------------------------------------
# Structured patterns (all written against folded, lower-case text).

_B = r"(?<!\w)"  # word start
_E = r"(?!\w)"  # word end
_NUM = r"(?:\d+(?:[.,]\d+)?|[.,]\d+)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    r"|enero|ene|febrero|marzo|abril|abr|mayo|junio|julio|agosto|ago|se?ptiembre|octubre"
    r"|noviembre|diciembre|dic)(?:\.|(?![a-z]))"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})(?![\d/])"
    r"|\d{4}-\d{1,2}-\d{1,2}(?!\d)"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?(?!\d)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?{_MONTH}(?:,?\s+(?:de(?:l)?\s+)?\d{{4}})?"
    r"(?!\d))"
)
_DOB_KEY = (
    r"(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on)?"
    r"|fecha\s+de\s+nacimiento|fecha\s+de\s+nac\.?|f\.\s?nac\.?|nacid[oa](?:\s+el)?|nacio\s+el)"
)
_DOB = rf"{_DOB_KEY}\s*[:\-]?\s*(?:(?:is|was|es|fue|on|el)\s+)?{_DATE}"

_ID = r"(?:#\s*)?(?=[a-z\-]*\d)[a-z0-9][a-z0-9\-]{3,19}(?![\w\-])"
_ID_LINK = r"\s*(?:[:#]|no\.|is|es|=)?\s*"
_RECORD_KEY = (
    r"(?:mrn|m\.r\.n\.?|medical\s+record(?:\s+(?:number|no\.?|#|id))?"
    r"|(?:chart|record|patient|pt)\s*(?:number|no\.?|#|id)|chart"
    r"|(?:(?:numero|num\.?|no\.?|id)\s+de\s+)?(?:expediente|historia\s+clinica|historial\s+clinico"
    r"|registro\s+medico)|(?:numero|id)\s+de\s+paciente|nhc)"
)
_RECORD = rf"{_RECORD_KEY}{_ID_LINK}{_ID}"
_INSURANCE_KEY = (
    r"(?:(?:member|subscriber|policy|insurance|medicaid|medicare|group|beneficiary)"
    r"\s*(?:id|number|no\.?|#)|mbi"
    r"|(?:numero|num\.?|no\.?|id)\s+de\s+(?:miembro|afiliado|afiliacion|poliza|socio|asegurado"
    r"|medicaid|medicare|seguro)|poliza)"
)
_INSURANCE = rf"{_INSURANCE_KEY}{_ID_LINK}{_ID}"
_SSN_KEY = r"(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|(?:numero\s+de\s+)?seguro\s+social)"
_SSN_CONTEXT = rf"{_SSN_KEY}\s*[:#]?\s*(?:(?:is|es)\s+)?\d{{3}}[\s\-]?\d{{2}}[\s\-]?\d{{4}}(?!\d)"
_SSN_BARE = r"(?<![\d\-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d\-])"

_FREQ = (
    r"(?:(?:once|twice|three\s+times|four\s+times|[1-4]\s?x)\s+(?:a|per)\s+day"
    r"|(?:once|twice)\s+(?:daily|weekly|a\s+week)|daily|nightly|weekly"
    r"|every\s+(?:\d+(?:\s*-\s*\d+)?\s+hours|morning|night|evening|day|other\s+day|week)"
    r"|in\s+the\s+(?:morning|evening)|(?:una|dos)\s+veces?\s+(?:a|por)\s+(?:la\s+)?semana"
    r"|semanal(?:mente)?|cada\s+(?:manana|noche|dia|semana)|por\s+la\s+(?:manana|noche)"
    r"|at\s+bedtime|before\s+bed|with\s+meals|as\s+needed|bid|tid|qid|qd|qhs|prn"
    r"|(?:una|dos|tres|cuatro)\s+veces\s+al\s+dia|cada\s+\d+\s+horas|al\s+acostarse"
    r"|diariamente|al\s+dia|con\s+las\s+comidas|segun\s+sea\s+necesario)(?!\w)"
)
_DOSE_AMOUNT = rf"{_NUM}\s?(?:mg(?!\s?/\s?d?l)|mcg|ug|μg|meq|iu|ui)(?:\s?/\s?(?:ml|kg))?(?!\w)"
_DOSE_FORM = (
    r"(?:\d+|one|two|three|half\s+a|una|dos|tres|media)\s+(?:tablets?|tabs?|pills?|capsules?"
    r"|caps|puffs?|drops?|units?|ml|injections?|tabletas?|pastillas?|capsulas?|gotas?|unidades"
    r"|inhalaciones|inyecciones)"
)
_DOSE = rf"(?:{_DOSE_AMOUNT}(?:\s+{_FREQ})?|{_DOSE_FORM}\s+{_FREQ})"

_LAB_UNIT = (
    r"(?:\s?%|\s?(?:mg/dl|mg/l|mmol/l|mmol/mol|mmhg|mm\s?hg|ng/ml|ng/dl|pg/ml|miu/l|uiu/ml|meq/l"
    r"|g/dl|u/l|iu/l|k/ul|bpm|lbs?|pounds|kg|kilos|libras|degrees|grados|°\s?[fc]?)(?!\w))"
)
# A value, not a clock time: "BP at 10 AM" is a visit, "BP 150/95" a reading.
_LAB_NUMBER = (
    r"\d{1,4}(?:[.,]\d{1,2})?(?:\s?/\s?\d{2,3})?(?![\d/])"
    r"(?!:\d|\s?(?:am|pm|a\.m|p\.m|o'?clock|hrs?)(?!\w))"
)
_LAB_GAP = (
    r"(?:\s*(?:[:=~]|(?:is|was|were|are|of|at|levels?|reading|result|value|count|came\s+back"
    r"|now|today|es|son|fue|esta|estan|estaba|de|del|en|nivel|niveles|salio|salieron|resulto)"
    r"(?!\w))){0,4}\s*"
)
_WEIGHT_UNIT = r"\s?(?:lbs?|pounds|kg|kilos|libras)(?!\w)"

_ANALYTES = _trie_regex(_fold_term(t) for t in _split_terms(_VALUE_ONLY_ANALYTES + "," + _STRONG_ANALYTES))
_WEIGHTS = _trie_regex(_split_terms(_UNIT_REQUIRED_ANALYTES))
_LAB_VALUE = (
    rf"(?:{_ANALYTES}){_E}{_LAB_GAP}{_LAB_NUMBER}{_LAB_UNIT}?"
    rf"|(?:{_WEIGHTS}){_E}{_LAB_GAP}{_NUM}{_WEIGHT_UNIT}"
    rf"|\d{{1,4}}(?:[.,]\d{{1,2}})?\s?(?:mg/dl|mmol/l|mmhg)(?!\w)"
)

# Links and e-mail addresses are generated or looked up, not written about a patient; a
# random portal token must not read as "TB" or "MRI". Bounded so a long run of dotted words
# cannot make the scan quadratic.
_URL = r"(?:https?://|www\.)\S+|[\w.+\-]{1,64}@[\w\-]+(?:\.[\w\-]+)+"
# Everyday phrases that contain a vocabulary word; consumed and ignored like links.
_BENIGN = (
    r"(?:lump\s+sums?|tropical\s+(?:depression|storm)s?|(?:the\s+)?great\s+depression"
    r"|stroke\s+of\s+(?:luck|genius)|rash\s+of)(?!\w)"
)

_PATTERN = re.compile(
    rf"{_B}(?:(?P<skip>{_URL}|{_BENIGN})"
    rf"|(?P<lab_value>{_LAB_VALUE})"
    rf"|(?P<date_of_birth>{_DOB})"
    rf"|(?P<record_number>{_RECORD})"
    rf"|(?P<insurance_id>{_INSURANCE})"
    rf"|(?P<ssn>{_SSN_CONTEXT}|{_SSN_BARE})"
    rf"|(?P<dose>{_DOSE})"
    rf"|(?P<term>(?P<word>{_trie_regex(sorted(_TERM_VARIANTS))}){_E}(?P<dose_tail>\s+{_DOSE})?))"
)

# --------------------------------------------------------------------------------------------


def scan(text: str, *, patient_names: Sequence[str] = ()) -> PhiScan:
    """Find PHI and clinical content in `text`.

    `patient_names` (full names as the practice has them) are reported as "patient_name"
    findings only when the message also carries something clinical or identifying: a name
    alone ("Hi Maria") is routine.
    """
    folded, origin = _fold(text)
    findings: list[PhiFinding] = []
    pos = 0
    length = len(folded)
    while pos < length:
        match = _PATTERN.search(folded, pos)
        if match is None:
            break
        kind = match.lastgroup or ""
        start, end = match.start(), match.end()
        pos = max(end, start + 1)
        if kind == "skip":
            continue
        if kind == "dose":
            kind = "medication"
        elif kind == "term":
            key = _canonical(match.group("word"))
            kind = _TERM_KINDS.get(key, "")
            if key in _EXACT_BY_KEY:
                original = _original_span(text, origin, start, match.end("word"))
                if text[original[0] : original[1]] != _EXACT_BY_KEY[key]:
                    pos = match.end("word")
                    continue
            if kind != "medication" and match.group("dose_tail") is not None:
                # A dose only extends a drug name; let the dose be found on its own.
                end = match.end("word")
                pos = end
            if not kind:
                continue
        original_start, original_end = _original_span(text, origin, start, end)
        findings.append(PhiFinding(kind, text[original_start:original_end], original_start, original_end))
    if isinstance(patient_names, str):
        patient_names = (patient_names,)
    if findings and patient_names:
        findings.extend(_name_findings(text, folded, origin, patient_names, findings))
        findings.sort(key=lambda f: (f.start, f.end))
    return PhiScan(tuple(findings))


def _original_span(text: str, origin: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if origin is None:
        return start, end
    original_start = origin[start]
    original_end = origin[end - 1] + 1
    # Keep combining marks that belong to the last character inside the span.
    while original_end < len(text) and not _fold_char(text[original_end]):
        original_end += 1
    return original_start, original_end


def _name_findings(
    text: str,
    folded: str,
    origin: list[int] | None,
    patient_names: Sequence[str],
    taken: Sequence[PhiFinding],
) -> list[PhiFinding]:
    full_names: set[str] = set()
    parts: set[str] = set()
    for name in patient_names:
        words = [w for w in re.split(r"[\s,]+", _fold_term(name)) if re.search(r"[^\W\d_]", w)]
        if not words:
            continue
        full_names.add(" ".join(words))
        parts.update(w for w in words if len(w) >= 2)
    if not full_names:
        return []
    alternatives = sorted(full_names | parts, key=len, reverse=True)
    pattern = re.compile(
        _B + "(?:" + "|".join(r"\s+".join(map(re.escape, a.split(" "))) for a in alternatives) + ")" + _E
    )
    results: list[PhiFinding] = []
    for match in pattern.finditer(folded):
        start, end = _original_span(text, origin, match.start(), match.end())
        if any(f.start < end and start < f.end for f in taken):
            continue
        # A single word only counts when capitalised: a patient called "Will" or "Hope" must
        # not turn every "will" into a name. A full two-word name counts in any case.
        if len(match.group().split()) < 2 and not text[start].isupper():
            continue
        results.append(PhiFinding("patient_name", text[start:end], start, end))
    return results
