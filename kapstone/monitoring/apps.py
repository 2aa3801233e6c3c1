from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "kapstone.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.care.panels import SessionPanel, register_session_panel
        from kapstone.dosing.gates import register_start_gate
        from kapstone.monitoring.baseline_gate import GATE_KEY, baseline_start_gate
        from kapstone.monitoring.views import session_panel

        register_session_panel(
            SessionPanel(
                key="monitoring", order=20, template="monitoring/_session_panel.html", context=session_panel
            )
        )
        # Spravato label, APA 2017: no dose without a complete baseline set of vital signs.
        register_start_gate(GATE_KEY, baseline_start_gate)
