"""A vitals batch costs the same statements for one value as for seven: the values go in with one
insert, and nothing after it (plausibility, baseline, alert evaluation, the check schedule, the
audit row) reads or writes once per value. A per-value query returning to the ingest fails here
(the HL7 feed's own pin: tests/interop/test_hl7_queries.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.monitoring.services import vitals_record
from tests.monitoring.conftest import NORMAL, vitals_set

pytestmark = pytest.mark.django_db


def test_a_batch_costs_the_same_queries_for_one_value_as_for_seven(nina, running):
    def queries(observations):
        with CaptureQueriesContext(connection) as captured:
            vitals_record(actor=nina, session=running, observations=observations)
        return [q["sql"] for q in captured.captured_queries]

    now = timezone.now()
    one = queries(vitals_set(now - timedelta(seconds=20), **dict.fromkeys(list(NORMAL)[1:], None)))
    seven = queries(vitals_set(now - timedelta(seconds=10)))
    assert len(one) == len(seven)
    assert sum("monitoring_observation" in sql and sql.startswith("INSERT") for sql in seven) == 1
