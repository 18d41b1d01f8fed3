from django.urls import path

from . import dashboard, prepaid_report

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.dashboard, name="home"),
    path("refresh/", dashboard.refresh, name="refresh"),
    path("stored-value/", prepaid_report.stored_value_report, name="stored_value"),
]
