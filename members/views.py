import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from .selectors import staff_profile_of

log = logging.getLogger("huiyuan.healthz")


def staff_required(view):
    """Logged in, and a staff member (a StaffProfile) or a superuser; else 403."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_superuser or staff_profile_of(request.user)):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@require_GET
def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and monitors).

    Anyone may ask, so the answer is fixed text: the database's error (which can name
    hosts, users and databases) goes to the log only."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means "not healthy"
        log.exception("healthz: the database does not answer")
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def home(request):
    if request.user.is_authenticated:
        return redirect("staff:home")
    return redirect("login")


def bench_hello(request):
    """Baseline for bench/: the cheapest possible Django response (BENCH_URLS only)."""
    return HttpResponse("hello")
