"""Swedish personnummer and samordningsnummer on Patient.identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vardnav.domains.identity.swedish_identifiers import (
    PERSONNUMMER_OID,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_OID,
    SAMORDNINGSNUMMER_SYSTEM,
    canonical_number,
    check_swedish_identifiers,
)
from vardnav.errors import InvalidResource
from vardnav.fhir.validation import ResourceValidator

# The repo is /work/main and shared data sits beside it in /work/shared (also in CI).
TEST_NUMBERS_FILE = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
                     / "skatteverket-testpersonnummer.txt")


def official_test_numbers(step: int = 1000) -> list[str]:
    """Every `step`-th number from Skatteverket's published test list (a few dozen)."""
    lines = TEST_NUMBERS_FILE.read_text().split()
    return lines[::step]


def luhn_check_digit(nine_digits: str) -> str:
    """Swedish check digit over YYMMDDNNN: Luhn with weights 2,1,2,..."""
    total = 0
    for position, char in enumerate(nine_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return str((10 - total % 10) % 10)


def with_check_digit(eleven_digits: str) -> str:
    """YYYYMMDDNNN + its correct check digit."""
    return eleven_digits + luhn_check_digit(eleven_digits[2:])


def as_coordination_number(number: str) -> str:
    day = int(number[6:8]) + 60
    return with_check_digit(f"{number[:6]}{day:02d}{number[8:11]}")


def patient_with(value: str, system: str = PERSONNUMMER_SYSTEM) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}]}


def diagnostics(resource: dict[str, Any]) -> list[str]:
    return [i["diagnostics"] for i in check_swedish_identifiers(resource)]


SAMPLE = official_test_numbers()


def test_sample_is_a_few_dozen_numbers() -> None:
    assert 30 <= len(SAMPLE) <= 60
    assert all(len(n) == 12 and n.isdigit() for n in SAMPLE)


@pytest.mark.parametrize("number", SAMPLE)
def test_official_test_numbers_pass(number: str) -> None:
    assert check_swedish_identifiers(patient_with(number)) == []
    assert check_swedish_identifiers(patient_with(number, PERSONNUMMER_OID)) == []
    dashed = f"{number[:8]}-{number[8:]}"
    assert check_swedish_identifiers(patient_with(dashed)) == []
    assert canonical_number(dashed) == number


@pytest.mark.parametrize("number", SAMPLE[::4])
def test_mutated_check_digit_fails(number: str) -> None:
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    found = check_swedish_identifiers(patient_with(wrong))
    assert found == [{"severity": "error", "code": "value",
                      "diagnostics": f"Personnummer {wrong} has a wrong check digit",
                      "expression": ["Patient.identifier[0].value"]}]


def test_known_wrong_check_digit_message() -> None:
    assert diagnostics(patient_with("191212121213")) == [
        "Personnummer 191212121213 has a wrong check digit"]


@pytest.mark.parametrize("eleven", ["19121332123", "19230229123", "19120012123",
                                    "19121200123"])
def test_impossible_date_fails_even_with_a_correct_check_digit(eleven: str) -> None:
    number = with_check_digit(eleven)
    assert diagnostics(patient_with(number)) == [f"Personnummer {number} has an impossible date"]


def test_impossible_date_is_reported_before_the_check_digit() -> None:
    assert diagnostics(patient_with("191213321234")) == [
        "Personnummer 191213321234 has an impossible date"]


@pytest.mark.parametrize("value", ["121212-1212", "1212121212", "121212+1212"])
def test_ten_digit_forms_ask_for_twelve_digits(value: str) -> None:
    [message] = diagnostics(patient_with(value))
    assert "12 digits" in message and value in message


@pytest.mark.parametrize("value", ["abc", "", "19121212 1212", "19121212+1212",
                                   "١٩١٢١٢١٢١٢١٢", "1912121212120"])
def test_malformed_values_fail(value: str) -> None:
    [message] = diagnostics(patient_with(value))
    assert "YYYYMMDDNNNC" in message


@pytest.mark.parametrize("number", SAMPLE[::5])
def test_samordningsnummer_must_be_a_coordination_number(number: str) -> None:
    coordination = as_coordination_number(number)
    for system in (SAMORDNINGSNUMMER_SYSTEM, SAMORDNINGSNUMMER_OID):
        assert check_swedish_identifiers(patient_with(coordination, system)) == []
    [message] = diagnostics(patient_with(number, SAMORDNINGSNUMMER_SYSTEM))
    assert message.startswith(f"Samordningsnummer {number} is not a samordningsnummer")


@pytest.mark.parametrize("number", SAMPLE[::5])
def test_personnummer_must_not_be_a_coordination_number(number: str) -> None:
    coordination = as_coordination_number(number)
    [message] = diagnostics(patient_with(coordination))
    assert message.startswith(f"Personnummer {coordination} is a samordningsnummer")
    assert SAMORDNINGSNUMMER_SYSTEM in message


def test_expressions_follow_the_identifier_position() -> None:
    resource = {"resourceType": "Patient", "identifier": [
        {"system": "http://example.org/mrn", "value": "not checked"},
        {"system": PERSONNUMMER_SYSTEM, "value": SAMPLE[0]},
        {"system": PERSONNUMMER_SYSTEM, "value": "191212121213"},
    ]}
    [found] = check_swedish_identifiers(resource)
    assert found["expression"] == ["Patient.identifier[2].value"]
    single = {"resourceType": "Practitioner",
              "identifier": {"system": PERSONNUMMER_SYSTEM, "value": "191212121213"}}
    assert check_swedish_identifiers(single)[0]["expression"] == [
        "Practitioner.identifier.value"]


def test_as_an_extra_check_of_the_validator() -> None:
    validator = ResourceValidator(extra_checks=[check_swedish_identifiers])
    validator.validate(patient_with(SAMPLE[0]))
    with pytest.raises(InvalidResource) as caught:
        validator.validate(patient_with("191212121213"))
    [found] = caught.value.outcome()["issue"]
    assert found["code"] == "value"
    assert found["expression"] == ["Patient.identifier[0].value"]
    assert found["diagnostics"] == "Personnummer 191212121213 has a wrong check digit"


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=14),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=12,
)
SYSTEMS = st.sampled_from([PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_OID]) | ANY_JSON
IDENTIFIERS = st.fixed_dictionaries({"system": SYSTEMS, "value": ANY_JSON | st.from_regex(
    r"[0-9]{6,8}[-+]?[0-9]{4}", fullmatch=True)})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["resourceType", "identifier", "id"]),
                       ANY_JSON | IDENTIFIERS | st.lists(IDENTIFIERS, max_size=3)))
def test_any_shape_gives_a_list_of_value_issues(resource: dict[str, Any]) -> None:
    found = check_swedish_identifiers(resource)
    assert all(i["code"] == "value" and i["expression"] for i in found)
