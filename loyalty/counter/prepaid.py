"""The counter's stored value (储值): the member's balance and history, a top-up with
today's offers, a cash-out (退卡), the printed slip of each, and the SMS code a large
spend needs. Paying with stored value is part of the purchase screen (views.purchase).

As every counter view: access (login, the member visible to this staff member, the
permission) -> form -> one service -> message -> redirect; changes only by POST, once
per form token.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.counter.access import error_messages, full_phone, need, store_of
from loyalty.counter.forms import CashOutForm, TopUpForm, new_token
from loyalty.counter.services import counter_top_up
from loyalty.errors import LoyaltyError
from loyalty.models import LoyaltySettings, StoredValueEntry
from loyalty.selectors import card_of
from loyalty.stored_value import offers_running, stored_value_cash_out
from members.member_auth import safe_next
from members.models import Member
from members.otp import PAY, OtpError, otp_send
from members.selectors import member_get_for_staff, member_visible_to, record_visible_to
from members.sms import SmsError
from members.views import staff_required

HISTORY_SIZE = 20


def stored_value_history(member: Member, limit: int = HISTORY_SIZE) -> list[StoredValueEntry]:
    """The member's newest stored-value entries, with their store, staff and offer."""
    return list(
        StoredValueEntry.objects.filter(member=member)
        .select_related("store", "actor", "offer")
        .order_by("-created_at", "-id")[:limit]
    )


def _page(request, member: Member, form: TopUpForm, offers, cash_out: CashOutForm | None):
    card = card_of(member)  # unsaved and empty when a bulk path skipped it
    context = {
        "member": member,
        "card": card,
        "conf": LoyaltySettings.current(),
        "form": form,
        "offers": offers,
        "cash_out_form": cash_out,
        "history": stored_value_history(member),
        "full_phone": full_phone(request.user) and member_visible_to(request.user, member),
    }
    return render(request, "loyalty/staff/stored_value.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def stored_value(request, member_no):
    """GET: balance, history, the top-up form (an offer's button fills it in); POST: the
    top-up, recorded once per form token, then its slip. Any store of the chain tops
    up (member_served_by); a cash-out is the home store's."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    need(request.user, "loyalty.view_storedvalueentry")
    store = store_of(request.user, member)
    offers = offers_running(store=store)
    may_cash_out = request.user.has_perm("loyalty.cash_out_stored_value") and member_visible_to(
        request.user, member
    )
    cash_out = CashOutForm() if may_cash_out else None
    if request.method == "GET":
        initial = {"token": new_token(), "tender": request.GET.get("tender", "cash")}
        initial.update({k: request.GET[k] for k in ("amount", "offer") if k in request.GET})
        form = TopUpForm(initial=initial, offers=offers)
        return _page(request, member, form, offers, cash_out)
    need(request.user, "loyalty.add_storedvalueentry")
    form = TopUpForm(request.POST, offers=offers)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            entry, created = counter_top_up(
                member=member,
                actor=request.user,
                store=store,
                amount=cd["amount"],
                token=cd["token"],
                tender=cd["tender"],
                offer_code=cd["offer"],
            )
        except (LoyaltyError, ValidationError) as exc:
            for error in error_messages(exc):
                form.add_error(None, error)
        else:
            if created:
                messages.success(request, _("Topped up ¥%(amount)s.") % {"amount": cd["amount"]})
            else:
                messages.info(request, _("This top-up was already recorded."))
            return redirect("staff:stored_value_slip", entry.pk)
    return _page(request, member, form, offers, cash_out)


@require_POST
@staff_required
def cash_out(request, member_no):
    """退卡: pay back the principal, forfeit the bonus; managers and owners only."""
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "loyalty.cash_out_stored_value")
    form = CashOutForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("staff:stored_value", member.member_no)
    try:
        entry = stored_value_cash_out(
            member=member,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            store=store_of(request.user, member),
        )
    except LoyaltyError as exc:
        messages.error(request, exc.message)
        return redirect("staff:stored_value", member.member_no)
    messages.success(
        request,
        _("Cashed out: pay back ¥%(principal)s; bonus ¥%(bonus)s forfeited.")
        % {"principal": -entry.principal_delta, "bonus": -entry.bonus_delta},
    )
    return redirect("staff:stored_value_slip", entry.pk)


@require_GET
@staff_required
def slip(request, pk):
    """The printed slip of a top-up or a cash-out: what was paid, how, the balance after."""
    entry = (
        StoredValueEntry.objects.select_related("member", "store", "actor__staff_profile", "offer")
        .filter(pk=pk)
        .first()
    )
    if entry is None:
        raise Http404
    if not record_visible_to(request.user, entry.member, entry.store_id):
        raise PermissionDenied
    need(request.user, "loyalty.view_storedvalueentry")
    context = {
        "entry": entry,
        "member": entry.member,
        "balance_after": entry.principal_after + entry.bonus_after,
        "paid_back": -entry.principal_delta,
        "forfeited": -entry.bonus_delta,
    }
    return render(request, "loyalty/staff/stored_value_slip.html", context)


@require_POST
@staff_required
def send_code(request, member_no):
    """Send the member the SMS code a large stored-value spend needs; back to the
    purchase preview (`next`), where the clerk types the code the customer reads out."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    need(request.user, "loyalty.add_purchase")
    try:
        # A pay code: it confirms a spend, it cannot sign in (members.otp).
        store = store_of(request.user, member)
        source = f"store:{store.pk}" if store is not None else f"staff:{request.user.pk}"
        otp_send(phone=member.phone, source=source, purpose=PAY)
    except OtpError as exc:
        messages.error(request, exc.message)
    except SmsError:
        messages.error(request, _("The SMS could not be sent. Try again in a minute."))
    except ValidationError:
        messages.error(request, _("This member has no valid mobile number for a code."))
    else:
        text = _("Code sent to %(phone)s: ask the customer for it.")
        messages.success(request, text % {"phone": member.masked_phone})
    return redirect(safe_next(request) or reverse("staff:purchase", args=[member.member_no]))
