"""A synthetic Swedish patient population as FHIR R4 transaction Bundles (one per patient).

Pure: no database, no HTTP, no clock. Everything comes from `random.Random(seed)`, so a seed
always yields the same bundles, byte for byte.
"""

from __future__ import annotations

import random
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil import tz

PNR_SYSTEM = "http://electronichealth.se/identifier/personnummer"
HTEST_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}
# A fixed "now": reading the clock would make output depend on the day it runs.
REFERENCE_TIME = datetime(2025, 6, 1, tzinfo=UTC)
# dateutil ships its own tz database, so this works where the OS has none (e.g. Windows).
STOCKHOLM = tz.gettz("Europe/Stockholm")

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

GIVEN_MALE = ["Erik", "Lars", "Karl", "Anders", "Björn", "Göran", "Håkan", "Jörgen", "Måns",
              "Sören", "Olle", "Nils", "Åke", "Johan", "Elias"]
GIVEN_FEMALE = ["Anna", "Maria", "Karin", "Åsa", "Märta", "Birgitta", "Ingrid", "Malin",
                "Linnéa", "Sofia", "Ebba", "Signe", "Ylva", "Kerstin", "Agnes"]
FAMILY = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Östlund", "Åberg", "Ängström",
          "Lindqvist", "Sjöberg", "Öberg", "Bäckström", "Åkesson", "Söderström", "Hägglund",
          "Löfgren", "Björk", "Nyström", "Strömberg", "Wästberg", "Fröberg"]
STREETS = ["Storgatan", "Kungsgatan", "Drottninggatan", "Sjövägen", "Björkvägen", "Ängsvägen",
           "Kyrkogatan", "Järnvägsgatan", "Skolgatan", "Lövstigen", "Hamngatan", "Åsvägen"]
# (municipality, postal town, first three digits of its postal codes), Västra Götaland.
MUNICIPALITIES = [
    ("Göteborg", "Göteborg", "413"), ("Borås", "Borås", "503"),
    ("Trollhättan", "Trollhättan", "461"), ("Uddevalla", "Uddevalla", "451"),
    ("Skövde", "Skövde", "541"), ("Alingsås", "Alingsås", "441"),
    ("Kungälv", "Kungälv", "442"), ("Lidköping", "Lidköping", "531"),
    ("Mölndal", "Mölndal", "431"), ("Härryda", "Mölnlycke", "435"),
    ("Vänersborg", "Vänersborg", "462"), ("Åmål", "Åmål", "662"),
    ("Öckerö", "Öckerö", "475"), ("Strömstad", "Strömstad", "452"),
]
# ICD-10-SE code, Swedish display, chronic (stays active) or acute (resolved), adults only
# (so the demo shows no toddler with COPD).
DIAGNOSES = [
    ("E11.9", "Diabetes mellitus typ 2 utan komplikationer", True, True),
    ("I10", "Essentiell hypertoni", True, True),
    ("J45.9", "Astma, ospecificerad", True, False),
    ("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad", True, True),
    ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat", True, True),
    ("F32.9", "Depressiv episod, ospecificerad", False, True),
    ("M54.5", "Lumbago", False, True),
    ("J06.9", "Akut övre luftvägsinfektion, ospecificerad", False, False),
    ("N39.0", "Urinvägsinfektion, lokalisationen ej specificerad", False, False),
    ("K21.9", "Gastroesofageal refluxsjukdom utan esofagit", True, True),
]
# (Swedish text, type, category, criticality)
ALLERGIES = [
    ("Penicillin", "allergy", "medication", "high"),
    ("Nötter", "allergy", "food", "high"),
    ("Jordnötter", "allergy", "food", "high"),
    ("Björkpollen", "allergy", "environment", "low"),
    ("Laktos", "intolerance", "food", "low"),
    ("Latex", "allergy", "environment", "unable-to-assess"),
]
# v3 ActCode, display, relative frequency, shortest and longest stay in hours
ENCOUNTER_CLASSES = [
    ("AMB", "ambulatory", 6, 0.25, 1.5),
    ("IMP", "inpatient encounter", 2, 24.0, 240.0),
    ("EMER", "emergency", 2, 2.0, 10.0),
]
# LOINC code, display, Swedish text, UCUM code, unit shown
VITALS = [
    ("29463-7", "Body weight", "Vikt", "kg", "kg"),
    ("8302-2", "Body height", "Längd", "cm", "cm"),
    ("8867-4", "Heart rate", "Puls", "/min", "slag/min"),
    ("8310-5", "Body temperature", "Kroppstemperatur", "Cel", "°C"),
    ("8480-6", "Systolic blood pressure", "Systoliskt blodtryck", "mm[Hg]", "mmHg"),
]


def _luhn_digit(nine: str) -> int:
    """Check digit of a personnummer: Luhn over YYMMDDNNN (the 10-digit form minus C)."""
    total = 0
    for i, ch in enumerate(nine):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _birth_date(pnr: str) -> date:
    return date(int(pnr[:4]), int(pnr[4:6]), int(pnr[6:8]))


