"""Free text is cleaned by one rule everywhere, with one set of codes, and nothing is written.

Every input where a person types text (a reason, a note, a name…) is listed below with the
service that takes it. Each is given a NUL, a control character, one character over its limit
and, where the text is required, only spaces; each must be refused with the one set of codes of
``kapstone.domain.text.clean_text`` (``invalid_text``, ``text_too_long``,
``<name>_required``), naming the field, and leave every table as it was (no row, no audit
event). Nothing is cut short to fit.

The list is checked against the models: every text column of ours is either written from an
input listed here or declared as written by the system (codes, hashes, composed messages), so
a new free-text column without a case fails here.

The web forms and the API take the same text through the same rule: every form's text field is
a ``kapstone.forms.FreeTextField`` (``test_every_form_text_field_is_free_text``) and every text
field of an API body a ``kapstone.accounts.api_kit.text`` (tests/security/test_api_free_text.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from kapstone.accounts import services as accounts_services
from kapstone.accounts.models import Clinic, User
from kapstone.audit.models import AuditEvent
from kapstone.care import notes
from kapstone.care import services as care_services
from kapstone.demo.seed import seed_demo
from kapstone.domain.errors import DomainError
from kapstone.dosing import services as dosing_services
from kapstone.inventory import services as inventory_services
from kapstone.monitoring import services as monitoring_services
from kapstone.outcomes import services as outcomes_services
from kapstone.patients import services as patients_services
from kapstone.portal import consent as portal_consent
from kapstone.portal import patient_services
from kapstone.portal import services as portal_services
from kapstone.safety import services as safety_services
from kapstone.screening import services as screening_services

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:
    """One free-text input: the column(s) it fills, its limit, whether it is required, the field
    the refusal names, the code of a missing value, and how to submit a value."""

    columns: tuple[str, ...]
    max_chars: int
    required: bool
    field: str
    submit: Callable[[World, object], object]
    missing_code: str = ""

    def code_when_blank(self) -> str:
        return self.missing_code or f"{self.field.rsplit('.', 1)[-1]}_required"


class World:
    """The demo's first clinic, its staff and one record of each kind the cases need."""

    def __init__(self) -> None:
        m = apps.get_model
        self.clinic = Clinic.objects.get(slug="north")
        users = {u.username: u for u in User.objects.filter(username__endswith=".north")}
        self.admin, self.prescriber = users["admin.north"], users["prescriber.north"]
        self.nurse, self.therapist = users["nurse.north"], users["therapist.north"]
        self.portal_patient = users["patient.north"]
        here = {"clinic_id": self.clinic.pk}
        self.patient = m("patients.Patient").objects.filter(**here).order_by("pk").first()
        self.measurement = m("patients.BodyMeasurement").objects.filter(patient__clinic=self.clinic).first()
        self.diagnosis = m("patients.Diagnosis").objects.filter(patient__clinic=self.clinic).first()
        self.liver_test = m("patients.LiverTest").objects.filter(**here).first()
        self.screening = m("screening.Screening").objects.filter(patient__clinic=self.clinic).first()
        self.course = m("care.TreatmentCourse").objects.filter(**here, status="active").first()
        sessions = m("care.CareSession").objects.filter(**here)
        self.session = sessions.filter(kind="dosing").first()
        self.therapy_session = sessions.exclude(kind="dosing").first()
        self.scheduled = sessions.filter(status="scheduled").first()
        self.note = m("care.TherapyNote").objects.filter(**here).first()
        self.order = m("dosing.DoseOrder").objects.filter(**here).first()
        self.administration = (
            m("dosing.Administration").objects.filter(order__clinic_id=self.clinic.pk).first()
        )
        self.lot = m("inventory.Lot").objects.filter(**here).first()
        self.location = m("inventory.StorageLocation").objects.filter(**here).first()
        self.product = self.lot.product
        self.count_line = m("inventory.CountLine").objects.filter(count__clinic=self.clinic).first()
        self.alert = m("monitoring.Alert").objects.filter(**here).first()
        self.event = (
            m("safety.AdverseEvent").objects.filter(clinic_id=Clinic.objects.get(slug="river").pk).first()
        )
        self.flag = m("outcomes.ClinicalFlag").objects.first()
        self.referral = m("portal.Referral").objects.filter(**here).first()
        self.account = m("portal.PatientAccount").objects.get(user=self.portal_patient)
        self.document = m("patients.ConsentDocument").objects.filter(**here).order_by("-version").first()
        self.river_prescriber = User.objects.get(username="prescriber.river")
        for name, value in vars(self).items():
            assert value is not None, f"the demo has no {name} for the free-text cases"


