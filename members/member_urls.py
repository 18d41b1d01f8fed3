"""/join/ and the members part of the member centre (/me/...); loyalty serves /me/ itself."""

from django.urls import path

from . import member_views

app_name = "me"

urlpatterns = [
    path("join/", member_views.join, name="join"),
    path("join/privacy-notice/", member_views.notice, name="notice"),
    path("me/login/", member_views.login, name="login"),
    path("me/logout/", member_views.logout, name="logout"),
    path("me/account/", member_views.account, name="account"),
    path("me/profile/", member_views.profile, name="profile"),
    path("me/privacy/", member_views.privacy, name="privacy"),
    path("me/privacy/my-data.json", member_views.privacy_export, name="export"),
    path("me/privacy/marketing/", member_views.marketing, name="marketing"),
    path("me/privacy/delete/", member_views.erase, name="erase"),
]