def _check_personnummer(pnr: str) -> None:
    """Reject what would produce an invalid Patient (bad date, bad check digit, 10 digits)."""
    ok = len(pnr) == 12 and pnr.isdigit() and _luhn_digit(pnr[2:11]) == int(pnr[11])
    try:
        _birth_date(pnr)
    except ValueError:  # e.g. a samordningsnummer (day + 60) is not a birth date
        ok = False
    if not ok:
        raise ValueError(f"not a valid 12-digit personnummer: {pnr!r}")


def generate_personnummer(n: int, seed: int = 1) -> list[str]:
    """`n` distinct valid personnummer born 1930–2020.

    Only syntactically valid: unlike Skatteverket's test list, nothing guarantees these are
    unissued, so prefer the official list for anything that leaves a developer's machine.
    """
    rng = random.Random(seed)
    first, span = date(1930, 1, 1), (date(2020, 12, 31) - date(1930, 1, 1)).days
    found: dict[str, None] = {}  # dict keeps insertion order, so the result is deterministic
    while len(found) < n:
        born = first + timedelta(days=rng.randint(0, span))
        nine = f"{born:%y%m%d}{rng.randint(1, 999):03d}"
        found[f"{born:%Y}{nine[2:]}{_luhn_digit(nine)}"] = None
    return list(found)


def load_test_personnummer(
    path: Path | None, *, fallback_count: int = 2000, seed: int = 1
) -> list[str]:
    """Skatteverket's test personnummer from `path` (one per line); generated ones if absent."""
    if path is not None and path.is_file():
        lines = path.read_text(encoding="ascii").split()
        for pnr in lines:
            _check_personnummer(pnr)
        return lines
    if path is not None:  # a configured but missing file is worth noticing, not failing on
        warnings.warn(f"{path} not found; generating personnummer", stacklevel=2)
    return generate_personnummer(fallback_count, seed)


def count_resources(bundle: dict[str, Any]) -> int:
    """Number of resources carried in a bundle's entries (the Bundle itself not counted)."""
    return sum(1 for entry in bundle.get("entry", []) if "resource" in entry)


