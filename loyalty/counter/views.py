"""The staff screens under /staff/: the counter (收银台) and the member 360 page.

Every view: access helper (login, staff profile, the member visible to this staff
member, the permission of the action) -> form -> one service call -> message ->
redirect. Changes only by POST. A chain serves its members at every store: the
counter's screens (the card, a purchase, the 360 page) take any member the staff
member serves (members.selectors.member_served_by, the `serve=True` of
member_get_for_staff), each opening of another store's member audited; managing a
member (profile, tags, guide, points, coupons) stays with the home store.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.benefits.rewards import RedemptionNotPossible
from loyalty.counter import selectors as sel
from loyalty.counter.access import (
    dynamic_code_of,
    error_messages,
    full_phone,
    need,
    remember_dynamic_code,
    store_id_of,
    store_of,
)
from loyalty.counter.forms import (
    CodeForm,
    CounterSearchForm,
    CouponIssueForm,
    GuideForm,
    PointsAdjustForm,
    ProfileForm,
    PurchaseForm,
    RefundForm,
    RegisterForm,
    TagForm,
    new_token,
)
from loyalty.counter.services import (
    counter_coupon_verify,
    counter_member_served,
    counter_pickup,
    counter_purchase,
    staff_coupon_issue,
)
from loyalty.errors import CouponNotUsable, LoyaltyError
from loyalty.ledger import points_adjust
from loyalty.models import Coupon, LoyaltySettings, normalize_code
from loyalty.purchases import purchase_quote, purchase_refund
from loyalty.spending import spend_needs_confirmation
from loyalty.stored_value import stored_value_after
from members.models import Member, PrivacyNotice, Tag
from members.selectors import (
    ALL_STORES,
    member_get_for_staff,
    member_visible_to,
    record_visible_to,
    store_scope,
)
from members.services import DuplicatePhone, member_create, member_update
from members.tagging import member_tag_add, member_tag_remove
from members.views import staff_required

# --- access helpers ----------------------------------------------------------------


def _purchase_for_staff(user, pk: int):
    purchase, coupons, refunds = sel.purchase_for_receipt(pk)
    if purchase is None:
        raise Http404
    if not record_visible_to(user, purchase.member, purchase.store_id):
        raise PermissionDenied
    return purchase, coupons, refunds


def _served_here(request, member: Member) -> bool:
    """Whether `member` is another store's (served by the chain rule): audit it once a
    day (counter_member_served) and say so on the card. No query for the own store's."""
    if member_visible_to(request.user, member):
        return False
    counter_member_served(actor=request.user, member=member, store=store_of(request.user, member))
    return True


# --- the counter ----------------------------------------------------------------------

# The member card: a Jinja template (config/platform/jinja2.py), rendered alone for the search
# box's htmx answer and into the counter page (_lookup.html's card_html) otherwise.
CARD = "loyalty/staff/_card.html"
SEARCH_FIELD = CounterSearchForm.base_fields["q"]


def _card_html(request, context: dict) -> str:
    # Asked of the Jinja engine itself: render_to_string would ask the Django engine
    # first, and its miss (an exception) cost a tenth of the card. Rendered by the
    # autoescaping Jinja engine: safe to place as it is.
    return mark_safe(engines["jinja2"].get_template(CARD).render(context, request))  # noqa: S308


@require_GET
@staff_required
def counter(request):
    """One search box: phone, last 4, member number, the card's QR, a coupon or pickup code.

    htmx asks for the result part only; one member found shows their card at once, and
    the card's extras (coupons, expiring points, last purchases...) follow by htmx
    from counter_card_extras, so that finding the member stays one quick request.
    """
    lookup, searched = sel.Lookup(), False
    try:
        # The search form's own field checks the text; the form itself is built only for
        # an answer that shows it (the card alone, the everyday answer, does not).
        q = SEARCH_FIELD.clean(request.GET.get("q"))
    except ValidationError:
        q = ""  # too long: no search, as an invalid form
    if q:
        lookup, searched = sel.counter_lookup(request.user, q), True
    context = {"lookup": lookup, "searched": searched}
    context.update(results=lookup.members, kind=lookup.kind)
    htmx = bool(request.META.get("HTTP_HX_REQUEST"))  # request.headers builds all headers
    if len(lookup.members) == 1:
        member = lookup.members[0]
        if htmx:  # the card alone; its extras (coupons ...) follow in a second request
            context.update(sel.member_card_core(member))
        else:
            context.update(sel.member_card(member, store_id=store_id_of(request.user, member)))
        context["other_store"] = _served_here(request, member)
        if lookup.dynamic_code:  # the purchase needs no other confirmation of the member
            remember_dynamic_code(request, member, lookup.dynamic_code)
            context["dynamic"] = True
        context["full_phone"] = full_phone(request.user, typed=lookup.kind == "phone")
        context["card_html"] = _card_html(request, context)
        if htmx:  # the search box's everyday answer: the card alone
            return HttpResponse(context["card_html"])
    context["form"] = CounterSearchForm(request.GET or None)
    if htmx:
        return render(request, "loyalty/staff/_lookup.html", context)
    return render(request, "loyalty/staff/counter.html", context)


