"""Body measurements on the chart: when they were taken, the weight in force, voids, the BMI warning."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.patients.models import BodyMeasurement
from kapstone.patients.selectors import body_size, weight_in_force
from kapstone.patients.services import measurement_record, measurement_void
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")  # clinic A's zone


def local_input(moment: datetime) -> str:
    """A moment as the clinic's datetime-local field shows it."""
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%dT%H:%M")


def weigh(actor, patient, kg, **kwargs):
    return measurement_record(actor=actor, patient=patient, weight_kg=kg, height_cm=None, **kwargs)


class TestRecordForm:
    def url(self, patient):
        return reverse("patients:measurement_add", args=[patient.pk])

    def test_the_form_offers_now_in_the_clinics_zone(self, as_user, nina, patient_a):
        page = as_user(nina).get(self.url(patient_a))
        assert page.status_code == 200
        now = timezone.now()
        # The minute may turn between the request and this line.
        shown = {local_input(now), local_input(now - timedelta(minutes=1))}
        assert any(f'value="{value}"'.encode() in page.content for value in shown)
        assert b'type="datetime-local"' in page.content

    def test_records_date_and_time_in_the_clinics_zone(self, as_user, nina, patient_a):
        taken = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0)
        response = as_user(nina).post(
            self.url(patient_a), {"weight_kg": "71.3", "measured_at": local_input(taken)}
        )
        assert response.status_code == 302
        row = BodyMeasurement.objects.filter(patient=patient_a).latest("id")
        assert (row.weight_kg, row.measured_at, row.recorded_by) == (Decimal("71.3"), taken, nina)
        assert audit_count(action="create", object_type="body_measurement", object_id=str(row.pk)) == 1

    def test_refuses_a_time_in_the_future_keeps_input_writes_nothing(self, as_user, nina, patient_a):
        before = BodyMeasurement.objects.count()
        creates = audit_count(action="create")
        future = local_input(timezone.now() + timedelta(hours=2))
        response = as_user(nina).post(self.url(patient_a), {"weight_kg": "71.3", "measured_at": future})
        assert response.status_code == 400
        assert b"The time of the measurement is in the future" in response.content
        assert f'value="{future}"'.encode() in response.content and b'value="71.3"' in response.content
        assert BodyMeasurement.objects.count() == before
        assert audit_count(action="create") == creates

    def test_refuses_no_value_and_a_missing_time(self, as_user, nina, patient_a):
        before = BodyMeasurement.objects.count()
        client = as_user(nina)
        empty = client.post(self.url(patient_a), {"measured_at": local_input(timezone.now())})
        assert empty.status_code == 400 and b"Enter a weight, a height or both." in empty.content
        no_time = client.post(self.url(patient_a), {"weight_kg": "71"})
        assert no_time.status_code == 400 and b'value="71"' in no_time.content
        assert BodyMeasurement.objects.count() == before

    def test_the_25_kg_weight_of_the_issue_is_refused(self, as_user, nina, patient_a):
        response = as_user(nina).post(
            self.url(patient_a), {"weight_kg": "25", "measured_at": local_input(timezone.now())}
        )
        assert response.status_code == 400
        assert b"A weight of 25 kg is not plausible for an adult" in response.content
        assert not BodyMeasurement.objects.filter(weight_kg=Decimal("25")).exists()

    def test_access(self, client, as_user, bob, carol, patient_a):
        assert client.get(self.url(patient_a)).status_code == 302
        assert as_user(bob).get(self.url(patient_a)).status_code == 403
        stranger = as_user(carol).post(
            self.url(patient_a), {"weight_kg": "70", "measured_at": local_input(timezone.now())}
        )
        assert stranger.status_code == 404 and b"Zzyzxfield" not in stranger.content
        assert BodyMeasurement.objects.filter(patient=patient_a).count() == 1


class TestChart:
    def test_header_shows_the_weight_in_force_and_the_list_strikes_voids_through(
        self, as_user, nina, patient_a
    ):
        weigh(nina, patient_a, "70.0")
        wrong = weigh(nina, patient_a, "77.0")
        measurement_void(actor=nina, measurement=wrong, reason="weighed another patient")
        page = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
        header = page.content.split(b'id="weight-in-force"')[1].split(b"</dd>")[0]
        assert b"70.0 kg" in header
        assert b"<s>77.0</s>" in page.content and b"weighed another patient" in page.content
        assert b"in force" in page.content

    def test_bmi_warning_on_the_chart_in_words(self, as_user, nina, patient_a):
        measurement_record(actor=nina, patient=patient_a, weight_kg="35", height_cm="190")
        page = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
        bmi = page.content.split(b'id="bmi"')[1].split(b"</dd>")[0]
        assert b"9.7" in bmi and b"below 16.0 (severe thinness)" in bmi
        assert b"bmi_out_of_expected_range" not in page.content

    def test_no_bmi_warning_inside_the_range(self, as_user, nina, patient_a):
        page = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
        bmi = page.content.split(b'id="bmi"')[1].split(b"</dd>")[0]
        assert b"25.7" in bmi and b"Check" not in bmi  # 72.5 kg, 168 cm

    def test_recording_an_implausible_bmi_warns_after_saving(self, as_user, nina, patient_a):
        client = as_user(nina)
        response = client.post(
            reverse("patients:measurement_add", args=[patient_a.pk]),
            {"weight_kg": "154", "measured_at": local_input(timezone.now())},
            follow=True,
        )
        assert response.status_code == 200
        assert b"BMI 54.6 is 40.0 or more" in response.content  # 154 kg at 168 cm: pounds?
        assert BodyMeasurement.objects.filter(patient=patient_a, weight_kg=Decimal("154")).exists()

    def test_only_clinicians_see_the_void_link(self, as_user, nina, adam, patient_a):
        url = reverse("patients:chart", args=[patient_a.pk])
        assert b"/void/" in as_user(nina).get(url).content
        assert b"measurements/" not in as_user(adam).get(url).content.split(b'id="meas-h"')[1]


