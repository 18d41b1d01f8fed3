import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from loyalty.ledger import ledger_problems
from loyalty.models import ApiKey, Card, PointsEntry
from loyalty.purchases import purchase_record
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


def _card_url(member):
    return reverse("admin:loyalty_card_change", args=[member.pk])


def test_settings_list_opens_the_single_settings_page(owner_client):
    response = owner_client.get(reverse("admin:loyalty_loyaltysettings_changelist"))
    assert response.status_code == 302 and response["Location"].endswith(
        "/loyalty/loyaltysettings/1/change/"
    )
    assert owner_client.get(response["Location"]).status_code == 200


def test_owner_adjusts_points_on_the_card_page_with_a_reason(owner_client, member):
    response = owner_client.post(
        _card_url(member), {"points_delta": "150", "reason": "补录历史积分"}
    )
    assert response.status_code == 302
    assert card_of(member).points_balance == 150
    entry = PointsEntry.objects.get(kind="adjust")
    assert entry.reason == "补录历史积分" and entry.actor.username == "owner"


def test_an_adjustment_without_a_reason_is_a_form_error(owner_client, member):
    response = owner_client.post(_card_url(member), {"points_delta": "150", "reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["adminform"].form.errors
    assert card_of(member).points_balance == 0


def test_deducting_more_than_the_balance_is_an_error_message_not_a_500(owner_client, member):
    response = owner_client.post(
        _card_url(member), {"points_delta": "-5", "reason": "扣回"}, follow=True
    )
    assert response.status_code == 200
    assert card_of(member).points_balance == 0
    assert any("5" in str(m) for m in response.context["messages"])


def test_a_clerk_has_no_card_admin(clerk_client, member):
    assert clerk_client.get(_card_url(member)).status_code == 302  # to the admin login


def test_manager_sees_only_their_stores_cards(manager_client, member, other_store):
    from tests.factories import MemberFactory

    theirs = MemberFactory(store=other_store)
    response = manager_client.get(reverse("admin:loyalty_card_changelist"))
    shown = {c.pk for c in response.context["cl"].result_list}
    assert member.pk in shown and theirs.pk not in shown


def test_the_member_page_shows_card_points_and_tier_history(owner_client, member):
    purchase_record(member=member, amount="66", external_ref="P")
    page = owner_client.get(
        reverse("admin:members_member_change", args=[member.pk])
    ).content.decode()
    assert "普通会员" in page and "+66" in page


def test_an_api_key_made_in_the_admin_is_shown_once(owner_client, store):
    response = owner_client.post(
        reverse("admin:loyalty_apikey_add"), {"store": store.pk, "name": "前台 POS"}, follow=True
    )
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "hy_" in str(m))
    key = message.split("<code>")[1].split("</code>")[0]
    stored = ApiKey.objects.get()
    assert stored.key_hash == ApiKey.hash(key) and key not in stored.key_hint + stored.name


def test_purchase_changelist_searches_by_reference(owner_client, member):
    purchase_record(member=member, amount="10", external_ref="POS-777")
    purchase_record(member=member, amount="10", external_ref="POS-778")
    response = owner_client.get(reverse("admin:loyalty_purchase_changelist"), {"q": "POS-777"})
    assert [p.external_ref for p in response.context["cl"].result_list] == ["POS-777"]


def test_seed_demo_writes_a_ledger_that_checks_out():
    call_command("seed_demo", "--members", "150", "--purchases", "600", stdout=io.StringIO())
    assert Card.objects.count() == 150
    assert PointsEntry.objects.filter(kind="redeem").exists()
    assert PointsEntry.objects.filter(kind="expire").exists()
    from loyalty.models import StoredValueEntry, TopUpOffer

    assert TopUpOffer.objects.count() == 3
    assert StoredValueEntry.objects.filter(kind="top_up").exists()
    assert StoredValueEntry.objects.filter(kind="spend").exists()
    assert not ledger_problems()


def test_refunds_and_growth_have_read_only_pages(owner_client, member):
    from loyalty.models import LoyaltySettings
    from loyalty.purchases import purchase_refund

    LoyaltySettings.objects.filter(pk=LoyaltySettings.current().pk).update(tier_basis="growth")
    purchase, _ = purchase_record(member=member, amount="100", external_ref="POS-9")
    purchase_refund(purchase=purchase, amount="40", reason="退货一件")

    refunds = owner_client.get(reverse("admin:loyalty_refund_changelist"), {"q": "POS-9"})
    assert refunds.status_code == 200
    [refund] = refunds.context["cl"].result_list
    assert refund.reason == "退货一件" and str(refund.amount) == "40.00"
    by_phone = owner_client.get(reverse("admin:loyalty_refund_changelist"), {"q": "13800138000"})
    assert list(by_phone.context["cl"].result_list) == [refund]
    page = owner_client.get(reverse("admin:loyalty_purchase_change", args=[purchase.pk]))
    assert "退货一件" in page.content.decode()  # the refunds inline on the purchase
    assert owner_client.get(reverse("admin:loyalty_refund_add")).status_code == 403

    ledger = reverse("admin:loyalty_growthentry_changelist")
    growth = owner_client.get(ledger, {"q": member.member_no})
    assert growth.status_code == 200
    assert sorted(e.delta for e in growth.context["cl"].result_list) == [-40, 100]


def test_every_setting_is_on_the_settings_page(owner_client):
    from loyalty.admin import LoyaltySettingsAdmin
    from loyalty.models import LoyaltySettings

    shown = {f for _name, opts in LoyaltySettingsAdmin.fieldsets for f in opts["fields"]}
    editable = {f.name for f in LoyaltySettings._meta.concrete_fields if f.editable} - {"id"}
    assert editable <= shown, editable - shown
    LoyaltySettings.current()
    page = owner_client.get(reverse("admin:loyalty_loyaltysettings_change", args=[1]))
    assert 'name="welcome_points"' in page.content.decode()


def test_managers_read_the_loyalty_configuration_but_do_not_change_it(manager_client, member):
    from loyalty.models import LoyaltySettings

    LoyaltySettings.current()
    pages = ["loyaltysettings_change", "tier_changelist", "earnrule_changelist",
             "tierchange_changelist", "growthentry_changelist", "refund_changelist"]  # fmt: skip
    for name in pages:
        url = reverse(f"admin:loyalty_{name}", args=[1] if name.endswith("_change") else [])
        assert manager_client.get(url).status_code == 200, name
    before = LoyaltySettings.current().points_per_yuan
    response = manager_client.post(
        reverse("admin:loyalty_loyaltysettings_change", args=[1]), {"points_per_yuan": "99"}
    )
    assert response.status_code == 403
    assert LoyaltySettings.current().points_per_yuan == before
