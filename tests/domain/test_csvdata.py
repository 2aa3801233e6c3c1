"""Research CSV parsing: every malformed input is refused naming the row and the column."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain.csvdata import parse_abstinence_csv, parse_survival_csv
from kapstone.domain.errors import DomainError


def survival(text: str, group: str | None = "arm"):
    return parse_survival_csv(text, time_column="days", event_column="relapse", group_column=group)


def abstinence(text: str):
    return parse_abstinence_csv(text, group_column="arm", abstinent_column="abstinent")


def refused(call, text: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(text)
    return caught.value


def test_parses_times_events_and_groups():
    data = survival("id,arm,days,relapse\n1,K,30,1\n2,C,12.5,0\n3,K,0,0\n")
    assert data.times == (30.0, 12.5, 0.0)
    assert data.events == (1, 0, 0)
    assert data.groups == ("K", "C", "K")


def test_group_column_is_optional():
    data = survival("days,relapse\n3,1\n", group=None)
    assert data.groups is None and data.times == (3.0,)


def test_tolerates_bom_crlf_whitespace_quotes_and_blank_lines():
    text = '\ufeff days , relapse ,arm\r\n 4 , 1 ,"K"\r\n\r\n5,0, C \r\n'
    data = survival(text)
    assert data.times == (4.0, 5.0) and data.events == (1, 0) and data.groups == ("K", "C")


@pytest.mark.parametrize(
    ("text", "field", "where"),
    [
        ("days,relapse,arm\n1,1,K\nabc,1,K\n", "days", "Row 2 (line 3)"),
        ("days,relapse,arm\n1,1,K\n,1,K\n", "days", "Row 2 (line 3)"),
        ("days,relapse,arm\n-1,1,K\n", "days", "Row 1 (line 2)"),
        ("days,relapse,arm\nnan,1,K\n", "days", "Row 1 (line 2)"),
        ("days,relapse,arm\ninf,1,K\n", "days", "Row 1 (line 2)"),
        ("days,relapse,arm\n1e999,1,K\n", "days", "Row 1 (line 2)"),
        ("days,relapse,arm\n1_000,1,K\n", "days", "Row 1 (line 2)"),
        ("days,relapse,arm\n1,2,K\n", "relapse", "Row 1 (line 2)"),
        ("days,relapse,arm\n1,yes,K\n", "relapse", "Row 1 (line 2)"),
        ("days,relapse,arm\n1,1.0,K\n", "relapse", "Row 1 (line 2)"),
        ("days,relapse,arm\n1,,K\n", "relapse", "Row 1 (line 2)"),
        ("days,relapse,arm\n1,1,K\n\n2,1,\n", "arm", "Row 2 (line 4)"),
        ("days,relapse,arm\n1,1\n", "arm", "Row 1 (line 2)"),
    ],
)
def test_refuses_invalid_values_naming_row_and_column(text, field, where):
    error = refused(survival, text)
    assert (error.code, error.field) == ("invalid_value", field)
    assert where in error.message and repr(field) in error.message


def test_refuses_missing_column():
    error = refused(survival, "days,event,arm\n1,1,K\n")
    assert (error.code, error.field) == ("missing_column", "relapse")
    assert "days, event, arm" in error.message


def test_refuses_duplicate_column():
    error = refused(survival, "days,relapse,arm,days\n1,1,K,2\n")
    assert (error.code, error.field) == ("duplicate_column", "days")


@pytest.mark.parametrize("text", ["", "   \n", "\ufeff"])
def test_refuses_empty_file(text):
    error = refused(survival, text)
    assert (error.code, error.field) == ("empty_file", "file")


def test_refuses_header_without_rows():
    error = refused(survival, "days,relapse,arm\n\n")
    assert error.code == "empty_file" and "no data rows" in error.message


def test_refuses_unreadable_csv_and_non_text():
    error = refused(survival, 'days,relapse,arm\n1,1,K\n2,0,"C"x\n')
    assert (error.code, error.field) == ("file_unreadable", "file")
    assert "line 3" in error.message
    error = refused(survival, "days,relapse,arm\n1,1," + "K" * 200_000 + "\n")
    assert error.code == "file_unreadable"
    assert refused(survival, b"days,relapse\n").code == "file_unreadable"


def test_refuses_the_same_column_for_two_roles():
    with pytest.raises(DomainError) as caught:
        parse_survival_csv("days\n1\n", time_column="days", event_column="days")
    assert caught.value.code == "invalid_arguments"


def test_abstinence_blank_is_missing():
    data = abstinence("arm,abstinent\nK,1\nK,\nC,0\nC, \n")
    assert data.groups == ("K", "K", "C", "C")
    assert data.abstinent == (True, None, False, None)


@pytest.mark.parametrize("value", ["2", "yes", "1.0", "-1", "true"])
def test_abstinence_refuses_values_other_than_0_1_blank(value):
    error = refused(abstinence, f"arm,abstinent\nK,1\nK,{value}\n")
    assert (error.code, error.field) == ("invalid_value", "abstinent")
    assert "Row 2 (line 3)" in error.message


def test_abstinence_refuses_blank_group_and_missing_column():
    assert refused(abstinence, "arm,abstinent\n,1\n").field == "arm"
    error = refused(abstinence, "group,abstinent\nK,1\n")
    assert (error.code, error.field) == ("missing_column", "arm")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_property_arbitrary_text_parses_or_raises_domain_error(text):
    for call in (survival, abstinence):
        try:
            call(text)
        except DomainError as error:
            assert error.code in {
                "empty_file",
                "missing_column",
                "duplicate_column",
                "invalid_value",
                "file_unreadable",
            }
