"""wechat's field for segment rules: the member follows the official account now."""

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from campaigns.segments.fields import BOOL, BOOL_OPS, Field, always, boolean

from .models import Follower


def subscribed(ctx) -> Q:
    return Q(Exists(Follower.objects.filter(openid=OuterRef("wechat_openid"), subscribed=True)))


WECHAT_SUBSCRIBED = Field(
    "wechat_subscribed",
    _("Follows the official account"),
    BOOL,
    boolean(subscribed),
    always,
    BOOL_OPS,
)
