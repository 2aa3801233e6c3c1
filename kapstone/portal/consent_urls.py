from django.urls import path

from kapstone.portal import consent_views

app_name = "consent_documents"

urlpatterns = [
    path("", consent_views.document_list, name="list"),
    path("<int:document_id>/", consent_views.document_detail, name="detail"),
    path("new/<slug:kind>/", consent_views.document_publish, name="publish"),
]
