from django.urls import path

from kapstone.inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.stock, name="stock"),
    path("lots/new/", views.lot_new, name="lot_new"),
    path("lots/<int:lot_id>/", views.lot_detail, name="lot"),
    path("lots/<int:lot_id>/receive/", views.lot_receive_more, name="receive"),
    path("lots/<int:lot_id>/<slug:kind>/", views.lot_transaction, name="transaction"),
    path("locations/new/", views.location_new, name="location_new"),
    path("products/new/", views.product_new, name="product_new"),
    path("register/", views.register, name="register"),
    path("register.csv", views.register_csv, name="register_csv"),
    path("entries/<int:entry_id>/", views.entry_detail, name="entry"),
    path("counts/", views.counts, name="counts"),
    path("counts/new/<int:location_id>/", views.count_new, name="count_new"),
    path("counts/<int:count_id>/", views.count_detail, name="count"),
    path("discrepancies/", views.discrepancies, name="discrepancies"),
    path("discrepancies/<int:line_id>/resolve/", views.resolve, name="resolve"),
    path("report/", views.inventory_report, name="report"),
    path("report.csv", views.inventory_report_csv, name="report_csv"),
]