def generate_population(
    *, patients: int = 2000, seed: int = 1, personnummer: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one FHIR R4 transaction Bundle per synthetic patient, deterministic per seed.

    Checks its arguments at call time (not on first iteration), hence the inner generator.
    """
    if patients < 0:
        raise ValueError("patients must be >= 0")
    if personnummer is None:
        personnummer = generate_personnummer(patients, seed)
    # Deduplicated: two bundles for one personnummer would merge into one Patient on load.
    pool = list(dict.fromkeys(personnummer))
    if patients > len(pool):
        raise ValueError(
            f"{patients} patients requested but only {len(pool)} personnummer available; "
            "pass a longer list or ask for fewer patients"
        )
    for pnr in pool:
        _check_personnummer(pnr)
    rng = random.Random(seed)
    return (_patient_bundle(rng, pnr) for pnr in _pick(rng, pool, patients))


def _pick(rng: random.Random, pool: list[str], n: int) -> list[str]:
    # The official list is heavy with people born 1890–1910; prefer plausible living ages so
    # a demo is not full of 130-year-olds, but fall back to the rest rather than fail.
    plausible, rest = [], []
    for pnr in pool:
        born = _birth_date(pnr)
        ok = born.year >= 1930 and born < REFERENCE_TIME.date() - timedelta(days=30)
        (plausible if ok else rest).append(pnr)
    rng.shuffle(plausible)
    rng.shuffle(rest)
    return (plausible + rest)[:n]


def _ts(moment: datetime) -> str:
    return moment.astimezone(STOCKHOLM).isoformat(timespec="seconds")


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _vital_value(
    rng: random.Random, loinc: str, age: float, adult_height: float, bmi: float
) -> float:
    """A value plausible for the patient's age; children are not scaled-down adults.

    Height and BMI are fixed per patient so repeated measurements agree with each other.
    """
    height = min(adult_height, 50 + 25 * age if age < 1 else 75 + 6.3 * (age - 1))
    if loinc == "8302-2":
        return round(height + rng.gauss(0, 0.4), 1)
    if loinc == "29463-7":
        bmi = bmi if age >= 18 else 16 + (bmi - 20) / 4  # children run leaner
        return round(bmi * (height / 100) ** 2 + rng.gauss(0, 0.3), 1)
    if loinc == "8867-4":
        return round(rng.gauss(125 if age < 1 else 95 if age < 12 else 72, 9))
    if loinc == "8310-5":
        feverish = rng.random() < 0.2
        return round(rng.uniform(37.5, 39.5) if feverish else rng.uniform(36.3, 37.4), 1)
    return round(rng.gauss(100 if age < 12 else 110 + 0.4 * age, 11))  # systolic


def _patient_bundle(rng: random.Random, pnr: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any], if_none_exist: str | None = None) -> str:
        full_url = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        # meta right after resourceType only so the JSON reads naturally
        resource = {"resourceType": resource["resourceType"],
                    "meta": {"tag": [dict(HTEST_TAG)]}, **resource}
        request = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        entries.append({"fullUrl": full_url, "resource": resource, "request": request})
        return full_url

    born = _birth_date(pnr)
    male = int(pnr[10]) % 2 == 1
    adult_height, bmi = rng.gauss(179 if male else 166, 6), rng.uniform(20, 32)
    municipality, town, postal = rng.choice(MUNICIPALITIES)
    given = rng.sample(GIVEN_MALE if male else GIVEN_FEMALE, rng.choice([1, 1, 2]))
    patient_url = add({
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": PNR_SYSTEM, "value": pnr}],
        "name": [{"use": "official", "family": rng.choice(FAMILY), "given": given}],
        "gender": "male" if male else "female",
        "birthDate": born.isoformat(),
        "address": [{
            "use": "home", "type": "physical",
            "line": [f"{rng.choice(STREETS)} {rng.randint(1, 60)}"],
            "city": town, "district": municipality, "state": "Västra Götalands län",
            "postalCode": f"{postal} {rng.randint(10, 99)}", "country": "SE",
        }],
    }, if_none_exist=f"identifier={PNR_SYSTEM}|{pnr}")
    subject = {"reference": patient_url}

    # Care happens after birth and before REFERENCE_TIME, within the last five years.
    born_at = datetime(born.year, born.month, born.day, tzinfo=UTC) + timedelta(days=1)
    window_start = max(born_at, REFERENCE_TIME - timedelta(days=5 * 365))
    days = max((REFERENCE_TIME - window_start).days - 11, 1)  # 11: longest stay ends in time
    encounters: list[tuple[str, datetime, datetime]] = []
    for _ in range(rng.randint(1, 3)):
        code, display, _, shortest, longest = rng.choices(
            ENCOUNTER_CLASSES, weights=[c[2] for c in ENCOUNTER_CLASSES])[0]
        # Both bounds are UTC midnights; planned care starts in (Swedish) office hours.
        hour = rng.uniform(0, 24) if code == "EMER" else rng.uniform(6, 15)
        start = window_start + timedelta(days=rng.randrange(days), hours=hour)
        start = start.replace(microsecond=0)
        end = start + timedelta(hours=rng.uniform(shortest, longest))
        url = add({
            "resourceType": "Encounter", "status": "finished",
            "class": {"system": ACT_CODE, "code": code, "display": display},
            "subject": subject, "period": {"start": _ts(start), "end": _ts(end)},
        })
        encounters.append((url, start, end))

    adult = (REFERENCE_TIME.date() - born).days >= 18 * 365.25
    diagnoses = [d for d in DIAGNOSES if adult or not d[3]]
    for code, display, chronic, _ in rng.sample(diagnoses, rng.randint(0, 3)):
        enc_url, start, end = rng.choice(encounters)
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": _concept(TERMINOLOGY + "condition-clinical",
                                       *(("active", "Active") if chronic
                                         else ("resolved", "Resolved"))),
            "verificationStatus": _concept(TERMINOLOGY + "condition-ver-status",
                                           "confirmed", "Confirmed"),
            "category": [_concept(TERMINOLOGY + "condition-category",
                                  "encounter-diagnosis", "Encounter Diagnosis")],
            "code": _concept(ICD10, code, display, display),
            "subject": subject, "encounter": {"reference": enc_url},
            "onsetDateTime": _ts(start), "recordedDate": _ts(end),
        }
        if not chronic:  # con-4: a resolved condition says when it abated
            condition["abatementDateTime"] = _ts(end + timedelta(days=rng.randint(3, 10)))
        add(condition)

    for _ in range(rng.randint(2, 8)):
        loinc, display, text, ucum, unit = rng.choice(VITALS)
        enc_url, start, end = rng.choice(encounters)
        taken = start + (end - start) * rng.random()
        value = _vital_value(rng, loinc, (taken - born_at).days / 365.25, adult_height, bmi)
        add({
            "resourceType": "Observation", "status": "final",
            "category": [_concept(TERMINOLOGY + "observation-category",
                                  "vital-signs", "Vital Signs")],
            "code": _concept(LOINC, loinc, display, text),
            "subject": subject, "encounter": {"reference": enc_url},
            "effectiveDateTime": _ts(taken),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
        })

    for text, kind, category, criticality in rng.sample(ALLERGIES, rng.randint(0, 2)):
        add({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": _concept(TERMINOLOGY + "allergyintolerance-clinical",
                                       "active", "Active"),
            "verificationStatus": _concept(TERMINOLOGY + "allergyintolerance-verification",
                                           "confirmed", "Confirmed"),
            "type": kind, "category": [category], "criticality": criticality,
            "code": {"text": text}, "patient": subject,
            "recordedDate": _ts(min(start for _, start, _ in encounters)),
        })

    return {"resourceType": "Bundle", "type": "transaction",
            "meta": {"tag": [dict(HTEST_TAG)]}, "entry": entries}
