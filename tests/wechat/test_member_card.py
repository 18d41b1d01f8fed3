"""The member card in 卡包: publishing, claiming and activation, the card events, and
every change of points, stored value and tier pushed with membercard/updateuser —
through the callback URL, the admin, the POS API and the jobs, with the real wechatpy
client against the fake WeChat server."""

import datetime as dt
import io
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from loyalty.jobs import run_job
from loyalty.ledger import points_adjust
from loyalty.models import Card, Tier
from loyalty.stored_value import stored_value_top_up
from loyalty.tiers import tier_set
from members.models import Member
from tests.factories import MemberFactory
from wechat import card_sync, member_card
from wechat.fake_server import card as fake_card
from wechat.member_card import card_publish
from wechat.models import Callback, CardUpdate, MemberCardClass, MemberCardHolding

from .conftest import OPENID, fixture_xml, signed_query

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.loyalty.api_fixtures"]
UPDATE = "/card/membercard/updateuser"
ACTIVATE = "/card/membercard/activate"


def _logo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 30, 40)).save(buffer, "PNG")
    return SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def card(fake, settings, tmp_path):
    """The member card, published to the fake WeChat."""
    settings.MEDIA_ROOT = tmp_path
    member_card = MemberCardClass.objects.create(brand_name="慧园咖啡", title="慧园会员卡",
                                                 logo=_logo())  # fmt: skip
    return card_publish(card=member_card)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def callback(web, name: str, **values):
    values.setdefault("openid", OPENID)
    values.setdefault("create_time", str(int(time.time())))
    values.setdefault("restored", "0")
    xml = fixture_xml(name, **values)
    response = web.post(f"/wechat/callback/?{urlencode(signed_query())}", xml.encode(),
                        content_type="text/xml")  # fmt: skip
    assert response.status_code == 200
    return response


def claim(web, fake, card, on_commit, openid=OPENID, outer_str=""):
    code = fake_card.claim(fake, card.card_id, openid, outer_str=outer_str)
    with on_commit(execute=True):
        callback(web, "user_get_card.xml", openid=openid, card_id=card.card_id, code=code,
                 outer_str=outer_str, unionid="")  # fmt: skip
    return code


@pytest.fixture
def holder(web, fake, card, on_commit):
    """A member bound to OPENID who claimed the card (activated at once)."""
    member = bound()
    code = claim(web, fake, card, on_commit)
    return member, MemberCardHolding.objects.get(code=code)


def bound(openid: str = OPENID, **fields) -> Member:
    """A member whose WeChat openid is bound (as OAuth at /join/ leaves it)."""
    member = MemberFactory(**fields)
    Member.objects.filter(pk=member.pk).update(wechat_openid=openid)
    member.wechat_openid = openid
    return member


def sent(fake) -> list[dict]:
    return [r["body"] for r in fake.delivered(UPDATE)]


# --- publishing -------------------------------------------------------------------------


def test_publishing_creates_the_card_with_its_form_and_claim_code(card, fake):
    created = fake.delivered("/card/create")[0]["body"]["card"]
    member_card = created["member_card"]
    assert created["card_type"] == "MEMBER_CARD"
    assert member_card["base_info"]["title"] == "慧园会员卡"
    assert member_card["base_info"]["logo_url"].startswith("http://mmbiz.qpic.cn/")
    assert member_card["supply_bonus"] and member_card["supply_balance"]
    assert member_card["wx_activate"] and member_card["custom_field1"] == {"name": "等级"}
    form = fake.delivered("/card/membercard/activateuserform/set")[0]["body"]
    assert form["required_form"]["common_field_id_list"] == ["USER_FORM_INFO_FLAG_MOBILE"]
    assert form["optional_form"]["common_field_id_list"] == ["USER_FORM_INFO_FLAG_BIRTHDAY"]
    card.refresh_from_db()
    assert card.card_id.startswith("pFAKE") and card.claim_url.startswith("http://weixin.qq.com/q/")
    assert card.published_at is not None and card.last_error == ""


