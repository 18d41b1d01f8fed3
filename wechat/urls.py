from django.urls import path

from . import pay_v3_views, views

app_name = "wechat"

urlpatterns = [
    path("callback/", views.callback, name="callback"),
    path("pay/notify/", views.pay_notify, name="pay_notify"),
    path("pay/v3/notify/", pay_v3_views.notify, name="pay_v3_notify"),
    path("oauth/", views.oauth, name="oauth"),
]
