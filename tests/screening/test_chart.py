"""The screening section of the patient chart."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from kapstone.patients.chart import chart_sections_for
from kapstone.screening import services
from kapstone.screening.chart import screening_chart_context
from tests.screening.conftest import screen

pytestmark = pytest.mark.django_db


def section_html(user, patient) -> str:
    for template, context in chart_sections_for(user=user, patient=patient, can_write=True):
        if template == "screening/_chart_section.html":
            return render_to_string(template, {"section": context})
    raise AssertionError("the screening section is not registered")


def test_it_is_registered_and_shows_the_current_decision_with_a_link(nina, patient_a):
    screen(nina, patient_a, "deferred")
    screen(nina, patient_a, "needs_review")
    html = section_html(nina, patient_a)
    assert 'class="badge decision needs_review"' in html and "Needs prescriber review" in html
    assert reverse("screening:list", args=[patient_a.pk]) in html
    assert "Awaiting prescriber sign-off" in html and "not cleared" in html


def test_it_shows_an_approval(alice, nina, patient_a):
    screening = screen(nina, patient_a, "needs_review")
    services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
    html = section_html(nina, patient_a)
    assert "Approved" in html and "cleared" in html and "not cleared" not in html


def test_unscreened_patient_and_the_screen_button(adam, nina, patient_a):
    new = reverse("screening:new", args=[patient_a.pk])
    html = section_html(nina, patient_a)
    assert "Not screened yet" in html and new in html
    assert new not in section_html(adam, patient_a)  # admins read; clinicians screen


def test_query_count_does_not_grow_with_the_history(alice, nina, patient_a, django_assert_num_queries):
    screen(nina, patient_a, "needs_review")
    screen(nina, patient_a, "eligible")
    nina.__dict__.pop("_kapstone_memberships", None)
    with django_assert_num_queries(2):  # the current screening (with sign-off and users), memberships
        screening_chart_context(nina, patient_a, True)
    for _ in range(5):
        screen(nina, patient_a, "deferred")
    services.screening_sign_off(
        actor=alice, screening=screen(nina, patient_a, "needs_review"), approve=False, reason="Not now."
    )
    nina.__dict__.pop("_kapstone_memberships", None)
    with django_assert_num_queries(2):
        context = screening_chart_context(nina, patient_a, True)
        render_to_string("screening/_chart_section.html", {"section": {"patient": patient_a, **context}})


def test_the_chart_page_carries_the_section(as_user, nina, patient_a):
    screen(nina, patient_a, "ineligible")
    response = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
    assert response.status_code == 200
    assert b'class="badge decision ineligible"' in response.content
    assert b"Eligibility screening" in response.content
