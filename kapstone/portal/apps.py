from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The people Kapstone exists for: the public pre-screen, referrals to a clinic, the patient
    portal."""

    name = "kapstone.portal"
    label = "portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kapstone.outcomes.reminders import register_reminder_source
        from kapstone.patients.chart import ChartSection, register_chart_section
        from kapstone.portal.chart import portal_chart_context
        from kapstone.portal.reminders import patient_reminder_source

        # ``kapstone send_reminders`` (outcomes, below the portal) e-mails patients through this.
        register_reminder_source("patients", patient_reminder_source)

        register_chart_section(
            ChartSection(
                key="portal", order=95, template="portal/_chart_section.html", context=portal_chart_context
            )
        )
