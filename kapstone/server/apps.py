from django.apps import AppConfig


class ServerConfig(AppConfig):
    name = "kapstone.server"
    label = "server"
    default_auto_field = "django.db.models.BigAutoField"
