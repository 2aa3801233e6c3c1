"""Dose orders, their independent verification, and administration records.

An order is never edited: a correction voids it (with reason) and a new order is written. The
verifying clinician re-enters weight and concentration without seeing the order's values; only
a matching, verified order can be administered. The administration record keeps every rate
segment (start, change, pause, stop) and computes the amount actually given from them; the
vial lots it was drawn from are its lines (:class:`AdministrationLot`).

An ended administration is never edited in place: a correction is an
:class:`AdministrationAmendment` (append-only, with reason, and a witness for amounts). The
administration's own columns then hold the corrected value — so every reader (the dependence
watch's exposure, the monitoring timeline) sees the truth — and the amendments keep every
earlier value with who changed it, when and why.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.accounts.models import Clinic
from kapstone.care.models import CareSession
from kapstone.domain.dosing import warning_words
from kapstone.inventory.models import Lot
from kapstone.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class OrderStatus(models.TextChoices):
    ORDERED = "ordered", "Awaiting verification"
    VERIFIED = "verified", "Verified"
    ADMINISTERING = "administering", "Being given"
    COMPLETED = "completed", "Given"
    STOPPED = "stopped", "Stopped early"
    VOIDED = "voided", "Voided"


class DoseOrder(models.Model):
    session = models.ForeignKey(CareSession, on_delete=models.PROTECT, related_name="dose_orders")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dose_orders")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=15, choices=OrderStatus.choices, default=OrderStatus.ORDERED)
    # What the order was computed from.
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    weight_measured_on = models.DateField()
    protocol_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3)
    mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3)
    max_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3)
    adjustment_reason = models.CharField(max_length=500, blank=True)
    route = models.CharField(max_length=4)
    over_min = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    bolus_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3, null=True, blank=True)
    concentration_mg_per_ml = models.DecimalField(max_digits=6, decimal_places=2)
    bag_ml = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    bag_concentration_mg_per_ml = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    # The arithmetic, as calculated by the domain (kapstone.domain.dosing.calculate_dose).
    dose_mg = models.DecimalField(max_digits=7, decimal_places=1)
    bolus_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    infusion_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    volume_ml = models.DecimalField(max_digits=7, decimal_places=2)
    rate_mg_per_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    rate_ml_per_h = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    ordered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    ordered_at = models.DateTimeField()
    verified_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(condition=Q(dose_mg__gt=0), name="order_dose_positive"),
            models.CheckConstraint(
                condition=Q(mg_per_kg__lte=models.F("max_mg_per_kg")), name="order_within_max"
            ),
            models.CheckConstraint(condition=Q(max_mg_per_kg__lte=3), name="order_max_below_ceiling"),
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True) | ~Q(verified_by=models.F("ordered_by")),
                name="order_verified_by_someone_else",
            ),
            # At most one live (not voided) order per session.
            models.UniqueConstraint(
                fields=["session"], condition=~Q(status="voided"), name="order_one_live_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dose_mg} mg {self.route} ({self.get_status_display()})"

    @property
    def warning_messages(self) -> list[str]:
        """The order's dose warnings in words (the codes are kept in ``warnings``)."""
        return [warning_words(code) for code in self.warnings or []]

    @property
    def is_live(self) -> bool:
        return self.status != OrderStatus.VOIDED


class Administration(models.Model):
    """One giving of a verified order. ``dispensed_mg``, ``given_mg`` and ``wasted_mg`` are the
    totals of its lot lines, kept by the services in the same transaction as the lines."""

    order = models.OneToOneField(DoseOrder, on_delete=models.PROTECT, related_name="administration")
    dispensed_mg = models.DecimalField(max_digits=7, decimal_places=1)
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    bolus_given = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    given_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    wasted_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    waste_witness = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stopped_early = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="admin_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(stopped_early=False) | ~Q(stop_reason=""), name="admin_stop_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"administration of order {self.order_id}"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None

    @property
    def paused_since(self):
        """When the running infusion was paused, or None while it runs or once it has ended.

        The latest rate event decides (a resume lifts a pause). Reads ``rate_events`` through
        ``.all()`` so a prefetched set is used. Shown as "Infusion paused (since 10:42)" by
        ``dosing/_order_state.html``, the one place the order's state is put into words.
        """
        if self.ended_at is not None:
            return None
        events = sorted(self.rate_events.all(), key=lambda e: (e.at, e.pk))
        return events[-1].at if events and events[-1].kind == "pause" else None


