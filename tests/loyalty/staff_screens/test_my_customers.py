"""A guide's (导购) "my customers" at the counter (/staff/my-customers/): their own recruits
in their store, masked phones, sorted by last purchase (newest first) or otherwise,
filtered to birthdays this month (a Shanghai month) or points expiring within N days;
managers open their store's guides' lists; paginated; each row opens the counter card."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from loyalty.counter.my_customers import PER_PAGE
from loyalty.ledger import points_award
from loyalty.purchases import purchase_record
from members.models import User
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import at, english

pytestmark = pytest.mark.django_db
URL = reverse("staff:my_customers")
NOW = at(2026, 3, 15, 12)


@pytest.fixture(autouse=True)
def _mid_march():
    with time_machine.travel(NOW, tick=False):
        yield


def buy(member, when, ref):
    purchase_record(member=member, amount=Decimal("50"), external_ref=ref, occurred_at=when,
                    now=when)  # fmt: skip


def rows(response) -> list[str]:
    return [m.name for m in response.context["page"].object_list]


@pytest.fixture
def book(store, other_store, clerk, manager, other_clerk):
    """The clerk's four customers, the manager's one, another store's clerk's one."""
    old = MemberFactory(name="老顾客", phone="13800000001", store=store, guide=clerk,
                        birthday=dt.date(1990, 3, 20))  # fmt: skip
    new = MemberFactory(name="新顾客", phone="13800000002", store=store, guide=clerk,
                        birthday=dt.date(1985, 4, 2))  # fmt: skip
    lapsed = MemberFactory(name="沉睡顾客", phone="13800000003", store=store, guide=clerk,
                           birthday=dt.date(1992, 3, 1))  # fmt: skip
    never = MemberFactory(name="未消费", phone="13800000004", store=store, guide=clerk)
    MemberFactory(name="店长的", store=store, guide=manager)
    MemberFactory(name="别店的", store=other_store, guide=other_clerk)
    MemberFactory(name="无导购", store=store)
    buy(old, at(2026, 3, 1, 10), "p-old")
    buy(new, at(2026, 3, 14, 10), "p-new")
    buy(lapsed, at(2025, 6, 1, 10), "p-lapsed")
    # Points: 80 expire within 30 days (on 4 April), 40 within 60 days only.
    points_award(member=never, points=80, key="k1", reason="期初", expires_at=at(2026, 4, 5))
    points_award(member=lapsed, points=40, key="k2", reason="期初", expires_at=at(2026, 5, 1))
    return {"old": old, "new": new, "lapsed": lapsed, "never": never}


def test_it_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_refuses_accounts_without_a_staff_profile(client):
    client.force_login(User.objects.create_user("visitor", password="x-long-password-1"))
    assert client.get(URL).status_code == 403


def test_it_refuses_post(clerk):
    assert english(clerk).post(URL).status_code == 405


def test_a_clerk_sees_their_own_recruits_newest_buyers_first(book, clerk):
    response = english(clerk).get(URL)
    assert response.status_code == 200
    assert rows(response) == ["新顾客", "老顾客", "沉睡顾客", "未消费"]  # never bought: last
    page = response.content.decode()
    assert "138 **** 0002" in page and "13800000002" not in page
    assert reverse("staff:card", args=[book["new"].member_no]) in page
    assert "My customers" in page and "1 days ago" in page and "never bought" in page
    assert response.context["counts"] == {"total": 4, "birthdays": 2, "expiring": 1}


def test_the_other_sorts(book, clerk):
    client = english(clerk)
    assert rows(client.get(URL, {"sort": "lapsed"})) == ["沉睡顾客", "老顾客", "新顾客", "未消费"]
    # The next birthday from 15 March: 20 March, then 2 April, then 1 March next year.
    assert rows(client.get(URL, {"sort": "birthday"}))[:3] == ["老顾客", "新顾客", "沉睡顾客"]
    assert rows(client.get(URL, {"sort": "expiring", "days": "60"}))[:2] == ["未消费", "沉睡顾客"]
    assert rows(client.get(URL, {"sort": "points"}))[:2] == ["沉睡顾客", "未消费"]  # 90, 80
    assert rows(client.get(URL, {"sort": "nonsense"}))[0] == "新顾客"  # the default


def test_birthdays_this_month(book, clerk):
    response = english(clerk).get(URL, {"birthday": "1", "sort": "birthday"})
    assert rows(response) == ["老顾客", "沉睡顾客"]
    assert "this month" in response.content.decode()


def test_birthdays_this_month_is_the_shanghai_month(book, clerk):
    # 1 April 00:30 in Shanghai is still 31 March in UTC: April's birthdays.
    with time_machine.travel(at(2026, 4, 1, 0, 30), tick=False):
        assert rows(english(clerk).get(URL, {"birthday": "1"})) == ["新顾客"]


def test_points_expiring_within_n_days(book, clerk):
    client = english(clerk)
    response = client.get(URL, {"expiring": "1"})
    assert rows(response) == ["未消费"]
    member = response.context["page"].object_list[0]
    assert member.expiring_points == 80 and member.expiry_day == dt.date(2026, 4, 4)
    assert "expire after 2026-04-04" in response.content.decode()
    within_60 = client.get(URL, {"expiring": "1", "days": "60", "sort": "expiring"})
    assert rows(within_60) == ["未消费", "沉睡顾客"]
    assert rows(client.get(URL, {"expiring": "1", "days": "0"})) == ["未消费"]  # 30, the default


def test_a_manager_opens_a_guides_list_of_their_store(book, manager, clerk, other_clerk):
    client = english(manager)
    mine = client.get(URL)
    assert rows(mine) == ["店长的"]
    assert [pk for pk, _name in mine.context["guides"]] == [manager.pk, clerk.pk]
    response = client.get(URL, {"guide": clerk.pk})
    assert len(rows(response)) == 4 and "Customers of clerk" in response.content.decode()
    # Another store's clerk is no choice: the manager's own list.
    assert rows(client.get(URL, {"guide": other_clerk.pk})) == ["店长的"]


def test_a_clerk_cannot_open_another_guides_list(book, clerk, manager):
    response = english(clerk).get(URL, {"guide": manager.pk})
    assert len(rows(response)) == 4
    assert response.context["guides"] == [(clerk.pk, "clerk")]
    assert 'name="guide"' not in response.content.decode()


def test_an_owner_sees_a_guides_customers_in_every_store(book, owner, other_clerk):
    assert rows(english(owner).get(URL, {"guide": other_clerk.pk})) == ["别店的"]


def test_pages_keep_the_choices(store, clerk):
    for n in range(PER_PAGE + 3):
        MemberFactory(name=f"顾客{n:02d}", store=store, guide=clerk)
    client = english(clerk)
    first = client.get(URL, {"sort": "points"})
    assert len(rows(first)) == PER_PAGE
    page = first.content.decode()
    assert "?sort=points&amp;page=2" in page and "Page 1 of 2" in page
    assert len(rows(client.get(URL, {"sort": "points", "page": "2"}))) == 3
    assert len(rows(client.get(URL, {"page": "99"}))) == 3  # past the end: the last page


def test_a_page_is_a_fixed_number_of_queries(book, clerk, django_assert_num_queries):
    client = english(clerk)
    client.get(URL)  # the session, warmed
    # session, user with staff profile, permissions (2: may they pick a guide), the page's
    # count, its rows, the counts of the choices
    with django_assert_num_queries(7):
        client.get(URL, {"expiring": "1", "sort": "expiring"})


def test_the_counter_links_to_it(clerk):
    assert URL in english(clerk).get(reverse("staff:home")).content.decode()
