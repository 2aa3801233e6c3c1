from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "kapstone.care"
    label = "care"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.care.views import chart_section
        from kapstone.patients.chart import ChartSection, register_chart_section

        register_chart_section(
            ChartSection(key="care", order=20, template="care/_chart_section.html", context=chart_section)
        )
