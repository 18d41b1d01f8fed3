"""A dependency that is down is a 503 with words, not a 500 with a traceback.

When PostgreSQL restarts, a backend is killed, SQLite stays locked past its timeout or
the broker (Redis) is unreachable, the request cannot be served *now* but can be a
moment later. Staff and members get a short page that says so (in their language, with
a retry link); the POS API and other JSON callers get its error shape
(`{"code": "service_unavailable", "message": ...}`), and every caller a `Retry-After`.

Two doors lead here, one rule decides (`is_outage`):
- `OutageMiddleware.process_exception`, for a view's exception (in DEBUG too, where
  Django would show its technical page instead of handler500);
- `server_error` (config/urls.py handler500), for what happened outside a view
  (a middleware reading the session, a template rendering a lazy queryset).

The page is rendered without the request: its context processors would read the
session and the user, from the database that is down. Django still logs the exception
with its traceback (django.request), so the cause is in the log.

A bug (an IntegrityError, a ProgrammingError) stays a 500: only the errors a healthy
system gets from an unhealthy dependency count.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisError)
RETRY_AFTER_SECONDS = 5
JSON_PATHS = ("/api/",)  # the POS and mini-program APIs: their own error shape
log = logging.getLogger("django.request")


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response(request) -> HttpResponse:
    """The 503 for `request`: JSON for the APIs and for callers that ask for JSON, else the page."""
    message = _("The system is briefly unavailable. Please try again in a few seconds.")
    wants_json = request.path.startswith(JSON_PATHS) or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        response = JsonResponse({"code": "service_unavailable", "message": message}, status=503)
    else:
        context = {"back_url": request.get_full_path(), "back_label": _("Try again")}
        page = loader.render_to_string("503.html", context)
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware:
    """A view's outage error becomes the 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        response = outage_response(request)
        # Django logs a handled exception's response without its cause: the cause here.
        log.error(
            "Service unavailable: %s (%s: %s)",
            request.path,
            type(exception).__name__,
            exception,
            exc_info=exception,
            extra={"status_code": 503, "request": request},
        )
        response._has_been_logged = True
        return response


def server_error(request):
    """handler500: the 503 when the exception being handled is an outage, else the 500."""
    if is_outage(sys.exc_info()[1]):
        return outage_response(request)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
