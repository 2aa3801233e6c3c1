"""The domain rules behind patient-entered outcomes: which questionnaires a time point asks for,
which instruments a patient may fill in, and the days a patient may report."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain import instruments, tlfb
from kapstone.domain.errors import DomainError
from kapstone.domain.protocols import (
    DEFAULT_QUESTIONNAIRES,
    INDICATIONS,
    clone_protocol,
    get_protocol,
    protocol_from_dict,
    protocol_library,
    protocol_to_dict,
    questionnaires_at,
)

TODAY = date(2026, 6, 15)


def test_every_indication_has_a_default_plan_of_known_instruments():
    assert set(DEFAULT_QUESTIONNAIRES) == set(INDICATIONS)
    for plan in DEFAULT_QUESTIONNAIRES.values():
        for code in (*plan.baseline, *plan.follow_up):
            instruments.get_instrument(code)


def test_the_alcohol_default_asks_the_full_audit_at_baseline_and_audit_c_after():
    kare = get_protocol("kare-alcohol-grabski-2022")
    assert kare.questionnaires is None
    assert questionnaires_at(kare, 0) == ("audit", "pacs", "phq-9", "gad-7")
    assert questionnaires_at(kare, 6) == ("audit-c", "pacs", "phq-9", "gad-7")
    cocaine = next(p for p in protocol_library() if p.indication == "cocaine")
    assert questionnaires_at(cocaine, 0) == ("dast-10", "phq-9", "gad-7")
    assert questionnaires_at(cocaine, 1) == ("phq-9", "gad-7")


def test_a_clinic_sets_its_own_plan_and_it_survives_the_json_round_trip():
    kare = get_protocol("kare-alcohol-grabski-2022")
    clone = clone_protocol(kare, {"questionnaires": {"baseline": ["phq-9"], "follow_up": ["pacs", "phq-9"]}})
    assert questionnaires_at(clone, 0) == ("phq-9",) and questionnaires_at(clone, 3) == ("pacs", "phq-9")
    assert protocol_from_dict(protocol_to_dict(clone)) == clone
    # A snapshot stored before the plan existed has no key: the indication's default applies.
    data = protocol_to_dict(kare)
    del data["questionnaires"]
    assert protocol_from_dict(data) == kare


@pytest.mark.parametrize(
    ("plan", "code", "field"),
    [
        ({"baseline": ["phq-9", "bdi"], "follow_up": []}, "unknown_instrument", "questionnaires.baseline.1"),
        (
            {"baseline": [], "follow_up": ["pacs", "pacs"]},
            "duplicate_instrument",
            "questionnaires.follow_up.1",
        ),
    ],
)
def test_refuses_a_bad_plan(plan, code, field):
    with pytest.raises(DomainError) as caught:
        clone_protocol(get_protocol("kare-alcohol-grabski-2022"), {"questionnaires": plan})
    assert (caught.value.code, caught.value.field) == (code, field)


def test_patients_fill_in_only_self_report_instruments_with_free_wording():
    assert instruments.SELF_REPORT_INSTRUMENTS == ("phq-9", "gad-7", "audit", "audit-c", "pacs")
    assert "dast-10" not in instruments.SELF_REPORT_INSTRUMENTS  # copyrighted wording
    assert "cadss" not in instruments.SELF_REPORT_INSTRUMENTS  # clinician-rated


def test_the_self_harm_flag_is_phq9_item_9():
    score = instruments.score_instrument("phq-9", [0] * 8 + [1])
    assert score.flags == (instruments.SELF_HARM_FLAG,)
    assert instruments.score_instrument("phq-9", [3] * 8 + [0]).flags == ()


def test_band_words():
    assert instruments.band_label("phq-9", "moderately-severe") == "Moderately severe"
    assert instruments.band_label("audit-c", "positive") == "Positive screen"
    assert instruments.band_label("pacs", "") is None


# --- the patient's calendar window ---------------------------------------------------------------


def test_the_window_is_the_last_30_days_not_before_the_course():
    assert tlfb.self_entry_window(today=TODAY, course_start=date(2026, 1, 1)) == (
        TODAY - timedelta(days=29),
        TODAY,
    )
    assert tlfb.self_entry_window(today=TODAY, course_start=TODAY - timedelta(days=3)) == (
        TODAY - timedelta(days=3),
        TODAY,
    )
    assert tlfb.self_entry_window(today=TODAY, course_start=TODAY) == (TODAY, TODAY)
    assert tlfb.self_entry_window(today=TODAY, course_start=TODAY + timedelta(days=1)) is None
    assert tlfb.self_entry_window(today=TODAY, course_start=None) is None


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(0, True), (-29, True), (-30, False), (1, False)],
)
def test_check_self_entry_day_boundaries(offset, allowed):
    window = tlfb.self_entry_window(today=TODAY, course_start=date(2025, 1, 1))
    day = TODAY + timedelta(days=offset)
    if allowed:
        tlfb.check_self_entry_day(day, window)
    else:
        with pytest.raises(DomainError) as caught:
            tlfb.check_self_entry_day(day, window, field="days[0].day")
        assert (caught.value.code, caught.value.field) == ("day_out_of_range", "days[0].day")


@given(offset=st.integers(min_value=-400, max_value=400), start=st.integers(min_value=-400, max_value=10))
def test_an_allowed_day_is_never_in_the_future_nor_before_the_course(offset, start):
    course_start = TODAY + timedelta(days=start)
    window = tlfb.self_entry_window(today=TODAY, course_start=course_start)
    day = TODAY + timedelta(days=offset)
    try:
        tlfb.check_self_entry_day(day, window)
    except DomainError as error:
        assert error.code == "day_out_of_range"
    else:
        assert course_start <= day <= TODAY and (TODAY - day).days < tlfb.SELF_ENTRY_DAYS
