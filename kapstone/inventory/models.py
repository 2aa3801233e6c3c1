"""The controlled-substance register: storage locations, products, lots, register entries and
physical counts.

``Lot.balance_mg`` is the lot's stock now; it changes only through the services, under the
lot's row lock, in the same transaction as the append-only ``RegisterEntry`` that explains the
change, and the database refuses a negative value. Register entries are never updated or
deleted: PROTECT everywhere, no service that edits one, and a database trigger that refuses
UPDATE (migration 0002). A mistake is corrected by a new entry (an ``adjust`` with a reason).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from kapstone.accounts.models import Clinic
from kapstone.domain.register import (
    ADJUST,
    DISPENSE,
    KINDS,
    RECEIVE,
    RETURN,
    SESSION_KINDS,
    TRANSFER,
    WASTE,
)

USER = settings.AUTH_USER_MODEL
MG = {"max_digits": 12, "decimal_places": 1}

#: The register's one order (domain ``register_order``): when an entry happened, then the order
#: in which it was posted to its lot. Entries of different lots at the same instant are kept
#: together by lot; their balances are independent. Every list, page and export uses this.
REGISTER_ORDER = ("occurred_at", "lot_id", "sequence")


class StorageLocation(models.Model):
    """A locked place that holds controlled substances (a safe, a dosing-room cabinet)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="storage_locations")
    name = models.CharField(max_length=80)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="location_name_unique_per_clinic"),
            models.CheckConstraint(condition=~Q(name=""), name="location_name_present"),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A drug product as packaged: one NDC, one concentration, one vial size.

    The catalogue is shared by all clinics (an NDC is national). Strength and volume never
    change: a different vial is a different product.
    """

    name = models.CharField(max_length=120)
    ndc = models.CharField("NDC", max_length=13, unique=True)
    dosage_form = models.CharField(max_length=60, default="Injection, solution")
    strength_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=2)
    vial_volume_ml = models.DecimalField(max_digits=7, decimal_places=2)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "strength_mg_per_ml", "vial_volume_ml"]
        constraints = [
            models.CheckConstraint(condition=Q(strength_mg_per_ml__gt=0), name="product_strength_positive"),
            models.CheckConstraint(condition=Q(vial_volume_ml__gt=0), name="product_volume_positive"),
            models.CheckConstraint(condition=~Q(name=""), name="product_name_present"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.strength_mg_per_ml.normalize():f} mg/mL, {self.vial_volume_ml.normalize():f} mL"

    @property
    def mg_per_vial(self):
        return self.strength_mg_per_ml * self.vial_volume_ml


class Lot(models.Model):
    """One manufacturer's lot of a product at one storage location of one clinic.

    A transfer to another location creates (or tops up) the lot row there with the same lot
    number and expiry, so that each location's stock is its own balance with its own lock.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="lots")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    expiry = models.DateField()
    balance_mg = models.DecimalField(**MG)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["expiry", "lot_number", "id"]
        constraints = [
            # The last line of defence: whatever the code does, the stock cannot go below zero.
            models.CheckConstraint(condition=Q(balance_mg__gte=0), name="lot_balance_not_negative"),
            models.UniqueConstraint(
                fields=["product", "location", "lot_number"], name="lot_unique_per_location"
            ),
            models.CheckConstraint(condition=~Q(lot_number=""), name="lot_number_present"),
        ]
        indexes = [models.Index(fields=["clinic", "location"])]

    def __str__(self) -> str:
        return f"lot {self.lot_number}"