S = {
    "accounts": accounts_services,
    "care": care_services,
    "consent": portal_consent,
    "dosing": dosing_services,
    "inventory": inventory_services,
    "monitoring": monitoring_services,
    "notes": notes,
    "outcomes": outcomes_services,
    "patient_services": patient_services,
    "patients": patients_services,
    "portal": portal_services,
    "safety": safety_services,
    "screening": screening_services,
}


def patient_create(field: str) -> Callable[[World, object], object]:
    def submit(w: World, value: object) -> object:
        identity = {"given_name": "Tess", "family_name": "Marlowe", field: value}
        return S["patients"].patient_create(
            actor=w.nurse,
            clinic_id=w.clinic.pk,
            mrn="N-TEXT-1",
            birth_date=date(1980, 1, 1),
            sex_at_birth="female",
            **identity,
        )

    return submit


def referral_contact(field: str) -> Callable[[World, object], object]:
    def submit(w: World, value: object) -> object:
        contact = {"name": "Robin Vale", "email": "robin@example.org", field: value}
        return S["portal"].clean_contact(contact)

    return submit


def profile(field: str) -> Callable[[World, object], object]:
    def submit(w: World, value: object) -> object:
        fields = {
            "display_name": "Northside Clinic",
            "regions": ["NY"],
            "languages": ["en"],
            "modalities": ["in_person"],
            "protocol_slugs": [],
            "accepting_referrals": True,
            "wait_weeks": 2,
            "contact_line": "",
            "retention_days": 180,
            "contact_target_working_days": 2,
            "reason": "A new line.",
            field: value,
        }
        return S["portal"].service_profile_update(actor=w.admin, clinic=w.clinic, **fields)

    return submit


def note_field(field: str) -> Callable[[World, object], object]:
    def submit(w: World, value: object) -> object:
        # Another field holds text, so that an empty one is not refused as an empty note.
        filler = "themes" if field != "themes" else "plan"
        fields = {filler: "Keep going.", field: value}
        return S["notes"].note_create(actor=w.therapist, session=w.therapy_session, **fields)

    return submit


def identity(field: str, limit: int, required: bool = False) -> Case:
    return Case((f"patients.Patient.{field}",), limit, required, field, patient_create(field))


REASON = 500
NOW = timezone.now


