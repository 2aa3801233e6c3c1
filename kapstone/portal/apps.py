from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The people Kapstone exists for: the public pre-screen, referrals to a clinic, the patient
    portal."""

    name = "kapstone.portal"
    label = "portal"
    default_auto_field = "django.db.models.BigAutoField"
