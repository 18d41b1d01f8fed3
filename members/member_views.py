"""Public registration (/join/) and the member centre's members part (/me/): log in and
out by SMS code, profile, privacy. The loyalty part of /me/ lives in loyalty/centre/views.py.

Every page works without JavaScript: each step is a plain form POST that redirects.
"""

import hashlib
import json

from django.conf import settings
from django.contrib import messages
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .member_auth import (
    JOIN_HOOKS,
    client_ip,
    current_member,
    member_login,
    member_logout,
    member_required,
    otp_state,
    otp_state_clear,
    otp_state_set,
    safe_next,
)
from .member_forms import CodeForm, EraseForm, JoinContextForm, JoinForm, PhoneForm, ProfileForm
from .otp import CODE_MINUTES, RESEND_SECONDS, OtpError, otp_check, otp_send
from .phones import mask_last4, mask_phone, national_digits
from .privacy import (
    current_notice,
    erase_holds,
    member_data_export,
    notice_by_version,
    published_notice_by_version,
)
from .services import (
    ErasureHeld,
    member_by_phone,
    member_erase,
    member_join,
    member_marketing_set,
    member_update,
)
from .sms import SmsError


def _home():
    return redirect(settings.MEMBER_LOGIN_REDIRECT_URL)


def _send_code(request, form: PhoneForm) -> bool:
    """Send a code to the form's phone; on success remember the phone for the next step."""
    try:
        sent = otp_send(phone=form.cleaned_data["phone"], ip=client_ip(request))
    except OtpError as exc:
        form.add_error("phone", exc.message)
        return False
    except SmsError:
        form.add_error(None, _("The text message could not be sent. Please try again shortly."))
        return False
    otp_state_set(request, phone=sent["phone"])
    messages.success(
        request,
        _("A code was sent to %(phone)s. It is valid for %(n)d minutes.")
        % {"phone": mask_phone(sent["phone"]), "n": CODE_MINUTES},
    )
    if sent["code"] and settings.SMS_SHOW_CODE:
        messages.info(
            request, _("Development mode: the code is %(code)s.") % {"code": sent["code"]}
        )
    return True


def _steps_context(request, state: dict) -> dict:
    """What both sign-in pages show: the phone being verified (its last 4 digits) and when
    a resend is allowed (the resend form carries the number the visitor typed)."""
    if not state:
        return {"otp_phone": ""}
    waited = timezone.now().timestamp() - (state.get("sent_at") or 0)
    return {
        "otp_phone": mask_last4(state.get("phone_last4", "")),
        "otp_phone_digits": national_digits(state["phone"]),
        "otp_verified": bool(state.get("verified_at")),
        "resend_wait": max(0, int(RESEND_SECONDS - waited)),
    }


def _common_actions(request, action: str, phone_form: PhoneForm):
    """'send' and 'change' are the same on both pages: a redirect, or None to re-render."""
    if action == "send" and phone_form.is_valid() and _send_code(request, phone_form):
        return redirect(request.get_full_path())
    if action == "change":
        otp_state_clear(request)
        return redirect(request.get_full_path())
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def join(request):
    """/join/?store=S&staff=G&ref=R: mobile number, SMS code, consent, optional name."""
    if current_member(request):
        return _home()
    for hook in JOIN_HOOKS:  # WeChat OAuth, when the wechat app adds it
        response = hook(request)
        if response is not None:
            return response
    if request.method == "GET" and _first_visit(request):
        return _join_page_for_everyone(request)
    state, action = otp_state(request), request.POST.get("action", "")
    phone_form = PhoneForm(request.POST if action == "send" else None)
    form = JoinForm(request.POST if action == "join" else None, verified=_verified(state))
    response = _common_actions(request, action, phone_form)
    if response is None and action == "join":
        response = _join(request, state, form)
    if response is not None:
        return response
    return _join_page(request, phone_form, form, state)


def _join_page(request, phone_form, form, state, **extra):
    context = JoinContextForm(request.GET).context()
    return render(
        request,
        "members/centre/join.html",
        {
            "phone_form": phone_form,
            "form": form,
            "store": context["store"],
            "invited": context["referred_by"] is not None,
            "notice": current_notice(),
            **_steps_context(request, state),
            **extra,
        },
    )


# The page behind a shop's QR code, as a first visit sees it, is the same for everyone
# with the same link and language: rendered once a TIMEOUT (30 s, the "local" cache)
# per process, with each visitor's own CSRF token put in its slot.
CSRF_SLOT = "csrf-slot-7d1e5b0c"


def _first_visit(request) -> bool:
    """No session and no messages yet: nobody is signed in, no code is pending."""
    return not (request.COOKIES.keys() & {settings.SESSION_COOKIE_NAME, "messages"})


def _join_page_for_everyone(request):
    link = hashlib.sha256(request.get_full_path().encode()).hexdigest()
    key = f"join:{get_language()}:{link}"
    page = caches["local"].get(key)
    if page is None:
        response = _join_page(request, PhoneForm(), JoinForm(verified=False), {},
                              csrf_token=CSRF_SLOT)  # fmt: skip
        page = response.content.decode()
        caches["local"].set(key, page)
    return HttpResponse(page.replace(CSRF_SLOT, get_token(request)))


def _verified(state: dict) -> bool:
    return bool(state.get("verified_at"))


