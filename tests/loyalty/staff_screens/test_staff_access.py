"""Who may open and use each staff screen: a test per view and role, a wrong-method
test per view, and a clerk never reaches a franchise store's member by guessing a URL (the
chain's members are served everywhere: tests/loyalty/test_chain_counter.py)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from loyalty.models import Purchase
from loyalty.purchases import purchase_record
from members.models import Tag, User
from tests.loyalty.staff_screens.helpers import english, template

pytestmark = pytest.mark.django_db

TOKEN = "tok-0123456789abcdef"


@pytest.fixture
def world(member, theirs, manager):
    """One purchase and one tag for each member, a coupon template to issue."""
    mine, _ = purchase_record(member=member, amount=Decimal("50"), external_ref="p-mine")
    other, _ = purchase_record(member=theirs, amount=Decimal("50"), external_ref="p-theirs")
    tag = Tag.objects.create(name="爱喝拿铁")
    member.tags.add(tag)
    theirs.tags.add(tag)
    return {"purchase": mine, "their_purchase": other, "tag": tag, "tpl": template()}


def views(world, m):
    """(name, method, url, data) of every staff view, for member `m`."""
    p = (
        world["purchase"]
        if m.store_id == world["purchase"].member.store_id
        else world["their_purchase"]
    )
    no = m.member_no
    return [
        ("counter", "get", reverse("staff:home"), {"q": no}),
        ("card", "get", reverse("staff:card", args=[no]), {}),
        ("purchase", "get", reverse("staff:purchase", args=[no]), {"amount": "10"}),
        ("purchase-confirm", "post", reverse("staff:purchase", args=[no]),
         {"amount": "10", "token": TOKEN}),
        ("receipt", "get", reverse("staff:receipt", args=[p.pk]), {}),
        ("refund", "get", reverse("staff:refund", args=[p.pk]), {}),
        ("refund-confirm", "post", reverse("staff:refund", args=[p.pk]),
         {"amount": "1", "reason": "退一杯", "token": TOKEN}),
        ("member", "get", reverse("staff:member", args=[no]), {}),
        ("member-edit", "get", reverse("staff:member_edit", args=[no]), {}),
        ("member-save", "post", reverse("staff:member_edit", args=[no]),
         {"name": "新名字", "phone": m.phone, "gender": "", "birthday": "", "email": "",
          "note": ""}),
        ("tag-add", "post", reverse("staff:tag_add", args=[no]), {"tag": world["tag"].pk}),
        ("tag-remove", "post", reverse("staff:tag_remove", args=[no, world["tag"].pk]), {}),
        ("guide", "post", reverse("staff:guide", args=[no]), {"guide": ""}),
        ("points", "post", reverse("staff:points_adjust", args=[no]),
         {"delta": "10", "reason": "补录", "token": TOKEN}),
        ("coupon-issue", "post", reverse("staff:coupon_issue", args=[no]),
         {"template": world["tpl"].pk}),
    ]  # fmt: skip


# Who may do what with their own store's member (owners: every store).
ALLOWED = {
    "counter": {"owner", "manager", "clerk"},
    "card": {"owner", "manager", "clerk"},
    "purchase": {"owner", "manager", "clerk"},
    "purchase-confirm": {"owner", "manager", "clerk"},
    "receipt": {"owner", "manager", "clerk"},
    "refund": {"owner", "manager", "clerk"},
    "refund-confirm": {"owner", "manager", "clerk"},
    "member": {"owner", "manager", "clerk"},
    "member-edit": {"owner", "manager"},
    "member-save": {"owner", "manager"},
    "tag-add": {"owner", "manager"},
    "tag-remove": {"owner", "manager"},
    "guide": {"owner", "manager"},
    "points": {"owner", "manager"},
    "coupon-issue": {"owner", "manager"},
}
NAMES = list(ALLOWED)


def call(client, method, url, data):
    return getattr(client, method)(url, data)


@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
@pytest.mark.parametrize("name", NAMES)
def test_each_view_per_role(name, role, world, member, as_role):
    method, url, data = next((m, u, d) for n, m, u, d in views(world, member) if n == name)
    response = call(as_role(role), method, url, data)
    if role in ALLOWED[name]:
        assert response.status_code in (200, 302), (name, role, response.status_code)
        if response.status_code == 302:
            assert "/accounts/login/" not in response["Location"]
    else:
        assert response.status_code == 403, (name, role, response.status_code)


@pytest.mark.parametrize("name", NAMES)
def test_a_clerk_never_reaches_a_franchise_stores_member(name, world, theirs, franchise, clerk):
    method, url, data = next((m, u, d) for n, m, u, d in views(world, theirs) if n == name)
    response = call(english(clerk), method, url, data)
    if name == "counter":  # the search answers, but finds nobody
        assert response.status_code == 200 and not response.context["results"]
        assert theirs.name not in response.content.decode()
    else:
        assert response.status_code in (403, 404), (name, response.status_code)
    assert not Purchase.objects.filter(member=theirs, external_ref__startswith="counter:").exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_manager_never_reaches_a_franchise_stores_member(name, world, theirs, franchise, manager):
    method, url, data = next((m, u, d) for n, m, u, d in views(world, theirs) if n == name)
    response = call(english(manager), method, url, data)
    assert response.status_code in (200, 403, 404)
    assert theirs.phone not in response.content.decode()
    if name != "counter":
        assert response.status_code in (403, 404), name


@pytest.mark.parametrize("name", NAMES)
def test_the_owner_reaches_every_store(name, world, theirs, owner):
    method, url, data = next((m, u, d) for n, m, u, d in views(world, theirs) if n == name)
    assert call(english(owner), method, url, data).status_code in (200, 302)


@pytest.mark.parametrize("name", NAMES)
def test_it_requires_login(name, world, member):
    method, url, data = next((m, u, d) for n, m, u, d in views(world, member) if n == name)
    response = call(Client(), method, url, data)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_accounts_without_a_staff_profile_are_refused(world, member):
    user = User.objects.create_user("visitor", password="x-long-password-1")
    client = english(user)
    for _name, method, url, data in views(world, member):
        assert call(client, method, url, data).status_code == 403, url


WRONG = {"get": "post", "post": "get"}


@pytest.mark.parametrize("name", NAMES)
def test_wrong_method(name, world, member, owner):
    method, url, _data = next((m, u, d) for n, m, u, d in views(world, member) if n == name)
    client = english(owner)
    if name in ("purchase", "refund", "member-edit", "purchase-confirm", "refund-confirm",
                "member-save"):  # fmt: skip
        assert client.put(url).status_code == 405  # GET shows, POST changes, nothing else
        assert client.delete(url).status_code == 405
    else:
        assert getattr(client, WRONG[method])(url).status_code == 405


def test_verify_and_register_refuse_wrong_methods(owner):
    client = english(owner)
    assert client.get(reverse("staff:verify")).status_code == 405
    assert client.put(reverse("staff:register")).status_code == 405
