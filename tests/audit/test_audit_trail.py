"""The audit trail is append-only in the database, hash-chained, and checked by `audit verify`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from kapstone.audit import triggers
from kapstone.audit.chain import GENESIS_HASH
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from kapstone.audit.verify import audit_chain_verify
from tests.audit.kit import run_verify

pytestmark = pytest.mark.django_db


class TestAppendOnly:
    def test_update_is_refused_by_the_database(self, alice):
        event = audit_record(actor=alice, action="read", object_type="patient", object_id=1)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(action="create")
        event.refresh_from_db()
        assert event.action == "read"

    def test_delete_is_refused_by_the_database(self, alice):
        event = audit_record(actor=alice, action="read", object_type="patient", object_id=1)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
        assert AuditEvent.objects.filter(pk=event.pk).exists()

    def test_raw_sql_update_is_refused_too(self, alice):
        event = audit_record(actor=alice, action="read", object_type="patient", object_id=1)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {triggers.TABLE} SET actor_label = 'mallory' WHERE id = %s", [event.pk])

    def test_the_running_database_is_the_one_expected(self, settings):
        # The suite runs once on SQLite and once on PostgreSQL; make sure each run is what it says.
        assert connection.vendor == settings.DATABASE_VENDOR


class TestChain:
    def test_rows_link_to_their_predecessor(self, alice):
        first = audit_record(actor=alice, action="read", object_type="x", object_id=1)
        second = audit_record(actor=alice, action="create", object_type="x", object_id=2, detail={"n": 1})
        assert second.prev_hash == first.hash
        assert AuditEvent.objects.order_by("id").first().prev_hash == GENESIS_HASH
        checked, broken = audit_chain_verify()
        assert broken is None and checked == AuditEvent.objects.count()

    def test_verify_passes_on_an_intact_chain(self, alice):
        for n in range(5):
            audit_record(actor=alice, action="read", object_type="x", object_id=n)
        code, payload = run_verify()
        assert code == 0
        assert payload["ok"] is True and payload["checked"] == AuditEvent.objects.count()

    def test_verify_names_the_first_tampered_row(self, alice):
        events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(5)]
        target = events[2]
        # An attacker with database rights disables the trigger and edits a row.
        triggers.remove(connection)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {triggers.TABLE} SET action = 'create' WHERE id = %s", [target.pk])
        finally:
            triggers.install(connection)
        code, payload = run_verify()
        assert code == 1
        assert payload["ok"] is False
        assert payload["broken_event_id"] == target.pk
        assert "hash" in payload["reason"]

    def test_verify_notices_a_deleted_row(self, alice):
        events = [audit_record(actor=alice, action="read", object_type="x", object_id=n) for n in range(4)]
        triggers.remove(connection)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [events[1].pk])
        finally:
            triggers.install(connection)
        code, payload = run_verify()
        assert code == 1
        assert payload["broken_event_id"] == events[2].pk

    def test_text_output_names_the_row(self, alice):
        event = audit_record(actor=alice, action="read", object_type="x", object_id=1)
        triggers.remove(connection)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {triggers.TABLE} SET object_id = '2' WHERE id = %s", [event.pk])
        finally:
            triggers.install(connection)
        err = StringIO()
        with pytest.raises(SystemExit) as exit_:
            call_command("audit", "verify", stderr=err)
        assert exit_.value.code == 1
        assert f"#{event.pk}" in err.getvalue()

    def test_no_phi_in_audit_detail_for_search(self, as_user, alice, patient_a):
        as_user(alice).get(reverse("patients:list"), {"q": "Zzyzxfield"})
        for event in AuditEvent.objects.all():
            assert "Zzyzxfield" not in json.dumps(event.detail)
            assert "Zzyzxfield" not in event.object_id


class TestViewer:
    def test_admin_filters_by_patient(self, as_user, adam, alice, patient_a, patient_b):
        as_user(alice).get(reverse("patients:chart", args=[patient_a.pk]))
        response = as_user(adam).get(reverse("audit:list"), {"patient": patient_a.mrn})
        assert response.status_code == 200
        assert b"alice" in response.content
        assert b"carol" not in response.content  # clinic B's staff and events stay out of view

    def test_admin_filters_by_action_and_user(self, as_user, adam, alice, nina, patient_a):
        as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
        response = as_user(adam).get(reverse("audit:list"), {"action": "read", "actor": nina.pk})
        rows = [row.event for row in response.context["page"].rows]
        assert rows and all(e.action == "read" and e.actor_id == nina.pk for e in rows)

    def test_admin_filters_by_date(self, as_user, adam, alice, patient_a):
        response = as_user(adam).get(
            reverse("audit:list"), {"date_from": "2000-01-01", "date_to": "2000-01-02"}
        )
        assert response.status_code == 200
        assert response.context["page"].rows == []

    def test_bad_filter_is_refused_not_500(self, as_user, adam):
        response = as_user(adam).get(reverse("audit:list"), {"date_from": "not-a-date", "patient": "abc"})
        assert response.status_code == 200
        assert b"Enter a real date (year-month-day)." in response.content

    def test_nurse_cannot_open_the_viewer(self, as_user, nina):
        assert as_user(nina).get(reverse("audit:list")).status_code == 403

    def test_reading_the_trail_is_itself_audited(self, as_user, adam):
        as_user(adam).get(reverse("audit:list"))
        assert AuditEvent.objects.filter(actor=adam, action="read", object_type="audit_log").count() == 1