def test_publishing_again_sends_the_changes_with_card_update(card, fake):
    card.title = "慧园金卡"
    card.save()

    card_publish(card=card)

    update = fake.delivered("/card/update")[0]["body"]
    assert update["card_id"] == card.card_id
    assert update["member_card"]["base_info"]["title"] == "慧园金卡"
    assert "brand_name" not in update["member_card"]["base_info"]  # fixed once created
    assert len(fake.delivered("/card/create")) == 1


def test_the_admin_publishes_and_shows_wechat_s_refusal(fake, settings, tmp_path, owner, client):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(owner)
    response = client.post(
        "/admin/wechat/membercardclass/add/",
        {"brand_name": "慧园咖啡", "title": "慧园会员卡", "logo": _logo(), "color": "Color070",
         "notice": "出示会员卡", "description": "说明", "prerogative": "特权", "show_bonus": "on",
         "show_balance": "on", "tier_field_name": "等级"},
    )  # fmt: skip
    assert response.status_code == 302
    member_card = MemberCardClass.objects.get()
    fake.fail("/card/create", errcode=-1)

    client.post("/admin/wechat/membercardclass/",
                {"action": "publish", "_selected_action": [member_card.pk]})  # fmt: skip
    member_card.refresh_from_db()
    assert member_card.card_id == "" and member_card.last_error == "WeChat is busy (errcode -1)."

    client.post("/admin/wechat/membercardclass/",
                {"action": "publish", "_selected_action": [member_card.pk]})  # fmt: skip
    member_card.refresh_from_db()
    assert member_card.card_id and member_card.last_error == ""
    second = client.get("/admin/wechat/membercardclass/add/")  # one card per account
    assert second.status_code == 302
    assert second["Location"] == f"/admin/wechat/membercardclass/{member_card.pk}/change/"


# --- claiming and activation ------------------------------------------------------------------


def test_a_bound_follower_s_claim_is_activated_with_their_number_and_figures(
    web, fake, card, on_commit, owner
):
    member = bound()
    points_adjust(member=member, delta=120, reason="开卡前积分", actor=owner)
    code = claim(web, fake, card, on_commit)

    holding = MemberCardHolding.objects.get(code=code)
    assert holding.status == "active" and holding.member == member
    activate = fake.delivered(ACTIVATE)[0]["body"]
    assert activate["membership_number"] == member.member_no and activate["code"] == code
    assert activate["init_bonus"] == 120 and activate["init_balance"] == 0
    shown = fake_card.holding(fake, code)
    assert (
        shown["active"] and shown["bonus"] == 120 and shown["membership_number"] == member.member_no
    )


def test_someone_new_fills_in_the_form_and_is_registered_at_the_poster_s_store(
    web, fake, card, on_commit, store
):
    code = claim(web, fake, card, on_commit, openid="oNewcomer0001", outer_str=store.code)
    assert MemberCardHolding.objects.get(code=code).status == "claimed"
    assert not fake.received(ACTIVATE)

    fake_card.fill_form(fake, code, mobile="13900139000", birthday="1990-05-01")
    with on_commit(execute=True):
        callback(web, "submit_membercard_user_info.xml", openid="oNewcomer0001",
                 card_id=card.card_id, code=code)  # fmt: skip

    member = Member.objects.get(wechat_openid="oNewcomer0001")
    assert member.store == store and member.birthday == dt.date(1990, 5, 1)
    assert member.source == Member.Source.QR and member.consent_version
    holding = MemberCardHolding.objects.get(code=code)
    assert holding.status == "active" and holding.member == member
    assert fake.delivered(ACTIVATE)[0]["body"]["membership_number"] == member.member_no


def test_a_form_with_a_member_s_phone_binds_that_member(web, fake, card, on_commit):
    member = MemberFactory(phone="13700137000")
    code = claim(web, fake, card, on_commit, openid="oExisting0001")
    fake_card.fill_form(fake, code, mobile="13700137000")

    with on_commit(execute=True):
        callback(web, "submit_membercard_user_info.xml", openid="oExisting0001",
                 card_id=card.card_id, code=code)  # fmt: skip

    assert Member.objects.count() == 1
    assert MemberCardHolding.objects.get(code=code).member == member
    member.refresh_from_db()
    assert member.wechat_openid == "oExisting0001"


