from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "kapstone.research"
    label = "research"
    default_auto_field = "django.db.models.BigAutoField"
