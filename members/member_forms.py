"""Forms of the public pages (/join/) and the member centre (/me/): clean and convert only."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.platform.fixed_sql import FixedRead

from .models import Member, Store, User
from .phones import normalize_phone
from .services import member_by_referral_code

PHONE_ATTRS = {
    "inputmode": "tel",
    "autocomplete": "tel",
    "class": "form-control form-control-lg",
    "placeholder": _("11-digit mobile number"),
}
CODE_ATTRS = {
    "inputmode": "numeric",
    "autocomplete": "one-time-code",
    "pattern": "[0-9０-９ ]*",
    "class": "form-control form-control-lg",
    "placeholder": _("6 digits"),
}


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("mobile number"), max_length=32, widget=forms.TextInput(attrs=PHONE_ATTRS)
    )

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"), max_length=12, widget=forms.TextInput(attrs=CODE_ATTRS)
    )


class JoinForm(CodeForm):
    name = forms.CharField(
        label=_("full name"),
        max_length=50,
        required=False,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "name",
                "class": "form-control form-control-lg",
                "placeholder": _("Optional"),
            }
        ),
    )
    consent = forms.BooleanField(
        label=_("I have read and agree to the privacy notice."),
        error_messages={"required": _("Please agree to the privacy notice to join.")},
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    marketing_consent = forms.BooleanField(
        label=_("Send me member offers and news (you can unsubscribe at any time)."),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    # The version of the notice the page showed: the one the person agrees to.
    notice_version = forms.CharField(max_length=32, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, verified: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if verified:  # the phone was proven on the login page a moment ago
            del self.fields["code"]


_active_store = FixedRead(Store, "t0.code = %s AND t0.active = %s")  # the code is unique


class JoinContextForm(forms.Form):
    """The QR code's query string: ?store=CODE&staff=ID&ref=REFERRAL_CODE, all optional.

    Anything unknown or malformed is ignored: a torn poster still lets people join.
    """

    store = forms.CharField(max_length=32, required=False)
    staff = forms.CharField(max_length=12, required=False)
    ref = forms.CharField(max_length=16, required=False)

    def context(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        store = guide = referrer = None
        if data.get("store"):
            store = _active_store.first(data["store"], True)
        staff = data.get("staff", "")
        # isdecimal, what int() reads: str.isdigit() also takes "²", which int() refuses.
        if staff.isdecimal() and len(staff) < 12:
            guide = (
                User.objects.filter(
                    pk=int(data["staff"]), is_active=True, staff_profile__isnull=False
                )
                .select_related("staff_profile")
                .first()
            )
            # A guide of another store is not this store's guide.
            if guide and store and guide.staff_profile.store_id not in (None, store.pk):
                guide = None
            if guide and store is None:
                store = guide.staff_profile.store
        if data.get("ref"):
            referrer = member_by_referral_code(data["ref"])
        return {"store": store, "guide": guide, "referred_by": referrer}


class ProfileForm(forms.Form):
    name = forms.CharField(
        label=_("full name"),
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name", "class": "form-control"}),
    )
    gender = forms.ChoiceField(
        label=_("gender"),
        choices=Member.Gender.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    birthday = forms.DateField(
        label=_("birthday"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
    )
    email = forms.EmailField(
        label=_("e-mail"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "class": "form-control"}),
    )

    def clean_birthday(self):
        day = self.cleaned_data["birthday"]
        if day and day > timezone.localdate():
            raise forms.ValidationError(_("A birthday cannot be in the future."))
        if day and day < dt.date(1900, 1, 1):
            raise forms.ValidationError(_("Please check the year."))
        return day


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I understand that my profile is erased for good, and my points, coupons "
            "and membership are lost."
        ),
        error_messages={"required": _("Please tick the box to confirm.")},
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
