"""Safety pages: each works, needs login, 404s for another clinic without PHI, 403s for the wrong
role, and re-renders bad input with the error and writes nothing; the chart shows the notice."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.safety import services
from kapstone.safety.models import AdverseEvent, AdverseEventReview, DependenceDecision
from tests.safety.conftest import give_doses, report_fields, row_counts, serious_fields

pytestmark = pytest.mark.django_db


def _local(value) -> str:
    """A datetime as the form's input in clinic A's time zone (the middleware activates it)."""
    return value.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%dT%H:%M")


def _form(**changes) -> dict:
    data = {
        "term": "dizziness",
        "onset_at": _local(timezone.now() - timedelta(hours=1)),
        "grade": "2",
        "relatedness": "possible",
        "action_taken": "infusion_interrupted",
        "outcome": "ongoing",
    }
    data.update(changes)
    return data


def test_nurse_reports_an_adverse_event(as_user, nina, patient_a):
    response = as_user(nina).post(reverse("safety:report", args=[patient_a.pk]), _form())
    event = AdverseEvent.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("safety:event", args=[event.pk])
    assert event.term == "dizziness" and event.grade == 2 and event.reported_by == nina


def test_therapist_may_report_but_researcher_and_admin_may_not(as_user, terry, bob, adam, patient_a):
    assert as_user(terry).post(reverse("safety:report", args=[patient_a.pk]), _form()).status_code == 302
    for user in (bob, adam):
        response = as_user(user).post(reverse("safety:report", args=[patient_a.pk]), _form())
        assert response.status_code == 403
        assert patient_a.family_name.encode() not in response.content
    assert AdverseEvent.objects.count() == 1


def test_report_requires_login(client, patient_a):
    response = client.get(reverse("safety:report", args=[patient_a.pk]))
    assert response.status_code == 302 and "/accounts/login" in response["Location"]


def test_bad_report_keeps_the_input_and_writes_nothing(as_user, nina, patient_a):
    before = row_counts()
    response = as_user(nina).post(
        reverse("safety:report", args=[patient_a.pk]), _form(serious="on", term="other", term_text="")
    )
    assert response.status_code == 400
    assert b"term_text_required" in response.content
    assert b'value="2" selected' in response.content or b"selected" in response.content
    assert row_counts() == before


def test_the_report_form_chooses_nothing_for_the_reporter(as_user, nina, patient_a):
    """No grade, relatedness, action or outcome is pre-selected (a one-click report would record
    the first of each); one left unchosen is refused beside its field and nothing is written."""
    client = as_user(nina)
    html = client.get(reverse("safety:report", args=[patient_a.pk])).content.decode()
    for name in ("term", "grade", "relatedness", "action_taken", "outcome"):
        select = html[html.index(f'name="{name}"') : html.index("</select>", html.index(f'name="{name}"'))]
        assert '<option value="" selected>' in select, name
        assert select.count("selected") == 1, name
    before = row_counts()
    data = _form()
    del data["grade"], data["relatedness"]
    response = client.post(reverse("safety:report", args=[patient_a.pk]), data)
    assert response.status_code == 400
    assert "Choose the grade." in response.content.decode()
    assert "Choose the relatedness to ketamine." in response.content.decode()
    assert '<option value="dizziness" selected>' in response.content.decode()
    assert row_counts() == before


def test_other_clinic_gets_404_without_phi(as_user, carol, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    client = as_user(carol)
    for url in (
        reverse("safety:patient_events", args=[patient_a.pk]),
        reverse("safety:report", args=[patient_a.pk]),
        reverse("safety:event", args=[event.pk]),
        reverse("safety:review", args=[event.pk]),
        reverse("safety:dependence", args=[patient_a.pk]),
        reverse("safety:decision", args=[patient_a.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert patient_a.family_name.encode() not in response.content
        assert patient_a.mrn.encode() not in response.content
    missing = client.get(reverse("safety:event", args=[event.pk + 1000]))
    assert missing.status_code == 404


def test_researcher_gets_403_everywhere(as_user, bob, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    client = as_user(bob)
    for url in (
        reverse("safety:serious_list"),
        reverse("safety:patient_events", args=[patient_a.pk]),
        reverse("safety:event", args=[event.pk]),
        reverse("safety:dependence", args=[patient_a.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert patient_a.family_name.encode() not in response.content
    assert AuditEvent.objects.filter(action="denied", actor=bob).count() == 4


def test_event_page_is_audited_and_shows_awaiting_review(as_user, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    response = as_user(nina).get(reverse("safety:event", args=[event.pk]))
    assert response.status_code == 200
    assert b"awaiting a prescriber" in response.content
    assert (
        AuditEvent.objects.filter(action="read", object_type="adverse_event", object_id=str(event.pk)).count()
        == 1
    )


def test_only_a_prescriber_reviews(as_user, alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    url = reverse("safety:review", args=[event.pk])
    assert as_user(nina).post(url, {"note": "ok"}).status_code == 403
    bad = as_user(alice).post(url, {"note": ""})
    assert bad.status_code == 400 and AdverseEventReview.objects.count() == 0
    assert as_user(alice).post(url, {"note": "Reviewed at bedside."}).status_code == 302
    assert AdverseEventReview.objects.get().reviewer == alice


def test_close_without_review_is_refused_on_the_page(as_user, alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    # A nurse may not close a serious event at all.
    assert as_user(nina).post(reverse("safety:close", args=[event.pk])).status_code == 403
    response = as_user(alice).post(reverse("safety:close", args=[event.pk]), follow=True)
    assert b"prescriber_review_required" in response.content
    event.refresh_from_db()
    assert event.status == "open"


def test_nurse_closes_a_non_serious_event(as_user, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    assert as_user(nina).post(reverse("safety:close", args=[event.pk])).status_code == 302
    event.refresh_from_db()
    assert event.status == "closed"


def test_update_through_the_form_keeps_history(as_user, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    data = {
        "term": "nausea",
        "onset_at": _local(event.onset_at),
        "grade": "2",
        "relatedness": "probable",
        "action_taken": "dose_not_changed",
        "outcome": "recovering",
        "reason": "Vomited once",
    }
    response = as_user(nina).post(reverse("safety:event_update", args=[event.pk]), data)
    assert response.status_code == 302, response.content
    event.refresh_from_db()
    assert event.grade == 2 and event.updates.get().previous == {"grade": 1}
    no_reason = as_user(nina).post(
        reverse("safety:event_update", args=[event.pk]), data | {"reason": "", "grade": "3"}
    )
    assert no_reason.status_code == 400
    event.refresh_from_db()
    assert event.grade == 2


def test_serious_notice_on_the_chart_until_closed(as_user, alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    chart = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
    assert b"Serious adverse event open" in chart.content and b"awaiting prescriber review" in chart.content
    services.adverse_event_review(actor=alice, event=event, note="Reviewed.")
    chart = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
    assert b"reviewed by a prescriber" in chart.content
    services.adverse_event_close(actor=alice, event=event)
    chart = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
    assert b"Serious adverse event open" not in chart.content
    assert b"Respiratory depression" in chart.content


def test_serious_list_for_prescribers(as_user, alice, nina, carol, patient_a, patient_b):
    services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    services.adverse_event_report(actor=carol, patient=patient_b, **serious_fields())
    response = as_user(alice).get(reverse("safety:serious_list"))
    assert response.status_code == 200
    assert patient_a.family_name.encode() in response.content
    assert patient_b.family_name.encode() not in response.content
    assert as_user(nina).get(reverse("safety:serious_list")).status_code == 403


def test_chart_shows_decision_required_and_flags(as_user, alice, nina, course_a, lot_50):
    patient = course_a.patient
    give_doses(course_a, alice, nina, lot_50, [(15, "200"), (5, "200"), (0, "200")])
    services.misuse_document(actor=nina, patient=patient, active=True, note="Alcohol relapse")
    chart = as_user(nina).get(reverse("patients:chart", args=[patient.pk]))
    assert b"Decision required" in chart.content
    assert b"cumulative_dose_at_review" in chart.content and b"short_dosing_interval" in chart.content
    page = as_user(alice).get(reverse("safety:dependence", args=[patient.pk]))
    assert page.status_code == 200 and b"Decision required" in page.content
    assert (
        as_user(nina)
        .post(reverse("safety:decision", args=[patient.pk]), {"decision": "continue", "reason": "x"})
        .status_code
        == 403
    )
    done = as_user(alice).post(
        reverse("safety:decision", args=[patient.pk]), {"decision": "pause", "reason": "Stabilise first"}
    )
    assert done.status_code == 302 and DependenceDecision.objects.count() == 1
    chart = as_user(nina).get(reverse("patients:chart", args=[patient.pk]))
    assert b"Decision required" not in chart.content


def test_dependence_record_forms(as_user, nina, patient_a):
    client = as_user(nina)
    requested = client.post(
        reverse("safety:extra_request", args=[patient_a.pk]),
        {"requested_at": _local(timezone.now() - timedelta(hours=2)), "note": "Asked for a top-up"},
    )
    assert requested.status_code == 302
    bad = client.post(
        reverse("safety:craving", args=[patient_a.pk]), {"rated_on": "2026-01-01", "score": "12"}
    )
    assert bad.status_code == 400 and b"12" in bad.content
    assert row_counts()["KetamineCravingScore"] == 0
    assert (
        client.post(reverse("safety:misuse", args=[patient_a.pk]), {"active": "yes", "note": "x"}).status_code
        == 302
    )


def test_every_safety_view_declares_its_roles():
    from kapstone.safety.urls import urlpatterns

    for pattern in urlpatterns:
        access = getattr(pattern.callback, "kapstone_access", None)
        assert isinstance(access, frozenset) and access and "researcher" not in access, pattern.name
