"""Issue 14 in the monitoring app: discharge waits for dissociation to resolve (CADSS or a
clinician's attestation, as the protocol sets), the BP-peak check by the order's route, and the
protocol's local-policy limits read by the alerts and the dependence watch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.care.models import SessionEvent
from kapstone.domain.errors import WorkflowConflict
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Discharge, DissociationAttestation
from kapstone.monitoring.services import dissociation_attest, scale_record, session_discharge
from tests.conftest import audit_count
from tests.monitoring.pages import visible_text
from tests.monitoring.test_services import ago, recovering_session

pytestmark = pytest.mark.django_db


def counts(session):
    return (
        Discharge.objects.count(),
        DissociationAttestation.objects.count(),
        SessionEvent.objects.filter(session=session).count(),
        AuditEvent.objects.count(),
    )


def set_monitoring(session, **values):
    course = session.course
    course.protocol_data = {
        **course.protocol_data,
        "monitoring": {**course.protocol_data["monitoring"], **values},
    }
    course.save(update_fields=["protocol_data"])


def discharge(actor, session):
    return session_discharge(actor=actor, session=session, escort_confirmed=True, driving_advice_given=True)


class TestByCadss:
    def test_refused_without_a_cadss_after_the_dose_writing_nothing(
        self, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125, cadss=None
        )
        before = counts(session)
        with pytest.raises(WorkflowConflict) as error:
            discharge(nina, session)
        assert error.value.code == "dissociation_not_resolved"
        assert (
            "Dissociation resolved (no CADSS recorded since dosing ended; needs a CADSS after the last dose"
            in (error.value.message)
        )
        session.refresh_from_db()
        assert session.status == "recovering" and counts(session) == before

    def test_refused_while_the_cadss_shows_dissociation_then_allowed_once_resolved(
        self, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125, cadss=1
        )
        before = counts(session)
        with pytest.raises(WorkflowConflict) as error:
            discharge(nina, session)
        assert error.value.code == "dissociation_not_resolved" and "CADSS 1 of 92" in error.value.message
        assert counts(session) == before
        scale_record(actor=nina, session=session, scale="cadss", answers=[0] * 23, observed_at=ago(1))
        record = discharge(nina, session)
        assert record.criteria_met
        assert (
            next(c for c in record.criteria if c["code"] == "dissociation_resolved")["value"]
            == "CADSS 0 of 92"
        )

    def test_the_discharge_page_says_what_is_missing(self, as_user, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125, cadss=None
        )
        page = as_user(nina).get(reverse("monitoring:discharge", args=[session.pk]))
        text = visible_text(page.content)
        assert "Discharge waits for dissociation to resolve" in text
        assert "Found: no CADSS recorded since dosing ended" in text
        response = as_user(nina).post(
            reverse("monitoring:discharge", args=[session.pk]),
            {"escort_confirmed": "on", "driving_advice_given": "on"},
        )
        assert response.status_code == 400 and b'data-code="dissociation_not_resolved"' in response.content
        assert Discharge.objects.count() == 0


class TestByAttestation:
    def test_refused_without_then_allowed_with_an_audited_attestation(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        set_monitoring(session, dissociation_check="attestation")
        before = counts(session)
        with pytest.raises(WorkflowConflict) as error:
            discharge(nina, session)  # the CADSS of 0 does not replace the attestation
        assert error.value.code == "dissociation_not_resolved"
        assert "no attestation since dosing ended" in error.value.message and counts(session) == before
        page = as_user(nina).post(
            reverse("monitoring:dissociation_attest", args=[session.pk]),
            {"confirmed": "on", "note": "calm, oriented"},
        )
        assert page.status_code == 302
        attestation = DissociationAttestation.objects.get(session=session)
        assert attestation.attested_by == nina and attestation.note == "calm, oriented"
        assert audit_count(action="create", object_type="dissociation_attestation", actor=nina) == 1
        record = discharge(nina, session)
        assert record.criteria_met
        shown = visible_text(as_user(nina).get(reverse("monitoring:discharge", args=[session.pk])).content)
        assert "Criteria at discharge" in shown

    def test_an_attestation_is_refused_before_the_dose_has_ended_or_unconfirmed(self, as_user, nina, running):
        set_monitoring(running, dissociation_check="attestation")
        before = counts(running)
        with pytest.raises(WorkflowConflict) as error:
            dissociation_attest(actor=nina, session=running)
        assert error.value.code == "session_not_recovering" and counts(running) == before
        response = as_user(nina).post(
            reverse("monitoring:dissociation_attest", args=[running.pk]), {"note": "x"}
        )
        # Unconfirmed: the form refuses it; only the page's read is audited.
        assert response.status_code == 400 and counts(running)[:3] == before[:3]

    def test_an_attestation_needs_a_clinician(self, terry, alice, nina, cleared_session, lot_50):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=125
        )
        before = counts(session)
        with pytest.raises(WorkflowConflict) as error:
            dissociation_attest(actor=terry, session=session)
        assert error.value.code == "clinician_required" and counts(session) == before


class TestProtocolParameters:
    def test_the_peak_check_of_an_iv_order_is_the_end_of_its_infusion_and_is_shown(
        self, as_user, alice, nina, cleared_session, lot_50
    ):
        session = recovering_session(
            alice=alice, nina=nina, session=cleared_session, lot=lot_50, ended_minutes_ago=30
        )
        protocol = selectors.monitoring_protocol(session)
        assert protocol.bp_peak_check_min == 40
        assert (
            protocol.bp_peak_check_note
            == "Blood pressure at the expected peak: at the end of the 40-min infusion"
        )
        page = visible_text(as_user(nina).get(reverse("care:session", args=[session.pk])).content)
        assert (
            "T+40 min (BP peak) (Blood pressure at the expected peak: at the end of the 40-min infusion)"
            in page
        )
        assert page.count("Blood pressure at the expected peak") == 1

    def test_the_peak_check_of_an_im_order_is_the_models_tmax(self, running):
        running.dose_orders.update(route="im", over_min=None)
        protocol = selectors.monitoring_protocol(running)
        assert (protocol.bp_peak_check_min, protocol.bp_peak_check_note) == (
            18,
            "Blood pressure at the expected peak: 18 min after an IM dose",
        )

    def test_alert_thresholds_come_from_the_courses_protocol(self, running):
        assert selectors.alert_thresholds(running).spo2_warning_below_pct == Decimal(94)
        set_monitoring(
            running,
            alert_limits={
                **running.course.protocol_data["monitoring"]["alert_limits"],
                "spo2_warning_below_pct": 92,
            },
        )
        assert selectors.alert_thresholds(running).spo2_warning_below_pct == Decimal(92)

    def test_dependence_thresholds_come_from_the_patients_latest_course(self, running):
        from kapstone.safety.selectors import dependence_thresholds

        assert dependence_thresholds(running.patient).min_interval_days == 7
        set_monitoring(
            running,
            dependence_limits={
                **running.course.protocol_data["monitoring"]["dependence_limits"],
                "min_interval_days": 14,
            },
        )
        assert dependence_thresholds(running.patient).min_interval_days == 14
