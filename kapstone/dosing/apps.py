from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "kapstone.dosing"
    label = "dosing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.care.panels import SessionPanel, register_session_panel
        from kapstone.dosing.gates import register_order_gate
        from kapstone.dosing.liver_gate import GATE_KEY, liver_order_gate
        from kapstone.dosing.views import session_panel

        register_session_panel(
            SessionPanel(key="dosing", order=10, template="dosing/_session_panel.html", context=session_panel)
        )
        # Ketalar label (liver injury with repeated use), KARE's 3× limit: domain/liver.py.
        register_order_gate(GATE_KEY, liver_order_gate)
