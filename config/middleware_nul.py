"""NUL characters (U+0000) never get past the door: a 400 for a request that carries one
in its path, its query string, a field of a URL-encoded form or a header.

PostgreSQL refuses NUL in text ("PostgreSQL text fields cannot contain NUL (0x00)
bytes"), so one reaching a query through a URL segment (/staff/members/12%003/), a
parameter or a form field was a 500 there, while SQLite stored it. No address, form field
or header of this site has a use for one; Django's form fields refuse it too, but URL
segments and parameters a view reads itself are not form fields. Checked once, here,
before the session, the URL resolver or any view reads the request.

The POS API (/api/) is left alone: it answers every bad input itself, NUL included, in
its documented JSON errors (loyalty/api_base.py; tests/loyalty/test_api_fuzz.py).

A multipart body (a form with a file) is read only for a view that CSRF protection
covers, just before it (process_view), as CsrfViewMiddleware reads it anyway: a view
exempt from CSRF (the POS API, the WeChat and SMS callbacks) reads its body itself, which
a parsed multipart stream no longer allows. A cookie that carries a NUL is dropped
instead of refused, so a browser holding one is not locked out until it expires.
"""

from django.http import HttpResponseBadRequest
from django.utils.translation import gettext as _

NUL = "\x00"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# Paths whose views refuse NUL themselves, in their own error format (config/urls.py).
OWN_ERRORS = ("/api/",)


def _in_query(query) -> bool:
    return any(NUL in key or any(NUL in v for v in values) for key, values in query.lists())


def request_carries_nul(request) -> bool:
    """Whether the path, a query parameter, a URL-encoded form field or a header (cookies
    aside) of `request` holds a NUL."""
    if NUL in request.path_info or NUL in request.path:
        return True
    if _in_query(request.GET):
        return True
    for key, value in request.META.items():
        header = (key.startswith("HTTP_") and key != "HTTP_COOKIE") or key == "CONTENT_TYPE"
        if header and isinstance(value, str) and NUL in value:
            return True
    return request.method == "POST" and request.content_type == FORM and _in_query(request.POST)


def _refused():
    return HttpResponseBadRequest(
        _("The request was refused: its address or form holds a NUL character."),
        content_type="text/plain; charset=utf-8",
    )


class RefuseNulMiddleware:
    """Answer 400 to a request carrying a NUL (see the module's docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(OWN_ERRORS):
            return self.get_response(request)
        if request_carries_nul(request):
            return _refused()
        for name in [n for n, v in request.COOKIES.items() if NUL in n or NUL in v]:
            del request.COOKIES[name]
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        multipart = request.method == "POST" and request.content_type == MULTIPART
        checked = multipart and not getattr(view_func, "csrf_exempt", False)
        return _refused() if checked and _in_query(request.POST) else None
