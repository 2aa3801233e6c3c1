"""Questionnaires entered by staff: scoring through the domain, the self-harm alert, the form."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.http import Http404
from django.urls import reverse

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.outcomes import services
from kapstone.outcomes.models import ClinicalFlag, FlagAcknowledgement, QuestionnaireResponse
from tests.conftest import audit_count
from tests.outcomes.conftest import PHQ9_CALM, PHQ9_ITEM9, row_counts

pytestmark = pytest.mark.django_db


def record(actor, patient, instrument="phq-9", answers=PHQ9_CALM, **kwargs):
    return services.questionnaire_record(
        actor=actor, patient=patient, instrument=instrument, answers=answers, **kwargs
    )


class TestRecord:
    def test_stores_items_total_band_and_scoring_version(self, terry, patient_a):
        response = record(terry, patient_a, "phq-9", PHQ9_CALM)
        response.refresh_from_db()
        assert response.answers == PHQ9_CALM and response.item_scores == PHQ9_CALM
        assert (response.total, response.band, response.flags) == (3, "minimal", [])
        assert response.scoring_version and response.form_version
        assert response.entered_by == terry
        assert (
            audit_count(action="create", object_type="questionnaire_response", object_id=str(response.pk))
            == 1
        )
        assert not ClinicalFlag.objects.exists()

    def test_dast_10_keeps_raw_answers_and_reverse_scored_items(self, nina, patient_a):
        answers = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        response = record(nina, patient_a, "dast-10", answers)
        assert response.answers == answers and response.item_scores[2] == 1 and response.total == 1

    def test_phq9_item9_above_0_raises_an_open_self_harm_flag(self, terry, patient_a):
        response = record(terry, patient_a, "phq-9", PHQ9_ITEM9)
        assert response.flags == ["self-harm-risk"] and response.band == "moderate"
        flag = ClinicalFlag.objects.get()
        assert (flag.patient, flag.clinic_id, flag.code, flag.response) == (
            patient_a,
            patient_a.clinic_id,
            "self-harm-risk",
            response,
        )
        assert "Item 9" in flag.description
        assert audit_count(action="create", object_type="clinical_flag", object_id=str(flag.pk)) == 1

    def test_audit_c_uses_the_sex_at_birth(self, nina, patient_a, male_patient):
        # 3 is positive for a woman (cut-off 3), negative for a man (cut-off 4).
        assert record(nina, patient_a, "audit-c", [1, 1, 1]).band == "positive"
        assert record(nina, male_patient, "audit-c", [1, 1, 1]).band == "negative"
        # The record's sex wins over a sex given on the form.
        assert record(nina, male_patient, "audit-c", [1, 1, 1], sex="female").sex_for_scoring == "male"

    def test_audit_c_for_intersex_needs_the_sex_asked(self, nina, intersex_patient):
        before = row_counts()
        with pytest.raises(DomainError) as refused:
            record(nina, intersex_patient, "audit-c", [1, 1, 1])
        assert refused.value.code == "sex_required" and refused.value.field == "sex"
        assert row_counts() == before
        response = record(nina, intersex_patient, "audit-c", [1, 1, 1], sex="female")
        assert (response.band, response.sex_for_scoring) == ("positive", "female")

    @pytest.mark.parametrize(
        ("instrument", "answers", "code", "field"),
        [
            ("phq-10", PHQ9_CALM, "unknown_instrument", "instrument"),
            ("phq-9", [0] * 8, "wrong_answer_count", "answers"),
            ("phq-9", [0] * 8 + [4], "answer_out_of_range", "answers[8]"),
            ("audit", [0] * 8 + [1, 0], "answer_out_of_range", "answers[8]"),
            ("phq-9", [0] * 8 + [True], "invalid_answer", "answers[8]"),
            ("phq-9", "000000000", "invalid_answers", "answers"),
        ],
    )
    def test_domain_refusals_write_nothing(self, terry, patient_a, instrument, answers, code, field):
        before, events = row_counts(), audit_count(action="create")
        with pytest.raises(DomainError) as refused:
            record(terry, patient_a, instrument, answers)
        assert (refused.value.code, refused.value.field) == (code, field)
        assert row_counts() == before and audit_count(action="create") == events

    def test_time_point_must_be_one_of_the_course_follow_ups(self, terry, patient_a, course_a):
        assert record(terry, patient_a, course=course_a, time_point_months=0).time_point_months == 0
        assert record(terry, patient_a, course=course_a, time_point_months=6).time_point_months == 6
        before = row_counts()
        with pytest.raises(DomainError) as refused:
            record(terry, patient_a, course=course_a, time_point_months=4)
        assert refused.value.code == "invalid_time_point"
        with pytest.raises(DomainError) as refused:
            record(terry, patient_a, time_point_months=6)
        assert refused.value.code == "course_required"
        assert row_counts() == before

    def test_other_clinic_and_researcher_cannot_record(self, carol, bob, patient_a):
        for actor in (carol, bob):
            with pytest.raises(Http404):
                record(actor, patient_a)
        assert row_counts()["QuestionnaireResponse"] == 0


class TestAcknowledge:
    @pytest.fixture
    def flag(self, terry, patient_a):
        record(terry, patient_a, "phq-9", PHQ9_ITEM9)
        return ClinicalFlag.objects.get()

    def test_a_clinician_acknowledges_with_a_note_once(self, nina, alice, flag):
        ack = services.flag_acknowledge(actor=nina, flag=flag, note="Safety assessment done; plan agreed.")
        assert ack.acknowledged_by == nina and ack.note.startswith("Safety")
        assert audit_count(action="update", object_type="clinical_flag", object_id=str(flag.pk)) == 1
        with pytest.raises(WorkflowConflict) as refused:
            services.flag_acknowledge(actor=alice, flag=flag, note="Seen too.")
        assert refused.value.code == "already_acknowledged"
        assert FlagAcknowledgement.objects.count() == 1

    def test_refuses_without_a_note(self, nina, flag):
        with pytest.raises(DomainError) as refused:
            services.flag_acknowledge(actor=nina, flag=flag, note="   ")
        assert refused.value.code == "note_required"
        assert not FlagAcknowledgement.objects.exists()

    def test_admin_and_other_clinic_cannot_acknowledge(self, adam, carol, flag):
        for actor in (adam, carol):
            with pytest.raises(Http404):
                services.flag_acknowledge(actor=actor, flag=flag, note="x")
        assert not FlagAcknowledgement.objects.exists()


def form_data(answers, **extra):
    data = {f"item_{i + 1}": str(a) for i, a in enumerate(answers)}
    data["administered_on"] = "2026-01-10"
    data.update(extra)
    return data


class TestViews:
    def new_url(self, patient, instrument="phq-9"):
        return reverse("outcomes:questionnaire_new", args=[patient.pk, instrument])

    def test_form_renders_radio_rows_from_the_definition(self, as_user, terry, patient_a):
        response = as_user(terry).get(self.new_url(patient_a))
        assert response.status_code == 200
        body = response.content.decode()
        assert body.count('type="radio"') == 9 * 4
        assert "Thoughts that you would be better off dead" in body
        assert 'name="sex"' not in body

    def test_audit_c_form_asks_the_sex_only_when_the_record_does_not_say(
        self, as_user, nina, patient_a, intersex_patient
    ):
        assert 'name="sex"' not in as_user(nina).get(self.new_url(patient_a, "audit-c")).content.decode()
        assert 'name="sex"' in as_user(nina).get(self.new_url(intersex_patient, "audit-c")).content.decode()

    def test_saving_phq9_with_item9_shows_the_alert_at_once(self, as_user, terry, patient_a):
        client = as_user(terry)
        response = client.post(self.new_url(patient_a), form_data(PHQ9_ITEM9), follow=True)
        assert response.status_code == 200
        body = response.content.decode()
        assert "Self-harm risk" in body and "Alert raised" in body
        assert QuestionnaireResponse.objects.get().total == 10
        chart = client.get(reverse("patients:chart", args=[patient_a.pk])).content.decode()
        assert "Self-harm risk" in chart and 'class="outcome-flag"' in chart and 'role="alert"' in chart
        worklist = client.get(reverse("outcomes:flags")).content.decode()
        assert "Self-harm risk" in worklist and patient_a.mrn in worklist
        follow_ups = client.get(reverse("outcomes:follow_ups")).content.decode()
        assert "Open clinical alerts (1)" in follow_ups

    def test_missing_answer_keeps_the_input_and_writes_nothing(self, as_user, terry, patient_a):
        data = form_data(PHQ9_ITEM9)
        del data["item_4"]
        response = as_user(terry).post(self.new_url(patient_a), data)
        assert response.status_code == 400
        body = response.content.decode()
        assert "Choose an answer." in body
        assert 'name="item_9" value="2" id="id_item_9_2" required checked' in body
        assert row_counts()["QuestionnaireResponse"] == 0

    def test_intersex_audit_c_without_sex_is_refused_with_the_domain_code(
        self, as_user, nina, intersex_patient
    ):
        # The form makes the sex required; the message names it.
        response = as_user(nina).post(self.new_url(intersex_patient, "audit-c"), form_data([1, 1, 1]))
        assert response.status_code == 400 and "Choose the sex to score by." in response.content.decode()
        response = as_user(nina).post(
            self.new_url(intersex_patient, "audit-c"), form_data([1, 1, 1], sex="male")
        )
        assert response.status_code == 302
        assert QuestionnaireResponse.objects.get().band == "negative"

    def test_future_date_is_refused_beside_the_field(self, as_user, terry, patient_a):
        response = as_user(terry).post(
            self.new_url(patient_a), form_data(PHQ9_CALM, administered_on="2999-01-01")
        )
        assert response.status_code == 400
        assert "date_in_future" in response.content.decode()
        assert row_counts()["QuestionnaireResponse"] == 0

    def test_acknowledge_page(self, as_user, terry, nina, patient_a):
        record(terry, patient_a, "phq-9", PHQ9_ITEM9)
        flag = ClinicalFlag.objects.get()
        url = reverse("outcomes:flag_acknowledge", args=[flag.pk])
        refused = as_user(nina).post(url, {"note": ""})
        assert refused.status_code == 400 and "Say what was done" in refused.content.decode()
        assert as_user(nina).post(url, {"note": "Called the patient; safe, plan agreed."}).status_code == 302
        assert FlagAcknowledgement.objects.get().acknowledged_by == nina
        assert "No open alert." in as_user(nina).get(reverse("outcomes:flags")).content.decode()

    @pytest.mark.parametrize("name", ["questionnaires", "use_calendar", "tests"])
    def test_other_clinic_gets_404_without_phi(self, as_user, carol, patient_a, name):
        response = as_user(carol).get(reverse(f"outcomes:{name}", args=[patient_a.pk]))
        assert response.status_code == 404
        assert (
            patient_a.family_name.encode() not in response.content
            and patient_a.mrn.encode() not in response.content
        )
        assert audit_count(action="denied", object_type="patient", actor=carol) == 1

    def test_other_clinic_gets_404_on_the_form_and_the_flag(self, as_user, carol, terry, patient_a):
        record(terry, patient_a, "phq-9", PHQ9_ITEM9)
        flag = ClinicalFlag.objects.get()
        for url in (self.new_url(patient_a), reverse("outcomes:flag_acknowledge", args=[flag.pk])):
            response = as_user(carol).post(url, form_data(PHQ9_ITEM9) | {"note": "x"})
            assert response.status_code == 404 and patient_a.family_name.encode() not in response.content
        assert row_counts()["QuestionnaireResponse"] == 1 and not FlagAcknowledgement.objects.exists()

    @pytest.mark.parametrize(
        "url",
        [
            "outcomes:questionnaires",
            "outcomes:questionnaire_new",
            "outcomes:use_calendar",
            "outcomes:tests",
            "outcomes:flags",
            "outcomes:follow_ups",
        ],
    )
    def test_researcher_gets_403(self, as_user, bob, patient_a, url):
        args = {
            "outcomes:questionnaire_new": [patient_a.pk, "phq-9"],
            "outcomes:flags": [],
            "outcomes:follow_ups": [],
        }.get(url, [patient_a.pk])
        response = as_user(bob).get(reverse(url, args=args))
        assert response.status_code == 403
        assert patient_a.family_name.encode() not in response.content

    def test_admin_sees_but_cannot_enter(self, as_user, adam, patient_a):
        assert as_user(adam).get(reverse("outcomes:questionnaires", args=[patient_a.pk])).status_code == 200
        assert as_user(adam).get(self.new_url(patient_a)).status_code == 403

    def test_requires_login(self, client, patient_a):
        response = client.get(reverse("outcomes:questionnaires", args=[patient_a.pk]))
        assert response.status_code == 302 and "/accounts/login" in response["Location"]

    def test_list_shows_history_and_audits_the_read(self, as_user, terry, patient_a):
        record(terry, patient_a, "phq-9", PHQ9_CALM)
        response = as_user(terry).get(reverse("outcomes:questionnaires", args=[patient_a.pk]))
        assert response.status_code == 200 and "Minimal" in response.content.decode()
        assert audit_count(action="read", object_type="questionnaire_list", actor=terry) == 1


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_clinicians_acknowledging_at_once_exactly_one_wins(terry, nina, alice, patient_a):
    record(terry, patient_a, "phq-9", PHQ9_ITEM9)
    flag_id = ClinicalFlag.objects.get().pk
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def acknowledge(actor):
        try:
            flag = ClinicalFlag.objects.get(pk=flag_id)
            barrier.wait(timeout=10)
            outcomes.append(services.flag_acknowledge(actor=actor, flag=flag, note="Safety check done."))
        except DomainError as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=acknowledge, args=(user,)) for user in (nina, alice)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if isinstance(o, FlagAcknowledgement)]
    losers = [o for o in outcomes if isinstance(o, WorkflowConflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "already_acknowledged"
    assert FlagAcknowledgement.objects.filter(flag_id=flag_id).count() == 1
    assert audit_count(action="update", object_type="clinical_flag") == 1