def test_an_activation_that_failed_is_tried_again_by_the_nightly_job(web, fake, card, on_commit):
    bound()
    fake.fail(ACTIVATE, status=500)
    code = claim(web, fake, card, on_commit)
    assert MemberCardHolding.objects.get(code=code).status == "claimed"

    run = run_job("reconcile_member_cards")

    assert MemberCardHolding.objects.get(code=code).status == "active"
    assert run.counts["activated"] == 1 and len(fake.delivered(ACTIVATE)) == 1


def test_a_claim_of_another_card_is_ignored(web, fake, card, on_commit):
    callback(web, "user_get_card.xml", card_id="pSomeCoupon", code="123", outer_str="",
             unionid="")  # fmt: skip

    assert not MemberCardHolding.objects.exists()


# --- the other card events ------------------------------------------------------------------


def test_deleting_the_card_stops_its_updates(web, fake, card, holder, on_commit, owner):
    member, holding = holder
    callback(web, "user_del_card.xml", card_id=card.card_id, code=holding.code)
    fake_card.delete(fake, holding.code)

    with on_commit(execute=True):
        points_adjust(member=member, delta=10, reason="补录", actor=owner)

    assert MemberCardHolding.objects.get(pk=holding.pk).status == "deleted"
    assert not CardUpdate.objects.exists() and not fake.received(UPDATE)


def test_views_are_counted_and_each_event_is_handled_once(web, card, holder):
    _member, holding = holder
    values = {"card_id": card.card_id, "code": holding.code, "create_time": "1765000000"}

    callback(web, "user_view_card.xml", **values)
    callback(web, "user_view_card.xml", **values)  # WeChat's retry

    holding.refresh_from_db()
    assert holding.views == 1 and holding.viewed_at is not None
    callback(web, "update_member_card.xml", bonus="10", balance="0", **values)
    callback(web, "update_member_card.xml", bonus="10", balance="0", **values)
    assert Callback.objects.filter(kind="event").count() == 3  # claim, view, update


# --- sync: updateuser per change ----------------------------------------------------------


def test_a_purchase_pushes_points_and_a_record_text(holder, fake, pos, on_commit):
    member, holding = holder
    with on_commit(execute=True):
        response = pos.buy(member, "T-1", "268.50")
    assert response.status_code == 201
    earned = response.json()["points_earned"]

    [body] = sent(fake)
    assert body["code"] == holding.code and body["card_id"] == holding.card_class.card_id
    assert body["bonus"] == earned and body["add_bonus"] == earned
    assert body["record_bonus"] == f"消费 ¥268.50 积分 +{earned}"
    assert body["notify_optional"]["is_notify_bonus"] is True
    assert fake_card.holding(fake, holding.code)["bonus"] == earned
    holding.refresh_from_db()
    assert holding.shown_bonus == earned and holding.synced_at is not None


def test_stored_value_and_tier_changes_are_pushed(holder, fake, on_commit, owner):
    member, holding = holder
    gold = Tier.objects.order_by("-pk").first()
    with on_commit(execute=True):
        stored_value_top_up(member=member, amount=Decimal("500.00"), external_ref="TU-1")
    with on_commit(execute=True):
        tier_set(member=member, tier=gold, actor=owner)

    top_up, tier = sent(fake)
    assert top_up["balance"] == 50000 and top_up["add_balance"] == 50000
    assert "¥500.00" in top_up["record_balance"]
    assert tier["custom_field_value1"] == gold.name
    assert tier["notify_optional"]["is_notify_custom_field1"]
    assert fake_card.holding(fake, holding.code)["custom_field_value1"] == gold.name


def test_changes_waiting_together_go_out_in_one_call(holder, fake, owner):
    member, holding = holder
    points_adjust(member=member, delta=30, reason="活动", actor=owner)
    points_adjust(member=member, delta=-5, reason="更正", actor=owner)
    stored_value_top_up(member=member, amount=Decimal("100.00"), external_ref="TU-2")
    assert CardUpdate.objects.filter(sent_at__isnull=True).count() == 3

    run_job("send_card_updates")

    [body] = sent(fake)
    assert body["bonus"] == 25 and body["add_bonus"] == 25
    assert body["balance"] == 10000 and body["add_balance"] == 10000
    assert not CardUpdate.objects.filter(sent_at__isnull=True).exists()
    run_job("send_card_updates")
    assert len(fake.received(UPDATE)) == 1  # nothing sent twice


