"""Forms of the member centre's loyalty pages: clean and convert only."""

from django import forms

from loyalty.models import Reward


class RedeemForm(forms.Form):
    reward = forms.ModelChoiceField(queryset=Reward.objects.filter(active=True))
    # Made fresh for each rendering of the catalog: a double tap or a resubmitted
    # form redeems once (the redemption's idempotency key).
    token = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$")
