"""Admin: QR posters per store and staff member; privacy notice versions edited by the owner."""

import pytest
from django.conf import settings
from django.utils import timezone

from members.models import PrivacyNotice, Role
from members.services import staff_create
from tests.centre import join, text_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_web(web, owner):
    web.force_login(owner)
    return web


def test_the_store_poster_is_print_ready_with_the_store_name_and_join_qr(owner_web, store):
    response = owner_web.get(f"/admin/members/store/{store.pk}/poster/")

    assert response.status_code == 200
    page = text_of(response)
    assert "静安店" in page and "<svg" in page
    # Print-ready: its stylesheet (static, as the Content-Security-Policy wants) sets the page.
    assert "css/poster.css" in page
    assert "@page { size: A5" in (settings.BASE_DIR / "static/css/poster.css").read_text()
    assert "http://testserver/join/?store=SH01" in page


def test_a_staff_poster_credits_the_guide(owner_web, store, clerk):
    page = text_of(owner_web.get(f"/admin/members/store/{store.pk}/poster/?staff={clerk.pk}"))

    assert f"/join/?store=SH01&amp;staff={clerk.pk}" in page
    assert f"?staff={clerk.pk}" in page  # the list of staff posters


def test_a_guide_of_another_store_is_left_off_the_poster(owner_web, store, other_store):
    elsewhere = staff_create(username="c2", password=PASSWORD, role=Role.CLERK, store=other_store)

    page = text_of(owner_web.get(f"/admin/members/store/{store.pk}/poster/?staff={elsewhere.pk}"))

    assert f"staff={elsewhere.pk}" not in page.split("<main", 1)[1]


def test_the_poster_png_is_a_png_download(owner_web, store, settings):
    settings.PUBLIC_URL = "https://vip.example.com"

    response = owner_web.get(f"/admin/members/store/{store.pk}/poster.png")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert 'filename="join-SH01.png"' in response["Content-Disposition"]


def test_the_poster_png_decodes_to_the_join_link(owner_web, store, settings):
    zxingcpp = pytest.importorskip("zxingcpp")
    from io import BytesIO

    from PIL import Image

    settings.PUBLIC_URL = "https://vip.example.com/"
    png = owner_web.get(f"/admin/members/store/{store.pk}/poster.png").content

    found = zxingcpp.read_barcodes(Image.open(BytesIO(png)).convert("L"))
    assert [r.text for r in found] == ["https://vip.example.com/join/?store=SH01"]


def _png(owner_web, store, query=""):
    from io import BytesIO

    from PIL import Image

    response = owner_web.get(f"/admin/members/store/{store.pk}/poster.png{query}")
    assert response.status_code == 200
    return Image.open(BytesIO(response.content)).convert("L")


def _inked(image, box) -> bool:
    return image.crop(box).getextrema()[0] < 128  # something dark drawn there


def test_the_poster_png_is_the_poster_with_the_store_name_when_a_cjk_font_is_there(
    owner_web, store, clerk
):
    from members import posters

    if posters._font_face() is None:
        pytest.skip("no CJK font on this machine (make system-deps installs fonts-noto-cjk)")
    plain = _png(owner_web, store)
    assert plain.size == (posters.WIDTH, posters.HEIGHT)  # A5 portrait, not the bare code
    name_band, guide_band = (0, 120, posters.WIDTH, 250), (0, 1330, posters.WIDTH, 1420)
    assert _inked(plain, name_band) and not _inked(plain, guide_band)
    store.name = "另一家店的名字"
    store.save()
    renamed = _png(owner_web, store)
    assert renamed.crop(name_band).tobytes() != plain.crop(name_band).tobytes()
    assert _inked(_png(owner_web, store, f"?staff={clerk.pk}"), guide_band)  # the guide line


