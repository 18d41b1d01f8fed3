from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from loyalty.api import api as pos_api
from members import sms_views
from members import views as member_views
from members.forms import StaffLoginForm
from wechat.mp.api import api as mp_api

admin.site.site_header = _("Huiyuan member system")
admin.site.site_title = _("Huiyuan")
admin.site.index_title = _("Configuration")
handler403 = "config.error_views.permission_denied"
handler404 = "config.error_views.page_not_found"
handler500 = "config.outage.server_error"  # a database or Redis outage: a 503 with words

urlpatterns = [
    path("healthz", member_views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", authentication_form=StaffLoginForm
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Staff screens: the counter and member 360 (loyalty), the dashboard (campaigns).
    path("staff/", include("loyalty.counter.urls")),
    path("dashboard/", include("campaigns.dashboard_urls")),
    # Customers: /join/ and the member centre /me/, composed of each app's part.
    path("", include("members.member_urls")),
    path("me/", include("loyalty.centre.urls")),
    path("me/messages/", include("campaigns.member_urls")),
    path("wechat/", include("wechat.urls")),
    # Replies to marketing SMS (退订) pushed by Tencent Cloud.
    path("sms/inbound/", sms_views.inbound, name="sms_inbound"),
    path("api/v1/", pos_api.urls),
    path("api/mp/v1/", mp_api.urls),
    path("admin/", admin.site.urls),
    path("", member_views.home, name="home"),
]

if settings.BENCH_URLS:
    from config import bench_views

    urlpatterns += [
        path("bench/hello", member_views.bench_hello),
        path("bench/ledger-insert", bench_views.ledger_insert),
        path("bench/staff-hello", bench_views.staff_hello),
    ]