def test_the_same_entry_s_event_twice_is_one_row(holder, owner):
    member, _holding = holder
    entry = points_adjust(member=member, delta=7, reason="补录", actor=owner)

    card_sync.on_points(None, member_id=member.pk, entry_id=entry.pk, entry=entry)

    assert CardUpdate.objects.filter(ref=f"points:{entry.pk}").count() == 1


def test_a_failed_push_backs_off_and_is_sent_once_when_wechat_is_back(holder, fake, owner):
    member, _holding = holder
    points_adjust(member=member, delta=40, reason="活动", actor=owner)
    fake.fail(UPDATE, status=500)

    run_job("send_card_updates")
    row = CardUpdate.objects.get()
    assert row.sent_at is None and row.attempts == 1
    assert row.last_error == "WeChat answered with a server error."
    run_job("send_card_updates")  # before the back-off: nothing tried
    assert len(fake.received(UPDATE)) == 1

    later = timezone.now() + dt.timedelta(minutes=2)
    card_sync.card_updates_send(now=later)
    assert len(fake.delivered(UPDATE)) == 1 and CardUpdate.objects.get().sent_at is not None
    card_sync.card_updates_send(now=later + dt.timedelta(minutes=5))
    assert len(fake.received(UPDATE)) == 2  # the failure and the one delivery


def test_wechat_down_stops_the_batch(holder, fake, owner, web, card, on_commit):
    member, _holding = holder
    other = bound("oSecond0001")
    claim(web, fake, card, on_commit, openid="oSecond0001")
    points_adjust(member=member, delta=1, reason="a", actor=owner)
    points_adjust(member=other, delta=2, reason="b", actor=owner)
    fake.fail(UPDATE, delay=2)

    counts = card_sync.card_updates_send()

    assert counts["failed"] == 1 and len(fake.received(UPDATE)) == 1
    assert CardUpdate.objects.filter(sent_at__isnull=True).count() == 2


# --- the nightly reconciliation ----------------------------------------------------------------


def test_drift_from_the_ledger_is_repaired_quietly(holder, fake, on_commit):
    member, holding = holder
    Card.objects.filter(pk=member.pk).update(points_balance=88)  # as a bulk job leaves it

    with on_commit(execute=True):
        run = run_job("reconcile_member_cards")

    assert run.counts["drifted"] == 1 and run.counts["repairs"] == 1
    [body] = sent(fake)
    assert body["bonus"] == 88 and "add_bonus" not in body
    assert body["notify_optional"]["is_notify_bonus"] is False
    assert run_job("reconcile_member_cards").counts["drifted"] == 0


def test_a_card_wechat_shows_otherwise_is_found_by_asking_it(holder, fake):
    _member, holding = holder
    with fake.lock:
        fake.data["card"]["holdings"][holding.code]["bonus"] = 999  # changed on WeChat's side
    day = next(
        timezone.localdate() + dt.timedelta(days=n)
        for n in range(30)
        if (timezone.localdate() + dt.timedelta(days=n)).toordinal() % 30 == holding.pk % 30
    )

    counts = card_sync.cards_reconcile(day=day)

    assert counts["checked"] == 1 and counts["drifted"] == 1
    card_sync.card_updates_send()
    assert fake_card.holding(fake, holding.code)["bonus"] == 0


def test_the_store_poster_carries_the_card_s_claim_code_when_chosen(
    card, fake, store, owner, client
):
    client.force_login(owner)
    poster = f"/admin/members/store/{store.pk}/poster/"
    english = {"Accept-Language": "en"}
    assert (
        "Add our member card to WeChat" not in client.get(poster, headers=english).content.decode()
    )

    MemberCardClass.objects.filter(pk=card.pk).update(on_posters=True)
    page = client.get(poster, headers=english).content.decode()
    client.get(poster)  # the second time from the stored link

    assert "Add our member card to WeChat" in page
    made = [r["body"]["action_info"]["card"] for r in fake.delivered("/card/qrcode/create")]
    assert made[-1] == {"card_id": card.card_id, "outer_str": store.code} and len(made) == 2
    card.refresh_from_db()
    assert card.claim_urls[store.code]["url"].startswith("http://weixin.qq.com/q/")


