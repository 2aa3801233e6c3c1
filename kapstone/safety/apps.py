from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "kapstone.safety"
    label = "safety"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.patients.chart import ChartSection, register_chart_section
        from kapstone.safety.views import chart_section

        register_chart_section(
            ChartSection(key="safety", order=5, template="safety/_chart_section.html", context=chart_section)
        )
