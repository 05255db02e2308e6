"""The synthetic population: deterministic, test-tagged, self-consistent, valid FHIR R4."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from personnummer import personnummer as pnr_package

from vardnav.demo.population import (
    HTEST_TAG,
    PNR_SYSTEM,
    REFERENCE_TIME,
    count_resources,
    generate_personnummer,
    generate_population,
    load_test_personnummer,
)
from vardnav.fhir import definitions

# Shared data lives beside the repository, never inside it (see ../shared/data/README.md).
TEST_PNR_FILE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data"
    / "skatteverket-testpersonnummer.txt"
)


@pytest.fixture(scope="module")
def official() -> list[str]:
    assert TEST_PNR_FILE.is_file(), f"Skatteverket's test list is missing: {TEST_PNR_FILE}"
    return load_test_personnummer(TEST_PNR_FILE)


@pytest.fixture(scope="module")
def bundles(official: list[str]) -> list[dict[str, Any]]:
    return list(generate_population(patients=300, seed=5, personnummer=official))


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]]


def _patient(bundle: dict[str, Any]) -> dict[str, Any]:
    (patient,) = [r for r in _resources(bundle) if r["resourceType"] == "Patient"]
    return patient


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _references(item)]
    return []


def test_same_seed_gives_same_output_and_other_seeds_differ(official: list[str]) -> None:
    def run(seed: int, pool: list[str] | None) -> str:
        return json.dumps(list(generate_population(patients=40, seed=seed, personnummer=pool)))

    assert run(3, official) == run(3, official)
    assert run(3, None) == run(3, None)
    assert run(3, official) != run(4, official)
    assert generate_personnummer(50, seed=9) == generate_personnummer(50, seed=9)


def test_fallback_personnummer_are_valid_unique_and_in_range() -> None:
    numbers = load_test_personnummer(None, fallback_count=2000, seed=11)
    assert len(numbers) == len(set(numbers)) == 2000
    for number in numbers:
        assert len(number) == 12 and number.isdigit()
        assert pnr_package.valid(number), number
        assert 1930 <= date.fromisoformat(f"{number[:4]}-{number[4:6]}-{number[6:8]}").year <= 2020


def test_missing_file_warns_and_falls_back(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="not found"):
        numbers = load_test_personnummer(tmp_path / "absent.txt", fallback_count=10)
    assert numbers == generate_personnummer(10, seed=1)


def test_official_list_is_read_and_used(official: list[str], bundles: list[dict]) -> None:
    assert official == TEST_PNR_FILE.read_text().split()
    assert len(official) > 40_000
    used = [_patient(b)["identifier"][0]["value"] for b in bundles]
    assert set(used) <= set(official)
    assert len(set(used)) == len(used)
    # The list is heavy with 1890s births; the demo prefers patients of plausible age.
    assert all(int(number[:4]) >= 1930 for number in used)


def test_gender_and_birth_date_follow_the_personnummer(bundles: list[dict]) -> None:
    genders = Counter()
    for bundle in bundles:
        patient = _patient(bundle)
        (identifier,) = patient["identifier"]
        number = identifier["value"]
        assert identifier["system"] == PNR_SYSTEM
        assert patient["birthDate"] == f"{number[:4]}-{number[4:6]}-{number[6:8]}"
        assert patient["gender"] == ("male" if int(number[10]) % 2 else "female")
        genders[patient["gender"]] += 1
    assert genders["male"] > 50 and genders["female"] > 50


def test_swedish_names_and_addresses(bundles: list[dict]) -> None:
    families = {_patient(b)["name"][0]["family"] for b in bundles}
    assert any(ch in "".join(families) for ch in "åäöÅÄÖ")
    for bundle in bundles:
        (address,) = _patient(bundle)["address"]
        assert address["city"] and address["state"] == "Västra Götalands län"
        assert len(address["postalCode"]) == 6 and address["postalCode"][3] == " "


def test_bundle_shape_and_resource_counts(bundles: list[dict]) -> None:
    for bundle in bundles:
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        kinds = Counter(r["resourceType"] for r in _resources(bundle))
        assert kinds["Patient"] == 1
        assert 1 <= kinds["Encounter"] <= 3
        assert 0 <= kinds["Condition"] <= 3
        assert 2 <= kinds["Observation"] <= 8
        assert 0 <= kinds["AllergyIntolerance"] <= 2
        assert count_resources(bundle) == sum(kinds.values()) == len(bundle["entry"])
        for entry in bundle["entry"]:
            assert entry["request"]["method"] == "POST"
            assert entry["request"]["url"] == entry["resource"]["resourceType"]
        number = _patient(bundle)["identifier"][0]["value"]
        assert bundle["entry"][0]["request"]["ifNoneExist"] == f"identifier={PNR_SYSTEM}|{number}"


def test_references_resolve_inside_their_bundle(bundles: list[dict]) -> None:
    for bundle in bundles:
        full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
        assert len(set(full_urls)) == len(full_urls)
        assert all(url.startswith("urn:uuid:") for url in full_urls)
        by_url = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
        for resource in _resources(bundle)[1:]:  # all but the Patient point somewhere
            refs = _references(resource)
            assert refs and set(refs) <= set(full_urls)
            if "encounter" in resource:
                assert by_url[resource["encounter"]["reference"]] == "Encounter"
            assert by_url[(resource.get("subject") or resource.get("patient"))["reference"]] \
                == "Patient"


def test_every_resource_carries_the_htest_tag(bundles: list[dict]) -> None:
    for bundle in bundles:
        for resource in [bundle, *_resources(bundle)]:
            assert HTEST_TAG in resource["meta"]["tag"], resource["resourceType"]


def test_bundles_validate_against_the_official_r4_schema(bundles: list[dict]) -> None:
    validator = jsonschema_rs.validator_for(definitions.load().json_schema)
    for bundle in bundles:
        errors = [e.message for e in validator.iter_errors(bundle)]
        assert not errors, errors[:3]


def test_dates_are_real_and_timed_values_carry_a_zone(bundles: list[dict]) -> None:
    for bundle in bundles:
        born = date.fromisoformat(_patient(bundle)["birthDate"])
        periods = {}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Encounter":
                start = datetime.fromisoformat(resource["period"]["start"])
                end = datetime.fromisoformat(resource["period"]["end"])
                assert start.tzinfo and end.tzinfo
                assert born < start.date() and start < end <= REFERENCE_TIME
                periods[entry["fullUrl"]] = (start, end)
        for resource in _resources(bundle):
            if resource["resourceType"] == "Observation":
                start, end = periods[resource["encounter"]["reference"]]
                assert start <= datetime.fromisoformat(resource["effectiveDateTime"]) <= end
            for key in ("onsetDateTime", "recordedDate", "abatementDateTime"):
                if key in resource:
                    assert datetime.fromisoformat(resource[key]).tzinfo


def test_too_many_patients_is_a_clear_error_raised_at_call_time() -> None:
    with pytest.raises(ValueError, match="3 patients requested but only 2 personnummer"):
        generate_population(patients=3, personnummer=generate_personnummer(2))
    with pytest.raises(ValueError, match="only 1 personnummer"):  # duplicates count once
        generate_population(patients=2, personnummer=generate_personnummer(1) * 2)


def test_invalid_personnummer_is_rejected() -> None:
    samordningsnummer = "198112889876"  # day + 60: not a birth date
    with pytest.raises(ValueError, match="not a valid"):
        generate_population(patients=1, personnummer=[samordningsnummer])
    with pytest.raises(ValueError, match="not a valid"):
        generate_population(patients=1, personnummer=["198112289875"])  # wrong check digit
