"""Matching a person to a clinic, the referral queue's rules, the reference and the pre-fill."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.prescreen import validate_prescreen_answers
from kapstone.domain.protocols import protocol_library
from kapstone.domain.referrals import (
    REFERENCE_ALPHABET,
    ClinicOffer,
    add_working_days,
    check_referral_transition,
    match_clinics,
    new_reference,
    referral_overdue,
    screening_prefill,
)

INDICATIONS = {p.slug: p.indication for p in protocol_library()}
ALL = tuple(INDICATIONS)
ALCOHOL_ONLY = tuple(s for s in ALL if INDICATIONS[s] == "alcohol")


def offer(clinic_id: int, name: str, **overrides: Any) -> ClinicOffer:
    fields: dict[str, Any] = {
        "clinic_id": clinic_id,
        "name": name,
        "regions": frozenset({"NY"}),
        "languages": frozenset({"en"}),
        "modalities": frozenset({"in_person"}),
        "protocol_slugs": ALL,
        "protocol_substances": INDICATIONS,
        "accepting": True,
        "wait_weeks": 3,
    }
    fields.update(overrides)
    return ClinicOffer(**fields)


NORTHSIDE = offer(1, "Northside Clinic", languages=frozenset({"en", "es"}), wait_weeks=4)
RIVERSIDE = offer(2, "Riverside Clinic", regions=frozenset({"NJ"}), protocol_slugs=ALCOHOL_ONLY, wait_weeks=2)


def person(**overrides: Any):
    answers: dict[str, Any] = {
        "age_years": 40,
        "substances": ["alcohol"],
        "pregnant_or_breastfeeding": False,
        "psychosis_history": False,
        "ketamine_allergy": False,
        "heart_or_bp_problem": False,
        "ketamine_misuse_history": False,
        "withdrawal_risk": False,
        "self_harm": "no",
    }
    answers.update(overrides)
    return validate_prescreen_answers({k: v for k, v in answers.items() if v is not None})


def names(matches) -> list[str]:
    return [m.clinic_name for m in matches]


def test_region_language_and_substance_decide_the_demo_matches():
    assert names(match_clinics(person(region="NY", language="es"), [NORTHSIDE, RIVERSIDE])) == [
        "Northside Clinic"
    ]
    assert names(match_clinics(person(region="NJ"), [NORTHSIDE, RIVERSIDE])) == ["Riverside Clinic"]
    assert names(match_clinics(person(region="NJ", substances=["cocaine"]), [NORTHSIDE, RIVERSIDE])) == []
    assert names(match_clinics(person(region="NJ", language="es"), [NORTHSIDE, RIVERSIDE])) == []


def test_no_region_matches_anywhere_and_no_language_means_english():
    both = match_clinics(person(), [NORTHSIDE, RIVERSIDE])
    assert names(both) == ["Riverside Clinic", "Northside Clinic"]  # same coverage: shorter wait first
    assert names(match_clinics(person(language="fr"), [NORTHSIDE, RIVERSIDE])) == []


def test_a_clinic_not_accepting_or_without_in_person_care_is_left_out():
    closed = offer(3, "Closed", accepting=False)
    remote = offer(4, "Remote", modalities=frozenset({"hybrid_follow_up"}))
    assert names(match_clinics(person(), [closed, remote])) == ["Remote"]
    assert names(match_clinics(person(modality="in_person"), [closed, remote])) == []


def test_ranking_coverage_then_wait_then_name():
    a = offer(5, "Beta", wait_weeks=1, protocol_slugs=ALCOHOL_ONLY)
    b = offer(6, "alpha", wait_weeks=6)
    c = offer(7, "Alpha two", wait_weeks=6)
    ranked = match_clinics(person(substances=["alcohol", "cocaine"]), [a, b, c])
    assert names(ranked) == ["alpha", "Alpha two", "Beta"]


def test_each_match_says_why_in_words_and_lists_its_protocols():
    (match,) = match_clinics(
        person(region="NY", language="es", substances=["alcohol", "cannabis"]), [NORTHSIDE]
    )
    assert match.why == ("offers ketamine-assisted therapy for alcohol use", "serves NY", "speaks Spanish")
    assert set(match.protocols) == set(ALCOHOL_ONLY)
    assert match.as_dict() == {
        "clinic_id": 1,
        "clinic_name": "Northside Clinic",
        "protocols": list(match.protocols),
        "why": list(match.why),
        "wait_weeks": 4,
    }
    (two,) = match_clinics(person(substances=["opioids", "cocaine"]), [NORTHSIDE])
    assert two.why[0] == "offers ketamine-assisted therapy for opioid use and cocaine use"


@given(
    st.lists(st.sampled_from(["alcohol", "opioids", "cocaine", "cannabis"]), min_size=1),
    st.sampled_from([None, "NY", "NJ"]),
)
def test_every_match_treats_one_of_the_substances_and_serves_the_region(substances, region):
    for match in match_clinics(person(substances=substances, region=region), [NORTHSIDE, RIVERSIDE]):
        clinic = NORTHSIDE if match.clinic_id == 1 else RIVERSIDE
        assert clinic.substances & set(substances)
        assert region is None or region in clinic.regions


# --- Queue ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "to", "ok"),
    [
        ("new", "contacted", True),
        ("new", "intake_booked", True),
        ("contacted", "intake_booked", True),
        ("intake_booked", "contacted", True),
        ("new", "converted", False),
        ("declined", "contacted", False),
        ("converted", "declined", False),
        ("contacted", "new", False),
    ],
)
def test_status_moves(current, to, ok):
    if ok:
        assert check_referral_transition(current, to, reason=None) == to
    else:
        with pytest.raises(WorkflowConflict) as caught:
            check_referral_transition(current, to, reason="x")
        assert caught.value.code == "invalid_transition" and "_" not in caught.value.message


def test_declining_needs_a_reason_and_an_unknown_status_is_refused():
    with pytest.raises(DomainError) as caught:
        check_referral_transition("new", "declined", reason="  ")
    assert (caught.value.code, caught.value.field) == ("reason_required", "reason")
    assert check_referral_transition("contacted", "declined", reason="Chose another service") == "declined"
    with pytest.raises(DomainError) as caught:
        check_referral_transition("new", "lost", reason=None)
    assert caught.value.code == "unknown_status"


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2026, 12, 7, 10, 0), 2, datetime(2026, 12, 9, 10, 0)),  # Mon → Wed
        (datetime(2026, 12, 10, 10, 0), 2, datetime(2026, 12, 14, 10, 0)),  # Thu → Mon
        (datetime(2026, 12, 11, 16, 0), 1, datetime(2026, 12, 14, 16, 0)),  # Fri → Mon
        (datetime(2026, 12, 12, 16, 0), 2, datetime(2026, 12, 16, 0, 0)),  # Sat → from Mon 00:00
        (datetime(2026, 12, 7, 10, 0), 0, datetime(2026, 12, 7, 10, 0)),
    ],
)
def test_working_days(start, days, expected):
    assert add_working_days(start, days) == expected


def test_overdue_only_when_new_past_the_target():
    created = datetime(2026, 12, 7, 10, 0)
    kwargs = {"created_at_local": created, "target_working_days": 2}
    assert not referral_overdue(status="new", now_local=datetime(2026, 12, 9, 10, 0), **kwargs)
    assert referral_overdue(status="new", now_local=datetime(2026, 12, 9, 10, 1), **kwargs)
    assert not referral_overdue(status="contacted", now_local=datetime(2026, 12, 20), **kwargs)


# --- Reference -------------------------------------------------------------------------------------


def test_reference_shape():
    reference = new_reference(random.Random(7).choice)
    assert reference.startswith("R-") and len(reference) == 8
    assert all(c in REFERENCE_ALPHABET for c in reference[2:])


# --- Pre-fill ---------------------------------------------------------------------------------------


def test_prefill_copies_only_what_the_person_said():
    clean = screening_prefill(person())
    assert clean == {
        "age_years": 40,
        "psychotic_disorder": False,
        "ketamine_hypersensitivity": False,
        "pregnant": False,
        "breastfeeding": False,
        "uncontrolled_cardiovascular_disease": False,
        "aneurysmal_vascular_disease": False,
        "intracerebral_hemorrhage_history": False,
        "active_ketamine_misuse": False,
    }
    risky = screening_prefill(
        person(
            pregnant_or_breastfeeding=True,
            heart_or_bp_problem=True,
            ketamine_misuse_history=True,
            psychosis_history=True,
        )
    )
    assert risky == {"age_years": 40, "psychotic_disorder": True, "ketamine_hypersensitivity": False}


def test_prefill_names_are_questions_of_the_full_screening():
    from kapstone.domain.screening import ANSWER_NAMES, BOOLEAN_ANSWERS

    prefill = screening_prefill(person())
    assert set(prefill) <= set(ANSWER_NAMES)
    assert all(isinstance(prefill[name], bool) for name in prefill if name in BOOLEAN_ANSWERS)


def test_split_full_name():
    from kapstone.domain.referrals import split_full_name

    assert split_full_name("  Casey  Ann Testperson ") == ("Casey Ann", "Testperson")
    assert split_full_name("Madonna") is None and split_full_name("") is None


@given(
    st.integers(0, 110),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
)
def test_an_estimated_birth_date_gives_back_the_age(age, today):
    from kapstone.domain.patients import age_in_years
    from kapstone.domain.referrals import estimated_birth_date

    born = estimated_birth_date(age, today=today)
    assert age_in_years(born, on=today) == age