def _join(request, state: dict, form: JoinForm):
    if not state:
        messages.error(request, _("Please ask for a code first."))
        return redirect(request.get_full_path())
    if not form.is_valid():
        return None
    notice = current_notice()
    shown = form.cleaned_data.get("notice_version") or notice.version
    if shown != notice.version:  # a new version was published while they read the old one
        form.add_error(
            "consent",
            _("The privacy notice has just changed: please read the new version and agree again."),
        )
        return None  # before the code is checked: it stays usable
    try:
        phone = state["phone"] if _verified(state) else None
        phone = phone or otp_check(phone=state["phone"], code=form.cleaned_data["code"])
    except OtpError as exc:
        form.add_error("code", exc.message)
        return None
    try:
        member, created = member_join(
            phone=phone,
            consent_version=shown,
            name=form.cleaned_data["name"],
            marketing_consent=form.cleaned_data["marketing_consent"],
            **JoinContextForm(request.GET).context(),
        )
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    member_login(request, member)
    if created:
        messages.success(request, _("Welcome! You are now a member."))
    else:
        messages.info(request, _("This number is already a member: you are logged in."))
    return _home()


@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    """Log in with mobile number and SMS code; an unknown number is offered to join."""
    if current_member(request):
        return redirect(safe_next(request, settings.MEMBER_LOGIN_REDIRECT_URL))
    for hook in JOIN_HOOKS:  # WeChat OAuth too: /me/ opened in WeChat comes here first
        if (response := hook(request)) is not None:
            return response
    state, action = otp_state(request), request.POST.get("action", "")
    phone_form = PhoneForm(request.POST if action == "send" else None)
    form = CodeForm(request.POST if action == "login" else None)
    response = _common_actions(request, action, phone_form)
    if response is None and action == "login":
        response = _login(request, state, form)
    if response is not None:
        return response
    return render(
        request,
        "members/centre/login.html",
        {
            "phone_form": phone_form,
            "form": form,
            "next": safe_next(request),
            **_steps_context(request, state),
        },
    )


def _login(request, state: dict, form: CodeForm):
    if not state:
        messages.error(request, _("Please ask for a code first."))
        return redirect(request.get_full_path())
    if not form.is_valid():
        return None
    try:
        phone = otp_check(phone=state["phone"], code=form.cleaned_data["code"])
    except OtpError as exc:
        form.add_error("code", exc.message)
        return None
    member = member_by_phone(phone)
    if member is None or member.status != member.Status.ACTIVE:
        otp_state_set(request, phone=phone, verified=True)
        messages.info(request, _("This number is not a member yet. Join in one step:"))
        return redirect("me:join")
    member_login(request, member)
    return redirect(safe_next(request, settings.MEMBER_LOGIN_REDIRECT_URL))


@require_POST
def logout(request):
    member_logout(request)
    messages.info(request, _("You have logged out."))
    return redirect("me:login")


@require_GET
@member_required
def account(request, member):
    """'Me': the list of everything else in the member centre."""
    return render(request, "members/centre/account.html", {"member": member})


@never_cache
@require_http_methods(["GET", "POST"])
@member_required
def profile(request, member):
    initial = {f: getattr(member, f) for f in ("name", "gender", "birthday", "email")}
    form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_valid():
        try:
            member_update(member=member, actor=None, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Your profile has been saved."))
            return redirect("me:profile")
    return render(request, "members/centre/profile.html", {"member": member, "form": form})


@require_GET
@member_required
def privacy(request, member):
    """The consent given, the notice agreed to, download my data, delete my account."""
    return render(
        request,
        "members/centre/privacy.html",
        {"member": member, "agreed": notice_by_version(member.consent_version)},
    )


@require_POST
@member_required
def marketing(request, member):
    """The switch for offers and news by message: on or off (退订), at any time."""
    consent = request.POST.get("consent") == "on"
    member_marketing_set(member=member, consent=consent)
    if consent:
        messages.success(request, _("You will receive member offers and news."))
    else:
        messages.success(request, _("You will no longer receive offers and news."))
    return redirect("me:privacy")


@never_cache
@require_GET
@member_required
def privacy_export(request, member):
    """Download my data: profile, purchases, points, coupons ... as one JSON file."""
    body = json.dumps(
        member_data_export(member), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="member-{member.member_no}.json"'
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@member_required
def erase(request, member):
    """Withdraw consent and delete the account: confirmed by a tick, then for good."""
    form = EraseForm(request.POST if request.method == "POST" else None)
    holds = erase_holds(member)  # e.g. stored value to be paid back first
    if form.is_valid() and not holds:
        try:
            member_erase(member=member, actor=None)
        except ErasureHeld as exc:  # held since the page was shown
            holds = exc.messages
        else:
            member_logout(request)
            text = _("Your account has been deleted and your personal data erased.")
            messages.success(request, text)
            return redirect("me:join")
    context = {"member": member, "form": form, "holds": holds}
    return render(request, "members/centre/erase.html", context)


@require_GET
def notice(request):
    """The privacy notice: the one in force, or a published version by ?version= (a draft
    or an unknown version: 404)."""
    version = request.GET.get("version", "")
    shown = published_notice_by_version(version) if version else current_notice()
    if shown is None:
        raise Http404
    return render(request, "members/centre/notice.html", {"notice": shown})
