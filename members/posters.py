"""QR posters for the counter: a store's join link, or a staff member's (their sign-ups
are credited to them as guide). Made in the admin, printed in the store."""

import io
import logging
from functools import cache
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from .barcodes import qr_png
from .models import Store, User

log = logging.getLogger(__name__)

# The PNG poster's lettering: the Simplified Chinese face of Debian's fonts-noto-cjk
# (`make system-deps` installs it; docs/operations.md), else WenQuanYi.
FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", ""),
]
BRAND = (140, 29, 47)  # the HTML poster's #8c1d2f
WIDTH, HEIGHT = 1200, 1700  # A5 portrait at ~200 dpi
MIN_TEXT = 20  # pixels: the smallest text a line shrinks to (about 2.5 mm printed)
WRAP_TEXT = 56  # a store name that needs smaller than this on one line takes two
ROOM = WIDTH - 120  # pixels a line of text may take: 60 of margin either side


# Other QR codes a store's poster may carry below the join code (wechat adds its member
# card's claim code): callables (store) -> (caption, link) or None, added by the apps
# above from their ready().
POSTER_EXTRAS: list = []


def poster_extras(store: Store, guide: User | None = None) -> list[tuple[str, str]]:
    """The (caption, link) of each extra QR code on the store's poster (a staff member's
    poster: their sign-ups through it are credited to them as guide too)."""
    return [extra for hook in POSTER_EXTRAS if (extra := hook(store, guide))]


def guide_of(store: Store, staff_param: str) -> User | None:
    """The staff member named by ?staff=ID, if they work at this store (or are an owner)."""
    if not staff_param.isdecimal() or len(staff_param) > 11:  # what int() reads
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


@cache
def _font_face() -> tuple[str, int] | None:
    """(font file, face index) of the first usable font in FONTS, or None."""
    from PIL import ImageFont

    for path, family in FONTS:
        for index in range(10):  # the faces of a collection (.ttc)
            try:
                font = ImageFont.truetype(path, 20, index=index)
            except OSError:
                break
            if not family or font.getname()[0] == family:
                return path, index
    log.warning("No CJK font for the PNG posters (install fonts-noto-cjk): QR code only")
    return None


def two_lines(text: str, width, room: int = ROOM) -> tuple[int, tuple[str, str]]:
    """(size, (first, second)): `text` in two lines, split where the longer one is
    narrowest (between words when it has spaces), at the largest size from WRAP_TEXT down
    to MIN_TEXT at which both fit in `room`; `width(text, size)` measures. Past MIN_TEXT
    (200 Chinese characters or so, twice the longest store name) `line` cuts them."""
    cuts = [i for i, ch in enumerate(text) if ch == " "] or range(1, len(text))
    if not cuts:  # one character: nothing to split
        return WRAP_TEXT, (text, "")
    halves = min(
        ((text[:i].strip(), text[i:].strip()) for i in cuts),
        key=lambda pair: max(width(pair[0], MIN_TEXT), width(pair[1], MIN_TEXT)),
    )
    size = WRAP_TEXT
    while size > MIN_TEXT and max(width(half, size) for half in halves) > room:
        size -= 2
    return size, halves


def poster_png(
    link: str, *, store: Store, guide: User | None = None, extras: list[tuple[str, str]] = ()
) -> bytes:
    """The poster as a PNG, as the print-ready page lays it out: the store's name, "scan
    to join", the QR code of the join link, what members get, the guide, and the first
    extra QR code with its caption (poster_extras: the member card's claim code). Without
    a CJK font on the server it is the QR code alone (a warning in the log)."""
    face = _font_face()
    if face is None:
        return qr_png(link)
    from PIL import Image, ImageDraw, ImageFont

    @cache
    def font(size):  # loaded once per size: the long name's fitting measures it often
        return ImageFont.truetype(face[0], size, index=face[1])

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 70), fill=BRAND)

    def line(text, y, size, fill=(34, 34, 34), smallest=MIN_TEXT, cut=True):
        text = " ".join(text.split())  # one line: a line break in a name cannot be drawn
        while size > smallest and draw.textlength(text, font=font(size)) > ROOM:
            size = max(size - 4, smallest)  # a long store name: smaller
        if cut and draw.textlength(text, font=font(size)) > ROOM:
            # Still wider than the page at the smallest print size (about 55 Chinese
            # characters): cut, rather than run off the edge.
            while len(text) > 1 and draw.textlength(text + "…", font=font(size)) > ROOM:
                text = text[:-1]
            text += "…"
        draw.text((WIDTH // 2, y), text, font=font(size), fill=fill, anchor="mt")

    name = " ".join(store.name.split())
    if draw.textlength(name, font=font(WRAP_TEXT)) <= ROOM:
        line(name, 140, 88)
    else:  # a long name: two lines in the same band, as large as both fit
        size, halves = two_lines(name, lambda text, size: draw.textlength(text, font=font(size)))
        top = 120 + (135 - int(size * 2.3)) // 2
        line(halves[0], top, size, smallest=size)
        line(halves[1], top + int(size * 1.3), size, smallest=size)
    line(_("Scan to join as a member"), 270, 52, BRAND)

    def qr(data, top, room):  # whole pixels per module: sharp edges
        out = io.BytesIO()
        segno.make_qr(data, error="q").save(out, kind="png", scale=1, border=4)
        code = Image.open(out)
        side = room // code.width * code.width
        image.paste(
            code.convert("RGB").resize((side, side), Image.NEAREST), ((WIDTH - side) // 2, top)
        )
        return top + side

    below = qr(link, 370, 640 if extras else 820) + 50
    line(_("Points on every purchase · member prices · birthday gift"), below, 38)
    if guide is not None:
        name = guide.staff_profile.display_name or guide.username
        line(_("Your guide: %(name)s") % {"name": name}, below + 70, 38)
    if extras:  # under a rule, as the print-ready page shows it
        caption, extra_link = extras[0]
        top = below + (150 if guide is not None else 90)
        draw.line((200, top - 20, WIDTH - 200, top - 20), fill=(201, 178, 183), width=2)
        line(caption, top, 36, BRAND)
        qr(extra_link, top + 60, min(320, HEIGHT - 110 - (top + 60)))
    # The link is never cut (a cut link is a wrong one): smaller still, if it must be.
    line(link, HEIGHT - 70, 22, (119, 119, 119), smallest=10, cut=False)
    result = io.BytesIO()
    image.save(result, format="PNG", optimize=True)
    return result.getvalue()
