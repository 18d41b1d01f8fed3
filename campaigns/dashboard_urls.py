from django.urls import path

from . import dashboard, guide_report, prepaid_report

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.dashboard, name="home"),
    path("refresh/", dashboard.refresh, name="refresh"),
    path("stored-value/", prepaid_report.stored_value_report, name="stored_value"),
    path("guides/", guide_report.guide_report, name="guides"),
]
