from django.urls import include, path

from kapstone import views
from kapstone.api.api import API_PREFIX, api
from kapstone.operations import views as operations_views
from kapstone.server.metrics import metrics

urlpatterns = [
    path("", views.home, name="home"),
    path("health", views.health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("ready", operations_views.ready, name="ready"),
    path("operations/", include("kapstone.operations.urls")),
    path("accounts/", include("kapstone.accounts.urls")),
    path("patients/", include("kapstone.patients.urls")),
    path("", include("kapstone.screening.urls")),
    path("audit/", include("kapstone.audit.urls")),
    path("", include("kapstone.care.urls")),
    path("inventory/", include("kapstone.inventory.urls")),
    path("", include("kapstone.dosing.urls")),
    path("", include("kapstone.outcomes.urls")),
    path("", include("kapstone.monitoring.urls")),
    path("", include("kapstone.safety.urls")),
    path("research/", include("kapstone.research.urls")),
    path("", include("kapstone.portal.urls")),
    path("referrals/", include("kapstone.portal.staff_urls")),
    path("patients/<int:patient_id>/portal/", include("kapstone.portal.account_urls")),
    path("consent-documents/", include("kapstone.portal.consent_urls")),
    path(API_PREFIX.lstrip("/"), api.urls),
    path("fhir/", include("kapstone.interop.urls")),
]

handler400 = "kapstone.views.bad_request"
handler403 = "kapstone.views.permission_denied"
handler404 = "kapstone.views.page_not_found"
handler500 = "kapstone.views.server_error"
