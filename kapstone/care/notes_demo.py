"""Demo therapy notes and group sessions, written through the services (so they are audited).

Called from the demo seed once courses exist and some of their sessions are completed.
Idempotent: a session that already has a note by the therapist is skipped, and the two demo
groups are found by their titles.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, time, timedelta

from kapstone.accounts.models import Clinic, User
from kapstone.care import notes
from kapstone.care.models import AttendanceStatus, CareSession, GroupSession, TherapyNote, TreatmentCourse
from kapstone.domain.protocols import INTEGRATION, PREPARATION
from kapstone.domain.sessions import DISCHARGED, SCHEDULED
from kapstone.patients.models import Patient

PAST_GROUP_TITLE = "Integration circle"
NEXT_GROUP_TITLE = "Integration circle (next meeting)"

# Invented, generic wording: nothing here describes a real person.
INTENTIONS = (
    "To understand what drinking has been protecting me from.",
    "To feel some distance from cravings and notice them without acting.",
    "To reconnect with my family and be present at home.",
    "To find out what a sober evening could feel like.",
)
THEMES = (
    "A path through a forest; a river carrying things away.",
    "A house with many rooms, some closed for years.",
    "Standing on a shore at dawn; the tide going out.",
    "A journey up a mountain with rests along the way.",
)
INSIGHTS = (
    "Described feeling separate from the urge to drink for the first time in years.",
    "Recognised shame as the trigger behind evening use; tearful, then calm.",
    "Noticed a sense of being supported; linked it to a grandparent's memory.",
    "Felt the craving as a wave that passed; wants to practise noticing it.",
)
PLANS = (
    "Daily 10-minute mindfulness practice; call sponsor twice this week.",
    "Write down three high-risk situations and a plan for each before next session.",
    "Attend the integration group; bring one image from the session to share.",
    "Review the relapse-prevention plan with partner; next session as scheduled.",
)
GROUP_NOTE = {
    "intentions": "Shared intentions for the weeks after dosing; each member named one.",
    "themes": "Returning home; what to keep from the experience.",
    "insights": "Members described cravings as weaker but still present; mutual support was strong.",
    "plan": "Continue daily practice; next circle in two weeks.",
}


def _note_text(rng: random.Random, kind: str) -> dict[str, str]:
    text = {"intentions": rng.choice(INTENTIONS), "plan": rng.choice(PLANS)}
    if kind == PREPARATION:
        text["themes"] = rng.choice(THEMES)
    else:
        text["insights"] = rng.choice(INSIGHTS)
    return text


def _seed_session_notes(therapist: User, courses: list[TreatmentCourse], rng: random.Random) -> None:
    completed = list(
        CareSession.objects.filter(
            course__in=courses, kind__in=(PREPARATION, INTEGRATION), status=DISCHARGED
        ).order_by("scheduled_date", "id")
    )
    has_note = set(
        TherapyNote.objects.filter(session__in=completed, author=therapist).values_list(
            "session_id", flat=True
        )
    )
    todo = [s for s in completed if s.pk not in has_note]
    draft_exists = TherapyNote.objects.filter(
        clinic_id__in={c.clinic_id for c in courses}, author=therapist, signed_at__isnull=True
    ).exists()
    for index, session in enumerate(todo):
        leave_as_draft = not draft_exists and index == len(todo) - 1  # the latest: still being written
        notes.note_create(
            actor=therapist, session=session, sign=not leave_as_draft, **_note_text(rng, session.kind)
        )


def _seed_past_group(
    clinic: Clinic, therapist: User, patients: list[Patient], rng: random.Random, today: date
) -> None:
    if GroupSession.objects.filter(clinic=clinic, title=PAST_GROUP_TITLE).exists() or not patients:
        return
    group = notes.group_session_create(
        actor=therapist,
        clinic_id=clinic.pk,
        kind=INTEGRATION,
        title=PAST_GROUP_TITLE,
        scheduled_date=today - timedelta(days=7),
        start_time=time(17, 30),
        duration_min=90,
        room="Group room",
    )
    for patient in patients:
        notes.group_patient_add(actor=therapist, group_session=group, patient_id=patient.pk)
    statuses = {
        patient.pk: rng.choices(
            (AttendanceStatus.ATTENDED, AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED),
            weights=(7, 2, 1),
            k=1,
        )[0]
        for patient in patients
    }
    statuses[patients[0].pk] = AttendanceStatus.ATTENDED  # at least one member came
    notes.group_attendance_record(actor=therapist, group_session=group, statuses=statuses)
    notes.group_note_create(actor=therapist, group_session=group, sign=True, **GROUP_NOTE)
    notes.group_note_create(
        actor=therapist,
        group_session=group,
        patient_id=patients[0].pk,
        sign=True,
        **_note_text(rng, INTEGRATION),
    )


def _seed_next_group(clinic: Clinic, therapist: User, courses: list[TreatmentCourse], today: date) -> None:
    if GroupSession.objects.filter(clinic=clinic, title=NEXT_GROUP_TITLE).exists() or not courses:
        return
    # Meet on the day of the next scheduled integration session, so that it is linked to the group.
    upcoming = (
        CareSession.objects.filter(
            course__in=courses,
            kind=INTEGRATION,
            status=SCHEDULED,
            scheduled_date__gt=today,
            scheduled_date__lte=today + timedelta(days=60),
            group_session__isnull=True,
        )
        .order_by("scheduled_date", "id")
        .first()
    )
    day = upcoming.scheduled_date if upcoming else today + timedelta(days=7)
    group = notes.group_session_create(
        actor=therapist,
        clinic_id=clinic.pk,
        kind=INTEGRATION,
        title=NEXT_GROUP_TITLE,
        scheduled_date=day,
        start_time=time(17, 30),
        duration_min=90,
        room="Group room",
    )
    members = {upcoming.patient_id} if upcoming else set()
    members.update(c.patient_id for c in courses[:4])
    for patient_id in sorted(members):
        notes.group_patient_add(actor=therapist, group_session=group, patient_id=patient_id)


def seed_notes_and_groups(
    *,
    clinic: Clinic,
    therapist: User,
    patients_with_courses: Iterable[tuple[Patient, TreatmentCourse]],
    rng: random.Random,
    today: date,
) -> None:
    """Signed notes on the completed preparation and integration sessions of these courses (the
    latest left as a draft), a past integration group with attendance, a group note and one
    per-patient note, and an upcoming group. ``today`` is the clinic's date."""
    pairs = [(p, c) for p, c in patients_with_courses if c.clinic_id == clinic.pk]
    courses = [c for _, c in pairs]
    if not pairs:
        return
    _seed_session_notes(therapist, courses, rng)
    _seed_past_group(clinic, therapist, [p for p, _ in pairs][:6], rng, today)
    _seed_next_group(clinic, therapist, courses, today)
