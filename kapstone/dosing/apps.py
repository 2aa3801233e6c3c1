from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "kapstone.dosing"
    label = "dosing"
    default_auto_field = "django.db.models.BigAutoField"
