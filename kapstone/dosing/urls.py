from django.urls import path

from kapstone.dosing import views

app_name = "dosing"

urlpatterns = [
    path("sessions/<int:session_id>/dose-order/new/", views.order_create, name="order_create"),
    path("dose-orders/<int:order_id>/", views.order_detail, name="order"),
    path("dose-orders/<int:order_id>/verify/", views.order_verify, name="verify"),
    path("dose-orders/<int:order_id>/void/", views.order_void, name="void"),
    path("dose-orders/<int:order_id>/administration/start/", views.administration_start, name="start"),
    path("dose-orders/<int:order_id>/administration/rate/", views.administration_rate, name="rate"),
    path(
        "dose-orders/<int:order_id>/administration/complete/", views.administration_complete, name="complete"
    ),
    path("dose-orders/<int:order_id>/administration/amend/", views.administration_amend, name="amend"),
]
