"""The order of a session's steps in time (issue 11, defect 4): ``check_step_time``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.errors import DomainError
from kapstone.domain.sessions import FUTURE_TOLERANCE, check_step_time, describe_time

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 10, 18, 30, 20, tzinfo=UTC)  # 14:30:20 in New York (EDT)


def refused(at, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as error:
        check_step_time(at, now=NOW, what="The start", tz=NEW_YORK, field="started_at", **kwargs)
    assert error.value.field == "started_at"
    return error.value


def test_a_step_after_the_steps_it_follows_is_in_order():
    verified = NOW - timedelta(minutes=10)
    at = NOW - timedelta(minutes=5)
    assert (
        check_step_time(at, now=NOW, what="The start", tz=NEW_YORK, recorded=[("verified", verified)]) == at
    )


def test_refuses_a_start_before_verification_naming_the_step_and_both_local_times():
    error = refused(
        NOW - timedelta(minutes=30),
        recorded=[
            ("the day-of checks were completed", NOW - timedelta(minutes=40)),
            ("the order was verified", NOW - timedelta(minutes=20)),
        ],
    )
    assert error.code == "time_out_of_order"
    assert error.message == "The start (14:00) is before the order was verified (14:10)."


def test_names_the_first_step_it_precedes():
    error = refused(
        NOW - timedelta(minutes=50),
        recorded=[
            ("the day-of checks were completed", NOW - timedelta(minutes=40)),
            ("the order was verified", NOW - timedelta(minutes=20)),
        ],
    )
    assert "the day-of checks were completed (13:50)" in error.message


def test_a_time_typed_in_the_minute_of_a_recorded_step_is_in_order():
    verified = datetime(2026, 3, 10, 18, 20, 45, tzinfo=UTC)
    typed = datetime(2026, 3, 10, 18, 20, tzinfo=UTC)  # 14:20 typed at 14:20:50
    assert check_step_time(typed, now=NOW, what="The start", tz=NEW_YORK, recorded=[("v", verified)]) == typed
    error = refused(typed - timedelta(seconds=1), recorded=[("the order was verified", verified)])
    assert error.code == "time_out_of_order"


def test_typed_steps_are_compared_exactly():
    """Rate changes and the end follow the start to the second: segments never overlap."""
    start = datetime(2026, 3, 10, 18, 20, 45, tzinfo=UTC)
    error = refused(start - timedelta(seconds=1), after=[("the administration started", start)])
    assert error.code == "time_out_of_order"
    assert check_step_time(start, now=NOW, what="The end", tz=NEW_YORK, after=[("s", start)]) == start


def test_steps_without_a_time_are_skipped():
    at = NOW - timedelta(minutes=5)
    assert check_step_time(at, now=NOW, what="The end", tz=NEW_YORK, after=[("x", None)]) == at


def test_refuses_the_future_beyond_the_tolerance():
    assert (
        check_step_time(NOW + FUTURE_TOLERANCE, now=NOW, what="The start", tz=NEW_YORK)
        == NOW + FUTURE_TOLERANCE
    )
    error = refused(NOW + FUTURE_TOLERANCE + timedelta(seconds=1))
    assert error.code == "time_in_future"
    assert error.message == "The start (14:31) is in the future."
    assert refused(NOW + timedelta(days=1)).message == "The start (14:30 tomorrow) is in the future."


@pytest.mark.parametrize("at", [datetime(2026, 3, 10, 14, 0), "2026-03-10T14:00", None])
def test_refuses_a_time_without_a_zone(at):
    assert refused(at).code == "naive_datetime"


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        (datetime(2026, 3, 10, 4, 5, tzinfo=UTC), "00:05"),  # same local day
        (datetime(2026, 3, 10, 3, 59, tzinfo=UTC), "23:59 yesterday"),
        (datetime(2026, 3, 11, 14, 0, tzinfo=UTC), "10:00 tomorrow"),
        (datetime(2026, 1, 2, 14, 0, tzinfo=UTC), "2 Jan 09:00"),
        (datetime(2025, 11, 22, 14, 0, tzinfo=UTC), "22 Nov 2025 09:00"),
    ],
)
def test_times_are_described_in_the_clinic_time_zone(at, shown):
    assert describe_time(at, now=NOW, tz=NEW_YORK) == shown


@given(
    st.lists(st.integers(min_value=-10_000, max_value=0), max_size=4),
    st.lists(st.integers(min_value=-10_000, max_value=0), max_size=4),
    st.integers(min_value=-10_000, max_value=0),
)
def test_in_order_exactly_when_no_earlier_step_is_later(recorded_offsets, typed_offsets, at_offset):
    """Property: accepted iff ``at`` is not before any typed step nor the minute of a recorded one."""
    recorded = [(f"recorded {i}", NOW + timedelta(seconds=s)) for i, s in enumerate(recorded_offsets)]
    typed = [(f"typed {i}", NOW + timedelta(seconds=s)) for i, s in enumerate(typed_offsets)]
    at = NOW + timedelta(seconds=at_offset)
    in_order = all(at >= t.replace(second=0, microsecond=0) for _, t in recorded) and all(
        at >= t for _, t in typed
    )
    try:
        check_step_time(at, now=NOW, what="The step", tz=NEW_YORK, recorded=recorded, after=typed)
    except DomainError as error:
        assert error.code == "time_out_of_order" and not in_order
    else:
        assert in_order
