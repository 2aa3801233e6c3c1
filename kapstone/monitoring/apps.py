from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "kapstone.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.care.panels import SessionPanel, register_session_panel
        from kapstone.monitoring.views import session_panel

        register_session_panel(
            SessionPanel(
                key="monitoring", order=20, template="monitoring/_session_panel.html", context=session_panel
            )
        )