def test_a_store_name_with_a_line_break_still_makes_a_poster(owner_web, store):
    store.name = "静安\r\n旗舰店"
    store.save()
    response = owner_web.get(f"/admin/members/store/{store.pk}/poster.png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_a_very_long_store_name_stays_on_the_page(owner_web, store):
    from members import posters

    if posters._font_face() is None:
        pytest.skip("no CJK font on this machine (make system-deps installs fonts-noto-cjk)")
    store.name = "上海市静安区南京西路一千号恒隆广场购物中心地下一层美食广场东区" * 3
    store.save()
    image = _png(owner_web, store)
    top, bottom = 120, 250  # the name's band
    assert _inked(image, (0, top, posters.WIDTH, bottom))  # the name is there
    # ... and keeps the margins clear: nothing drawn in the outer 40 pixels either side.
    assert not _inked(image, (0, top, 40, bottom))
    assert not _inked(image, (posters.WIDTH - 40, top, posters.WIDTH, bottom))


def test_without_a_cjk_font_the_png_is_the_qr_code_alone(owner_web, store, monkeypatch, settings):
    zxingcpp = pytest.importorskip("zxingcpp")
    from members import posters

    monkeypatch.setattr(posters, "FONTS", [("/nonexistent/font.ttc", "")])
    posters._font_face.cache_clear()
    try:
        image = _png(owner_web, store)
    finally:
        posters._font_face.cache_clear()
    assert image.size[0] == image.size[1]  # the square code
    assert [r.text for r in zxingcpp.read_barcodes(image)] == ["http://testserver/join/?store=SH01"]


def test_clerks_get_no_posters_and_unknown_stores_404(web, clerk, owner, store):
    web.force_login(clerk)
    assert web.get(f"/admin/members/store/{store.pk}/poster/").status_code == 302  # no admin
    web.force_login(owner)
    assert web.get("/admin/members/store/999999/poster/").status_code == 404


def test_the_owner_publishes_a_notice_and_new_members_agree_to_that_version(owner_web, web):
    response = owner_web.post(
        "/admin/members/privacynotice/add/",
        {
            "version": "2026-12",
            "title": "会员隐私政策",
            "body": "第一段。\n\n第二段。",
            "published_at_0": timezone.localdate().isoformat(),
            "published_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    owner_web.logout()

    join(web, "13912345678")

    from members.models import Member

    assert Member.objects.get().consent_version == "2026-12"


def test_a_notice_in_force_is_frozen_and_copied_into_a_new_version(owner_web):
    notice = PrivacyNotice.objects.create(
        version="v1", title="隐私政策", body="原文。", published_at=timezone.now()
    )

    page = text_of(owner_web.get(f"/admin/members/privacynotice/{notice.pk}/change/"))
    assert 'name="body"' not in page and "New version from this one" in page
    add = text_of(owner_web.get(f"/admin/members/privacynotice/add/?from={notice.pk}"))
    assert "原文。" in add
    assert owner_web.post(f"/admin/members/privacynotice/{notice.pk}/delete/", {"post": "yes"})
    assert PrivacyNotice.objects.filter(pk=notice.pk).exists()


def test_managers_cannot_edit_the_notice(web, manager):
    web.force_login(manager)

    assert web.get("/admin/members/privacynotice/add/").status_code == 403


def test_a_long_store_name_takes_two_balanced_lines_between_words_if_it_has_any():
    from members.posters import MIN_TEXT, WRAP_TEXT, two_lines

    def width(text, size):  # every character one em wide
        return len(text) * size

    size, (first, second) = two_lines("上海市静安区南京西路一千号恒隆广场", width, room=9 * 40)
    assert first + second == "上海市静安区南京西路一千号恒隆广场"
    assert abs(len(first) - len(second)) <= 1 and size == 40
    size, halves = two_lines("Jing An Kerry Centre Flagship Store", width, room=400)
    assert halves == ("Jing An Kerry Centre", "Flagship Store") and size == 20
    assert two_lines("短", width)[0] == WRAP_TEXT
    size, _halves = two_lines("字" * 500, width, room=1080)
    assert size == MIN_TEXT  # past the smallest size: `line` cuts what still overflows


def test_a_long_store_name_is_drawn_whole_on_two_lines(owner_web, store):
    from members import posters

    if posters._font_face() is None:
        pytest.skip("no CJK font on this machine (make system-deps installs fonts-noto-cjk)")
    store.name = "上海市静安区南京西路一千号恒隆广场购物中心地下一层美食广场东区旗舰店"
    store.save()
    image = _png(owner_web, store)
    # Two lines in the name's band, the second under the first, and the line below
    # ("scan to join", from y=270) left clear of them.
    assert _inked(image, (0, 120, posters.WIDTH, 185)) and _inked(
        image, (0, 186, posters.WIDTH, 255)
    )
    assert not _inked(image, (0, 256, posters.WIDTH, 268))
