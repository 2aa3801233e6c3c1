"""Writes of the public door: service profiles, referrals and their queue, the purge.

A referral is written by an anonymous visitor (no actor; the audit row says ``public``), so the
checks a signed-in user would pass are replaced by a per-address limit and the pre-screen's own
rules. From the moment it is stored a referral is PHI of the chosen clinic: every later write is
a staff member's, scoped to their clinic and audited.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mass_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_noop

from kapstone.accounts.access import ADMINS, CARE_TEAM, PATIENT_WRITE, clinic_ids_for, staff_emails
from kapstone.accounts.models import Clinic, User
from kapstone.audit.services import audit_record
from kapstone.care.protocols import protocols_for_clinics
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.prescreen import NOT_SUITABLE, assess_prescreen, validate_prescreen_answers
from kapstone.domain.referrals import (
    CLINIC_MODALITIES,
    CONVERTED,
    CONVERTIBLE,
    NEW,
    STATUS_LABELS,
    check_referral_transition,
    estimated_birth_date,
    match_clinics,
    new_reference,
    screening_prefill,
    split_full_name,
)
from kapstone.domain.text import clean_text
from kapstone.patients.models import Patient
from kapstone.patients.services import clinic_today, patient_create
from kapstone.portal.models import Referral, ReferralEvent, ServiceProfile
from kapstone.portal.ratelimit import rate_counters_prune, rate_limit_hit
from kapstone.portal.selectors import clinic_offers, service_profile_current
from kapstone.screening.models import ScreeningDraft
from kapstone.screening.services import screening_draft_create

PUBLIC_ACTOR = "public"
_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]{7,40}$")

# --- Service profile (clinic admin) --------------------------------------------------------------


def _code_list(values: object, *, field: str, pattern: re.Pattern[str], words: str, upper: bool) -> list[str]:
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\s]+", values) if v]
    if not isinstance(values, list | tuple):
        raise DomainError("invalid_value", f"{words} must be a list.", field=field)
    cleaned = []
    for value in values:
        code = str(value).strip()
        code = code.upper() if upper else code.lower()
        if not pattern.match(code):
            raise DomainError("invalid_value", f"{str(value)[:20]!r} is not {words}.", field=field)
        if code not in cleaned:
            cleaned.append(code)
    return cleaned


def _whole(value: object, *, field: str, low: int, high: int, words: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError("invalid_value", f"{words} must be a whole number.", field=field)
    if not low <= value <= high:
        raise DomainError("invalid_value", f"{words} must be from {low} to {high}.", field=field)
    return value


def service_profile_update(
    *,
    actor: User,
    clinic: Clinic,
    display_name: str,
    regions: Any,
    languages: Any,
    modalities: Any,
    protocol_slugs: Any,
    accepting_referrals: bool,
    wait_weeks: int,
    contact_line: str = "",
    retention_days: int = 180,
    contact_target_working_days: int = 2,
    reason: str = "",
) -> ServiceProfile:
    """A new version of the clinic's public service profile (clinic admins only).

    Refusals (``field`` names the input): ``invalid_value`` (a region that is not a state code, a
    language that is not ISO 639-1, an unknown way of seeing patients, a number out of range),
    ``unknown_protocol`` (a protocol the clinic's library does not hold), ``name_required``,
    ``reason_required`` (a change after the first version says why), ``text_too_long``.
    """
    if clinic.pk not in clinic_ids_for(actor, ADMINS):
        raise Http404("clinic")
    name = clean_text(
        display_name, field="display_name", max_chars=120, required=True, label="The public name"
    )
    region_codes = _code_list(
        regions, field="regions", pattern=_REGION, words="a state code such as NY", upper=True
    )
    language_codes = _code_list(
        languages, field="languages", pattern=_LANGUAGE, words="a two-letter language code", upper=False
    )
    if not language_codes:
        raise DomainError("invalid_value", "Name at least one language.", field="languages")
    ways = [str(m) for m in (modalities or [])]
    unknown = [m for m in ways if m not in CLINIC_MODALITIES]
    if unknown or not ways:
        raise DomainError(
            "invalid_value", "Choose how patients are seen: in person, hybrid follow-up.", field="modalities"
        )
    library = {p.slug for p, _ in protocols_for_clinics([clinic.pk])}
    slugs = [str(s) for s in (protocol_slugs or [])]
    missing = [s for s in slugs if s not in library]
    if missing:
        raise DomainError(
            "unknown_protocol", f"The clinic has no protocol {missing[0][:60]!r}.", field="protocol_slugs"
        )
    wait = _whole(wait_weeks, field="wait_weeks", low=0, high=104, words="The typical wait (weeks)")
    retention = _whole(
        retention_days, field="retention_days", low=30, high=3650, words="The retention period (days)"
    )
    target = _whole(
        contact_target_working_days, field="contact_target_working_days", low=0, high=30,
        words="The contact target (working days)",
    )  # fmt: skip
    line = clean_text(contact_line, field="contact_line", max_chars=200, label="The public contact line")
    with transaction.atomic():
        Clinic.objects.select_for_update().get(pk=clinic.pk)  # one version number at a time
        current = service_profile_current(clinic_id=clinic.pk)
        why = clean_text(reason, field="reason", max_chars=500, required=current is not None,
                         label="The reason",
                         missing_message="Say why the profile changes.")  # fmt: skip
        profile = ServiceProfile.objects.create(
            clinic=clinic,
            version=(current.version + 1) if current else 1,
            display_name=name,
            regions=region_codes,
            languages=language_codes,
            modalities=sorted(set(ways), key=CLINIC_MODALITIES.index),
            protocol_slugs=sorted(set(slugs)),
            accepting_referrals=bool(accepting_referrals),
            wait_weeks=wait,
            contact_line=line,
            retention_days=retention,
            contact_target_working_days=target,
            reason=why,
            created_by=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="create" if current is None else "amend",
            object_type="service_profile",
            object_id=profile.pk,
            clinic_id=clinic.pk,
            detail={"version": profile.version, "accepting": profile.accepting_referrals},
        )
    return profile


# --- Pre-screen and referrals (public) -----------------------------------------------------------


@dataclass(frozen=True)
class PrescreenOutcome:
    """The pre-screen result and the clinics that match (none for ``not_suitable``)."""

    assessment: Any
    matches: tuple[Any, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.assessment.as_dict(), "matches": [m.as_dict() for m in self.matches]}


def prescreen_run(*, answers: object, address: str | None, now: datetime | None = None) -> PrescreenOutcome:
    """Assess the answers and match clinics. Stores nothing but the per-address request count
    (a keyed hash, no answers): refused with ``rate_limited`` past the configured limit."""
    rate_limit_hit(
        scope="prescreen",
        address=address,
        limit=settings.PRESCREEN_RATE_PER_MINUTE,
        window_s=60,
        now=now or timezone.now(),
    )
    return prescreen_outcome(answers=answers)


def prescreen_outcome(*, answers: object) -> PrescreenOutcome:
    """The assessment and the matching clinics, uncounted (the result page rebuilt around a
    request to be contacted, which is itself limited)."""
    assessment = assess_prescreen(answers)
    matches = match_clinics(assessment.answers, clinic_offers()) if assessment.matching_runs else ()
    return PrescreenOutcome(assessment=assessment, matches=matches)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str
    preferred_time: str


def clean_contact(contact: Mapping[str, Any] | None) -> Contact:
    """A person's contact details: a name and at least an e-mail address or a phone number.

    Refusals: ``name_required``, ``contact_required`` (neither e-mail nor phone), ``invalid_email``,
    ``invalid_phone``, ``invalid_text`` / ``text_too_long``.
    """
    contact = contact if isinstance(contact, Mapping) else {}
    name = clean_text(
        contact.get("name"),
        field="name",
        max_chars=120,
        required=True,
        label="Your name",
        missing_message=gettext_noop("Tell us your name."),
    )
    email = clean_text(contact.get("email"), field="email", max_chars=254, label="The e-mail address")
    phone = clean_text(contact.get("phone"), field="phone", max_chars=40, label="The phone number")
    preferred = clean_text(contact.get("preferred_time"), field="preferred_time", max_chars=120,
                           label="The best time to call")  # fmt: skip
    if not email and not phone:
        raise DomainError(
            "contact_required",
            gettext_noop("Give an e-mail address or a phone number (or both)."),
            field="email",
        )
    if email:
        try:
            validate_email(email)
        except Exception:  # Django's ValidationError; its message is not for this page
            raise DomainError(
                "invalid_email", gettext_noop("That e-mail address does not look right."), field="email"
            ) from None
    if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 7):
        raise DomainError(
            "invalid_phone", gettext_noop("That phone number does not look right."), field="phone"
        )
    return Contact(name=name, email=email, phone=phone, preferred_time=preferred)


def referral_submit(
    *,
    clinic_id: object,
    answers: object,
    contact: Mapping[str, Any] | None,
    consent_to_contact: object,
    language: str = "en",
    address: str | None,
    now: datetime | None = None,
) -> Referral:
    """A person asks a clinic to contact them: checked, then stored as that clinic's referral.

    In order: the per-address limit (``rate_limited``, 10 an hour by default), consent
    (``consent_required``), the pre-screen answers (``missing_answer``, ``unknown_answer``,
    ``invalid_answer``), a ``not_suitable`` result (refused with its reasons), the contact
    (:func:`clean_contact`), the clinic (``clinic_not_accepting`` when it does not exist or takes
    no referrals; ``clinic_not_matched`` when it offers nothing for the person's answers).
    Nothing is written by a refusal except the request count.
    """
    now = now or timezone.now()
    rate_limit_hit(
        scope="referral", address=address, limit=settings.REFERRAL_RATE_PER_HOUR, window_s=3600, now=now
    )
    if consent_to_contact is not True:
        raise DomainError(
            "consent_required",
            gettext_noop("Tick the box to agree that the clinic may contact you."),
            field="consent_to_contact",
        )
    assessment = assess_prescreen(answers)
    if assessment.result == NOT_SUITABLE:
        why = " ".join(reason.message for reason in assessment.reasons if reason.severity == "exclusion")
        raise WorkflowConflict(
            "not_suitable", f"Ketamine-assisted therapy is not suitable: {why}", field="answers"
        )
    person = clean_contact(contact)
    if isinstance(clinic_id, bool) or not isinstance(clinic_id, int):
        raise DomainError(
            "clinic_not_accepting", gettext_noop("Choose one of the clinics offered."), field="clinic_id"
        )
    offers = [offer for offer in clinic_offers() if offer.clinic_id == clinic_id]
    if not offers:
        raise WorkflowConflict(
            "clinic_not_accepting",
            gettext_noop("That clinic is not taking new referrals at the moment."),
            field="clinic_id",
        )
    if not match_clinics(assessment.answers, offers):
        raise WorkflowConflict(
            "clinic_not_matched",
            gettext_noop(
                "That clinic does not offer treatment that fits your answers (substance, region or language)."
            ),
            field="clinic_id",
        )
    with transaction.atomic():
        referral = _create_with_fresh_reference(
            clinic_id=clinic_id,
            status=NEW,
            answers=assessment.answers.as_dict(),
            result=assessment.result,
            reasons=[reason.as_dict() for reason in assessment.reasons],
            crisis=assessment.crisis,
            contact_name=person.name,
            contact_email=person.email,
            contact_phone=person.phone,
            preferred_time=person.preferred_time,
            language=language if _LANGUAGE.match(language or "") else "en",
            consent_to_contact=True,
            created_at=now,
            status_changed_at=now,
        )
        ReferralEvent.objects.create(referral=referral, to_status=NEW, at=now)
        audit_record(
            actor=None,
            actor_label=PUBLIC_ACTOR,
            action="create",
            object_type="referral",
            object_id=referral.pk,
            clinic_id=clinic_id,
            detail={"result": referral.result, "crisis": referral.crisis},
        )
        transaction.on_commit(lambda: referral_notifications_send(clinic_ids=[clinic_id]))
    return referral


def _create_with_fresh_reference(**fields: Any) -> Referral:
    """Create the referral under a newly drawn reference, drawing again if one is already taken
    (31^6 ≈ 887 million codes, so a second draw is rare and a third almost never happens)."""
    for _ in range(5):
        reference = new_reference(secrets.choice)
        try:
            with transaction.atomic():
                return Referral.objects.create(reference=reference, **fields)
        except IntegrityError:
            if not Referral.objects.filter(reference=reference).exists():
                raise  # another constraint failed: not a collision
    raise RuntimeError("could not draw a free referral reference")


# --- The clinic's queue (staff) ------------------------------------------------------------------


def _staff_referral(actor: User, referral: Referral) -> Referral:
    if referral.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("referral")
    current = Referral.objects.select_for_update().get(pk=referral.pk)
    if current.anonymised_at is not None:
        raise WorkflowConflict(
            "referral_anonymised", "This referral was anonymised after its retention period."
        )
    return current


def referral_status_change(*, actor: User, referral: Referral, to: str, reason: str = "") -> Referral:
    """Move a referral in the queue (contacted, intake booked, declined with a reason).

    Refusals: ``unknown_status``, ``invalid_transition`` (409), ``reason_required`` for a decline.
    """
    why = clean_text(reason, field="reason", max_chars=500, label="The reason")
    with transaction.atomic():
        current = _staff_referral(actor, referral)
        check_referral_transition(current.status, to, reason=why)
        now = timezone.now()
        previous = current.status
        current.status = to
        current.status_changed_at = now
        fields = ["status", "status_changed_at"]
        if current.contacted_at is None and to != NEW:
            current.contacted_at = now
            fields.append("contacted_at")
        current.save(update_fields=fields)
        ReferralEvent.objects.create(
            referral=current, from_status=previous, to_status=to, reason=why, actor=actor, at=now
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="referral",
            object_id=current.pk,
            clinic_id=current.clinic_id,
            detail={"from": previous, "to": to, "reason_given": bool(why)},
        )
    return current


def referral_convert(
    *,
    actor: User,
    referral: Referral,
    mrn: str,
    given_name: str | None = None,
    family_name: str | None = None,
    birth_date: date | None = None,
    sex_at_birth: str | None = None,
) -> tuple[Patient, ScreeningDraft]:
    """Open the patient's record from a referral, with a screening draft pre-filled from the
    answers it shares with the full screening, in one transaction.

    The record takes the MRN, the name (split from the one typed, unless given), the e-mail and
    phone. Without a birth date the record gets one estimated from the age given, marked as
    estimated; without a sex at birth, ``unknown``. Both are amendable. Refusals: the record's own
    (``mrn_taken``, ``invalid_mrn``, ``name_required`` …), ``name_incomplete`` (one word typed
    and no names given), ``referral_not_convertible`` (declined, converted or anonymised; 409).
    """
    with transaction.atomic():
        current = _staff_referral(actor, referral)
        if current.status not in CONVERTIBLE:
            raise WorkflowConflict(
                "referral_not_convertible",
                f"A referral that is {STATUS_LABELS[current.status].lower()} cannot become a patient.",
            )
        answers = validate_prescreen_answers(current.answers)
        if not (given_name and family_name):
            split = split_full_name(current.contact_name)
            if split is None:
                raise DomainError(
                    "name_incomplete",
                    "Only one name was given: enter the given and family names.",
                    field="given_name",
                )
            given_name, family_name = given_name or split[0], family_name or split[1]
        estimated = birth_date is None
        if estimated:
            birth_date = estimated_birth_date(answers.age_years, today=clinic_today(current.clinic))
        patient = patient_create(
            actor=actor,
            clinic_id=current.clinic_id,
            mrn=mrn,
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            birth_date_estimated=estimated,
            sex_at_birth=sex_at_birth or "unknown",
            email=current.contact_email,
            phone=current.contact_phone,
        )
        draft = screening_draft_create(
            actor=actor,
            patient=patient,
            answers=screening_prefill(answers),
            source="referral",
            source_reference=current.reference,
            note="From the public pre-screen the person answered before being contacted.",
        )
        now = timezone.now()
        previous = current.status
        current.status, current.patient, current.status_changed_at = CONVERTED, patient, now
        if current.contacted_at is None:
            current.contacted_at = now
        current.save(update_fields=["status", "patient", "status_changed_at", "contacted_at"])
        ReferralEvent.objects.create(
            referral=current, from_status=previous, to_status=CONVERTED, actor=actor, at=now
        )
        audit_record(
            actor=actor,
            action="update",
            object_type="referral",
            object_id=current.pk,
            patient_id=patient.pk,
            clinic_id=current.clinic_id,
            detail={"from": previous, "to": CONVERTED, "birth_date_estimated": estimated},
        )
    return patient, draft


# --- Notifications and retention (commands, scheduler) -------------------------------------------


def referral_notifications_send(*, clinic_ids: list[int] | None = None, base_url: str = "") -> dict[int, int]:
    """E-mail each clinic's staff how many new referrals arrived since the last message.

    The count is taken when the message is sent, and the message holds no PHI (no names, no
    answers): "2 new referrals at Northside Clinic", with a link behind sign-in. Returns
    {clinic id: referrals counted} for the clinics told.
    """
    told: dict[int, int] = {}
    clinics = Clinic.objects.order_by("pk")
    if clinic_ids is not None:
        clinics = clinics.filter(pk__in=clinic_ids)
    for clinic in clinics:
        with transaction.atomic():
            pending = list(
                Referral.objects.select_for_update()
                .filter(clinic=clinic, status=NEW, notified_at__isnull=True, anonymised_at__isnull=True)
                .values_list("pk", flat=True)
            )
            if not pending:
                continue
            emails = staff_emails(clinic_id=clinic.pk, roles=CARE_TEAM)
            Referral.objects.filter(pk__in=pending).update(notified_at=timezone.now())
            count = len(pending)
            subject = f"Kapstone: {count} new referral{'s' if count != 1 else ''} at {clinic.name}"
            link = f"{base_url.rstrip('/')}/referrals/?status=new" if base_url else "/referrals/?status=new"
            body = (
                f"{count} new referral{'s' if count != 1 else ''} at {clinic.name} "
                f"{'are' if count != 1 else 'is'} waiting to be contacted.\n\n"
                f"Open the referral queue (sign-in required): {link}\n\n"
                "This message deliberately contains no personal details.\n"
            )
            audit_record(
                actor=None,
                actor_label="referral_notifications",
                action="create",
                object_type="referral_notification",
                clinic_id=clinic.pk,
                detail={"referrals": count, "recipients": len(emails)},
            )
            if emails:
                messages = [(subject, body, None, [email]) for email in emails]
                transaction.on_commit(lambda messages=messages: send_mass_mail(messages, fail_silently=False))
            told[clinic.pk] = count
    return told


def referrals_purge(*, now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Anonymise the referrals that never became patients once the clinic's retention period has
    passed: contact details and answers are erased, the row (reference, status, result) stays.

    Audited per referral (action ``void``, object ``referral``, by ``referrals_purge``); old
    rate counters are removed too. Returns {"anonymised", "rate_counters"}.
    """
    now = now or timezone.now()
    anonymised = 0
    for clinic in Clinic.objects.order_by("pk"):
        profile = service_profile_current(clinic_id=clinic.pk)
        retention_days = (
            profile.retention_days if profile else ServiceProfile._meta.get_field("retention_days").default
        )
        cutoff = now - timedelta(days=retention_days)
        due = Referral.objects.filter(
            clinic=clinic, patient__isnull=True, anonymised_at__isnull=True, created_at__lt=cutoff
        ).order_by("pk")
        for referral in due.values_list("pk", flat=True):
            anonymised += 1
            if dry_run:
                continue
            with transaction.atomic():
                row = Referral.objects.select_for_update().get(pk=referral)
                if row.anonymised_at is not None or row.patient_id is not None:
                    continue
                row.answers, row.reasons = {}, []
                row.contact_name = row.contact_email = row.contact_phone = row.preferred_time = ""
                row.anonymised_at = now
                row.save(
                    update_fields=[
                        "answers", "reasons", "contact_name", "contact_email", "contact_phone",
                        "preferred_time", "anonymised_at",
                    ]
                )  # fmt: skip
                ReferralEvent.objects.create(
                    referral=row, from_status=row.status, to_status=row.status,
                    reason=f"Anonymised after the retention period ({retention_days} days).", at=now,
                )  # fmt: skip
                audit_record(
                    actor=None,
                    actor_label="referrals_purge",
                    action="void",
                    object_type="referral",
                    object_id=row.pk,
                    clinic_id=row.clinic_id,
                    detail={"anonymised": True, "retention_days": retention_days},
                )
    counters = 0 if dry_run else rate_counters_prune(now=now)
    return {"anonymised": anonymised, "rate_counters": counters}
