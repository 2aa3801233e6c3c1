"""The cohort report and the de-identified exports, through the web: access per role, small-cell
suppression, no names/MRNs/dates in any body, consent, the export audit event."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from kapstone.audit.models import AuditEvent
from kapstone.outcomes.models import UseDay
from kapstone.patients.services import consent_record
from kapstone.research.services import REDISCLOSURE_NOTICE, safe_cell, study_id
from tests.research.conftest import Spec, enrol

pytestmark = [pytest.mark.django_db]

REPORT = "/research/"
LONG = "/research/export/long.csv"
WIDE = "/research/export/wide.csv"


def identifiers(people) -> list[str]:
    """Every name, MRN and exact date of the patients and their calendars, as text would show it."""
    values = []
    for person in people:
        values += [person.given_name, person.family_name, person.mrn]
        dates = [person.birth_date, *UseDay.objects.filter(patient=person).values_list("day", flat=True)]
        dates += [c.start_date for c in person.courses.all()]
        for day in set(dates):
            values += [
                day.isoformat(),
                day.strftime("%d/%m/%Y"),
                day.strftime("%m/%d/%Y"),
                f"{day:%b}. {day.day}, {day.year}",
                f"{day:%B} {day.day}, {day.year}",
            ]
    return values


def assert_no_identifiers(body: str, people) -> None:
    for value in identifiers(people):
        assert value not in body, value


def rows_of(content: str) -> list[list[str]]:
    lines = [line for line in content.splitlines() if not line.startswith("#")]
    return list(csv.reader(io.StringIO("\n".join(lines))))


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["bob", "alice", "adam"])
def test_report_opens_for_researcher_prescriber_and_admin(actor, request, as_user, cohort_a):
    response = as_user(request.getfixturevalue(actor)).get(REPORT)
    assert response.status_code == 200
    assert b"Time to relapse (Kaplan" in response.content
    assert b'id="km-figure"' in response.content
    assert b"Published trial" in response.content
    assert b"non-randomised" in response.content or b"not randomised" in response.content


@pytest.mark.parametrize("actor", ["nina", "terry"])
@pytest.mark.parametrize("url", [REPORT, LONG, WIDE])
def test_nurse_and_therapist_get_403(actor, url, request, as_user, cohort_a):
    before = AuditEvent.objects.filter(action="export").count()
    response = as_user(request.getfixturevalue(actor)).get(url)
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="export").count() == before
    assert_no_identifiers(response.content.decode(), [p for p, _, _ in cohort_a])


@pytest.mark.parametrize("url", [REPORT, LONG])
def test_requires_login(url, client, cohort_a):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_bad_date_range_shows_the_error_and_keeps_the_input(as_user, bob, cohort_a):
    response = as_user(bob).get(REPORT, {"enrolled_from": "2026-03-01", "enrolled_to": "2026-01-01"})
    assert response.status_code == 400
    assert b"before its start" in response.content
    assert b'value="2026-03-01"' in response.content


# --- what the researcher sees -----------------------------------------------------------------


def test_researcher_sees_small_cells_suppressed(as_user, bob, cohort_a):
    response = as_user(bob).get(REPORT)
    report = response.context["report"]
    assert report.suppressed is True and report.counts_rounded_to == 5
    assert report.n == 25  # 24, rounded to the nearest 5
    for row in report.abstinence:
        assert row["n"] == 15  # 12: 11 and 12 show as 15, not 10
        assert row["abstinent"] == "<11" and row["missing"] == "<11"
        assert row["withheld"] and row["proportion"] is None
    assert report.comparison is None and report.comparison_withheld
    for row in report.survival:
        assert row["events"] == "<11"
        assert row["at_risk"][0] == 15
        assert "<11" in row["at_risk"]
    body = response.content.decode()
    assert "&lt;11" in body
    assert "withheld" in body
    assert 'data-testid="small-count-note"' in body
    assert "rounded to the nearest 5" in body


def test_prescriber_sees_exact_counts(as_user, alice, cohort_a):
    report = as_user(alice).get(REPORT).context["report"]
    assert report.suppressed is False
    assert {row["abstinent"] for row in report.abstinence} == {4}
    assert report.comparison is not None


def test_group_under_11_shows_no_estimates_to_researcher(as_user, bob, alice, clinic_a):
    for index in range(5):
        enrol(
            alice, clinic_a, index=index, spec=Spec(arm="small", window="abstinent", follow=30, relapse=None)
        )
    report = as_user(bob).get(REPORT).context["report"]
    assert report.n == "<11"
    (survival,) = report.survival
    assert survival["withheld"] and survival["median"] is None
    assert report.km_figure is None
    assert set(survival["at_risk"]) == {"<11"}


def test_report_and_exports_hold_no_names_mrns_or_dates(as_user, bob, cohort_a):
    people = [p for p, _, _ in cohort_a]
    client = as_user(bob)
    report = client.get(REPORT)
    assert_no_identifiers(report.content.decode(), people)
    for url in (LONG, WIDE):
        response = client.get(url)
        assert response.status_code == 200
        assert_no_identifiers(response.content.decode(), people)


def test_report_audits_a_read_with_counts_only(as_user, bob, cohort_a):
    as_user(bob).get(REPORT)
    event = AuditEvent.objects.filter(action="read", object_type="cohort_report").latest("id")
    assert event.detail["courses"] == 24
    assert event.patient_id is None


def test_another_clinics_patients_never_appear(as_user, bob, clinic_b, cohort_a, course_b):
    client = as_user(bob)
    client.get(REPORT)
    # The exact count is in the audit row (the researcher sees it rounded).
    assert AuditEvent.objects.filter(object_type="cohort_report").latest("id").detail["courses"] == 24
    assert client.get(REPORT, {"clinic": clinic_b.pk}).status_code == 400  # not a choice for bob
    other = course_b[0]
    for url in (LONG, WIDE):
        body = client.get(url).content.decode()
        assert study_id(other.pk) not in body
        assert_no_identifiers(body, [other])


# --- exports ----------------------------------------------------------------------------------


def test_long_export_is_deidentified_csv_with_notice(as_user, bob, cohort_a):
    response = as_user(bob).get(LONG)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="kapstone-research-long.csv"'
    content = response.content.decode()
    assert content.splitlines()[0] == f"# {REDISCLOSURE_NOTICE[0]}"
    assert "42 CFR part 2 prohibits unauthorized disclosure of these records." in content.splitlines()[0]
    rows = rows_of(content)
    assert rows[0] == ["study_id", "course", "days_since_enrolment", "kind", "value"]
    ids = {row[0] for row in rows[1:]}
    assert ids == {study_id(p.pk) for p, _, _ in cohort_a}
    person, _, _ = cohort_a[2]  # used on day 30
    sid = study_id(person.pk)
    assert [sid, "1", "30", "tlfb_cocaine_used", "1"] in rows
    assert [sid, "1", "", "outcome_abstinence", "not_abstinent"] in rows
    assert [sid, "1", "", "age_at_enrolment", str(rows_age(person, cohort_a))] in rows


def rows_age(person, cohort_a) -> int:
    course = next(c for p, c, _ in cohort_a if p.pk == person.pk)
    start, born = course.start_date, person.birth_date
    return start.year - born.year - ((start.month, start.day) < (born.month, born.day))


def test_wide_export_has_one_row_per_follow_up(as_user, bob, cohort_a):
    response = as_user(bob).get(WIDE)
    assert response["Content-Disposition"] == 'attachment; filename="kapstone-research-wide.csv"'
    rows = rows_of(response.content.decode())
    header = rows[0]
    assert header[:3] == ["study_id", "course", "protocol"]
    assert "follow_up_months" in header and "phq-9_total" in header
    # 24 courses × the protocol's follow-up time points (default 1, 3, 6, 12, 24 months).
    assert len(rows) - 1 == 24 * 5
    months = header.index("follow_up_months")
    assert {row[months] for row in rows[1:]} == {"1", "3", "6", "12", "24"}


def test_export_writes_one_audit_event_with_counts_and_no_phi(as_user, bob, cohort_a):
    before = AuditEvent.objects.filter(action="export").count()
    as_user(bob).get(LONG, {"arm": "control"})
    assert AuditEvent.objects.filter(action="export").count() == before + 1
    event = AuditEvent.objects.filter(action="export").latest("id")
    assert event.object_type == "research_export" and event.object_id == "long"
    assert event.actor_id == bob.pk
    assert event.detail["patients"] == 12 and event.detail["courses"] == 12
    assert event.detail["filter"]["arm"] == "control"
    assert_no_identifiers(json.dumps(event.detail), [p for p, _, _ in cohort_a])


def test_patients_without_current_research_consent_are_not_exported(as_user, alice, bob, clinic_a, cohort_a):
    spec = Spec(arm="ketamine", window="abstinent", follow=30, relapse=None)
    never, _ = enrol(alice, clinic_a, index=50, spec=spec, research_consent=None)
    withdrawn, _ = enrol(alice, clinic_a, index=51, spec=spec)
    consent_record(
        actor=alice,
        patient=withdrawn,
        kind="research",
        status="withdrawn",
        effective_on=date(2025, 6, 1),
        document_version="2025-01",
    )
    regranted, _ = enrol(alice, clinic_a, index=52, spec=spec)
    for status in ("withdrawn", "granted"):
        consent_record(
            actor=alice,
            patient=regranted,
            kind="research",
            status=status,
            effective_on=date(2025, 7, 1),
            document_version="2025-07",
        )
    client = as_user(bob)
    for url in (LONG, WIDE):
        body = client.get(url).content.decode()
        for person in (never, withdrawn):
            assert study_id(person.pk) not in body
        assert study_id(regranted.pk) in body  # the latest row is in force
        assert study_id(cohort_a[0][0].pk) in body
    assert AuditEvent.objects.filter(action="export").latest("id").detail["excluded_without_consent"] == 2
    # The aggregate report still counts them (research consent governs disclosure of rows).
    client.get(REPORT)
    assert AuditEvent.objects.filter(object_type="cohort_report").latest("id").detail["courses"] == 27


def test_ages_above_89_are_grouped(as_user, alice, bob, clinic_a):
    old, _ = enrol(
        alice,
        clinic_a,
        index=60,
        spec=Spec(arm="ketamine", window="abstinent", follow=30, relapse=None),
        birth_date=date(1930, 1, 1),
    )
    rows = rows_of(as_user(bob).get(LONG).content.decode())
    assert [study_id(old.pk), "1", "", "age_at_enrolment", "90+"] in rows


def test_formula_in_an_arm_label_is_neutralised(as_user, alice, bob, clinic_a):
    enrol(alice, clinic_a, index=61, spec=Spec(arm='=HYPERLINK("x")', window="used", follow=30, relapse=40))
    content = as_user(bob).get(LONG).content.decode()
    rows = rows_of(content)
    arm = next(row for row in rows if row[3] == "arm")
    assert arm[4] == '\'=HYPERLINK("x")'
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_safe_cell_keeps_numbers_and_prefixes_formula_text():
    assert safe_cell(-3) == "-3"
    assert safe_cell("-3+cmd") == "'-3+cmd"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("\tx") == "'\tx"
    assert safe_cell(None) == ""
    assert safe_cell(True) == "1"


def test_study_id_is_stable_keyed_and_not_the_patient_id(settings):
    first = study_id(42)
    assert study_id(42) == first
    assert study_id(43) != first
    assert "42" not in first.removeprefix("S-")[:2] or first != "S-42"
    settings.SECRET_KEY = "another-key-" + "x" * 50
    assert study_id(42) != first


def test_unknown_export_format_is_404(as_user, bob):
    assert as_user(bob).get("/research/export/xlsx.csv").status_code == 404


def test_empty_cohort_renders_without_estimates(as_user, bob):
    response = as_user(bob).get(REPORT)
    assert response.status_code == 200
    assert b"No courses match." in response.content
    assert b'id="km-figure"' not in response.content
