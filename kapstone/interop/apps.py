from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "kapstone.interop"
    label = "interop"
    verbose_name = "Interoperability"
    default_auto_field = "django.db.models.BigAutoField"
