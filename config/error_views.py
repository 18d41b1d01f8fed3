"""The 403 and 404 pages (config/urls.py handler403, handler404): Chinese (or the
visitor's language) in the site's layout, each with a way back, not Django's bare
English page.

An expected refusal (PermissionDenied: a clerk opening another store's member, a page
their role may not see) is logged as one line, without Django's traceback.
"""

import logging

from django.http import HttpResponseForbidden, HttpResponseNotFound, JsonResponse
from django.template import loader
from django.urls import reverse
from django.utils.translation import gettext as _

log = logging.getLogger("django.request")

MEMBER_PATHS = ("/me/", "/join/")  # the member centre: back to the member's card


def _way_back(request) -> tuple[str, str]:
    """Where the page's button leads: the member centre, the counter, or the login."""
    if request.path.startswith(MEMBER_PATHS):
        return reverse("centre:home"), _("Back to the member centre")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return reverse("staff:home"), _("Back to the counter")
    return reverse("login"), _("Go to the login page")


def _page(request, template: str) -> str:
    back_url, back_label = _way_back(request)
    context = {"back_url": back_url, "back_label": back_label}
    return loader.render_to_string(template, context, request)


def permission_denied(request, exception=None):
    response = HttpResponseForbidden(_page(request, "403.html"))
    # Django would log the exception with its traceback: a refusal is expected, one
    # line says who was refused what (log_response skips a response marked logged).
    log.warning(
        "Forbidden (Permission denied): %s",
        request.path,
        extra={"status_code": 403, "request": request},
    )
    response._has_been_logged = True
    return response


def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):  # the POS API answers JSON, as its own 404s
        # The API's own error shape ({"code", "message"}: loyalty/api_base.ErrorOut).
        return JsonResponse(
            {"code": "not_found", "message": _("There is no such API address.")}, status=404
        )
    return HttpResponseNotFound(_page(request, "404.html"))
