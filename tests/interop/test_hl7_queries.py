"""The database work of one accepted ORU^R01 message is fixed, whatever the number of values in it
(docs/benchmarks.md, "HL7 v2 monitor feed"): a per-value query returning to the path (an N+1 in
the mapping, the alert evaluation or the session lookup) fails here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.interop.hl7.receive import receive_message
from kapstone.monitoring.models import Observation
from tests.interop.conftest import DIA, HR, RESP, SPO2, SYS, TEMP, msa, obx, oru

pytestmark = pytest.mark.django_db

#: Statements of one accepted message, savepoints and PostgreSQL's audit-chain lock aside: the
#: replay record read, the patient, the session; then in the transaction the replay record, the
#: session locked, its administration, its first transitions, the values (one insert), the
#: baseline, the open episodes, the live order (the BP-peak check), the check windows, and the
#: audit row (the chain's last row, the insert). docs/benchmarks.md, "HL7 v2 feed over MLLP".
STATEMENTS = 14


def statements(ack_and_queries):
    ack, captured = ack_and_queries
    assert msa(ack)[1] == "AA", ack
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "SELECT pg_advisory_xact_lock"))
    ]


def receive(clinic, actor, *segments, control_id):
    message = oru(*segments, control_id=control_id, at=timezone.now() - timedelta(seconds=30))
    with CaptureQueriesContext(connection) as captured:
        ack = receive_message(message, clinic=clinic, actor=actor)
    return ack, captured


def test_one_accepted_message_costs_a_fixed_number_of_statements(monitor_a, running, clinic_a):
    six = [obx(SPO2, 97), obx(HR, 72), obx(SYS, 122), obx(DIA, 78), obx(RESP, 14), obx(TEMP, "36.8")]
    receive(clinic_a, monitor_a, *six, control_id="WARM")  # the first message of the process
    one = statements(receive(clinic_a, monitor_a, obx(HR, 71), control_id="ONE"))
    many = statements(receive(clinic_a, monitor_a, *six, control_id="SIX"))
    assert len(many) == len(one)
    assert len(many) <= STATEMENTS, "\n".join(many)
    assert sum(sql.startswith("INSERT") and "monitoring_observation" in sql for sql in many) == 1
    assert Observation.objects.filter(session=running).exclude(source="manual").count() == 6 + 1 + 6
