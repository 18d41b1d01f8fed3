from django.urls import path

from . import member_views

app_name = "inbox"

urlpatterns = [
    path("", member_views.inbox, name="list"),
    path("read/", member_views.mark_read, name="read"),
]
