from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "kapstone.screening"
    label = "screening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.patients.chart import ChartSection, register_chart_section
        from kapstone.screening.chart import screening_chart_context

        register_chart_section(
            ChartSection(
                key="screening",
                order=10,
                template="screening/_chart_section.html",
                context=screening_chart_context,
            )
        )
