"""QR posters for the counter: a store's join link, or a staff member's (their sign-ups
are credited to them as guide). Made in the admin, printed in the store."""

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from .barcodes import qr_png
from .models import Store, User


def guide_of(store: Store, staff_param: str) -> User | None:
    """The staff member named by ?staff=ID, if they work at this store (or are an owner)."""
    if not staff_param.isdigit() or len(staff_param) > 11:
        return None
    user = (
        User.objects.filter(pk=int(staff_param), is_active=True, staff_profile__isnull=False)
        .select_related("staff_profile")
        .first()
    )
    if user is None or user.staff_profile.store_id not in (None, store.pk):
        return None
    return user


def store_staff(store: Store) -> list[User]:
    return list(
        User.objects.filter(is_active=True, staff_profile__store=store)
        .select_related("staff_profile")
        .order_by("username")
    )


def join_link(request, store: Store, guide: User | None = None) -> str:
    """The absolute /join/ link a poster's QR code holds (PUBLIC_URL when the admin runs
    on another host name than the customers' site)."""
    params = {"store": store.code}
    if guide is not None:
        params["staff"] = guide.pk
    path = f"{reverse('me:join')}?{urlencode(params)}"
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path)


def qr_png_for(link: str) -> bytes:
    return qr_png(link)