def test_the_counter_finds_the_member_by_the_code_of_their_card_in_wechat(holder, client, owner):
    member, holding = holder
    client.force_login(owner)

    found = client.get("/staff/", {"q": holding.code})

    assert found.status_code == 200 and member.member_no in found.content.decode()
    nobody = client.get("/staff/", {"q": "880000009999"}).content.decode()
    assert member.member_no not in nobody


def test_an_erased_member_s_card_is_theirs_no_more(holder, owner):
    from members.services import member_erase

    member, holding = holder
    member_erase(member=member, actor=owner)

    holding.refresh_from_db()
    assert holding.member is None and holding.status == "deleted"
    assert card_sync.holder_ids([member.pk]) == set()


# --- leases, retries and lost answers ------------------------------------------------------


def test_a_card_another_worker_is_sending_to_is_left_to_it(holder, fake, owner):
    member, holding = holder
    points_adjust(member=member, delta=5, reason="活动", actor=owner)
    assert card_sync.holding_lease(holding.pk)  # another worker's call is under way

    assert card_sync.card_updates_send()["members"] == 0
    assert not fake.received(UPDATE)

    card_sync.holding_release(holding.pk)
    assert card_sync.card_updates_send()["rows"] == 1 and len(fake.delivered(UPDATE)) == 1


def test_two_activations_of_one_claim_make_one_call(web, fake, card, on_commit):
    bound()
    fake.fail(ACTIVATE, status=500)  # the claim's own task fails: the card stays claimed
    code = claim(web, fake, card, on_commit)
    holding = MemberCardHolding.objects.get(code=code)
    assert card_sync.holding_lease(holding.pk)  # the form's task is activating it

    assert member_card.card_activate(holding.pk).status == "claimed"  # left to that task
    card_sync.holding_release(holding.pk)
    assert member_card.card_activate(holding.pk).status == "active"
    assert member_card.card_activate(holding.pk).status == "active"  # a late duplicate
    assert len(fake.delivered(ACTIVATE)) == 1


def test_an_activation_whose_answer_was_lost_is_not_sent_again(web, fake, card, on_commit):
    member = bound()
    fake.fail(ACTIVATE, status=500)
    code = claim(web, fake, card, on_commit)
    with fake.lock:  # WeChat did activate it: only its answer never arrived
        fake.data["card"]["holdings"][code].update(active=True, membership_number=member.member_no)

    run_job("reconcile_member_cards")

    assert MemberCardHolding.objects.get(code=code).status == "active"
    assert not fake.delivered(ACTIVATE)


def test_activation_survives_a_token_refresh(web, fake, card, on_commit):
    member = bound()
    fake.expire_token()  # WeChat answers 40001 once: the client fetches a token and retries

    code = claim(web, fake, card, on_commit)

    assert MemberCardHolding.objects.get(code=code).status == "active"
    assert fake_card.holding(fake, code)["membership_number"] == member.member_no


def test_a_partial_refund_is_pushed_with_its_own_record(holder, fake, pos, on_commit):
    member, holding = holder
    with on_commit(execute=True):
        earned = pos.buy(member, "T-9", "200.00").json()["points_earned"]
    with on_commit(execute=True):
        refund = pos.refund("T-9", {"amount": "50.00", "refund_ref": "R-1"})
    assert refund.status_code in (200, 201), refund.content

    last = sent(fake)[-1]
    card = Card.objects.get(pk=member.pk)
    assert last["bonus"] == card.points_balance < earned
    assert last["add_bonus"] == card.points_balance - earned
    assert last["record_bonus"] == "退款 ¥50.00"


