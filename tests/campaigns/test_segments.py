"""Segments through their doors: the editor's live count (store scope, bad rules),
saving, the background runs (coupon, tag) with their progress, export, the nightly
rule tags and counts, and the segment_count command."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils.translation import override

from campaigns.models import Segment, SegmentRun
from campaigns.segments.services import rule_tag_sync, segment_run_retry
from loyalty.jobs import run_job
from loyalty.models import Card, Coupon, CouponTemplate
from members.models import AuditEntry, Member, Tag
from members.services import member_erase
from tests.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db
PREVIEW = reverse("admin:campaigns_segment_preview")
DORMANT = {"all": [{"field": "lifecycle", "op": "eq", "value": "dormant"}]}


@pytest.fixture
def people(store, other_store):
    """Six dormant members (four here, two in the other store), three active here."""
    made = {"dormant": [], "active": []}
    for n in range(6):
        made["dormant"].append(MemberFactory(store=store if n < 4 else other_store))
    for _n in range(3):
        made["active"].append(MemberFactory(store=store))
    for stage, members in made.items():
        Card.objects.filter(member__in=members).update(lifecycle=stage)
    return made


def preview(client, rules):
    return client.post(PREVIEW, {"rules": json.dumps(rules)})


def test_the_live_count_is_the_viewers_scope(owner_client, people):
    data = preview(owner_client, DORMANT).json()
    assert data["count"] == 6 and len(data["members"]) == 6
    assert all("****" in m["phone"] for m in data["members"])  # masked


def test_a_manager_counts_only_their_store(manager_client, people):
    data = preview(manager_client, DORMANT).json()
    assert data["count"] == 4


def test_a_bad_rule_is_a_400_naming_it(owner_client, people):
    with override("en"):
        response = preview(owner_client, {"all": [{"field": "colour", "op": "eq", "value": 1}]})
    assert response.status_code == 400
    assert "colour" in response.json()["error"]
    assert owner_client.post(PREVIEW, {"rules": "{nope"}).status_code == 400


def test_a_clerk_may_not_count(clerk_client, people):
    assert preview(clerk_client, DORMANT).status_code in (302, 403)  # no admin for clerks


def test_saving_checks_the_rule_and_counts(owner_client, people):
    add = reverse("admin:campaigns_segment_add")
    bad = {"name": "坏", "description": "", "rules": '{"all": [{"field": "tier", "op": "gte"}]}'}
    response = owner_client.post(add, bad)
    assert response.status_code == 200 and not Segment.objects.exists()
    assert "tier" in response.content.decode()
    good = {"name": "沉睡", "description": "", "rules": json.dumps(DORMANT)}
    assert owner_client.post(add, good).status_code == 302
    segment = Segment.objects.get()
    assert segment.member_count == 6 and segment.counted_at is not None
    assert sum(segment.store_counts.values()) == 6
    page = owner_client.get(reverse("admin:campaigns_segment_changelist")).content.decode()
    assert "沉睡" in page


def test_the_list_shows_a_manager_their_stores_count(manager_client, people):
    from campaigns.segments.services import segment_recount

    segment_recount(Segment.objects.create(name="沉睡", rules=DORMANT))
    page = manager_client.get(reverse("admin:campaigns_segment_changelist"))
    assert page.status_code == 200
    assert '<td class="field-count_display">4</td>' in page.content.decode()


def test_issuing_a_coupon_to_a_segment_runs_in_the_background(
    owner_client, people, django_capture_on_commit_callbacks
):
    segment = Segment.objects.create(name="沉睡", rules=DORMANT)
    template = CouponTemplate.objects.create(name="回来喝咖啡", value=10, valid_days=30, stock=5)
    url = reverse("admin:campaigns_segment_run", args=[segment.pk, "coupon"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, {"template": template.pk})
    run = SegmentRun.objects.get()
    assert response["Location"] == reverse("admin:campaigns_segmentrun_status", args=[run.pk])
    run.refresh_from_db()
    # Five in stock for six members: it stops, and says so.
    assert run.status == SegmentRun.Status.DONE and run.total == 6
    assert run.result["issued"] == 5 and run.result["out_of_stock"]
    assert Coupon.objects.filter(template=template).count() == 5
    page = owner_client.get(response["Location"]).content.decode()
    assert "5" in page and "库存" in page
    # Started again (a retry): nobody gets a second coupon.
    SegmentRun.objects.filter(pk=run.pk).update(status=SegmentRun.Status.FAILED)
    CouponTemplate.objects.filter(pk=template.pk).update(stock=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert segment_run_retry(run)  # queued again, then its task (Q_SYNC: now)
    assert Coupon.objects.filter(template=template).count() == 6
    assert Coupon.objects.filter(template=template).values("member").distinct().count() == 6


def test_a_managers_run_reaches_only_their_store(
    client, manager, people, django_capture_on_commit_callbacks
):
    manager.user_permissions.add(*_perms("change_member"))
    client.force_login(manager)
    segment = Segment.objects.create(name="沉睡", rules=DORMANT)
    tag = TagFactory(name="回访")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:campaigns_segment_run", args=[segment.pk, "tag"]),
                    {"tag": tag.pk})  # fmt: skip
    run = SegmentRun.objects.get()
    assert run.store_id == manager.staff_profile.store_id
    assert run.result == {"added": 4}
    assert set(tag.members.values_list("pk", flat=True)) == {m.pk for m in people["dormant"][:4]}


def test_a_clerk_cannot_start_a_run(clerk_client, people):
    segment = Segment.objects.create(name="沉睡", rules=DORMANT)
    url = reverse("admin:campaigns_segment_run", args=[segment.pk, "coupon"])
    assert clerk_client.post(url, {}).status_code in (302, 403)
    assert not SegmentRun.objects.exists()


def test_export_of_a_segment(owner_client, people):
    segment = Segment.objects.create(name="沉睡", rules=DORMANT)
    response = owner_client.post(
        reverse("admin:campaigns_segment_export", args=[segment.pk]), {"format": "csv"}
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert len(body.strip().splitlines()) == 1 + 6
    assert AuditEntry.objects.filter(action__contains="export").exists()


def test_rule_tags_follow_their_segment_and_manual_tags_stay(people):
    rule_tag = Tag.objects.create(name="沉睡会员", kind=Tag.Kind.RULE)
    manual = Tag.objects.create(name="手工", kind=Tag.Kind.MANUAL)
    segment = Segment.objects.create(name="沉睡", rules=DORMANT, tag=rule_tag)
    stray = people["active"][0]
    stray.tags.add(rule_tag, manual)  # in the tag, not in the segment
    counts = run_job("segments_refresh").counts
    assert counts == {"tags_added": 6, "tags_removed": 1, "failed": 0}
    assert set(rule_tag.members.values_list("pk", flat=True)) == {m.pk for m in people["dormant"]}
    assert manual.members.filter(pk=stray.pk).exists()
    # history: one line per member who gained or lost it
    assert AuditEntry.objects.filter(action="member.tags").count() == 7
    # a member leaves the segment: the tag goes with the next run; twice changes nothing
    Card.objects.filter(member=people["dormant"][0]).update(lifecycle="active")
    assert rule_tag_sync(segment) == (0, 1)
    assert rule_tag_sync(segment) == (0, 0)
    segment.refresh_from_db()
    assert segment.member_count == 6  # counted by the job, before the change


def test_a_manual_tag_is_never_synced(people):
    manual = Tag.objects.create(name="手工", kind=Tag.Kind.MANUAL)
    people["active"][0].tags.add(manual)
    segment = Segment.objects.create(name="沉睡", rules=DORMANT, tag=manual)
    assert rule_tag_sync(segment) == (0, 0)
    assert manual.members.count() == 1


def test_erased_members_are_never_in_a_segment(people):
    member_erase(member=people["dormant"][0])
    out = _count_command("--rules", json.dumps(DORMANT))
    assert out[-1] == "count=5"


def test_segment_count_command(people, other_store):
    Segment.objects.create(name="沉睡", rules=DORMANT)
    out = _count_command("--segment", "沉睡")
    assert out[-1] == "count=6"
    assert _count_command("--segment", "沉睡", "--store", other_store.code)[-1] == "count=2"
    with override("en"), pytest.raises(CommandError) as bad:
        call_command("segment_count", "--rules", '{"all": [{"field": "age", "op": "eq"}]}')
    assert bad.value.returncode == 2 and "age" in str(bad.value)
    with pytest.raises(CommandError) as missing:
        call_command("segment_count", "--segment", "无此人群")
    assert missing.value.returncode == 2


def _count_command(*args) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command("segment_count", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def _perms(*codenames):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=codenames)


def test_members_count_is_one_query(people, django_assert_num_queries):
    from campaigns.segments.services import count_by_store

    rules = {"any": [DORMANT, {"all": [{"field": "tag", "op": "is_set"}]}]}
    with django_assert_num_queries(1):
        total, _ = count_by_store(rules)
    assert total == Member.objects.filter(card__lifecycle="dormant").count()


def test_the_preview_refuses_json_that_is_not_a_rule(owner_client, people):
    for body in ("5", '"all"', "[1, 2]", "null"):
        assert owner_client.post(PREVIEW, {"rules": body}).status_code == 400


def test_an_account_without_a_store_cannot_start_a_run(db, people):
    from django.core.exceptions import PermissionDenied

    from campaigns.segments.services import segment_run_start
    from members.models import User

    nobody = User.objects.create_user("nostore", password="x-2026-pass")
    segment = Segment.objects.create(name="沉睡", rules=DORMANT)
    with pytest.raises(PermissionDenied):
        segment_run_start(segment, kind="tag", actor=nobody, tag=TagFactory())
    assert not SegmentRun.objects.exists()
