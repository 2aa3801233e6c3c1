"""Two copies of one HL7 message at once, on PostgreSQL: the unique key of the replay record
decides; one copy is stored, both get the same ACK."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kapstone.interop.hl7.receive import receive_message
from kapstone.interop.models import Hl7Message
from kapstone.monitoring.models import Alert, Observation
from tests.interop.conftest import HR, SPO2, msa, obx, oru

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def test_two_copies_at_once_store_once_and_answer_alike(monitor_a, running, clinic_a):
    message = oru(obx(SPO2, 88), obx(HR, 70), control_id="RACE1")
    before = Observation.objects.filter(session=running).count()
    copies = 4
    barrier = threading.Barrier(copies)
    acks: list[str] = []

    def send():
        try:
            barrier.wait(timeout=10)
            acks.append(receive_message(message, clinic=clinic_a, actor=monitor_a, sender="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(acks) == copies
    assert {msa(ack)[1] for ack in acks} == {"AA"}, acks
    assert len(set(acks)) == 1  # the very same ACK text, control id and time included
    assert Hl7Message.objects.filter(control_id="RACE1").count() == 1
    assert Observation.objects.filter(session=running).count() == before + 2
    assert Alert.objects.filter(session=running, code="hypoxemia").count() == 1