def test_several_changes_are_told_as_their_sums_within_wechat_s_14_characters(holder, fake, owner):
    member, _holding = holder
    points_adjust(member=member, delta=30, reason="一个很长很长的调整原因说明文字", actor=owner)
    points_adjust(member=member, delta=-5, reason="更正", actor=owner)

    run_job("send_card_updates")

    [body] = sent(fake)
    assert body["record_bonus"] == "积分 +25"
    assert card_sync.fit_record("消费 ¥268.50 积分 +217") == "消费 ¥268.50 积分 +217"
    assert (
        card_sync.fit_record("一二三四五六七八九十一二三四五六") == "一二三四五六七八九十一二三四"
    )


def test_a_deleted_card_taken_back_is_active_again(web, fake, card, holder, on_commit, owner):
    member, holding = holder
    callback(web, "user_del_card.xml", card_id=card.card_id, code=holding.code)
    points_adjust(member=member, delta=9, reason="补录", actor=owner)

    with on_commit(execute=True):
        callback(web, "user_get_card.xml", card_id=card.card_id, code=holding.code,
                 outer_str="", unionid="", restored="1",
                 create_time=str(int(time.time()) + 1))  # not the first claim's retry  # fmt: skip

    holding.refresh_from_db()
    assert holding.status == "active" and holding.member == member
    assert sent(fake)[-1]["bonus"] == 9 and not fake.received(ACTIVATE)[1:]


def test_the_demo_s_cards_are_loaded_by_the_fake_server_and_a_purchase_lands_in_its_log(
    fake, client, on_commit
):
    from django.core.management import call_command

    from loyalty.purchases import purchase_record
    from wechat.demo import fake_cards

    call_command("seed_demo", "--members", "30", "--purchases", "0", stdout=io.StringIO())
    fake_card.load(fake, fake_cards())  # what `fake_wechat` does when it starts
    holding = MemberCardHolding.objects.select_related("member").order_by("pk").first()
    with on_commit(execute=True):
        purchase_record(member=holding.member, amount=Decimal("268.50"), external_ref="DEMO-1")

    [body] = sent(fake)
    assert body["code"] == holding.code and body["record_bonus"].startswith("消费 ¥268.50 积分 +")
    assert fake_card.holding(fake, holding.code)["bonus"] == body["bonus"]


def test_sent_updates_are_kept_thirty_days(holder, owner):
    member, _holding = holder
    points_adjust(member=member, delta=3, reason="补录", actor=owner)
    CardUpdate.objects.update(sent_at=timezone.now() - dt.timedelta(days=31))

    run = run_job("prune_wechat_callbacks")

    assert run.counts["card_updates_deleted"] == 1 and not CardUpdate.objects.exists()


def test_a_claim_from_a_staff_member_s_poster_credits_them_as_guide(
    web, fake, card, on_commit, store, clerk, owner, client
):
    MemberCardClass.objects.filter(pk=card.pk).update(on_posters=True)
    client.force_login(owner)
    client.get(f"/admin/members/store/{store.pk}/poster/", {"staff": clerk.pk})
    scene = fake.delivered("/card/qrcode/create")[-1]["body"]["action_info"]["card"]["outer_str"]
    assert scene == f"{store.code}:{clerk.pk}"

    code = claim(web, fake, card, on_commit, openid="oGuided0001", outer_str=scene)
    fake_card.fill_form(fake, code, mobile="13600136000")
    with on_commit(execute=True):
        callback(web, "submit_membercard_user_info.xml", openid="oGuided0001",
                 card_id=card.card_id, code=code)  # fmt: skip

    member = Member.objects.get(wechat_openid="oGuided0001")
    assert member.store == store and member.guide == clerk


def test_the_poster_png_carries_the_claim_code_too(card, fake, store, owner, client):
    client.force_login(owner)
    png = f"/admin/members/store/{store.pk}/poster.png"
    without = client.get(png).content

    MemberCardClass.objects.filter(pk=card.pk).update(on_posters=True)
    response = client.get(png)

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content != without
    assert Image.open(io.BytesIO(response.content)).size == (1200, 1700)
    made = fake.delivered("/card/qrcode/create")[-1]["body"]["action_info"]["card"]
    assert made["outer_str"] == store.code