class TestVoid:
    def url(self, patient, measurement):
        return reverse("patients:measurement_void", args=[patient.pk, measurement.pk])

    def test_a_nurse_voids_with_a_reason_and_it_is_audited(self, as_user, nina, patient_a):
        row = weigh(nina, patient_a, "77.0")
        response = as_user(nina).post(self.url(patient_a, row), {"reason": "scale not zeroed"})
        assert response.status_code == 302
        row.refresh_from_db()
        assert (row.voided_by, row.void_reason) == (nina, "scale not zeroed") and row.voided_at
        assert row.weight_kg == Decimal("77.0")  # kept as it was
        assert weight_in_force(patient=patient_a).weight_kg == Decimal("72.5")
        assert audit_count(action="void", object_type="body_measurement", object_id=str(row.pk)) == 1

    def test_reason_required_keeps_the_page_writes_nothing(self, as_user, nina, patient_a):
        row = weigh(nina, patient_a, "77.0")
        response = as_user(nina).post(self.url(patient_a, row), {"reason": "   "})
        assert response.status_code == 400
        row.refresh_from_db()
        assert row.voided_at is None
        assert audit_count(action="void") == 0

    def test_admin_and_researcher_may_not_void(self, as_user, adam, bob, nina, patient_a):
        row = weigh(nina, patient_a, "77.0")
        for user in (adam, bob):
            response = as_user(user).post(self.url(patient_a, row), {"reason": "x"})
            assert response.status_code == 403
        with pytest.raises(WorkflowConflict) as error:
            measurement_void(actor=adam, measurement=row, reason="x")
        assert error.value.code == "clinician_required"
        row.refresh_from_db()
        assert row.voided_at is None

    def test_another_clinic_gets_404_without_phi(self, as_user, carol, nina, patient_a, patient_b):
        row = weigh(nina, patient_a, "77.0")
        response = as_user(carol).post(self.url(patient_a, row), {"reason": "x"})
        assert response.status_code == 404 and b"Zzyzxfield" not in response.content
        # Nor under her own patient's id (nested ids are checked).
        nested = as_user(carol).get(reverse("patients:measurement_void", args=[patient_b.pk, row.pk]))
        assert nested.status_code == 404
        with pytest.raises(Http404):
            measurement_void(actor=carol, measurement=row, reason="x")
        row.refresh_from_db()
        assert row.voided_at is None

    def test_a_void_happens_once(self, nina, terry, patient_a):
        row = weigh(nina, patient_a, "77.0")
        measurement_void(actor=terry, measurement=row, reason="wrong patient")
        with pytest.raises(WorkflowConflict) as error:
            measurement_void(actor=nina, measurement=row, reason="again")
        assert error.value.code == "already_voided"
        row.refresh_from_db()
        assert (row.voided_by, row.void_reason) == (terry, "wrong patient")
        assert audit_count(action="void", object_type="body_measurement") == 1

    @pytest.mark.parametrize(("reason", "code"), [("", "reason_required"), ("x" * 501, "text_too_long")])
    def test_service_refusals(self, nina, patient_a, reason, code):
        row = weigh(nina, patient_a, "77.0")
        with pytest.raises(DomainError) as error:
            measurement_void(actor=nina, measurement=row, reason=reason)
        assert error.value.code == code and error.value.field == "reason"


class TestSelector:
    def test_a_weight_taken_after_the_moment_is_not_yet_in_force(self, nina, patient_a):
        registered = weight_in_force(patient=patient_a)
        assert weight_in_force(patient=patient_a, at=registered.measured_at - timedelta(seconds=1)) is None
        assert weight_in_force(patient=patient_a, at=registered.measured_at) == registered

    def test_body_size_uses_the_height_in_force(self, nina, patient_a):
        measurement_record(actor=nina, patient=patient_a, weight_kg=None, height_cm="180")
        size = body_size(patient=patient_a)
        assert (size.weight.weight_kg, size.height.height_cm, size.bmi) == (
            Decimal("72.5"),
            Decimal("180.0"),
            Decimal("22.4"),
        )
        assert size.bmi_warning is None
