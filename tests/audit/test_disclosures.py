"""The accounting of disclosures (42 CFR §2.25; security.md §5B-13): each research export writes
one disclosure, with the patients it included, in the transaction of its export audit event;
disclosures cannot be changed or removed; the clinic admin sees a patient's disclosures."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from kapstone.audit.models import AuditEvent, Disclosure, DisclosurePatient
from kapstone.audit.services import audit_record
from kapstone.patients.services import clinic_today
from kapstone.research import services
from kapstone.research.cohorts import CohortFilter
from tests.research.conftest import enrol

pytestmark = pytest.mark.django_db

LONG = "/research/export/long.csv"
WIDE = "/research/export/wide.csv"


def test_each_export_writes_one_disclosure_with_its_patients(
    as_user, alice, bob, clinic_a, cohort_a, course_b
):
    # Two patients without research consent: in the cohort, not in the file, not disclosed.
    unconsented = [
        enrol(alice, clinic_a, index=50 + i, spec=cohort_a[0][2], research_consent=None)[0] for i in range(2)
    ]
    response = as_user(bob).get(LONG + "?arm=&group_by=arm")
    assert response.status_code == 200
    (disclosure,) = Disclosure.objects.all()
    event = AuditEvent.objects.get(action="export")
    assert disclosure.audit_event_id == event.pk
    assert disclosure.at == event.at
    assert (disclosure.actor_id, disclosure.recipient, disclosure.recipient_role) == (
        bob.pk,
        "bob (researcher)",
        "researcher",
    )
    assert (disclosure.purpose, disclosure.kind) == ("research", "research_export_long")
    rows = [line for line in response.content.decode().splitlines() if not line.startswith("#")]
    assert disclosure.row_count == len(rows) - 1 == event.detail["rows"]
    assert disclosure.filter_summary == event.detail["filter"]
    included = set(
        DisclosurePatient.objects.filter(disclosure=disclosure).values_list("patient_id", "clinic_id")
    )
    assert included == {(person.pk, clinic_a.pk) for person, _, _ in cohort_a}
    assert disclosure.patient_count == 24
    assert not {p.pk for p in unconsented} & {pid for pid, _ in included}
    # Clinic B's patient is never in clinic A's researcher's disclosure.
    assert course_b[0].pk not in {pid for pid, _ in included}

    as_user(bob).get(WIDE)
    assert Disclosure.objects.count() == 2
    assert Disclosure.objects.order_by("id").last().kind == "research_export_wide"


def test_disclosure_and_audit_event_are_written_together_or_not_at_all(monkeypatch, bob, clinic_a, cohort_a):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "disclosure_record", broken)
    before = AuditEvent.objects.filter(action="export").count()
    with pytest.raises(RuntimeError):
        services.research_export(
            actor=bob, filters=CohortFilter(), export_format="long", today=clinic_today(clinic_a)
        )
    assert AuditEvent.objects.filter(action="export").count() == before
    assert Disclosure.objects.count() == 0


@pytest.fixture
def disclosure(bob, clinic_a, cohort_a):
    services.research_export(
        actor=bob, filters=CohortFilter(), export_format="wide", today=clinic_today(clinic_a)
    )
    return Disclosure.objects.get()


def test_disclosures_cannot_be_changed_or_removed_through_the_orm(disclosure):
    disclosure.purpose = "marketing"
    with pytest.raises(PermissionError):
        disclosure.save()
    with pytest.raises(PermissionError):
        disclosure.delete()
    with pytest.raises(PermissionError):
        Disclosure.objects.filter(pk=disclosure.pk).update(purpose="marketing")
    with pytest.raises(PermissionError):
        Disclosure.objects.all().delete()
    link = DisclosurePatient.objects.filter(disclosure=disclosure).first()
    with pytest.raises(PermissionError):
        link.delete()
    with pytest.raises(PermissionError):
        DisclosurePatient.objects.filter(pk=link.pk).update(patient_id=1)
    assert Disclosure.objects.get().purpose == "research"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_disclosure SET purpose = 'marketing'",
        "DELETE FROM audit_disclosure",
        "UPDATE audit_disclosurepatient SET patient_id = 1",
        "DELETE FROM audit_disclosurepatient",
    ],
)
def test_the_database_refuses_updates_and_deletes(disclosure, sql):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert Disclosure.objects.get().purpose == "research"
    assert DisclosurePatient.objects.filter(disclosure=disclosure).count() == 24


def test_admin_sees_the_patients_disclosures_on_the_chart(as_user, adam, alice, bob, cohort_a, disclosure):
    person = cohort_a[0][0]
    body = as_user(adam).get(f"/patients/{person.pk}/").content.decode()
    assert 'data-testid="disclosures"' in body
    # In words, not codes: what left and why.
    assert "bob (researcher)" in body and "Research export, one row per course (CSV)" in body
    assert "Research (de-identified)" in body and "research_export_wide" not in body
    assert f"#{disclosure.audit_event_id}" in body
    # Another clinic A patient, never exported: the section says so.
    other = enrol(alice, cohort_a[0][1].clinic, index=80, spec=cohort_a[0][2], research_consent=None)[0]
    body = as_user(adam).get(f"/patients/{other.pk}/").content.decode()
    assert "No disclosure of this patient" in body
    # Not for clinicians.
    body = as_user(alice).get(f"/patients/{person.pk}/").content.decode()
    assert 'data-testid="disclosures"' not in body


def test_recording_needs_the_export_event_of_the_same_user(alice, bob, disclosure):
    from kapstone.audit.disclosures import disclosure_record

    event = disclosure.audit_event
    with pytest.raises(ValueError):
        disclosure_record(
            actor=alice,
            audit_event=event,
            recipient_role="prescriber",
            purpose="research",
            kind="x",
            row_count=0,
            patients=[],
        )
    read = audit_record(actor=bob, action="read", object_type="cohort_report")
    with pytest.raises(ValueError):
        disclosure_record(
            actor=bob,
            audit_event=read,
            recipient_role="researcher",
            purpose="research",
            kind="x",
            row_count=0,
            patients=[],
        )
