from django.urls import path

from . import views

app_name = "wechat"

urlpatterns = [
    path("callback/", views.callback, name="callback"),
    path("pay/notify/", views.pay_notify, name="pay_notify"),
    path("oauth/", views.oauth, name="oauth"),
]
