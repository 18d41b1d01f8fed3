"""The counter's count cards (次卡): the member's cards and their history, selling one
(cash, a tender, or stored value), using one use (from here or the member card's "use
once" button), and refunding the unused uses pro rata (managers and owners).

As every counter view: access -> form -> one service -> message -> redirect; changes
only by POST, once per form token.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from loyalty.count_cards import (
    count_card_find,
    count_card_refund,
    count_card_refund_amount,
    count_card_shown_status,
    count_card_templates_on_sale,
    count_card_use,
)
from loyalty.counter.access import (
    dynamic_code_of,
    error_messages,
    full_phone,
    need,
    store_of,
)
from loyalty.counter.forms import (
    CountCardRefundForm,
    CountCardSellForm,
    CountCardUseForm,
    new_token,
)
from loyalty.counter.services import counter_count_card_sell
from loyalty.errors import LoyaltyError
from loyalty.models import CountCard, CountCardEntry, LoyaltySettings
from loyalty.selectors import card_of
from loyalty.spending import spend_confirm, spend_needs_confirmation
from members.member_auth import safe_next
from members.models import Member
from members.selectors import member_get_for_staff, member_visible_to
from members.views import staff_required

HISTORY_SIZE = 30


def _page(request, member: Member, form: CountCardSellForm, templates):
    now = timezone.now()
    cards = list(
        CountCard.objects.filter(member=member).select_related("template").order_by("-sold_at")
    )
    for card in cards:
        card.shown_status = count_card_shown_status(card, now)
        card.refund_amount = count_card_refund_amount(card) if card.uses_left else None
    history = list(
        CountCardEntry.objects.filter(member=member)
        .select_related("card", "store", "actor")
        .order_by("-created_at", "-id")[:HISTORY_SIZE]
    )
    context = {
        "member": member,
        "card": card_of(member),  # unsaved and empty when a bulk path skipped it
        "conf": LoyaltySettings.current(),
        "form": form,
        "templates": templates,
        "cards": cards,
        "history": history,
        "token": new_token(),
        "full_phone": full_phone(request.user) and member_visible_to(request.user, member),
        # Found by the static number: a use asks for the member's pay code (loyalty.spending).
        "use_needs_code": spend_needs_confirmation(
            dynamic=bool(dynamic_code_of(request, member)), count_card=True
        ),
        # A refund is the home store's (member_get_for_staff without serve).
        "may_refund": request.user.has_perm("loyalty.refund_count_card")
        and member_visible_to(request.user, member),
    }
    return render(request, "loyalty/staff/count_cards.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def count_cards(request, member_no):
    """GET: the member's cards, their history and the sale form; POST: the sale."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    need(request.user, "loyalty.view_countcard")
    store = store_of(request.user, member)
    templates = count_card_templates_on_sale(store=store)
    if request.method == "GET":
        form = CountCardSellForm(initial={"token": new_token()}, templates=templates)
        return _page(request, member, form, templates)
    need(request.user, "loyalty.add_countcard")
    form = CountCardSellForm(request.POST, templates=templates)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            card, created = counter_count_card_sell(
                member=member,
                actor=request.user,
                store=store,
                template_code=cd["template"],
                token=cd["token"],
                tender=cd["tender"],
                confirmation_code=cd["confirmation_code"],
                dynamic=bool(dynamic_code_of(request, member)),
            )
        except (LoyaltyError, ValidationError) as exc:
            for error in error_messages(exc):
                form.add_error(None, error)
        else:
            if created:
                text = _("Sold: %(name)s, %(uses)d uses.")
                messages.success(request, text % {"name": card.name, "uses": card.uses_total})
            else:
                messages.info(request, _("This sale was already recorded."))
            return redirect("staff:count_cards", member.member_no)
    return _page(request, member, form, templates)


@require_POST
@staff_required
def use(request, member_no, card_id):
    """One use of a card (the member card's button or this page's): once per token."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    need(request.user, "loyalty.add_countcardentry")
    form = CountCardUseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("This form has expired. Please start again."))
    else:
        cd = form.cleaned_data
        try:
            # One transaction: a refused use leaves the member's pay code unused.
            with transaction.atomic():
                spend_confirm(
                    member=member,
                    dynamic=bool(dynamic_code_of(request, member)),
                    count_card=True,
                    confirmation_code=cd["confirmation_code"],
                )
                entry, created = count_card_use(
                    member=member,
                    card_id=card_id,
                    key=f"counter-use:{cd['token']}:{card_id}",
                    service=cd["service"],
                    store=store_of(request.user, member),
                    actor=request.user,
                )
        except LoyaltyError as exc:
            messages.error(request, exc.message)
        else:
            name = entry.card.name
            if created:
                text = _("Used once: %(name)s, %(left)d uses left.")
                messages.success(request, text % {"name": name, "left": entry.left_after})
            else:
                messages.info(request, _("This use was already recorded."))
    return redirect(safe_next(request) or reverse("staff:card", args=[member.member_no]))


@require_POST
@staff_required
def refund(request, member_no, card_id):
    """Refund a card's unused uses pro rata: managers and owners, with a reason."""
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "loyalty.refund_count_card")
    form = CountCardRefundForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("staff:count_cards", member.member_no)
    cd = form.cleaned_data
    try:
        card = count_card_find(member=member, card_id=card_id)
        entry = count_card_refund(
            card=card,
            actor=request.user,
            reason=cd["reason"],
            key=f"counter-refund:{cd['token']}:{card.pk}",
            store=store_of(request.user, member),
        )
    except LoyaltyError as exc:
        messages.error(request, exc.message)
    else:
        if card.paid_by_stored_value:
            text = _("Refunded %(name)s: ¥%(amount)s back to the member's stored value.")
        else:
            text = _("Refunded %(name)s: pay back ¥%(amount)s.")
        messages.success(request, text % {"name": card.name, "amount": entry.amount})
    return redirect("staff:count_cards", member.member_no)