class StartOverride(models.Model):
    """A prescriber's decision to start an administration despite a start gate's objection
    (:mod:`kapstone.dosing.gates`; e.g. an incomplete baseline set of vital signs): which gate,
    what it said was missing (``detail``), the written reason, who and when.

    Append-only, written in the transaction of the start with its audit row; shown with the
    administration on the order and session pages.
    """

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="overrides")
    gate = models.CharField(max_length=60)
    code = models.CharField(max_length=60)
    message = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=500)
    overridden_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    overridden_at = models.DateTimeField()

    class Meta:
        ordering = ["administration", "gate", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="start_override_has_reason"),
            models.UniqueConstraint(fields=["administration", "gate"], name="start_override_once_per_gate"),
        ]

    def __str__(self) -> str:
        return f"override of {self.code}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("An override is append-only.")
        super().save(*args, **kwargs)


class AdministrationLot(models.Model):
    """One vial lot an administration was drawn from: how much was dispensed from it and, once
    ended, how much of that was given and how much wasted (dispensed = given + wasted)."""

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="lots")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    dispensed_mg = models.DecimalField(max_digits=7, decimal_places=1)
    given_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    wasted_mg = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)

    class Meta:
        ordering = ["administration", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["administration", "lot"], name="admin_lot_once"),
            models.UniqueConstraint(fields=["administration", "position"], name="admin_lot_position_once"),
            models.CheckConstraint(condition=Q(dispensed_mg__gte=0), name="admin_lot_dispensed_not_negative"),
            models.CheckConstraint(
                condition=Q(given_mg__isnull=True) | Q(given_mg__gte=0), name="admin_lot_given_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(wasted_mg__isnull=True) | Q(wasted_mg__gte=0),
                name="admin_lot_wasted_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dispensed_mg} mg from lot {self.lot_id}"


class AmendmentField(models.TextChoices):
    ENDED_AT = "ended_at", "End time"
    STOP_REASON = "stop_reason", "Why it was stopped"
    GIVEN_MG = "given_mg", "Amount given (mg)"
    WASTED_MG = "wasted_mg", "Amount wasted (mg)"


class AdministrationAmendment(models.Model):
    """A correction of an ended administration: the field, its old and new value, why, by whom.

    Append-only: the services create rows and never change or delete them (``save`` refuses an
    update). Amounts are per lot line and need a witness who is another clinician.
    """

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="amendments")
    lot_line = models.ForeignKey(
        AdministrationLot, null=True, blank=True, on_delete=models.PROTECT, related_name="amendments"
    )
    field = models.CharField(max_length=20, choices=AmendmentField.choices)
    old_value = models.CharField(max_length=500, blank=True)
    new_value = models.CharField(max_length=500, blank=True)
    reason = models.CharField(max_length=500)
    amended_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    amended_at = models.DateTimeField()
    witness = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["administration", "amended_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(field__in=AmendmentField.values), name="amendment_field_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="amendment_has_reason"),
            models.CheckConstraint(
                condition=~Q(old_value=models.F("new_value")), name="amendment_changes_value"
            ),
            models.CheckConstraint(
                condition=Q(witness__isnull=True) | ~Q(witness=models.F("amended_by")),
                name="amendment_witness_not_author",
            ),
            models.CheckConstraint(
                condition=~Q(field__in=["given_mg", "wasted_mg"])
                | Q(witness__isnull=False, lot_line__isnull=False),
                name="amendment_amount_witnessed_per_lot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("An amendment is append-only; write a new one.")
        super().save(*args, **kwargs)


class RateEvent(models.Model):
    """A change of the infusion: start, rate change, pause, resume or stop, with why."""

    KINDS = ("start", "change", "pause", "resume", "stop")

    administration = models.ForeignKey(Administration, on_delete=models.PROTECT, related_name="rate_events")
    kind = models.CharField(max_length=10)
    at = models.DateTimeField()
    rate = models.DecimalField(max_digits=8, decimal_places=2)
    unit = models.CharField(max_length=12)  # mg_per_min or ml_per_h
    reason = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["administration", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=("start", "change", "pause", "resume", "stop")),
                name="rate_event_kind_valid",
            ),
            models.CheckConstraint(condition=Q(rate__gte=0), name="rate_event_rate_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.rate} {self.unit} at {self.at:%H:%M}"
