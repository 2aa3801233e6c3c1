"""The board's reads are set-based (issue 17, the load bench): a redraw issues the same queries for
one session as for ten, and every row still holds exactly what the per-session reads give.

The reference below is the board's former per-session assembly (``board_rows`` before the change),
built from the per-session selectors that remain in use elsewhere (the session page, the ingest):
the set-based board must show, session for session, the same administration, times, latest values
and trends, open alerts (order, severity, acknowledgement, escalation), overdue and next checks and
notices, in the same order, and render the same HTML.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapstone.accounts.models import Role
from kapstone.care.services import course_enrol, day_of_checks_record, session_transition
from kapstone.care.views import state_label
from kapstone.domain import monitoring as rules
from kapstone.dosing.services import administration_rate_event
from kapstone.inventory.services import location_create, lot_receive, product_create
from kapstone.monitoring import selectors
from kapstone.monitoring.models import Alert, Observation
from kapstone.monitoring.notices import BoardNotice
from kapstone.monitoring.services import alert_acknowledge, observation_void, vitals_record
from kapstone.patients.services import clinic_today, consent_record
from tests.care.conftest import first_dosing, screen
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import make_user, new_patient, record_liver_panel
from tests.monitoring.conftest import start_dosing, vitals_set
from tests.monitoring.test_services import ago, recovering_session

pytestmark = pytest.mark.django_db

ROLES = [Role.NURSE, Role.PRESCRIBER]


def reference_rows(sessions, now, notices=()):
    """The board's rows as the per-session reads give them (the former ``board_rows``)."""
    by_session = {}
    for notice in notices:
        if notice.session_id is not None:
            by_session.setdefault(notice.session_id, []).append(notice)
    rows = []
    for session in sessions:
        administration = selectors.administration_for_session(session)
        times = selectors.session_times(session, administration)
        by_code = selectors.recent_by_code(session)
        vitals = []
        for code, definition in rules.OBSERVATION_DEFINITIONS.items():
            readings = by_code.get(code)
            if not readings or code == "aldrete_total":
                continue
            latest, previous = readings[0], readings[1] if len(readings) > 1 else None
            trend = ""
            if previous is not None:
                trend = (
                    "up"
                    if latest.value > previous.value
                    else "down"
                    if latest.value < previous.value
                    else "steady"
                )
            vitals.append(
                {
                    "code": code,
                    "label": definition.display,
                    "short": selectors.SHORT_LABELS.get(code, code),
                    "value": latest.value,
                    "unit": definition.unit_display,
                    "trend": trend,
                    "at": latest.observed_at,
                }
            )
        checks = selectors.checks_in_db(session, times, now)
        thresholds = selectors.alert_thresholds(session)
        open_alerts = selectors.alerts_of(session, open_only=True)
        for alert in open_alerts:
            alert.escalate = alert.acknowledged_at is None and rules.escalation_due(
                alert.escalation_from, alert.severity, now, thresholds
            )
        rows.append(
            {
                "session": session,
                "times": times,
                "administration": administration,
                "vitals": vitals,
                "alerts": open_alerts,
                "escalate": any(a.escalate for a in open_alerts),
                "notices": by_session.get(session.pk, []),
                "overdue": [c for c in checks if c.status == rules.STATUS_OVERDUE],
                "next_due": next((c for c in checks if c.status == rules.STATUS_DUE), None),
                "minutes": int((now - times.dosing_started_at).total_seconds() // 60)
                if times.dosing_started_at
                else None,
            }
        )
    return rows


def plain(rows):
    """Everything a row shows, as plain values (model instances by their fields)."""
    out = []
    for row in rows:
        administration = row["administration"]
        out.append(
            {
                "session": row["session"].pk,
                "times": row["times"],
                "administration": administration
                and (
                    administration.pk,
                    administration.order.pk,
                    administration.order.status,
                    administration.started_at,
                    administration.ended_at,
                    administration.paused_since,
                ),
                "vitals": row["vitals"],
                "alerts": [
                    (
                        a.pk,
                        a.code,
                        a.severity,
                        a.status,
                        a.raised_at,
                        a.acknowledged_at,
                        a.acknowledged_by_id,
                        a.acknowledged_by and a.acknowledged_by.username,
                        a.escalate,
                        a.entered_in_error,
                    )
                    for a in row["alerts"]
                ],
                "escalate": row["escalate"],
                "notices": row["notices"],
                "overdue": row["overdue"],
                "next_due": row["next_due"],
                "minutes": row["minutes"],
            }
        )
    return out


def html(rows, now):
    for row in rows:
        row["state"] = state_label(row["session"])
    return render_to_string(
        "monitoring/_board_rows.html",
        {"rows": rows, "notices": [], "updated": now, "token": "t", "poll_ms": 500},
    )


@pytest.fixture
def lots(adam, clinic_a, clinic_b):
    """A large lot in each clinic (many doses are given from it)."""
    product = product_create(
        actor=adam, name="Ketamine HCl", ndc="00000-0050-10", strength_mg_per_ml="50", vial_volume_ml="10"
    )
    admin_b = make_user("abe", clinic_b, Role.ADMIN)
    found = {}
    for clinic, admin in ((clinic_a, adam), (clinic_b, admin_b)):
        location = location_create(actor=admin, clinic=clinic, name="Main safe")
        found[clinic.pk] = lot_receive(
            actor=admin,
            clinic=clinic,
            location=location,
            product=product,
            lot_number=f"K50-{clinic.pk}",
            expiry=clinic_today(clinic) + timedelta(days=200),
            amount_mg=Decimal("20000"),
            received_at=timezone.now() - timedelta(days=1),
        )
    return found


def cleared(*, prescriber, nurse, clinic, mrn: str, room: str):
    """A new patient's first dosing session, checked in 4 h ago and cleared, in ``room``."""
    patient = new_patient(prescriber, clinic, mrn=mrn, family_name=f"Board{mrn}")
    consent_record(
        actor=prescriber,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )
    screen(prescriber, patient)
    course = course_enrol(
        actor=prescriber,
        patient=patient,
        protocol_slug="kare-alcohol-grabski-2022",
        start_date=clinic_today(clinic),
    )
    session = first_dosing(course)
    record_liver_panel(nurse, patient)
    session.scheduled_date = clinic_today(clinic)
    session.room = room
    session.save(update_fields=["scheduled_date", "room"])
    arrived = timezone.now() - timedelta(hours=4)
    session = session_transition(actor=nurse, session=session, to="checked_in", at=arrived)
    day_of_checks_record(
        actor=nurse, session=session, inputs=SERVICE_INPUTS, at=arrived + timedelta(minutes=5)
    )
    session.refresh_from_db()
    assert session.status == "cleared"
    return session


def dosed(*, prescriber, nurse, clinic, lot, mrn: str, room: str, minutes_ago: int):
    session = cleared(prescriber=prescriber, nurse=nurse, clinic=clinic, mrn=mrn, room=room)
    administration = start_dosing(
        prescriber=prescriber, nurse=nurse, session=session, lot=lot, minutes_ago=minutes_ago
    )
    session.refresh_from_db()
    assert session.status == "in_progress"
    return session, administration


def test_the_board_shows_exactly_what_the_per_session_reads_give(alice, nina, clinic_a, clinic_b, lots):
    lot = lots[clinic_a.pk]
    # In progress for 8 min; abnormal values raise alerts of both severities, one acknowledged.
    alerted, _ = dosed(
        prescriber=alice, nurse=nina, clinic=clinic_a, lot=lot, mrn="B-1", room="Chair 3", minutes_ago=8
    )
    vitals_record(actor=nina, session=alerted, observations=vitals_set(ago(3), spo2=91, heart_rate=125))
    vitals_record(actor=nina, session=alerted, observations=vitals_set(ago(1), spo2=85, heart_rate=128))
    first_alert = Alert.objects.filter(session=alerted).order_by("id").first()
    alert_acknowledge(actor=nina, alert=first_alert, action="observed", note="probe rechecked")
    # In progress for an hour with no set since the baseline: checks overdue.
    overdue, _ = dosed(
        prescriber=alice, nurse=nina, clinic=clinic_a, lot=lot, mrn="B-2", room="Chair 1", minutes_ago=60
    )
    # Recovering: the infusion ended 30 min ago.
    recovering = recovering_session(
        alice=alice,
        nina=nina,
        session=cleared(prescriber=alice, nurse=nina, clinic=clinic_a, mrn="B-3", room="Chair 2"),
        lot=lot,
        ended_minutes_ago=30,
    )
    # In progress for 20 min, paused, its latest SpO2 entered in error (the alert it raised ended).
    voided, administration = dosed(
        prescriber=alice, nurse=nina, clinic=clinic_a, lot=lot, mrn="B-4", room="Chair 2", minutes_ago=20
    )
    vitals_record(actor=nina, session=voided, observations=vitals_set(ago(4), systolic_bp=150))
    vitals_record(actor=nina, session=voided, observations=vitals_set(ago(1), spo2=84))
    typo = Observation.objects.filter(session=voided, code="spo2").order_by("-observed_at", "-id").first()
    observation_void(actor=nina, observation=typo, reason="Typed 84 for 94")
    administration_rate_event(
        actor=nina, administration=administration, kind="pause", at=ago(2), reason="nausea"
    )
    # Not on the board: cleared but not dosed, and another clinic's session in progress.
    waiting = cleared(prescriber=alice, nurse=nina, clinic=clinic_a, mrn="B-5", room="Chair 9")
    carol_b = make_user("carol2", clinic_b, Role.PRESCRIBER)
    nurse_b = make_user("nora", clinic_b, Role.NURSE)
    elsewhere, _ = dosed(
        prescriber=carol_b,
        nurse=nurse_b,
        clinic=clinic_b,
        lot=lots[clinic_b.pk],
        mrn="C-1",
        room="Chair 1",
        minutes_ago=30,
    )
    vitals_record(actor=nurse_b, session=elsewhere, observations=vitals_set(ago(1), spo2=85))

    sessions = selectors.board_sessions_for_user(user=nina, roles=ROLES)
    assert [s.pk for s in sessions] == [overdue.pk, recovering.pk, voided.pk, alerted.pk]  # by room, then id
    assert waiting.pk not in [s.pk for s in sessions] and elsewhere.pk not in [s.pk for s in sessions]
    notices = [
        BoardNotice(
            "sae-1", clinic_a.pk, recovering.patient_id, recovering.pk, "critical", "Serious adverse event"
        ),
        BoardNotice("sae-2", clinic_a.pk, alerted.patient_id, None, "warning", "Clinic-wide"),
    ]
    for later in (0, 5, 90):  # now, once the critical alert's escalation is due, and much later
        now = timezone.now() + timedelta(minutes=later)
        expected = reference_rows(sessions, now, notices)
        rows = selectors.board_rows(sessions, now, notices)
        assert plain(rows) == plain(expected)
        assert html(rows, now) == html(expected, now)

    # The scenario holds what it is meant to: every state the board distinguishes.
    by_session = {
        row["session"]: row
        for row in plain(selectors.board_rows(sessions, timezone.now() + timedelta(minutes=5), notices))
    }
    assert {a[2] for a in by_session[alerted.pk]["alerts"]} == {"warning", "critical"}
    assert any(a[5] is not None for a in by_session[alerted.pk]["alerts"])  # one acknowledged
    assert by_session[alerted.pk]["escalate"] and not by_session[overdue.pk]["escalate"]
    assert by_session[overdue.pk]["overdue"] and not by_session[alerted.pk]["overdue"]
    assert by_session[recovering.pk]["administration"][4] is not None  # ended
    assert by_session[recovering.pk]["notices"] == [notices[0]]
    assert by_session[voided.pk]["administration"][5] is not None  # paused
    spo2 = next(v for v in by_session[voided.pk]["vitals"] if v["code"] == "spo2")
    assert spo2["value"] == 98  # the set before the typo's
    assert "hypoxemia" not in {a[1] for a in by_session[voided.pk]["alerts"]}
    assert next(v for v in by_session[voided.pk]["vitals"] if v["code"] == "systolic_bp")["trend"] == "down"


def queries_of_board(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("monitoring:board"))
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_board_issues_the_same_queries_for_one_session_and_for_ten(as_user, alice, nina, clinic_a, lots):
    def add(n: int):
        session, _ = dosed(
            prescriber=alice,
            nurse=nina,
            clinic=clinic_a,
            lot=lots[clinic_a.pk],
            mrn=f"Q-{n}",
            room=f"Chair {n}",
            minutes_ago=20 + n,
        )
        vitals_record(actor=nina, session=session, observations=vitals_set(ago(1), spo2=85))

    client = as_user(nina)
    add(0)
    client.get(reverse("monitoring:board"))  # caches of the process warmed alike for both reads
    one = queries_of_board(client)
    for n in range(1, 10):
        add(n)
    ten = queries_of_board(client)
    assert len(selectors.board_sessions_for_user(user=nina, roles=ROLES)) == 10
    page = client.get(reverse("monitoring:board")).content.decode()
    assert page.count("BoardQ-") == 10
    assert len(ten) == len(one), "\n".join(ten)


@pytest.mark.parametrize(("per_query", "max_windows"), [(2, 200), (1000, 1)])
def test_window_lookups_split_over_statements_and_long_schedules_give_the_same_rows(
    monkeypatch, alice, nina, clinic_a, lots, per_query, max_windows
):
    """The check windows split over several statements (a board holding more windows than one
    statement takes), and a session whose schedule is read from its times (one left open for
    days): the same rows as the per-session reads."""
    lot = lots[clinic_a.pk]
    dosed(prescriber=alice, nurse=nina, clinic=clinic_a, lot=lot, mrn="W-1", room="Chair 1", minutes_ago=70)
    second, _ = dosed(
        prescriber=alice, nurse=nina, clinic=clinic_a, lot=lot, mrn="W-2", room="Chair 2", minutes_ago=45
    )
    vitals_record(actor=nina, session=second, observations=vitals_set(ago(20)))
    vitals_record(actor=nina, session=second, observations=vitals_set(ago(2), heart_rate=125))
    monkeypatch.setattr(selectors, "_BOARD_WINDOWS_PER_QUERY", per_query)
    monkeypatch.setattr(selectors, "_MAX_WINDOW_AGGREGATES", max_windows)
    sessions = selectors.board_sessions_for_user(user=nina, roles=ROLES)
    assert len(sessions) == 2
    now = timezone.now()
    rows = selectors.board_rows(sessions, now)
    assert plain(rows) == plain(reference_rows(sessions, now))
    assert any(row["overdue"] for row in rows) and any(row["next_due"] for row in rows)
