"""The audit trail's deploy check (run by ``kapstone check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from kapstone.audit.keys import MISSING_KEY_MESSAGE


@register(Tags.security, deploy=True)
def audit_key_configured(app_configs, **kwargs):
    """Production must have an audit key: without one, no audit event can be written."""
    if not settings.DEV and not settings.AUDIT_KEY:
        return [
            Error(
                MISSING_KEY_MESSAGE,
                hint=(
                    "The audit chain is keyed (HMAC-SHA-256) so that its rows cannot be re-hashed by "
                    "whoever can write to the database; keep the key out of the database "
                    "(docs/configuration.md, audit trail)."
                ),
                id="kapstone.E001",
            )
        ]
    return []
