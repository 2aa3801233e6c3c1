"""The search-value parser every FHIR resource module uses (kapstone/interop/fhir/search.py):
no database, every malformed value a SearchError with its stable code."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapstone.interop.fhir import search as sp
from kapstone.interop.fhir.errors import SearchError
from kapstone.interop.fhir.registry import RESOURCES

NEW_YORK = ZoneInfo("America/New_York")


def refused(call, *args) -> str:
    with pytest.raises(SearchError) as caught:
        call(*args)
    assert str(caught.value)  # a message, not only a code
    return caught.value.code


def test_logical_ids_plain_and_prefixed():
    assert sp.ids("_id", "1,2,x-3") == {1, 2}
    assert sp.prefixed_ids("_id", "vital-12,bp-3,nothing-1,12", ("vital", "bp")) == {("vital", 12), ("bp", 3)}
    assert sp.prefixed_pk("bp-123", ("bp",)) == ("bp", 123)
    for value in ("bp-", "bp-0", "bp-1x", "bp", "-1", "vital-12", "bp-" + "9" * 20):
        assert sp.prefixed_pk(value, ("bp",)) is None
    for value in ("bad id!", "a" * 65, "Patient/1"):
        assert refused(sp.ids, "_id", value) == "invalid_id"
        assert refused(sp.prefixed_ids, "_id", value, ("bp",)) == "invalid_id"
    assert sp.id_filter({"_id": ["1,2", "2,3"]}) == {2}
    assert sp.id_filter({}) is None
    assert sp.prefixed_id_filter({"_id": ["bp-1,bp-2", "bp-2"]}, ("bp",)) == {("bp", 2)}


def test_references():
    assert sp.reference_ids("patient", "Patient/12,13", "Patient") == {12, 13}
    assert sp.reference_ids("patient", str(10**30), "Patient") == set()  # no record has it
    for value in ("Patient/abc", "Patient/", "Group/1", "Practitioner/1"):
        assert refused(sp.reference_ids, "patient", value, "Patient") == "invalid_reference"
    assert sp.reference_filter({"patient": ["1,2", "Patient/2"]}, "patient", "Patient") == {2}
    assert sp.reference_filter({}, "patient", "Patient") is None


def test_tokens_over_several_codings():
    codings = [{"system": "http://loinc.org", "code": "8867-4"}, {"code": "hr"}]
    assert sp.codings_match(sp.tokens("code", "http://loinc.org|8867-4"), codings)
    assert sp.codings_match(sp.tokens("code", "other,hr"), codings)
    assert sp.codings_match(sp.tokens("code", "|hr"), codings)  # no system
    assert not sp.codings_match(sp.tokens("code", "|8867-4"), codings)
    assert sp.codings_match(sp.tokens("code", "http://loinc.org|"), codings)  # any code
    assert not sp.codings_match(sp.tokens("code", "http://snomed.info/sct|"), codings)
    for value in ("a|b|c", "|"):
        assert refused(sp.tokens, "code", value) == "invalid_token"


def test_status_codes_over_their_system():
    system = "http://hl7.org/fhir/encounter-status"
    assert sp.codes_of("status", f"planned,{system}|finished", ("planned", "finished"), system) == {
        "planned",
        "finished",
    }
    for value in ("done", "other|planned", "|planned", "a|b|c"):
        code = refused(sp.codes_of, "status", value, ("planned",), system)
        assert code in ("invalid_status", "invalid_token")


@pytest.mark.parametrize(
    "value",
    ["yesterday", "xx2025", "ap2025", "2025-13-01", "2025-02-30", "2025-01-01T10:00", "0000", "2025,2026"],
)
def test_bad_dates(value):
    assert refused(sp.dates, "date", value) == "invalid_date"


def test_date_precision_and_offsets():
    assert sp.dates("date", "2025") == sp.DateParam("eq", date(2025, 1, 1), date(2026, 1, 1))
    assert sp.dates("date", "ge2025-12") == sp.DateParam("ge", date(2025, 12, 1), date(2026, 1, 1))
    minute = sp.dates("date", "lt2025-03-01T10:00+02:00")
    assert minute.lower == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert minute.upper - minute.lower == timedelta(minutes=1)
    fine = sp.dates("date", "2025-03-01T10:00:05.25Z")
    assert fine.lower == datetime(2025, 3, 1, 10, 0, 5, 250000, tzinfo=UTC)
    assert fine.upper - fine.lower == timedelta(milliseconds=10)


def test_date_matching_in_the_clinics_zone():
    # 02:00 UTC on 2 March is still 1 March in New York.
    instant = datetime(2025, 3, 2, 2, 0, tzinfo=UTC)
    on = [sp.dates("date", "2025-03-01")]
    assert sp.date_matches(on, instant, NEW_YORK)
    assert not sp.date_matches(on, instant, UTC)
    assert sp.date_matches([], None, NEW_YORK)
    assert not sp.date_matches(on, None, NEW_YORK)
    day = date(2025, 3, 1)  # a date-valued resource is its day in the zone
    expected = {
        "eq": True,
        "ne": False,
        "lt": False,
        "le": True,
        "gt": False,
        "ge": True,
        "sa": False,
        "eb": False,
    }
    for prefix, wanted in expected.items():
        assert sp.date_matches([sp.dates("date", f"{prefix}2025-03-01")], day, NEW_YORK) is wanted, prefix
    assert sp.date_matches([sp.dates("date", "sa2025-02-28")], day, NEW_YORK)
    assert sp.date_matches([sp.dates("date", "eb2025-03-02")], day, NEW_YORK)
    both = [sp.dates("date", "ge2025-01"), sp.dates("date", "lt2025-03-02")]
    assert sp.date_matches(both, instant, NEW_YORK)


def test_date_window_is_wider_than_any_zone():
    low, high = sp.date_window([sp.dates("date", "ge2025-03-01"), sp.dates("date", "le2025-03-31")])
    assert low <= datetime(2025, 3, 1, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    assert high >= datetime(2025, 4, 1, tzinfo=ZoneInfo("Pacific/Pago_Pago"))
    assert sp.date_window([sp.dates("date", "ne2025")]) == (None, None)
    assert sp.date_window([]) == (None, None)


def test_bounds_apply_to_every_search():
    assert refused(sp.check_params, {"_id": ["1"] * (sp.VALUES_MAX + 1)}, ["_id"]) == "too_many_parameters"
    assert (
        refused(sp.check_params, {"_id": [",".join("1" * (sp.ALTERNATIVES_MAX + 1))]}, ["_id"])
        == "too_many_values"
    )
    assert refused(sp.check_params, {"_id": ["1" * (sp.VALUE_MAX_CHARS + 1)]}, ["_id"]) == "invalid_value"
    assert refused(sp.check_params, {"_id": [""]}, ["_id"]) == "invalid_value"
    assert refused(sp.check_params, {"code:text": ["x"]}, ["code"]) == "unknown_search_parameter"
    sp.check_params({"_id": ["1"]}, ["_id"])


@pytest.mark.django_db
@pytest.mark.parametrize("resource_type", list(RESOURCES))
def test_every_type_takes_the_same_rules(resource_type, clinic_a):
    """The nine types share one parser: the same bounds, the same id and reference refusals, and
    (where they search by date) the same date syntax."""
    module = RESOURCES[resource_type]
    clinic = {clinic_a.pk}
    cases = [
        ({"_id": ["1"] * (sp.VALUES_MAX + 1)}, "too_many_parameters"),
        ({"_id": [",".join("1" * (sp.ALTERNATIVES_MAX + 1))]}, "too_many_values"),
        ({"_id": ["1" * (sp.VALUE_MAX_CHARS + 1)]}, "invalid_value"),
        ({"_id": [""]}, "invalid_value"),
        ({"_id": ["bad id!"]}, "invalid_id"),
        ({"nonsense": ["1"]}, "unknown_search_parameter"),
    ]
    if "patient" in module.SEARCH_PARAMS:
        cases += [
            ({"patient": ["Patient/abc"]}, "invalid_reference"),
            ({"patient": ["Group/1"]}, "invalid_reference"),
        ]
    if "date" in module.SEARCH_PARAMS:
        cases += [({"date": [bad]}, "invalid_date") for bad in ("ap2025", "2025-01-01T10:00", "2025-13")]
        for good in (
            "2025",
            "ge2025-03",
            "sa2025-03-01",
            "eb2025-03-01T10:00:05.5+02:00",
            "ne2025-03-01T10:00Z",
        ):
            assert module.search(clinic_ids=clinic, params={"date": [good]}) == []
    for params, code in cases:
        with pytest.raises(SearchError) as caught:
            module.search(clinic_ids=clinic, params=params)
        assert caught.value.code == code, (params, caught.value.code)
