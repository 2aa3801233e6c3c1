"""Measurements get the moment they were taken from their day and entry time, and back again."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kapstone.patients.models import BodyMeasurement
from kapstone.patients.services import measurement_void
from tests.migrations_kit import migrate, migrate_to_newest

BEFORE = ("patients", "0001_initial")
LATEST = ("patients", "0004_measured_at_required")  # the migrations under test


NEW_YORK = ZoneInfo("America/New_York")  # clinic A


@pytest.mark.django_db(transaction=True)
def test_fills_measured_at_from_the_day_and_the_entry_time_and_reverses(nina, patient_a):
    registered = BodyMeasurement.objects.get(patient=patient_a)
    try:
        old = migrate(BEFORE)
        Old = old.get_model("patients", "BodyMeasurement")
        # Reversed: the day is the local date of measured_at.
        assert (
            Old.objects.get(pk=registered.pk).measured_on
            == registered.measured_at.astimezone(NEW_YORK).date()
        )
        # Entered at 09:41:37 local on the day it was taken: that minute.
        same_day = Old.objects.create(
            patient_id=patient_a.pk,
            weight_kg=Decimal("70.0"),
            measured_on=date(2026, 3, 2),
            recorded_at=datetime(2026, 3, 2, 9, 41, 37, tzinfo=NEW_YORK),
            recorded_by_id=nina.pk,
        )
        # Entered late in the evening local time, which is the next day in UTC: still that day.
        evening = Old.objects.create(
            patient_id=patient_a.pk,
            weight_kg=Decimal("72.0"),
            measured_on=date(2026, 3, 2),
            recorded_at=datetime(2026, 3, 2, 22, 15, tzinfo=NEW_YORK),
            recorded_by_id=nina.pk,
        )
        # Back-dated: its time was never recorded, so noon of its day in the clinic's zone.
        back_dated = Old.objects.create(
            patient_id=patient_a.pk,
            weight_kg=Decimal("71.0"),
            measured_on=date(2026, 2, 27),
            recorded_at=datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK),
            recorded_by_id=nina.pk,
        )
        migrate(LATEST)
    finally:
        migrate_to_newest()
    taken = dict(BodyMeasurement.objects.values_list("pk", "measured_at"))
    assert taken[same_day.pk] == datetime(2026, 3, 2, 9, 41, tzinfo=NEW_YORK)
    assert taken[evening.pk] == datetime(2026, 3, 2, 22, 15, tzinfo=NEW_YORK)
    assert taken[back_dated.pk] == datetime(2026, 2, 27, 12, 0, tzinfo=NEW_YORK)
    assert taken[registered.pk] == registered.measured_at


@pytest.mark.django_db(transaction=True)
def test_reversal_is_refused_while_a_measurement_is_voided(nina, patient_a):
    """The old schema cannot mark a void: reversing would make a voided weight count again."""
    measurement_void(actor=nina, measurement=BodyMeasurement.objects.get(patient=patient_a), reason="wrong")
    with pytest.raises(RuntimeError, match="voided"):
        migrate(BEFORE)
    migrate_to_newest()
    assert BodyMeasurement.objects.get(patient=patient_a).voided_at is not None
