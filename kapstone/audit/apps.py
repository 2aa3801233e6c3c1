from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kapstone.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.audit import checks  # noqa: F401 - registers the deploy check
