"""The dynamic member code (members/dynamic_code.py, issue 24): 18 digits that change
every minute, signed with the server's key, valid two minutes, one purchase each; and
the member centre's card that shows it (/me/ and its JSON, /me/code/)."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import override_settings

from members import dynamic_code
from members.dynamic_code import (
    DynamicCodeError,
    code_for,
    code_release,
    code_use,
    code_used,
    looks_dynamic,
    member_for_code,
    seconds_left,
)
from members.models import DynamicCodeUse, Member
from members.numbers import is_member_no
from tests.centre import sign_in
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

# A minute's start: 2026-03-01 10:00:00 Shanghai.
T0 = dt.datetime(2026, 3, 1, 2, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def member(store):
    return MemberFactory(store=store)


def test_a_code_is_18_digits_that_no_member_number_phone_or_coupon_code_looks_like(member):
    code = code_for(member, now=T0)
    assert len(code) == 18 and code.isdigit() and code.startswith("88")
    assert looks_dynamic(code)
    assert not is_member_no(code)
    assert str(member.member_no) not in code  # the card's number is not in it
    assert not looks_dynamic(member.member_no)
    assert not looks_dynamic("13800138000") and not looks_dynamic("+8613800138000")
    assert not looks_dynamic("ABCD2345EFGH6789")  # a coupon code
    assert not looks_dynamic("134567890123456789")  # WeChat Pay's payment codes start 10-15
    assert not looks_dynamic("88" + "9" * 16)  # 18 digits, above what a code can hold
    assert looks_dynamic(" ".join([code[:2], code[2:10], code[10:]]))  # as shown, grouped
    assert looks_dynamic(code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))


def test_the_code_changes_every_minute_and_is_valid_for_two(member):
    first = code_for(member, now=T0)
    assert code_for(member, now=at(59.9)) == first
    second = code_for(member, now=at(60))
    assert second != first
    assert member_for_code(first, now=T0) == member
    assert member_for_code(first, now=at(119.9)) == member  # two minutes from its start
    assert member_for_code(first, now=at(120)) is None  # expired
    assert member_for_code(first, now=at(3600)) is None
    assert member_for_code(second, now=at(59)) is None  # not yet
    assert member_for_code(second, now=at(60)) == member
    assert seconds_left(now=T0) == 60 and seconds_left(now=at(59.5)) == 1


def test_two_members_codes_differ_and_each_names_its_member(store):
    one, two = MemberFactory(store=store), MemberFactory(store=store)
    assert code_for(one, now=T0) != code_for(two, now=T0)
    assert member_for_code(code_for(two, now=T0), now=at(30)) == two


def test_an_altered_code_is_refused(member):
    code = code_for(member, now=T0)
    for i in range(2, 18):  # any one digit changed
        digit = str((int(code[i]) + 1) % 10)
        altered = code[:i] + digit + code[i + 1 :]
        assert member_for_code(altered, now=T0) is None, i
    assert member_for_code(code[:-1], now=T0) is None
    assert member_for_code("", now=T0) is None
    assert member_for_code("88" + "0" * 16, now=T0) is None


def test_a_code_signed_with_another_key_is_refused(member):
    with override_settings(SECRET_KEY="another-server-" + "k" * 50):
        forged = code_for(member, now=T0)
    assert forged != code_for(member, now=T0)
    assert member_for_code(forged, now=T0) is None


def test_a_member_not_active_has_no_valid_code(member):
    code = code_for(member, now=T0)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    assert member_for_code(code, now=T0) is None


def test_a_code_is_used_once_per_purchase(member):
    code = code_for(member, now=T0)
    assert code_use(code, purchase_ref="purchase:A", now=at(1)) == member
    assert code_used(code)
    # The same purchase again (a till's retry) is answered, even after the code expired.
    assert code_use(code, purchase_ref="purchase:A", now=at(500)) == member
    with pytest.raises(DynamicCodeError) as refused:
        code_use(code, purchase_ref="purchase:B", now=at(2))
    assert refused.value.code == "used"
    # The next minute's code is a new one.
    assert code_use(code_for(member, now=at(60)), purchase_ref="purchase:B", now=at(61)) == member


def test_a_released_code_can_be_used_again(member):
    code = code_for(member, now=T0)
    code_use(code, purchase_ref="purchase:A", now=T0)
    code_release(code, purchase_ref="purchase:B")  # not its purchase: nothing
    assert code_used(code)
    code_release(code, purchase_ref="purchase:A")
    assert code_use(code, purchase_ref="purchase:B", now=T0) == member


def test_an_invalid_or_expired_code_is_not_used(member):
    code = code_for(member, now=T0)
    for text, now in ((code, at(120)), ("12345", T0), (member.member_no, T0)):
        with pytest.raises(DynamicCodeError) as refused:
            code_use(text, purchase_ref="purchase:A", now=now)
        assert refused.value.code == "invalid"
    assert not DynamicCodeUse.objects.exists()


def test_used_codes_are_purged_after_a_day(member):
    code_use(code_for(member, now=T0), purchase_ref="purchase:A", now=T0)
    later = T0 + dt.timedelta(days=2)
    code_use(code_for(member, now=later), purchase_ref="purchase:B", now=later)
    assert list(DynamicCodeUse.objects.values_list("purchase_ref", flat=True)) == ["purchase:B"]


def test_a_member_id_beyond_the_code_is_refused():
    with pytest.raises(ValueError):
        code_for(Member(pk=1 << dynamic_code.ID_BITS), now=T0)


@pytest.mark.django_db(transaction=True)
def test_two_tills_using_one_code_at_once_use_it_once(store):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    member = MemberFactory(store=store)
    code = code_for(member)
    results, barrier = [], threading.Barrier(4)

    def till(n):
        barrier.wait()
        try:
            code_use(code, purchase_ref=f"purchase:{n}")
            results.append("ok")
        except DynamicCodeError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "used", "used", "used"]


# --- the member centre's card -------------------------------------------------------------


def test_the_card_shows_the_dynamic_code_not_the_member_number_to_scan(client, member):
    sign_in(client, member)
    page = client.get("/me/")
    assert page.status_code == 200
    state = page.context["code"]
    assert member_for_code(state["code"]) == member
    html = page.content.decode()
    assert state["display"] in html  # the digits, grouped
    assert f"<title>{member.member_no}</title>" not in html  # no scannable static number
    assert "Member number" in html or "会员号" in html
    assert member.member_no in html  # still readable, for lookups
    assert 'src="/static/js/dynamic_code.js"' in html


def test_the_code_json_gives_the_current_code_and_its_svgs(client, member):
    sign_in(client, member)
    answer = client.get("/me/code/")
    assert answer.status_code == 200
    assert answer["Cache-Control"].startswith("max-age=0")
    state = answer.json()
    assert member_for_code(state["code"]) == member
    assert state["display"].replace(" ", "") == state["code"]
    assert 1 <= state["seconds_left"] <= 60
    assert state["barcode"].startswith('<svg role="img" class="barcode"')
    assert state["qr"].startswith("<svg") and "qr-code" in state["qr"]
    assert state["used"] is False
    code_use(state["code"], purchase_ref="purchase:X")
    assert client.get("/me/code/").json()["used"] is True


def test_the_code_json_needs_a_signed_in_member(client):
    answer = client.get("/me/code/")
    assert answer.status_code == 302 and "/me/login/" in answer["Location"]
