"""Protocol library pages and clinic clones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kapstone.care.models import ProtocolClone
from kapstone.care.protocols import protocol_resolve
from kapstone.care.services import course_enrol, protocol_clone_create
from kapstone.domain.errors import DomainError
from kapstone.patients.services import clinic_today
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db
KARE = "kare-alcohol-grabski-2022"


def test_library_page_lists_every_shipped_protocol(as_user, bob):
    # Protocols are not PHI: every staff role may read them, the researcher included.
    response = as_user(bob).get(reverse("care:protocols"))
    assert response.status_code == 200
    for slug in (
        KARE,
        "kpt-alcohol-krupitsky-1997",
        "kpt-heroin-krupitsky-2002",
        "kpt-heroin-krupitsky-2007",
        "ketamine-mbrp-cocaine-dakwar-2019",
        "ketamine-met-alcohol-dakwar-2020",
    ):
        assert slug.encode() in response.content


def test_detail_shows_dose_rule_and_published_result(as_user, nina):
    response = as_user(nina).get(reverse("care:protocol_detail", args=[KARE, 1]))
    assert response.status_code == 200
    assert b"0.8 mg/kg IV" in response.content
    assert b"Published result" in response.content


def test_unknown_protocol_is_404(as_user, nina):
    assert as_user(nina).get(reverse("care:protocol_detail", args=[KARE, 99])).status_code == 404


def test_admin_clones_within_bounds_and_courses_keep_their_version(
    adam, alice, clinic_a, patient_a, eligible_a
):
    course = course_enrol(
        actor=alice, patient=patient_a, protocol_slug=KARE, start_date=clinic_today(clinic_a)
    )
    clone = protocol_clone_create(
        actor=adam,
        clinic_id=clinic_a.pk,
        slug=KARE,
        version=1,
        changes={"monitoring.min_observation_min": 150},
        note="Longer observation for our unit",
    )
    assert clone.version == 2
    assert protocol_resolve(clinic_id=clinic_a.pk, slug=KARE).monitoring.min_observation_min == 150
    course.refresh_from_db()
    assert course.protocol_version == 1 and course.protocol_data["monitoring"]["min_observation_min"] == 120
    assert audit_count(action="create", object_type="protocol", actor=adam) == 1


def test_clone_is_visible_only_to_its_clinic(adam, clinic_a, clinic_b):
    protocol_clone_create(
        actor=adam,
        clinic_id=clinic_a.pk,
        slug=KARE,
        version=1,
        changes={"monitoring.min_observation_min": 150},
        note="ours",
    )
    assert protocol_resolve(clinic_id=clinic_b.pk, slug=KARE).version == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"sessions.1.dose.mg_per_kg": "1.5"}, "dose_above_own_max"),
        ({"monitoring.min_observation_min": 30}, "observation_too_short"),
        ({"sessions.1.day_offset": -3}, "invalid_day_offset"),
        ({"nonsense.path": 1}, "unknown_change"),
    ],
)
def test_clone_refuses_nonsense(adam, clinic_a, changes, code):
    with pytest.raises(DomainError) as error:
        protocol_clone_create(
            actor=adam, clinic_id=clinic_a.pk, slug=KARE, version=1, changes=changes, note="try"
        )
    assert error.value.code == code
    assert ProtocolClone.objects.count() == 0


def test_clone_form_refusal_keeps_input(as_user, adam, clinic_a):
    url = reverse("care:protocol_clone", args=[KARE, 1])
    page = as_user(adam).get(url)
    assert page.status_code == 200
    response = as_user(adam).post(
        url,
        {
            "note": "faster",
            "title": "KARE (ours)",
            "min_observation_min": "30",
            "vitals_interval_min": "10",
            "min_days_between_dosing": "7",
            "fasting_min_hours": "6",
            "dose_1": "0.8",
            "dose_4": "0.8",
            "dose_7": "0.8",
        },
    )
    assert response.status_code == 400
    assert b"observation_too_short" in response.content
    assert b'value="KARE (ours)"' in response.content
    assert ProtocolClone.objects.count() == 0


def test_only_admins_clone(as_user, alice):
    assert as_user(alice).get(reverse("care:protocol_clone", args=[KARE, 1])).status_code == 403


def test_the_clone_form_sets_the_clear_fluids_hours(as_user, adam, clinic_a):
    url = reverse("care:protocol_clone", args=[KARE, 1])
    form = {"note": "Clear fluids until 3 h", "title": "KARE (ours)", "min_observation_min": "120",
            "vitals_interval_min": "10", "min_days_between_dosing": "7", "fasting_min_hours": "6",
            "dose_1": "0.8", "dose_4": "0.8", "dose_7": "0.8"}  # fmt: skip
    refused = as_user(adam).post(url, form | {"clear_fluids_min_hours": "25"})
    assert refused.status_code == 400 and b"invalid_clear_fluids_hours" in refused.content
    assert ProtocolClone.objects.count() == 0
    response = as_user(adam).post(url, form | {"clear_fluids_min_hours": "3"})
    assert response.status_code == 302
    assert str(protocol_resolve(clinic_id=clinic_a.pk, slug=KARE).day_of.clear_fluids_min_hours) == "3"
    detail = as_user(adam).get(reverse("care:protocol_detail", args=[KARE, 2])).content.decode()
    assert "clear fluids until 3 h before" in detail


def test_the_detail_shows_the_setting_and_the_trials_own_criteria(as_user, nina):
    kare = as_user(nina).get(reverse("care:protocol_detail", args=[KARE, 1])).content.decode()
    assert (
        "The trial&#x27;s own eligibility criteria" in kare or "The trial's own eligibility criteria" in kare
    )
    assert (
        "Age 18–60 years" in kare and "BDI-II total above 14" in kare and "At most 10 detoxifications" in kare
    )
    assert "Setting:</strong> Outpatient" in kare
    dakwar = as_user(nina).get(reverse("care:protocol_detail", args=[DAKWAR_2019, 1])).content.decode()
    assert "Inpatient stay, then outpatient" in dakwar and "5-day inpatient stay" in dakwar
    assert "own eligibility criteria" not in dakwar


DAKWAR_2019 = "ketamine-mbrp-cocaine-dakwar-2019"


def test_a_clinic_giving_dakwar_2019_to_outpatients_says_so_in_its_clone(as_user, adam, clinic_a):
    url = reverse("care:protocol_clone", args=[DAKWAR_2019, 1])
    form = {"note": "Outpatient infusion", "title": "Dakwar 2019 (outpatient)", "min_observation_min": "120",
            "vitals_interval_min": "10", "min_days_between_dosing": "7", "fasting_min_hours": "6",
            "dose_1": "0.5", "setting": "outpatient"}  # fmt: skip
    refused = as_user(adam).post(url, form)
    assert refused.status_code == 400
    assert (
        b"setting_adaptation_required" in refused.content and b"Dakwar 2019 (outpatient)" in refused.content
    )
    assert ProtocolClone.objects.count() == 0
    before = audit_count(action="create", object_type="protocol")
    adaptation = "Infusion as outpatients with an escort home; MBRP twice weekly from day 0."
    response = as_user(adam).post(url, form | {"setting_adaptation": adaptation})
    assert response.status_code == 302
    clone = protocol_resolve(clinic_id=clinic_a.pk, slug=DAKWAR_2019)
    assert (clone.setting, clone.setting_adaptation) == ("outpatient", adaptation)
    assert audit_count(action="create", object_type="protocol") == before + 1
    detail = as_user(adam).get(reverse("care:protocol_detail", args=[DAKWAR_2019, 2])).content.decode()
    assert "Adapted by this clinic" in detail and "escort home" in detail
