"""The loyalty part of the member centre, under /me/ (members serves login, profile, privacy)."""

from django.urls import path

from loyalty.centre import invite
from loyalty.centre import views as member_views

app_name = "centre"

urlpatterns = [
    path("", member_views.home, name="home"),
    path("code/", member_views.card_code, name="card_code"),
    path("checkin/", member_views.do_checkin, name="checkin"),
    path("points/", member_views.points, name="points"),
    path("purchases/", member_views.purchases, name="purchases"),
    path("stored-value/", member_views.stored_value, name="stored_value"),
    path("coupons/", member_views.coupons, name="coupons"),
    path("rewards/", member_views.rewards, name="rewards"),
    path("rewards/redeem/", member_views.redeem, name="redeem"),
    path("invite/", member_views.referral, name="referral"),
    path("invite/create/", member_views.referral_create, name="referral_create"),
    path("invite/poster/", invite.poster, name="referral_poster"),
    path("invite/poster.png", invite.poster_image, name="referral_poster_png"),
]
