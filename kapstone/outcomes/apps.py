from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "kapstone.outcomes"
    label = "outcomes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.outcomes.chart import outcomes_chart_context
        from kapstone.patients.chart import ChartSection, register_chart_section

        register_chart_section(
            ChartSection(
                key="outcomes",
                order=40,
                template="outcomes/_chart_section.html",
                context=outcomes_chart_context,
            )
        )
