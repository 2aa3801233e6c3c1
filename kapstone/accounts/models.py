"""Clinics, staff and their roles, and API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A staff member, or a patient using the portal.

    A staff member's rights come only from active memberships in clinics, never from flags. A
    patient account (``is_patient``) is linked to exactly one patient record
    (``portal.PatientAccount``) and holds no membership, so it passes no staff check; the portal
    admits only patient accounts.
    """

    is_patient = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Clinic(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=60, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Clinic admin"
    PRESCRIBER = "prescriber", "Prescriber"
    NURSE = "nurse", "Nurse"
    THERAPIST = "therapist", "Therapist"
    RESEARCHER = "researcher", "Researcher"
    #: A bedside monitor's feed (HL7 v2, kapstone/interop): a device account that may only record
    #: vital signs; never a person, never signs in to the web (docs/interop.md).
    MONITOR = "monitor", "Bedside monitor feed"


class Membership(models.Model):
    """One user's one role in one clinic."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_one_role_per_clinic"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.clinic}"


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