CASES: dict[str, Case] = {
    # patients
    **{
        f"patient {name}": identity(name, limit, name in ("given_name", "family_name"))
        for name, limit in (
            ("given_name", 100),
            ("family_name", 100),
            ("gender_identity", 60),
            ("phone", 40),
            ("email", 254),
            ("address", 300),
            ("emergency_contact_name", 120),
            ("emergency_contact_phone", 40),
            ("emergency_contact_relationship", 60),
        )
    },
    "patient amendment reason": Case(
        ("patients.PatientVersion.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["patients"].patient_amend(
            actor=w.nurse,
            patient=w.patient,
            expected_version=w.patient.version,
            changes={"phone": "555"},
            reason=v,
        ),
    ),
    "measurement void reason": Case(
        ("patients.BodyMeasurement.void_reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["patients"].measurement_void(actor=w.nurse, measurement=w.measurement, reason=v),
    ),
    "liver test void reason": Case(
        ("patients.LiverTest.void_reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["patients"].liver_test_void(actor=w.nurse, liver_test=w.liver_test, reason=v),
    ),
    "diagnosis void reason": Case(
        ("patients.Diagnosis.void_reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["patients"].diagnosis_void(actor=w.nurse, diagnosis=w.diagnosis, reason=v),
    ),
    "consent form version": Case(
        ("patients.Consent.document_version",),
        40,
        True,
        "document_version",
        lambda w, v: S["patients"].consent_record(
            actor=w.nurse,
            patient=w.patient,
            kind="treatment",
            status="granted",
            effective_on=date.today() - timedelta(days=2),
            document_version=v,
        ),
    ),
    "consent note": Case(
        ("patients.Consent.note",),
        REASON,
        False,
        "note",
        lambda w, v: S["patients"].consent_record(
            actor=w.nurse,
            patient=w.patient,
            kind="treatment",
            status="granted",
            effective_on=date.today() - timedelta(days=2),
            document_version="2026-01",
            note=v,
        ),
    ),
    "consent document title": Case(
        ("patients.ConsentDocument.title",),
        200,
        True,
        "title",
        lambda w, v: S["patients"].consent_document_publish(
            actor=w.admin, clinic=w.clinic, kind="treatment", title=v, body="The text."
        ),
    ),
    "consent document text": Case(
        ("patients.ConsentDocument.body",),
        50_000,
        True,
        "body",
        lambda w, v: S["patients"].consent_document_publish(
            actor=w.admin, clinic=w.clinic, kind="treatment", title="Treatment", body=v
        ),
    ),
    "consent signature": Case(
        ("patients.Consent.typed_name",),
        201,
        True,
        "typed_name",
        lambda w, v: S["consent"].consent_sign(
            actor=w.portal_patient, document_id=w.document.pk, text_sha256="x", typed_name=v, agreed=True
        ),
        missing_code="signature_required",
    ),
    # screening
    "sign-off reason": Case(
        ("screening.ScreeningSignOff.reason",),
        2000,
        False,
        "reason",
        lambda w, v: S["screening"].screening_sign_off(
            actor=w.prescriber, screening=w.screening, approve=False, reason=v
        ),
    ),
    # care
    "protocol clone note": Case(
        ("care.ProtocolClone.note",),
        REASON,
        True,
        "note",
        lambda w, v: S["care"].protocol_clone_create(
            actor=w.admin,
            clinic_id=w.clinic.pk,
            slug=w.course.protocol_slug,
            version=1,
            changes={"monitoring.min_observation_min": 150},
            note=v,
        ),
    ),
    "research arm": Case(
        ("care.TreatmentCourse.arm",),
        40,
        False,
        "arm",
        lambda w, v: S["care"].course_enrol(
            actor=w.prescriber,
            patient=w.patient,
            protocol_slug=w.course.protocol_slug,
            start_date=date.today(),
            arm=v,
        ),
    ),
    "course pause reason": Case(
        ("care.CourseEvent.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["care"].course_change_status(
            actor=w.prescriber, course=w.course, action="pause", reason=v
        ),
    ),
    "session move reason": Case(
        ("care.SessionEvent.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["care"].session_transition(
            actor=w.nurse, session=w.scheduled, to="cancelled", reason=v
        ),
    ),
    "reschedule reason": Case(
        ("care.SessionEvent.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["care"].session_reschedule(
            actor=w.nurse,
            session=w.scheduled,
            scheduled_date=w.scheduled.scheduled_date,
            start_time=None,
            room="",
            reason=v,
        ),
    ),
    "session room": Case(
        ("care.CareSession.room",),
        60,
        False,
        "room",
        lambda w, v: S["care"].session_reschedule(
            actor=w.nurse,
            session=w.scheduled,
            scheduled_date=w.scheduled.scheduled_date,
            start_time=None,
            room=v,
            reason="Room change.",
        ),
    ),
    **{
        f"therapy note {name}": Case((f"care.TherapyNote.{name}",), 10_000, False, name, note_field(name))
        for name in ("intentions", "themes", "insights", "plan")
    },
    "addendum": Case(
        ("care.NoteAddendum.text",),
        10_000,
        True,
        "text",
        lambda w, v: S["notes"].note_addendum_add(actor=w.therapist, note=w.note, text=v),
        missing_code="addendum_required",
    ),
    "group title": Case(
        ("care.GroupSession.title",),
        200,
        True,
        "title",
        lambda w, v: S["notes"].group_session_create(
            actor=w.therapist, clinic_id=w.clinic.pk, title=v, scheduled_date=date.today()
        ),
    ),
    "group room": Case(
        ("care.GroupSession.room",),
        60,
        False,
        "room",
        lambda w, v: S["notes"].group_session_create(
            actor=w.therapist, clinic_id=w.clinic.pk, title="Group", scheduled_date=date.today(), room=v
        ),
    ),
    # dosing
    "dose adjustment reason": Case(
        ("dosing.DoseOrder.adjustment_reason",),
        REASON,
        False,
        "adjustment_reason",
        lambda w, v: S["dosing"].dose_order_create(
            actor=w.prescriber,
            session=w.session,
            mg_per_kg="0.5",
            concentration_mg_per_ml="50",
            adjustment_reason=v,
        ),
    ),
    "dose order void reason": Case(
        ("dosing.DoseOrder.void_reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["dosing"].dose_order_void(actor=w.prescriber, order=w.order, reason=v),
    ),
    "start override reason": Case(
        ("dosing.StartOverride.reason",),
        REASON,
        False,
        "override_reason",
        lambda w, v: S["dosing"].administration_start(
            actor=w.prescriber, order=w.order, started_at=NOW(), lot=w.lot, override_reason=v
        ),
    ),
    "rate change reason": Case(
        ("dosing.RateEvent.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["dosing"].administration_rate_event(
            actor=w.nurse, administration=w.administration, kind="change", at=NOW(), rate="1", reason=v
        ),
    ),
    "stop reason": Case(
        ("dosing.Administration.stop_reason",),
        REASON,
        True,
        "stop_reason",
        lambda w, v: S["dosing"].administration_complete(
            actor=w.nurse, administration=w.administration, ended_at=NOW(), stopped_early=True, stop_reason=v
        ),
    ),
    "amendment reason": Case(
        ("dosing.AdministrationAmendment.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["dosing"].administration_amend(
            actor=w.nurse,
            administration=w.administration,
            field="ended_at",
            new_value="2020-01-01T00:00",
            reason=v,
        ),
    ),
    "amended stop reason": Case(
        ("dosing.AdministrationAmendment.new_value",),
        REASON,
        True,
        "new_value",
        lambda w, v: S["dosing"].administration_amend(
            actor=w.nurse, administration=w.administration, field="stop_reason", new_value=v, reason="Typo."
        ),
        missing_code="stop_reason_required",
    ),
    # inventory
    "register adjust reason": Case(
        ("inventory.RegisterEntry.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["inventory"].register_adjust(actor=w.admin, lot=w.lot, amount_mg_signed="1", reason=v),
    ),
    "register transfer reason": Case(
        ("inventory.RegisterEntry.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["inventory"].register_transfer(
            actor=w.admin, lot=w.lot, to_location=w.location, amount_mg="1", reason=v
        ),
    ),
    "location name": Case(
        ("inventory.StorageLocation.name",),
        80,
        True,
        "name",
        lambda w, v: S["inventory"].location_create(actor=w.admin, clinic=w.clinic, name=v),
    ),
    "product name": Case(
        ("inventory.Product.name",),
        120,
        True,
        "name",
        lambda w, v: S["inventory"].product_create(
            actor=w.admin, name=v, ndc="12345-678-90", strength_mg_per_ml="50", vial_volume_ml="10"
        ),
    ),
    "product dosage form": Case(
        ("inventory.Product.dosage_form",),
        60,
        True,
        "dosage_form",
        lambda w, v: S["inventory"].product_create(
            actor=w.admin,
            name="Ketamine",
            ndc="12345-678-90",
            strength_mg_per_ml="50",
            vial_volume_ml="10",
            dosage_form=v,
        ),
    ),
    "lot number": Case(
        ("inventory.Lot.lot_number",),
        40,
        True,
        "lot_number",
        lambda w, v: S["inventory"].lot_receive(
            actor=w.admin,
            clinic=w.clinic,
            location=w.location,
            product=w.product,
            lot_number=v,
            expiry=date.today() + timedelta(days=100),
            amount_mg="500",
        ),
    ),
    "discrepancy explanation": Case(
        ("inventory.CountLine.explanation",),
        REASON,
        True,
        "explanation",
        lambda w, v: S["inventory"].count_line_resolve(
            actor=w.admin, line=w.count_line, explanation=v, adjust_mg_signed=None
        ),
    ),
    # monitoring
    "vitals source": Case(
        ("monitoring.Observation.source",),
        60,
        False,
        "source",
        lambda w, v: S["monitoring"].vitals_record(
            actor=w.nurse, session=w.session, observations=[{"code": "heart_rate", "value": 70}], source=v
        ),
    ),
    "alert note": Case(
        ("monitoring.Alert.note",),
        REASON,
        False,
        "note",
        lambda w, v: S["monitoring"].alert_acknowledge(
            actor=w.nurse, alert=w.alert, action="observed", note=v
        ),
    ),
    "discharge override reason": Case(
        ("monitoring.Discharge.override_reason",),
        REASON,
        False,
        "override_reason",
        lambda w, v: S["monitoring"].session_discharge(
            actor=w.prescriber,
            session=w.session,
            escort_confirmed=True,
            driving_advice_given=True,
            override_reason=v,
        ),
    ),
    "dissociation-resolved attestation note": Case(
        ("monitoring.DissociationAttestation.note",),
        REASON,
        False,
        "note",
        lambda w, v: S["monitoring"].dissociation_attest(actor=w.nurse, session=w.session, note=v),
    ),
    # safety
    "adverse event description": Case(
        ("safety.AdverseEvent.term_text",),
        500,
        True,
        "term_text",
        lambda w, v: S["safety"].adverse_event_report(
            actor=w.nurse,
            patient=w.patient,
            term="other",
            term_text=v,
            onset_at=NOW() - timedelta(hours=1),
            grade=1,
            serious=False,
            relatedness="unrelated",
            action_taken="none",
            outcome="recovering",
        ),
    ),
    "adverse event change reason": Case(
        ("safety.AdverseEventUpdate.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["safety"].adverse_event_update(
            actor=w.river_prescriber, event=w.event, changes={"grade": 2}, reason=v
        ),
    ),
    "adverse event review": Case(
        ("safety.AdverseEventReview.note",),
        5000,
        True,
        "note",
        lambda w, v: S["safety"].adverse_event_review(actor=w.river_prescriber, event=w.event, note=v),
    ),
    "extra session request note": Case(
        ("safety.ExtraSessionRequest.note",),
        REASON,
        False,
        "note",
        lambda w, v: S["safety"].extra_session_request_record(
            actor=w.nurse, patient=w.patient, requested_at=NOW() - timedelta(hours=1), note=v
        ),
    ),
    "misuse note": Case(
        ("safety.MisuseDocumentation.note",),
        REASON,
        True,
        "note",
        lambda w, v: S["safety"].misuse_document(actor=w.nurse, patient=w.patient, active=True, note=v),
    ),
    "dependence decision reason": Case(
        ("safety.DependenceDecision.reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["safety"].dependence_decision_record(
            actor=w.prescriber, patient=w.patient, decision="continue", reason=v
        ),
    ),
    "safety plan": Case(
        ("safety.SafetyPlan.plan",),
        5000,
        True,
        "plan",
        lambda w, v: S["safety"].safety_plan_record(actor=w.prescriber, patient=w.patient, plan=v),
    ),
    # outcomes
    "flag acknowledgement": Case(
        ("outcomes.FlagAcknowledgement.note",),
        2000,
        True,
        "note",
        lambda w, v: S["outcomes"].flag_acknowledge(actor=w.river_prescriber, flag=w.flag, note=v),
    ),
    "calendar marker": Case(
        ("outcomes.UseDay.marker",),
        100,
        False,
        "days[0].marker",
        lambda w, v: S["outcomes"].use_days_record(
            actor=w.nurse,
            patient=w.patient,
            substance="alcohol",
            days=[{"day": date.today() - timedelta(days=1), "standard_drinks": "0", "marker": v}],
        ),
    ),
    "calendar amount unit": Case(
        ("outcomes.UseDay.amount_unit",),
        20,
        False,
        "days[0].amount_unit",
        lambda w, v: S["outcomes"].use_days_record(
            actor=w.nurse,
            patient=w.patient,
            substance="cannabis",
            days=[{"day": date.today() - timedelta(days=1), "used": True, "amount": "1", "amount_unit": v}],
        ),
    ),
    # portal
    **{
        f"referral contact {name}": Case((column,), limit, name == "name", name, referral_contact(name))
        for name, column, limit in (
            ("name", "portal.Referral.contact_name", 120),
            ("email", "portal.Referral.contact_email", 254),
            ("phone", "portal.Referral.contact_phone", 40),
            ("preferred_time", "portal.Referral.preferred_time", 120),
        )
    },
    "referral status reason": Case(
        ("portal.ReferralEvent.reason",),
        REASON,
        False,
        "reason",
        lambda w, v: S["portal"].referral_status_change(
            actor=w.nurse, referral=w.referral, to="contacted", reason=v
        ),
    ),
    "profile public name": Case(
        ("portal.ServiceProfile.display_name",), 120, True, "display_name", profile("display_name")
    ),
    "profile contact line": Case(
        ("portal.ServiceProfile.contact_line",), 200, False, "contact_line", profile("contact_line")
    ),
    "profile change reason": Case(
        ("portal.ServiceProfile.reason",), REASON, True, "reason", profile("reason")
    ),
    "portal invitation address": Case(
        ("accounts.User.email", "portal.PatientAccount.email", "portal.PortalInvitation.sent_to"),
        254,
        True,
        "email",
        lambda w, v: S["patient_services"].portal_invite(
            actor=w.nurse, patient=w.patient, email=v, link_base="http://testserver/i/"
        ),
    ),
    "portal account closing reason": Case(
        ("portal.PatientAccount.disabled_reason",),
        REASON,
        True,
        "reason",
        lambda w, v: S["patient_services"].portal_account_disable(actor=w.nurse, account=w.account, reason=v),
    ),
    # accounts
    "API token name": Case(
        ("accounts.ApiToken.name",),
        80,
        False,
        "name",
        lambda w, v: S["accounts"].api_token_create(actor=None, user=w.nurse, name=v),
    ),
}

#: Text columns written by the system, never from what a person typed (or typed as a code, a
#: date or a number checked by its own rule), each with where it comes from.
SYSTEM_COLUMNS = {
    "accounts.User.password": "a hash",
    "accounts.User.username": "the e-mail address or an admin's choice (Django's own rules)",
    "accounts.User.first_name": "admin only (Django admin)",
    "accounts.User.last_name": "admin only (Django admin)",
    "accounts.Clinic.name": "the demo and the admin site",
    "accounts.Clinic.slug": "the demo and the admin site",
    "accounts.Clinic.timezone": "the demo and the admin site",
    "accounts.ApiToken.prefix": "generated",
    "operations.JobRun.job": "a job's code name (operations/jobs.py)",
    "operations.JobRun.worker": "the worker's host name and process id",
    "operations.JobRun.outcome": "a sentence of our own with counts (operations/jobs.py)",
    "operations.JobRun.error_class": "the exception's class name, never its text",
    "interop.Hl7Message.sender": "MSH-3|MSH-4 of a monitor's message, as sent (interop/hl7/receive.py); never shown on a page",
    "interop.Hl7Message.control_id": "MSH-10 of a monitor's message, cut to 199 characters; escaped in the ACK, never shown on a page",
    "interop.Hl7Message.peer": "the transport's label: the API user's name or the listener's peer address",
    "interop.Hl7Message.ack_text": "the ACK we composed: codes and the escaped control id (interop/hl7/receive.py)",
    "interop.BulkExport.level": "system or group, chosen by the route (interop/fhir/api.py)",
    "interop.BulkExport.request_url": "the kick-off URL, after every parameter in it was checked against its list or format (interop/fhir/api.py); shown only to the user who sent it, in the manifest",
    "interop.BulkExport.error_code": "the exception's class name, never its text (interop/fhir/bulk.py)",
    "interop.BulkExportFile.resource_type": "a type name from the registry (interop/fhir/registry.py)",
    "interop.BulkExportFile.content": "NDJSON our FHIR modules wrote from stored records (interop/fhir/bulk.py); served as a file to the user who asked, never rendered in a page",
    "operations.JobRun.error_message": "a sentence of our own, never the exception's text",
    "operations.WorkerHeartbeat.worker": "the worker's host name and process id",
    "accounts.ApiToken.token_hash": "a hash",
    "audit.AuditEvent.actor_label": "the user name",
    "audit.AuditEvent.object_type": "a code",
    "audit.AuditEvent.object_id": "a record id",
    "audit.AuditEvent.key_id": "the audit key's fingerprint (audit/keys.py)",
    "audit.AuditEvent.prev_hash": "a hash",
    "audit.AuditEvent.hash": "a hash",
    "audit.Disclosure.actor_label": "the user name",
    "audit.Disclosure.recipient_role": "a role code",
    "audit.Disclosure.recipient": "the user name and role",
    "audit.Disclosure.purpose": "a code",
    "audit.Disclosure.kind": "a code",
    "patients.Patient.mrn": "validate_mrn (its own format rule)",
    "patients.Diagnosis.code": "the ICD-10-CM catalogue",
    "patients.Diagnosis.name": "the ICD-10-CM catalogue",
    "patients.Diagnosis.substance": "the ICD-10-CM catalogue",
    "patients.ConsentDocument.text_sha256": "a hash",
    "patients.Consent.text_sha256": "a hash",
    "screening.Screening.rules_version": "a fingerprint",
    "screening.ScreeningDraft.source": "set by the referral's conversion",
    "screening.ScreeningDraft.source_reference": "the referral's reference",
    "screening.ScreeningDraft.note": "set by the referral's conversion",
    "care.ProtocolClone.slug": "the protocol's slug",
    "care.ProtocolClone.title": "the protocol library's own rules (validate_protocol)",
    "care.TreatmentCourse.protocol_slug": "the protocol's slug",
    "care.TreatmentCourse.protocol_title": "the protocol's title",
    "care.CourseEvent.kind": "a code",
    "care.GroupSession.kind": "a code",
    "care.CareSession.kind": "a code",
    "care.CareSession.title": "the protocol's session title",
    "care.CareSession.status": "a state",
    "care.SessionEvent.kind": "a code",
    "care.SessionEvent.from_state": "a state",
    "care.SessionEvent.to_state": "a state",
    "dosing.DoseOrder.route": "the protocol's route",
    "dosing.StartOverride.gate": "a code",
    "dosing.StartOverride.code": "a code",
    "dosing.StartOverride.message": "the gate's message",
    "dosing.AdministrationAmendment.old_value": "the record's previous value",
    "dosing.RateEvent.kind": "a code",
    "dosing.RateEvent.unit": "a unit code",
    "inventory.Product.ndc": "validate_ndc (its own format rule)",
    "monitoring.Observation.code": "the observation catalogue",
    "monitoring.Observation.loinc": "the observation catalogue",
    "monitoring.Observation.unit": "the observation catalogue",
    "monitoring.Observation.void_reason": "observation_void, used by no screen or API (issue 15: dead code)",
    "monitoring.Alert.code": "a rule code",
    "monitoring.Alert.episode": "a rule code",
    "monitoring.Alert.severity": "a code",
    "monitoring.Alert.message": "the rule's message",
    "monitoring.AlertEvent.kind": "a code",
    "monitoring.AlertEvent.code": "a rule code",
    "monitoring.AlertEvent.severity": "a code",
    "monitoring.AlertEvent.message": "the rule's message, or the action and the note (cleaned)",
    "monitoring.ScaleScore.scale": "a code",
    "monitoring.ScaleScore.scoring_version": "a version",
    "safety.AdverseEvent.term": "a code",
    "safety.AdverseEvent.relatedness": "a code",
    "safety.AdverseEvent.action_taken": "a code",
    "safety.AdverseEvent.outcome": "a code",
    "outcomes.QuestionnaireResponse.instrument": "a code",
    "outcomes.QuestionnaireResponse.band": "the instrument's band",
    "outcomes.QuestionnaireResponse.scoring_version": "a version",
    "outcomes.QuestionnaireResponse.form_version": "the instrument's form",
    "outcomes.QuestionnaireResponse.sex_for_scoring": "a code",
    "outcomes.ClinicalFlag.code": "a rule code",
    "outcomes.ClinicalFlag.description": "the rule's words",
    "outcomes.UseDay.substance": "a code",
    "outcomes.ToxicologyTest.substance": "a code",
    "research.CourseOutcomeSummary.bounds_key": "a key",
    "research.CourseOutcomeSummary.follow_up": "derived",
    "portal.Referral.reference": "generated",
    "portal.Referral.result": "a code",
    "portal.Referral.language": "a code",
    "portal.ReferralEvent.from_status": "a state",
    "portal.ReferralEvent.to_status": "a state",
    "portal.RateCounter.scope": "a code",
    "portal.RateCounter.source": "a keyed hash",
    "portal.PatientAccount.language": "a code",
    "portal.PortalInvitation.token_hash": "a hash",
    "portal.PortalReminder.item": "a code",
}


def text_columns() -> set[str]:
    return {
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        if model.__module__.startswith("kapstone.")
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField) and not field.choices
    }


def test_every_text_column_is_typed_through_a_listed_input_or_written_by_the_system():
    typed = {column for case in CASES.values() for column in case.columns}
    columns = text_columns()
    both = typed & set(SYSTEM_COLUMNS)
    assert not both, f"both typed and written by the system: {sorted(both)}"
    missing = columns - typed - set(SYSTEM_COLUMNS)
    assert not missing, (
        f"list an input for these text columns (CASES) or say who writes them: {sorted(missing)}"
    )
    unknown = (typed | set(SYSTEM_COLUMNS)) - columns
    assert not unknown, f"no such text columns: {sorted(unknown)}"


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model.__module__.startswith("kapstone.") and not model._meta.proxy
    }


def payloads(case: Case) -> list[tuple[str, object, str]]:
    """(what, value, expected code)."""
    rows = [
        ("NUL", "before\x00after", "invalid_text"),
        ("control character", "bell\x07", "invalid_text"),
        ("control character at the end", "unit separator\x1f", "invalid_text"),
        ("not text", 42, "invalid_text"),
        ("over the limit", "x" * (case.max_chars + 1), "text_too_long"),
        ("over the limit before the spaces", " " + "y" * (case.max_chars + 1) + " ", "text_too_long"),
    ]
    if case.required:
        rows.append(("only spaces", "   ", case.code_when_blank()))
    return rows


def test_every_free_text_input_refuses_with_one_set_of_codes_and_writes_nothing():
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    world = World()
    failures = []
    before = row_counts()
    audit_before = AuditEvent.objects.count()
    for label, case in CASES.items():
        for what, value, code in payloads(case):
            try:
                case.submit(world, value)
            except DomainError as error:
                got = (error.code, error.field)
                if got != (code, case.field):
                    failures.append(f"{label}, {what}: {got}, expected {(code, case.field)}")
            except Exception as error:  # the failure is what is reported
                failures.append(f"{label}, {what}: {type(error).__name__}: {str(error)[:120]}")
            else:
                failures.append(f"{label}, {what}: accepted")
            after = row_counts()
            if after != before or AuditEvent.objects.count() != audit_before:
                changed = {k: (before[k], after[k]) for k in after if after[k] != before[k]}
                failures.append(f"{label}, {what}: wrote {changed}")
                before, audit_before = after, AuditEvent.objects.count()
    assert not failures, "\n".join(failures)
    # Refusing over the limit is not cutting: the longest text allowed is stored as typed.
    reason = "z" * REASON
    diagnosis = S["patients"].diagnosis_void(actor=world.nurse, diagnosis=world.diagnosis, reason=reason)
    assert diagnosis.void_reason == reason
    note = "w" * 10_000
    assert S["notes"].note_addendum_add(actor=world.therapist, note=_signed(world), text=note).text == note


def _signed(world: World):
    note = (
        apps.get_model("care.TherapyNote")
        .objects.filter(clinic_id=world.clinic.pk, signed_at__isnull=False)
        .first()
    )
    assert note is not None, "the demo has no signed note"
    return note


def test_every_form_text_field_is_free_text():
    """A form's text field is a FreeTextField (the rule above, the same codes), unless it is a
    code, a hidden value, a password or a number typed as text, each listed here."""
    import ast
    from pathlib import Path

    import kapstone

    allowed = {
        ("care/forms.py", "to"): "a state code",
        ("patients/forms.py", "mrn"): "validate_mrn",
        ("portal/views.py", "mrn"): "validate_mrn",
        ("portal/views.py", "regions"): "a list of state codes",
        ("portal/views.py", "languages"): "a list of language codes",
        ("portal/forms.py", "website"): "the honeypot",
        ("portal/forms.py", "answers"): "hidden: the pre-screen answers as JSON",
        ("portal/patient_views.py", "document_id"): "hidden: a record id",
        ("portal/patient_views.py", "text_sha256"): "hidden: a fingerprint",
        ("portal/account_views.py", "password"): "a password",
        ("portal/account_views.py", "password_again"): "a password",
        ("inventory/forms.py", "ndc"): "validate_ndc",
        ("inventory/forms.py", "started"): "hidden: a signed token",
        ("inventory/forms.py", "'witness_password'"): "a password",
        ("dosing/forms.py", "new_value"): "a time, an amount or a reason: the service cleans each",
        ("research/forms.py", "arm"): "a filter (parse_text)",
    }
    root = Path(kapstone.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("accounts/", "domain/")) or "/migrations/" in relative:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call):
                continue
            func = node.value.func
            if not (isinstance(func, ast.Attribute) and func.attr == "CharField"):
                continue
            if getattr(func.value, "id", None) != "forms":
                continue
            target = node.targets[0]
            name = target.id if isinstance(target, ast.Name) else ast.unparse(target.slice)
            found.add((relative, name))
    plain = found - set(allowed)
    assert not plain, (
        f"use kapstone.forms.FreeTextField for these text fields (or list why not): {sorted(plain)}"
    )


@pytest.mark.parametrize(
    ("value", "required", "code"),
    [
        ("a\x00b", False, "invalid_text"),
        ("bell\x07", False, "invalid_text"),
        ("x" * 11, False, "text_too_long"),
        ("   ", True, "reason_required"),
    ],
)
def test_a_form_field_answers_with_the_codes_of_the_services(value, required, code):
    from django import forms

    from kapstone.forms import FreeTextField

    class ReasonForm(forms.Form):
        reason = FreeTextField(max_length=10, required=required)

    form = ReasonForm({"reason": value})
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["reason"]] == [code]


def test_a_form_field_keeps_text_within_its_limit():
    from django import forms

    from kapstone.forms import FreeTextField

    class ReasonForm(forms.Form):
        reason = FreeTextField(max_length=10)

    form = ReasonForm({"reason": "  ten chars "})
    assert form.is_valid() and form.cleaned_data["reason"] == "ten chars"
    assert 'maxlength="10"' in str(form["reason"])
