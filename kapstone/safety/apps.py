from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "kapstone.safety"
    label = "safety"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.dosing.gates import register_order_gate
        from kapstone.monitoring.notices import register_board_notice
        from kapstone.patients.chart import ChartSection, register_chart_section
        from kapstone.safety.board import serious_unreviewed_notices
        from kapstone.safety.dosing_gate import GATE_KEY, asra_order_gate
        from kapstone.safety.suicide_gate import GATE_KEY as SUICIDE_GATE_KEY
        from kapstone.safety.suicide_gate import suicide_risk_order_gate
        from kapstone.safety.views import chart_section

        register_chart_section(
            ChartSection(key="safety", order=5, template="safety/_chart_section.html", context=chart_section)
        )
        register_board_notice("safety_serious_unreviewed", serious_unreviewed_notices)
        # ASRA 2018: serial dosing with active substance misuse needs a prescriber's decision.
        register_order_gate(GATE_KEY, asra_order_gate)
        # C-SSRS at high risk: a hard stop until a prescriber documents a safety plan.
        register_order_gate(SUICIDE_GATE_KEY, suicide_risk_order_gate)
