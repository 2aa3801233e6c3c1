"""Kapstone's own deploy checks (run by ``kapstone check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def mfa_enabled(app_configs, **kwargs):
    if not settings.MFA_REQUIRED:
        return [
            Warning(
                "Two-factor sign-in is switched off (KAPSTONE_MFA_REQUIRED=0).",
                hint="Only a demo may run without MFA; HIPAA and ASVS 6.3.3 expect it for every staff login.",
                id="kapstone.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def not_dev_mode(app_configs, **kwargs):
    if settings.DEV:
        return [
            Warning(
                "KAPSTONE_DEV=1: development mode (no TLS, throwaway secret key).",
                hint="Unset KAPSTONE_DEV in production.",
                id="kapstone.W002",
            )
        ]
    return []
