"""config/platform/jinja2.url: the Jinja templates' `url()` must give exactly reverse()'s string,
also where it answers from a remembered shape (digit arguments, str and int routes)."""

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix
from django.utils import translation

from config.platform import jinja2 as jinja


@pytest.fixture(autouse=True)
def _fresh_shapes(monkeypatch):
    monkeypatch.setattr(jinja, "_shapes", {})
    yield
    set_script_prefix("/")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("staff:member", ["431621846"]),
        ("staff:member", ["0000000001"]),
        ("staff:purchase", ["431621846"]),
        ("staff:card_extras", ["7"]),
        ("staff:receipt", [12]),
        ("staff:receipt", [0]),
        ("staff:receipt", ["98765"]),
        ("staff:tag_remove", ["431621846", 3]),  # two arguments
        ("staff:verify", []),  # none: reverse() itself
        ("staff:member", ["A123"]),  # not digits: reverse() itself
        ("staff:member", ["１２３"]),  # full-width digits are not ASCII digits
        ("admin:members_member_change", [5]),  # a path converter: never a shape
    ],
)
def test_url_is_reverse(name, args):
    for _ in range(2):  # the first call makes the shape, the second uses it
        assert jinja.url(name, *args) == reverse(name, args=args)


def test_shapes_are_kept_only_for_str_and_int_routes():
    jinja.url("staff:purchase", "431621846")
    jinja.url("admin:members_member_change", 5)
    shapes = {key[0]: shape for key, shape in jinja._shapes.items()}
    assert shapes == {
        "staff:purchase": "/staff/m/{}/purchase/",
        "admin:members_member_change": None,
    }


def test_what_reverse_refuses_is_refused():
    for bad in (True, -1, "12/3"):
        with pytest.raises(NoReverseMatch):
            reverse("staff:receipt", args=[bad])
        with pytest.raises(NoReverseMatch):
            jinja.url("staff:receipt", bad)


def test_the_script_prefix_and_language_are_part_of_the_shape():
    plain = jinja.url("staff:member", "431621846")
    set_script_prefix("/shop/")
    assert (
        jinja.url("staff:member", "431621846")
        == "/shop" + plain
        == reverse("staff:member", args=["431621846"])
    )
    with translation.override("en"):
        assert jinja.url("staff:member", "42") == reverse("staff:member", args=["42"])
    assert len(jinja._shapes) == 3


def test_the_url_a_render_gets_is_reverse_too():
    """per_render binds url() to the render's URL conf, script prefix and language."""
    bound = jinja.per_render(None)["url"]
    assert bound("staff:purchase", "431621846") == reverse("staff:purchase", args=["431621846"])
    assert (
        bound("staff:receipt", 9) == bound("staff:receipt", 9) == reverse("staff:receipt", args=[9])
    )
    set_script_prefix("/shop/")
    assert jinja.per_render(None)["url"]("staff:receipt", 9) == "/shop/staff/purchases/9/"
