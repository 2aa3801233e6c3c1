"""Recording screenings and signing them off: the decision, the refusals, the audit trail."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.http import Http404

from kapstone.accounts.models import Role
from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.screening import ANSWER_NAMES, DECISIONS, check_eligibility
from kapstone.screening import services
from kapstone.screening.models import Decision, Screening, ScreeningSignOff
from tests.conftest import audit_count, make_user
from tests.screening.conftest import clean_answers, row_counts, screen

pytestmark = pytest.mark.django_db


def test_model_decisions_are_the_domain_decisions():
    assert set(Decision.values) == set(DECISIONS)


class TestRecord:
    def test_it_stores_the_domain_decision_reasons_and_actor(self, nina, patient_a):
        answers = clean_answers(maoi_use=True, systolic_bp=150, diastolic_bp=85)
        screening = services.screening_record(actor=nina, patient=patient_a, answers=answers)
        expected = check_eligibility(answers).as_dict()
        screening.refresh_from_db()
        assert screening.decision == expected["decision"] == "needs_review"
        assert screening.reasons == expected["reasons"]
        assert [r["code"] for r in screening.reasons] == ["maoi_use", "blood_pressure_elevated"]
        assert screening.answers == answers and set(screening.answers) == set(ANSWER_NAMES)
        assert screening.entered_by == nina and screening.patient == patient_a
        assert screening.rules_version == services.RULES_VERSION
        assert screening.rules_version.startswith("sha256:")

    def test_it_is_audited_with_codes_and_no_phi(self, nina, patient_a):
        screening = screen(nina, patient_a, "ineligible", pregnant=True)
        event = AuditEvent.objects.get(action="create", object_type="screening", object_id=str(screening.pk))
        assert event.actor == nina
        assert event.patient_id == patient_a.pk and event.clinic_id == patient_a.clinic_id
        assert event.detail == {
            "decision": "ineligible",
            "codes": ["pregnancy", "psychotic_disorder"],
            "rules_version": services.RULES_VERSION,
        }
        assert "Zzyzxfield" not in str(event.detail) and "A-1001" not in str(event.detail)

    @pytest.mark.parametrize("actor", ["alice", "nina", "terry"])
    def test_every_clinician_may_record(self, request, actor, patient_a):
        user = request.getfixturevalue(actor)
        assert screen(user, patient_a).entered_by == user

    @pytest.mark.parametrize(
        ("answers", "code", "field", "words"),
        [
            (clean_answers(systolic_bp=320), "implausible_value", "systolic_bp", "not plausible"),
            (
                clean_answers(diastolic_bp=130, systolic_bp=120),
                "implausible_value",
                "diastolic_bp",
                "not below",
            ),
            (clean_answers(age_years=121), "implausible_value", "age_years", "not plausible"),
            (clean_answers(pregnant="no"), "invalid_answer", "pregnant", "true or false"),
            (clean_answers(age_years=True), "invalid_answer", "age_years", "whole number"),
            (
                {k: v for k, v in clean_answers().items() if k != "maoi_use"},
                "missing_answer",
                "maoi_use",
                "required",
            ),
            (clean_answers(favourite_colour=True), "unknown_answer", "favourite_colour", "Unknown"),
            ([], "invalid_answer", "answers", "must be an object"),
        ],
    )
    def test_refused_answers_write_nothing(self, nina, patient_a, answers, code, field, words):
        before, events = row_counts(), audit_count(object_type="screening")
        with pytest.raises(DomainError) as refused:
            services.screening_record(actor=nina, patient=patient_a, answers=answers)
        assert refused.value.code == code
        assert refused.value.field == field
        assert words in refused.value.message
        assert row_counts() == before
        assert audit_count(object_type="screening") == events

    def test_other_clinic_is_not_found(self, carol, patient_a):
        before = row_counts()
        with pytest.raises(Http404):
            services.screening_record(actor=carol, patient=patient_a, answers=clean_answers())
        assert row_counts() == before

    @pytest.mark.parametrize("actor", ["adam", "bob"])
    def test_non_clinicians_may_not_record(self, request, actor, patient_a):
        before = row_counts()
        with pytest.raises(Http404):
            services.screening_record(
                actor=request.getfixturevalue(actor), patient=patient_a, answers=clean_answers()
            )
        assert row_counts() == before

    def test_a_new_screening_supersedes_and_keeps_the_old(self, nina, patient_a):
        first = screen(nina, patient_a, "deferred")
        second = screen(nina, patient_a, "eligible")
        assert list(Screening.objects.filter(patient=patient_a).order_by("-entered_at", "-id")) == [
            second,
            first,
        ]
        first.refresh_from_db()
        assert first.decision == "deferred"  # the superseded one is kept as decided


class TestSignOff:
    def test_prescriber_approves_needs_review_with_reason(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        sign_off = services.screening_sign_off(
            actor=alice, screening=screening, approve=True, reason="  Benzodiazepine stopped 2 weeks ago.  "
        )
        sign_off.refresh_from_db()
        assert sign_off.approve is True and sign_off.signed_by == alice
        assert sign_off.reason == "Benzodiazepine stopped 2 weeks ago."
        assert sign_off.screening == screening
        event = AuditEvent.objects.get(object_type="screening_sign_off", object_id=str(sign_off.pk))
        assert event.action == "create" and event.actor == alice and event.patient_id == patient_a.pk
        assert event.detail == {
            "screening_id": screening.pk,
            "decision": "needs_review",
            "approve": True,
            "with_reason": True,
        }
        assert "Benzodiazepine" not in str(event.detail)

    def test_prescriber_may_approve_eligible_without_reason(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "eligible")
        sign_off = services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="")
        assert sign_off.approve is True and sign_off.reason == ""

    @pytest.mark.parametrize("decision", DECISIONS)
    def test_prescriber_may_decline_any_decision_with_reason(self, alice, nina, patient_a, decision):
        screening = screen(nina, patient_a, decision)
        sign_off = services.screening_sign_off(
            actor=alice, screening=screening, approve=False, reason="Discussed at team review."
        )
        assert sign_off.approve is False
        assert audit_count(object_type="screening_sign_off", action="create", actor=alice) == 1

    def _refused(self, error_class, code, words, **call):
        before, events = row_counts(), audit_count(object_type="screening_sign_off")
        with pytest.raises(error_class) as refused:
            services.screening_sign_off(**call)
        assert refused.value.code == code
        assert words in refused.value.message
        assert row_counts() == before
        assert audit_count(object_type="screening_sign_off") == events
        return refused.value

    def test_refuses_approving_ineligible(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "ineligible")
        error = self._refused(
            WorkflowConflict,
            "cannot_approve_ineligible",
            "cannot be approved",
            actor=alice,
            screening=screening,
            approve=True,
            reason="I accept the risk.",
        )
        assert error.field is None

    def test_refuses_approving_deferred(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "deferred")
        self._refused(
            WorkflowConflict,
            "cannot_approve_deferred",
            "cannot be approved",
            actor=alice,
            screening=screening,
            approve=True,
            reason="BP will come down.",
        )

    @pytest.mark.parametrize("reason", ["", "   \n\t "])
    def test_refuses_approving_needs_review_without_reason(self, alice, nina, patient_a, reason):
        screening = screen(nina, patient_a, "needs_review")
        error = self._refused(
            DomainError,
            "reason_required",
            "requires a written reason",
            actor=alice,
            screening=screening,
            approve=True,
            reason=reason,
        )
        assert error.field == "reason" and not isinstance(error, WorkflowConflict)

    @pytest.mark.parametrize("decision", DECISIONS)
    def test_refuses_declining_without_reason(self, alice, nina, patient_a, decision):
        screening = screen(nina, patient_a, decision)
        error = self._refused(
            DomainError,
            "reason_required",
            "Say why",
            actor=alice,
            screening=screening,
            approve=False,
            reason=" ",
        )
        assert error.field == "reason"

    def test_refuses_a_second_sign_off(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
        self._refused(
            WorkflowConflict,
            "already_signed_off",
            "already approved",
            actor=alice,
            screening=screening,
            approve=False,
            reason="Changed my mind.",
        )

    def test_refuses_signing_a_superseded_screening(self, alice, nina, patient_a):
        old = screen(nina, patient_a, "needs_review")
        screen(nina, patient_a, "needs_review")
        self._refused(
            WorkflowConflict,
            "screening_superseded",
            "newer screening",
            actor=alice,
            screening=old,
            approve=True,
            reason="Reviewed.",
        )

    @pytest.mark.parametrize(
        ("reason", "code"),
        [("x" * (services.REASON_MAX_CHARS + 1), "text_too_long"), ("a\x00b", "invalid_text")],
    )
    def test_refuses_bad_reason_text(self, alice, nina, patient_a, reason, code):
        screening = screen(nina, patient_a, "needs_review")
        self._refused(
            DomainError, code, "reason", actor=alice, screening=screening, approve=True, reason=reason
        )

    def test_refuses_a_non_boolean_approve(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "eligible")
        self._refused(
            DomainError,
            "invalid_value",
            "true or false",
            actor=alice,
            screening=screening,
            approve="yes",
            reason="x",
        )

    @pytest.mark.parametrize("actor", ["nina", "terry", "adam", "bob", "carol"])
    def test_only_a_prescriber_of_the_patients_clinic_may_sign(self, request, nina, patient_a, actor):
        screening = screen(nina, patient_a, "needs_review")
        before = row_counts()
        with pytest.raises(Http404):
            services.screening_sign_off(
                actor=request.getfixturevalue(actor), screening=screening, approve=True, reason="Reviewed."
            )
        assert row_counts() == before


class TestConstraints:
    def test_database_refuses_an_unknown_decision(self, nina, patient_a):
        screening = screen(nina, patient_a)
        with pytest.raises(IntegrityError), transaction.atomic():
            Screening.objects.filter(pk=screening.pk).update(decision="maybe")

    def test_database_refuses_a_second_sign_off(self, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        first = services.screening_sign_off(
            actor=alice, screening=screening, approve=True, reason="Reviewed."
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            ScreeningSignOff.objects.create(
                screening=screening, approve=False, reason="again", signed_by=alice, signed_at=first.signed_at
            )

    def test_database_refuses_a_decline_without_reason(self, alice, nina, patient_a):
        screening = screen(nina, patient_a)
        with pytest.raises(IntegrityError), transaction.atomic():
            ScreeningSignOff.objects.create(
                screening=screening, approve=False, reason="", signed_by=alice, signed_at=screening.entered_at
            )

    def test_a_screened_patient_cannot_be_deleted(self, nina, patient_a):
        screening = screen(nina, patient_a)
        with pytest.raises(ProtectedError) as refused:
            patient_a.delete()
        assert screening in refused.value.protected_objects

    def test_a_signed_screening_cannot_be_deleted(self, alice, nina, patient_a):
        screening = screen(nina, patient_a)
        sign_off = services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="")
        with pytest.raises(ProtectedError) as refused:
            screening.delete()
        assert sign_off in refused.value.protected_objects


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_prescribers_signing_at_once_exactly_one_wins(alice, nina, clinic_a, patient_a):
    other = make_user("paula", clinic_a, Role.PRESCRIBER)
    screening_id = screen(nina, patient_a, "needs_review").pk
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def sign(actor):
        try:
            screening = Screening.objects.select_related("patient").get(pk=screening_id)
            barrier.wait(timeout=10)
            outcomes.append(
                services.screening_sign_off(
                    actor=actor, screening=screening, approve=True, reason="Reviewed."
                )
            )
        except DomainError as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign, args=(user,)) for user in (alice, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if isinstance(o, ScreeningSignOff)]
    losers = [o for o in outcomes if isinstance(o, WorkflowConflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "already_signed_off"
    assert ScreeningSignOff.objects.filter(screening_id=screening_id).count() == 1
    assert audit_count(object_type="screening_sign_off") == 1
