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

A bug stays a 500: only the errors a healthy system gets from an unhealthy dependency
count (`is_outage`). An OperationalError is not enough (on SQLite "no such table", a
missing `migrate`, is one too, and would have the POS retry forever): PostgreSQL's
SQLSTATE says which are outages (class 08 connection, 57P shutdown and crash, 53
insufficient resources, 40001/40P01 serialization and deadlock) and a psycopg error with
none is a connection that failed or broke; SQLite's are the lock held too long, the disk
and the file (SQLITE_BUSY/LOCKED/IOERR/CANTOPEN/FULL); Redis's only a connection that
failed or timed out. A full disk (PostgreSQL's 53100, SQLITE_FULL, ENOSPC) is a 507.
"""

import errno
import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# PostgreSQL SQLSTATEs (by class or code) that mean "not now", not "never".
PG_OUTAGE_STATES = ("08", "57P", "53", "40001", "40P01")
PG_DISK_FULL = "53100"
SQLITE_OUTAGE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN"}
SQLITE_OUTAGE_TEXT = ("database is locked", "disk i/o error", "unable to open database")
SQLITE_DISK_FULL = "SQLITE_FULL"
RETRY_AFTER_SECONDS = 5
JSON_PATHS = ("/api/",)  # the POS and mini-program APIs: their own error shape
log = logging.getLogger("django.request")


def is_outage(exc: BaseException | None) -> bool:
    """A dependency that is down or overloaded, not a bug (the module docstring)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None)
    if state:  # PostgreSQL said why
        return state.startswith(PG_OUTAGE_STATES) and state != PG_DISK_FULL
    name = getattr(cause, "sqlite_errorname", None)
    if name:
        return name in SQLITE_OUTAGE
    if type(cause).__module__.startswith("psycopg"):
        return True  # no SQLSTATE: the connection failed or broke, no server said anything
    return any(text in str(exc).lower() for text in SQLITE_OUTAGE_TEXT)


def is_disk_full(exc: BaseException | None) -> bool:
    """The disk (or the user's quota) is full: Django could not even receive the upload
    (an upload over FILE_UPLOAD_MAX_MEMORY_SIZE goes to a temporary file as the request
    is read, in a middleware before any view), or the database cannot grow. A view that
    writes files says so itself (loyalty/imports/disk.py)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, OperationalError):
        cause = exc.__cause__
        return (
            getattr(cause, "sqlstate", None) == PG_DISK_FULL
            or getattr(cause, "sqlite_errorname", None) == SQLITE_DISK_FULL
            or "database or disk is full" in str(exc).lower()
        )
    return False


def disk_full_response(request) -> HttpResponse:
    """507: what was sent could not be received; nothing was saved."""
    message = _(
        "The server's disk is full, so what you sent could not be received and nothing "
        "was saved. Tell whoever runs the server; once there is space, send it again."
    )
    return _answer(request, 507, _("The server's disk is full"), message)


def outage_response(request) -> HttpResponse:
    """The 503 for `request`: JSON for the APIs and for callers that ask for JSON, else the page."""
    message = _("The system is briefly unavailable. Please try again in a few seconds.")
    response = _answer(request, 503, _("Briefly unavailable"), message)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _answer(request, status: int, title: str, message: str) -> HttpResponse:
    wants_json = request.path.startswith(JSON_PATHS) or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        code = "service_unavailable" if status == 503 else "insufficient_storage"
        return JsonResponse({"code": code, "message": message}, status=status)
    context = {
        "status": status,
        "title": title,
        "message": message,
        "back_url": request.get_full_path(),
        "back_label": _("Try again"),
        "saved_before": status == 503,
    }
    return HttpResponse(loader.render_to_string("503.html", context), status=status)


class OutageMiddleware:
    """A view's outage error becomes the 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_disk_full(exception):
            response = disk_full_response(request)
        elif is_outage(exception):
            response = outage_response(request)
        else:
            return None
        # Django logs a handled exception's response without its cause: the cause here.
        log.error(
            "%s: %s (%s: %s)",
            response.reason_phrase,
            request.path,
            type(exception).__name__,
            exception,
            exc_info=exception,
            extra={"status_code": response.status_code, "request": request},
        )
        response._has_been_logged = True
        return response


def server_error(request):
    """handler500: the 503 when the exception being handled is an outage, the 507 when the
    disk is full, else the 500."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        return outage_response(request)
    if is_disk_full(exc):
        return disk_full_response(request)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
