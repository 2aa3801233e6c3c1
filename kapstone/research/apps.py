from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "kapstone.research"
    label = "research"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.patients.chart import ChartSection, register_chart_section
        from kapstone.research.chart import disclosures_chart_context

        register_chart_section(
            ChartSection(
                key="disclosures",
                order=90,
                template="research/_disclosures_section.html",
                context=disclosures_chart_context,
            )
        )
