"""E-mail reminders to patients: a questionnaire fell due, or a session is tomorrow.

Run by ``kapstone send_reminders`` (registered with :mod:`kapstone.outcomes.reminders` from
``PortalConfig.ready()``). What is due is computed at send time, in each clinic's own date. Each
thing is e-mailed once (a :class:`~kapstone.portal.models.PortalReminder` row per thing, unique),
so running the command again the same day, or every hour, sends nothing new. A patient who turned
reminders off gets none; a disabled or never-accepted account gets none.

The e-mail holds no PHI: the clinic's name, that there is something to fill in or to prepare
for, and the sign-in link. Never the patient's name, the questionnaire, the session's kind, date
or time. It is written in the patient's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.domain.sessions import SCHEDULED
from kapstone.portal import outcome_selectors
from kapstone.portal.models import PatientAccount, PortalReminder

QUESTIONNAIRE, SESSION = "questionnaire", "session"


@dataclass(frozen=True)
class ReminderItem:
    kind: str  # questionnaire | session
    key: str  # unique per thing, no PHI beyond codes and ids


def reminder_items(account: PatientAccount, *, today: date) -> list[ReminderItem]:
    """What ``account``'s patient could be reminded of on ``today`` (the clinic's date): each
    questionnaire due by today, and each session booked for tomorrow in an active course."""
    patient = account.patient
    items = [
        ReminderItem(
            QUESTIONNAIRE, f"questionnaire:{d.instrument}:{d.time_point_months}:{d.due_date.isoformat()}"
        )
        for d in outcome_selectors.due_for_patient(patient, today)
        if d.due_date <= today
    ]
    tomorrow = today + timedelta(days=1)
    for session_id in (
        CareSession.objects.filter(
            patient=patient, scheduled_date=tomorrow, status=SCHEDULED, course__status="active"
        )
        .order_by("start_time", "id")
        .values_list("pk", flat=True)
    ):
        items.append(ReminderItem(SESSION, f"session:{session_id}:{tomorrow.isoformat()}"))
    return items


def _message(clinic: str, kinds: set[str], link: str) -> tuple[str, str]:
    """Subject and body, in the active language, with no PHI."""
    if QUESTIONNAIRE in kinds:
        subject = _("You have something to fill in at %(clinic)s") % {"clinic": clinic}
    else:
        subject = _("A reminder from %(clinic)s") % {"clinic": clinic}
    lines = []
    if QUESTIONNAIRE in kinds:
        lines.append(_("You have something to fill in for %(clinic)s.") % {"clinic": clinic})
    if SESSION in kinds:
        lines.append(_("Sign in to see your next session and how to prepare for it."))
    body = (
        "\n".join(lines)
        + "\n\n"
        + _("Sign in to your patient portal:")
        + f"\n{link}\n\n"
        + _(
            "This message deliberately says nothing more. To stop these reminders, turn them off "
            "on the settings page of your portal."
        )
        + "\n"
    )
    return subject, body


def patient_reminders_send(
    *, base_url: str, dry_run: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """E-mail every active patient account what it has not been reminded of yet.

    Returns counts: ``accounts`` (with something new to remind), ``emailed``, ``reminders``
    (things), ``opted_out`` (accounts with something new but reminders turned off). With
    ``dry_run`` nothing is sent, stored or audited.
    """
    now = now or timezone.now()
    link = f"{base_url.rstrip('/')}/portal/"
    summary = {"accounts": 0, "emailed": 0, "reminders": 0, "opted_out": 0}
    accounts = (
        PatientAccount.objects.filter(
            accepted_at__isnull=False, disabled_at__isnull=True, user__is_active=True
        )
        .select_related("patient__clinic", "user")
        .order_by("pk")
    )
    for account in accounts:
        clinic = account.patient.clinic
        today = now.astimezone(ZoneInfo(clinic.timezone)).date()
        items = reminder_items(account, today=today)
        if not items:
            continue
        done = set(account.reminders.filter(item__in=[i.key for i in items]).values_list("item", flat=True))
        new = [i for i in items if i.key not in done]
        if not new:
            continue
        summary["accounts"] += 1
        if not account.reminders_enabled:
            summary["opted_out"] += 1
            continue
        if dry_run:
            summary["emailed"] += 1
            summary["reminders"] += len(new)
            continue
        sent = _send(account, new, today=today, now=now, link=link)
        if sent:
            summary["emailed"] += 1
            summary["reminders"] += sent
    return summary


def _send(
    account: PatientAccount, items: list[ReminderItem], *, today: date, now: datetime, link: str
) -> int:
    """Record and e-mail ``items`` for one account; how many were new (0 when another run got
    there first). The e-mail goes out after the commit."""
    with transaction.atomic():
        # Another run at the same moment waits here, then finds the items recorded.
        locked = PatientAccount.objects.select_for_update().get(pk=account.pk)
        if not locked.reminders_enabled or locked.disabled_at is not None:
            return 0
        done = set(locked.reminders.filter(item__in=[i.key for i in items]).values_list("item", flat=True))
        new = [i for i in items if i.key not in done]
        if not new:
            return 0
        PortalReminder.objects.bulk_create(
            [PortalReminder(account=locked, item=i.key, sent_on=today, sent_at=now) for i in new]
        )
        audit_record(
            actor=None,
            actor_label="send_reminders",
            action="create",
            object_type="portal_reminder",
            object_id=locked.pk,
            patient_id=locked.patient_id,
            clinic_id=account.patient.clinic_id,
            detail={"reminders": len(new), "kinds": sorted({i.kind for i in new})},
        )
        with translation.override(locked.language or "en"):
            subject, body = _message(account.patient.clinic.name, {i.kind for i in new}, link)
        address = locked.email
        transaction.on_commit(
            lambda: send_mail(subject, body, from_email=None, recipient_list=[address], fail_silently=False)
        )
    return len(new)


def patient_reminder_source(*, base_url: str, dry_run: bool) -> dict[str, Any]:
    """The source registered with ``send_reminders`` (key ``patients``)."""
    return patient_reminders_send(base_url=base_url, dry_run=dry_run)