class RegisterEntry(models.Model):
    """One movement of drug, append-only, with the running balances after it.

    ``stock_effect_mg`` is the signed change to the lot's stock (dispense −, receive/return +,
    administer/waste 0, transfer/adjust either way). ``occurred_at`` is when it happened,
    ``posted_at`` when it was recorded and ``sequence`` its place in the lot's posting order
    (1, 2, 3 … assigned under the lot's row lock; unique per lot). The register's order is
    ``REGISTER_ORDER``: time, then posting order.

    ``balance_after_*`` is the lot's stock after this entry in that order *as it stood when the
    entry was posted*; for dispense/administer/waste/return, ``in_hand_after_mg`` is what the
    session held from this lot after the entry (dispensed − administered − wasted − returned),
    likewise. A late entry — dated before an entry already posted — changes the balances after
    it, and an append-only row cannot follow, so pages and exports compute the running balances
    from the register (``selectors``; domain ``run_register``), never from these columns.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=[(k, k.capitalize()) for k in KINDS])
    amount_mg = models.DecimalField(**MG)
    stock_effect_mg = models.DecimalField(**MG)
    balance_after_mg = models.DecimalField(**MG)
    balance_after_ml = models.DecimalField(max_digits=12, decimal_places=2)
    balance_after_vials = models.DecimalField(max_digits=10, decimal_places=2)
    session = models.ForeignKey(
        "care.CareSession", null=True, blank=True, on_delete=models.PROTECT, related_name="register_entries"
    )
    in_hand_effect_mg = models.DecimalField(null=True, blank=True, **MG)
    in_hand_after_mg = models.DecimalField(null=True, blank=True, **MG)
    counterpart_location = models.ForeignKey(
        StorageLocation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The outgoing half of a transfer, on its incoming half.
    paired_entry = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="pair_of"
    )
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    # Not the id: ids come from a database sequence that promises uniqueness, not the order in
    # which concurrent transactions commit. This number is taken under the lot's row lock.
    sequence = models.PositiveIntegerField()
    posted_at = models.DateTimeField()

    class Meta:
        ordering = list(REGISTER_ORDER)
        verbose_name_plural = "register entries"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=KINDS), name="entry_kind_valid"),
            models.CheckConstraint(condition=Q(amount_mg__gt=0), name="entry_amount_positive"),
            models.CheckConstraint(condition=Q(balance_after_mg__gte=0), name="entry_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(in_hand_after_mg__isnull=True) | Q(in_hand_after_mg__gte=0),
                name="entry_in_hand_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[RECEIVE, RETURN], stock_effect_mg=F("amount_mg"))
                | Q(kind=DISPENSE, stock_effect_mg=-F("amount_mg"))
                | Q(kind__in=["administer", WASTE], stock_effect_mg=0)
                | (
                    Q(kind__in=[TRANSFER, ADJUST])
                    & (Q(stock_effect_mg=F("amount_mg")) | Q(stock_effect_mg=-F("amount_mg")))
                ),
                name="entry_effect_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=SESSION_KINDS,
                    session__isnull=False,
                    in_hand_after_mg__isnull=False,
                    in_hand_effect_mg__isnull=False,
                )
                | (
                    ~Q(kind__in=SESSION_KINDS)
                    & Q(session__isnull=True, in_hand_after_mg__isnull=True, in_hand_effect_mg__isnull=True)
                ),
                name="entry_session_iff_session_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind=WASTE) | Q(witness__isnull=False), name="entry_waste_witnessed"
            ),
            models.CheckConstraint(
                condition=Q(witness__isnull=True) | ~Q(witness=F("actor")), name="entry_witness_not_actor"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[TRANSFER, ADJUST]) | ~Q(reason=""), name="entry_correction_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(kind=TRANSFER) | Q(counterpart_location__isnull=False),
                name="entry_transfer_has_counterpart",
            ),
            # Two writers that skipped the lot lock cannot both take the same place.
            models.UniqueConstraint(fields=["lot", "sequence"], name="entry_sequence_unique_per_lot"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="entry_sequence_positive"),
        ]
        indexes = [
            models.Index(fields=["clinic", "occurred_at"]),
            models.Index(fields=["lot", "occurred_at", "sequence"]),
            models.Index(fields=["session", "lot"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_mg} mg ({self.lot})"


class CountSession(models.Model):
    """A physical count of one storage location (a shift count), with an optional witness."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="counts")
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(witness__isnull=True) | ~Q(witness=F("actor")), name="count_witness_not_actor"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="count_finished_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"count {self.pk} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None


class CountLine(models.Model):
    """One lot's line of a count: what the register expected, what was found, the difference.

    A discrepancy stays open until a clinic admin resolves it with an explanation. Resolving
    never edits the register; if stock must change, the admin posts an ``adjust`` entry, which
    the resolution references.
    """

    count = models.ForeignKey(CountSession, on_delete=models.PROTECT, related_name="lines")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="count_lines")
    expected_mg = models.DecimalField(**MG)
    counted_mg = models.DecimalField(**MG)
    discrepancy_mg = models.DecimalField(**MG)
    resolved_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    explanation = models.CharField(max_length=500, blank=True)
    adjustment = models.OneToOneField(
        RegisterEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="count_resolution"
    )

    class Meta:
        ordering = ["count", "lot__lot_number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["count", "lot"], name="count_line_once_per_lot"),
            models.CheckConstraint(condition=Q(counted_mg__gte=0), name="count_line_counted_not_negative"),
            models.CheckConstraint(
                condition=Q(discrepancy_mg=F("counted_mg") - F("expected_mg")),
                name="count_line_discrepancy_is_difference",
            ),
            models.CheckConstraint(
                condition=Q(
                    resolved_by__isnull=True,
                    resolved_at__isnull=True,
                    explanation="",
                    adjustment__isnull=True,
                )
                | (
                    Q(resolved_by__isnull=False, resolved_at__isnull=False)
                    & ~Q(explanation="")
                    & ~Q(discrepancy_mg=0)
                ),
                name="count_line_resolution_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} {self.discrepancy_mg:+} mg"

    @property
    def is_open(self) -> bool:
        return self.discrepancy_mg != 0 and self.resolved_at is None
