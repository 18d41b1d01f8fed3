"""Forms of the counter and member 360: they clean and convert; services write."""

import re
import secrets
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.models import COUNT_CARD_TENDERS, CouponTemplate, Tender
from loyalty.money import MAX_AMOUNT
from members.models import Member, Store, Tag
from members.phones import normalize_phone

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,40}$")


def new_token() -> str:
    """A form's one-time token: the idempotency key of what the form confirms."""
    return secrets.token_urlsafe(16)


class TokenField(forms.CharField):
    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(max_length=40, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and not TOKEN_RE.match(value):
            raise ValidationError(_("This form has expired. Please start again."))
        return value


class CounterSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a member"),
        max_length=64,
        required=False,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "class": "form-control form-control-lg",
                "inputmode": "search",
                "enterkeyhint": "search",
                "placeholder": _("Phone, last 4 digits, member number, card QR or coupon code"),
            }
        ),
    )


class PurchaseForm(forms.Form):
    """Amount, category, coupon and points of a counter purchase (the preview and its
    confirmation post the same fields; the confirmation adds the token)."""

    amount = forms.DecimalField(
        label=_("Amount (yuan)"),
        min_value=Decimal("0.01"),
        max_value=MAX_AMOUNT,
        decimal_places=2,
        max_digits=12,
        widget=forms.NumberInput(
            attrs={"step": "0.01", "inputmode": "decimal", "autofocus": True, "min": "0.01"}
        ),
    )
    category = forms.CharField(
        label=_("Category"),
        max_length=40,
        required=False,
        widget=forms.TextInput(
            attrs={"list": "categories", "autocomplete": "off", "class": "form-control"}
        ),
    )
    coupon = forms.ChoiceField(label=_("Coupon"), required=False)
    points = forms.IntegerField(
        label=_("Points to use"),
        min_value=0,
        max_value=100_000_000,
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "0"}),
    )
    stored_value = forms.DecimalField(
        label=_("Stored value to use (yuan)"),
        min_value=Decimal("0.00"),
        max_value=MAX_AMOUNT,
        decimal_places=2,
        max_digits=12,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "0"}),
    )
    confirmation_code = forms.CharField(
        label=_("Member's SMS code"),
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    token = TokenField(required=False)
    # The member centre's dynamic code that found the member (access.dynamic_code_of):
    # the purchase uses it up, and its spend needs no other confirmation.
    member_code = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)

    def __init__(self, *args, coupons=(), **kwargs):
        super().__init__(*args, **kwargs)
        elsewhere = {c.code: c.where for c in coupons if not getattr(c, "here", True)}
        self.fields["coupon"].choices = [("", _("No coupon"))] + [
            (
                c.code,
                f"{c.template.name} · {c.display_code}"
                + (" · " + _("Only at: %(stores)s") % {"stores": elsewhere[c.code]}
                   if c.code in elsewhere else ""),
            )
            for c in coupons
        ]  # fmt: skip
        # Listed, not choosable (the template disables them): one sent anyway is refused
        # by the purchase service, which says where it is valid.
        self.unusable_coupons = set(elsewhere)

    def clean_points(self):
        return self.cleaned_data.get("points") or 0

    def clean_stored_value(self):
        return self.cleaned_data.get("stored_value") or Decimal("0.00")


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount to refund (yuan)"),
        min_value=Decimal("0.00"),
        max_value=MAX_AMOUNT,
        decimal_places=2,
        max_digits=12,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "autofocus": True}),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)
    token = TokenField()


class CodeForm(forms.Form):
    """A coupon code or a reward's pickup code to verify (核销) without a purchase."""

    code = forms.CharField(label=_("Code"), max_length=32)
    member_no = forms.CharField(required=False, max_length=12, widget=forms.HiddenInput)
    # A coupon redeemed with no purchase: set only by the confirmation page's button.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class RegisterForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel"}),
    )
    name = forms.CharField(label=pgettext_lazy("member", "Name"), max_length=50, required=False)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none())
    consent = forms.BooleanField(
        label=_("The customer has read and agrees to the privacy notice"), required=True
    )

    def __init__(self, *args, store_choice: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if store_choice:  # owners belong to no store: they say where the member registers
            self.fields["store"].queryset = Store.objects.filter(active=True)
        else:
            del self.fields["store"]

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])


class ProfileForm(forms.ModelForm):
    """The fields staff edit on the 360 page; member_update records old -> new."""

    phone = forms.CharField(label=_("Mobile number"), max_length=32)
    email = forms.EmailField(label=_("E-mail"), required=False)

    class Meta:
        model = Member
        fields = ["name", "phone", "gender", "birthday", "email", "note"]
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "note": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])


class TagForm(forms.Form):
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.filter(kind=Tag.Kind.MANUAL), empty_label=None
    )


class GuideForm(forms.Form):
    guide = forms.ModelChoiceField(label=_("Guide"), queryset=None, required=False)

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["guide"].queryset = choices
        self.fields["guide"].label_from_instance = lambda user: str(
            getattr(user, "staff_profile", None) or user.get_username()
        )


class PointsAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Points (+ to add, − to take away)"),
        min_value=-1_000_000,
        max_value=1_000_000,
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)
    token = TokenField()

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise ValidationError(_("The adjustment cannot be zero."))
        return delta


class CouponIssueForm(forms.Form):
    template = forms.ModelChoiceField(
        label=_("Coupon"), queryset=CouponTemplate.objects.filter(active=True), empty_label=None
    )


class TopUpForm(forms.Form):
    """A stored-value top-up at the counter: what the customer pays, how, and the offer."""

    amount = forms.DecimalField(
        label=_("Top-up (yuan)"),
        min_value=Decimal("0.01"),
        max_value=MAX_AMOUNT,
        decimal_places=2,
        max_digits=12,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "0.01"}),
    )
    offer = forms.ChoiceField(label=_("Top-up offer"), required=False)
    tender = forms.ChoiceField(label=_("Paid by"), choices=Tender.choices, initial=Tender.CASH)
    token = TokenField()

    def __init__(self, *args, offers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].choices = [("", _("No offer"))] + [(o.code, o.name) for o in offers]


class CashOutForm(forms.Form):
    """退卡: the principal paid back, the bonus forfeited; the reason is kept."""

    reason = forms.CharField(label=_("Reason"), max_length=200)
    paid_back = forms.BooleanField(
        label=_("I have paid the principal back to the customer"), required=True
    )


class CountCardSellForm(forms.Form):
    """A count card (次卡) sold at the counter: which, and how it is paid."""

    template = forms.ChoiceField(label=_("Count card"))
    tender = forms.ChoiceField(label=_("Paid by"), choices=COUNT_CARD_TENDERS, initial="cash")
    confirmation_code = forms.CharField(
        label=_("Member's SMS code"),
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    token = TokenField()

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        label = _("%(name)s · ¥%(price)s · %(uses)d uses")
        self.fields["template"].choices = [
            (t.code, label % {"name": t.name, "price": t.price, "uses": t.uses}) for t in templates
        ]


class CountCardUseForm(forms.Form):
    service = forms.CharField(label=_("Service"), max_length=60, required=False)
    # The member's pay code, when found by the static number (loyalty.spending).
    confirmation_code = forms.CharField(max_length=8, required=False)
    token = TokenField()


class CountCardRefundForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
    token = TokenField()
