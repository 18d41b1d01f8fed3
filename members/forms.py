"""Forms only clean and convert; services do the writing."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from . import crypto
from .models import Member
from .phones import format_phone, normalize_phone
from .services import DuplicatePhone


class StaffLoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Username"),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class MemberAdminForm(forms.ModelForm):
    """Member edit form for the admin: the phone in any written form, checked for duplicates."""

    phone = forms.CharField(
        label=_("mobile number"),
        max_length=32,
        help_text=_("Any format: 13800138000, +86 138-0013-8000 …"),
    )
    email = forms.EmailField(label=_("e-mail"), required=False)
    addresses = forms.CharField(
        label=_("addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One address a line."),
    )

    class Meta:
        model = Member
        fields = [
            "phone",
            "name",
            "gender",
            "birthday",
            "email",
            "addresses",
            "store",
            "guide",
            "referred_by",
            "tags",
            "note",
        ]
        widgets = {"birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.phone:  # shown as people write it (138 0013 8000), not E.164
            self.initial["phone"] = format_phone(self.instance.phone)

    def clean_phone(self):
        e164 = normalize_phone(self.cleaned_data["phone"])
        clash = Member.objects.filter(phone_hash=crypto.phone_hash(e164))
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        member_no = clash.values_list("member_no", flat=True).first()
        if member_no:
            raise DuplicatePhone(member_no).error_dict["phone"][0]
        return e164


class MemberSearchForm(forms.Form):
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
                "placeholder": _("Phone, last 4 digits, member number or name"),
            }
        ),
    )


class TagChoiceForm(forms.Form):
    """Intermediate page of the admin's bulk tag action."""

    tag = forms.ModelChoiceField(label=_("tag"), queryset=None)

    def __init__(self, *args, **kwargs):
        from .models import Tag

        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.all()