@require_GET
@staff_required
def counter_card_extras(request, member_no):
    """The card's second part, which the counter's search loads right after the card."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    here = store_id_of(request.user, member)
    context = {**sel.member_card_extras(member, store_id=here), "member": member}
    return render(request, "loyalty/staff/_card_lazy.html", context)


@require_GET
@staff_required
def counter_card(request, member_no):
    """The counter with one member's card (a result list's link, back from a purchase)."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    context = {
        "form": CounterSearchForm(),
        "searched": True,
        **sel.member_card(member, store_id=store_id_of(request.user, member)),
    }
    context["other_store"] = _served_here(request, member)
    # Another store's member: served, but their number stays masked (issue 24).
    context["full_phone"] = full_phone(request.user) and not context["other_store"]
    context["card_html"] = _card_html(request, context)
    return render(request, "loyalty/staff/counter.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def purchase(request, member_no):
    """GET: the form, and with an amount the preview (purchase_quote) and its confirm
    button; POST (confirm): record it once per form token, then the receipt. The
    purchase belongs to the store where it happens (the clerk's), whatever the
    member's home store."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    need(request.user, "loyalty.add_purchase")
    if request.method == "POST":
        # A second click of the same confirmation: its coupon is no longer usable, so
        # the form would refuse it; the purchase it made is the answer.
        done = sel.counter_purchase_by_token(member, request.POST.get("token", ""))
        if done is not None:
            messages.info(request, _("This purchase was already recorded."))
            return redirect("staff:receipt", done.pk)
    now = timezone.now()
    # A coupon limited to other stores is listed, not choosable (PurchaseForm).
    coupons = sel.usable_coupons_of(member, now, store_id_of(request.user, member))
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = PurchaseForm(data, coupons=coupons)
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        try:
            if not cd["token"]:
                raise ValidationError(_("This form has expired. Please start again."))
            bought, created = counter_purchase(
                member=member,
                actor=request.user,
                store=store_of(request.user, member),
                amount=cd["amount"],
                token=cd["token"],
                category=cd["category"],
                coupon_code=cd["coupon"],
                points_to_use=cd["points"],
                stored_value_to_use=cd["stored_value"],
                confirmation_code=cd["confirmation_code"],
                member_code=cd["member_code"],
            )
        except (LoyaltyError, ValidationError) as exc:
            for error in error_messages(exc):
                form.add_error(None, error)
        else:
            if created:
                messages.success(request, _("Purchase recorded."))
            else:
                messages.info(request, _("This purchase was already recorded."))
            return redirect("staff:receipt", bought.pk)
    conf, card = LoyaltySettings.current(), sel.card_of(member)
    card.member = member
    member_code = dynamic_code_of(
        request, member, request.POST.get("member_code", "") if request.method == "POST" else None
    )
    quote = None
    if request.method == "GET" and form.is_valid():
        cd = form.cleaned_data
        try:
            quote = purchase_quote(
                card=card,
                amount=cd["amount"],
                category=cd["category"],
                points_to_use=cd["points"],
                stored_value_to_use=cd["stored_value"],
                coupon=next((c for c in coupons if c.code == cd["coupon"]), None),
                store=store_of(request.user, member),  # a coupon limited to stores
                now=now,
                conf=conf,
            )
        except (LoyaltyError, ValidationError) as exc:
            for error in error_messages(exc):
                form.add_error(None, error)
    context = {
        "member": member,
        "form": form,
        "quote": quote,
        "token": new_token() if quote else "",
        "card": card,
        "conf": conf,
        "coupons": coupons,
        "categories": sel.known_categories(conf),
        "member_code": member_code,
        # A large stored-value spend: the confirm form asks for the member's SMS code;
        # so does a spend of points or stored value by a member found without their
        # dynamic code (loyalty.spending).
        "large_spend": bool(quote and quote.stored_value_used > conf.stored_value_confirm_limit),
        "needs_confirmation": bool(
            quote
            and spend_needs_confirmation(
                dynamic=bool(member_code),
                points=quote.points_used,
                stored_value=quote.stored_value_used,
                conf=conf,
            )
        ),
    }
    context["needs_code"] = context["large_spend"] or context["needs_confirmation"]
    return render(request, "loyalty/staff/purchase.html", context)


@require_GET
@staff_required
def receipt(request, pk):
    purchase, coupons, refunds = _purchase_for_staff(request.user, pk)
    owed = sum(r.points_debt for r in refunds)
    context = {"purchase": purchase, "coupons": coupons, "refunds": refunds, "owed": owed}
    if purchase.stored_value_used:  # what it took, and the balance it left
        context["stored_value"] = stored_value_after(purchase)
    return render(request, "loyalty/staff/receipt.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def refund(request, pk):
    purchase, _coupons, _refunds = _purchase_for_staff(request.user, pk)
    need(request.user, "loyalty.add_refund")
    # Refunded where it was bought, as the POS API does: the money leaves that till and
    # the shift report files it there (the member's home store reads it, no more).
    # (A purchase of no store, e.g. imported history: the member's home store.)
    scope = store_scope(request.user)
    if scope is not ALL_STORES and purchase.store_id not in (None, scope):
        raise PermissionDenied
    if request.method == "GET":
        form = RefundForm(initial={"amount": purchase.refundable_amount, "token": new_token()})
        return render(request, "loyalty/staff/refund.html", {"purchase": purchase, "form": form})
    form = RefundForm(request.POST)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            done, _created = purchase_refund(
                purchase=purchase,
                amount=cd["amount"],
                key=f"counter-refund:{cd['token']}",
                actor=request.user,
                reason=cd["reason"],
            )
        except (LoyaltyError, ValidationError) as exc:
            for error in error_messages(exc):
                form.add_error(None, error)
        else:
            messages.success(request, _("Refunded ¥%(amount)s.") % {"amount": done.amount})
            return redirect("staff:receipt", purchase.pk)
    return render(request, "loyalty/staff/refund.html", {"purchase": purchase, "form": form})


@require_POST
@staff_required
def verify(request):
    """核销 without a purchase: a coupon code, or the pickup code of a reward.

    A coupon redeemed with no purchase is a deliberate act: the first post (the search
    result's secondary button) answers with a confirmation page; only its own button
    (`confirm`) redeems. Enter at the search result takes the normal path instead:
    the purchase with the coupon."""
    form = CodeForm(request.POST)
    back = reverse("staff:home")
    if not form.is_valid():
        messages.error(request, _("Enter a coupon or pickup code."))
        return redirect(back)
    code = normalize_code(form.cleaned_data["code"])
    lookup = sel.counter_lookup(request.user, code)
    target = lookup.coupon or lookup.redemption
    if target is None:
        messages.error(request, _("No coupon or pickup code %(code)s here.") % {"code": code})
        return redirect(back)
    back = reverse("staff:card", args=[target.member.member_no])
    store = store_of(request.user, target.member)
    confirmed = form.cleaned_data["confirm"]
    if isinstance(target, Coupon) and target.status == Coupon.Status.ISSUED and not confirmed:
        need(request.user, "loyalty.change_coupon")
        context = {"coupon": target, "member": target.member}
        return render(request, "loyalty/staff/verify_confirm.html", context)
    try:
        if isinstance(target, Coupon):
            need(request.user, "loyalty.change_coupon")
            done = counter_coupon_verify(code=code, actor=request.user, store=store)
            text = _("Coupon %(name)s verified.") % {"name": done.template.name}
        else:
            need(request.user, "loyalty.change_redemption")
            done = counter_pickup(code=code, actor=request.user, store=store)
            text = _("Hand over: %(name)s.") % {"name": done.reward.name}
    except (CouponNotUsable, RedemptionNotPossible) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, text)
    return redirect(back)


@require_http_methods(["GET", "POST"])
@staff_required
def register(request):
    """A customer without WeChat at hand: phone and name, registered at this counter."""
    need(request.user, "members.add_member")
    store = store_of(request.user)
    data = request.POST if request.method == "POST" else None
    initial = {"phone": request.GET.get("phone", "")[:32]}
    form = RegisterForm(data, initial=initial, store_choice=store is None)
    notice = PrivacyNotice.current()
    if form.is_valid():
        cd = form.cleaned_data
        try:
            member = member_create(
                phone=cd["phone"],
                name=cd["name"],
                source=Member.Source.COUNTER,
                store=store or cd["store"],
                guide=request.user if store else None,
                consent_version=notice.version if notice else "",
                consent_at=timezone.now(),
                actor=request.user,
            )
        except DuplicatePhone as exc:
            form.add_error("phone", exc.error_dict["phone"][0])
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Member %(no)s registered.") % {"no": member.member_no})
            return redirect("staff:card", member.member_no)
    return render(request, "loyalty/staff/register.html", {"form": form, "notice": notice})


# --- member 360 ------------------------------------------------------------------------


@require_GET
@staff_required
def member_detail(request, member_no):
    """Profile, card, tags, guide and the timeline of everything that happened. Another
    store's member (served here by the chain rule) is shown, not managed: the home
    store edits the profile, tags, guide, points and coupons."""
    member = member_get_for_staff(request.user, member_no, serve=True)
    before = parse_datetime(request.GET.get("before", "")) if request.GET.get("before") else None
    if before is not None and timezone.is_naive(before):
        before = timezone.make_aware(before)
    user = request.user
    other_store = _served_here(request, member)
    manages = not other_store
    may_edit = manages and user.has_perm("members.change_member")
    context = {
        **sel.member_card(member, store_id=store_id_of(user, member)),
        "full_phone": full_phone(user) and manages,  # masked for another store's member
        "timeline": sel.member_timeline(member, before=before),
        "before": before,
        "other_store": other_store,
        "may_edit": may_edit,
        "may_adjust": manages and user.has_perm("loyalty.adjust_points"),
        "may_issue": manages and user.has_perm("loyalty.issue_coupon"),
    }
    if may_edit:
        context["tag_form"] = TagForm()
        context["guide_form"] = GuideForm(
            initial={"guide": member.guide_id}, choices=sel.guide_choices(member)
        )
    if context["may_adjust"]:
        context["adjust_form"] = PointsAdjustForm(initial={"token": new_token()})
    if context["may_issue"]:
        context["issue_form"] = CouponIssueForm()
    if len(context["timeline"]) == sel.TIMELINE_SIZE:  # a full page: there may be more
        context["older"] = context["timeline"][-1].at
    return render(request, "loyalty/staff/member.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def member_edit(request, member_no):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "members.change_member")
    if request.method == "GET":
        form = ProfileForm(instance=member, initial={"phone": member.display_phone})
        return render(request, "loyalty/staff/member_edit.html", {"member": member, "form": form})
    form = ProfileForm(request.POST, instance=Member.objects.get(pk=member.pk))
    if form.is_valid():
        try:
            member_update(
                member=member,
                actor=request.user,
                **{f: form.cleaned_data[f] for f in ProfileForm.Meta.fields},
            )
        except DuplicatePhone as exc:
            form.add_error("phone", exc.error_dict["phone"][0])
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("staff:member", member.member_no)
    return render(request, "loyalty/staff/member_edit.html", {"member": member, "form": form})


@require_POST
@staff_required
def tag_add(request, member_no):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "members.change_member")
    form = TagForm(request.POST)
    if form.is_valid():
        tag = form.cleaned_data["tag"]
        if member_tag_add(member=member, tag=tag, actor=request.user):
            messages.success(request, _("Tag %(tag)s added.") % {"tag": tag.name})
    else:
        messages.error(request, _("Choose a tag."))
    return redirect("staff:member", member.member_no)


@require_POST
@staff_required
def tag_remove(request, member_no, tag_id):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "members.change_member")
    tag = get_object_or_404(Tag, pk=tag_id)
    if member_tag_remove(member=member, tag=tag, actor=request.user):
        messages.success(request, _("Tag %(tag)s removed.") % {"tag": tag.name})
    return redirect("staff:member", member.member_no)


@require_POST
@staff_required
def guide_set(request, member_no):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "members.change_member")
    form = GuideForm(request.POST, choices=sel.guide_choices(member))
    if form.is_valid():
        member_update(member=member, actor=request.user, guide=form.cleaned_data["guide"])
        messages.success(request, _("Guide saved."))
    else:
        messages.error(request, _("Choose a guide from this store."))
    return redirect("staff:member", member.member_no)


@require_POST
@staff_required
def points_adjust_view(request, member_no):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "loyalty.adjust_points")
    form = PointsAdjustForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("staff:member", member.member_no)
    cd = form.cleaned_data
    try:
        points_adjust(
            member=member,
            delta=cd["delta"],
            reason=cd["reason"],
            actor=request.user,
            key=f"staff-adjust:{cd['token']}",
        )
    except (LoyaltyError, ValidationError) as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(request, _("Points adjusted by %(n)+d.") % {"n": cd["delta"]})
    return redirect("staff:member", member.member_no)


@require_POST
@staff_required
def coupon_issue_view(request, member_no):
    member = member_get_for_staff(request.user, member_no)
    need(request.user, "loyalty.issue_coupon")
    form = CouponIssueForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a coupon."))
        return redirect("staff:member", member.member_no)
    try:
        coupon = staff_coupon_issue(
            template=form.cleaned_data["template"], member=member, actor=request.user
        )
    except LoyaltyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Coupon %(code)s issued.") % {"code": coupon.display_code})
    return redirect("staff:member", member.member_no)
