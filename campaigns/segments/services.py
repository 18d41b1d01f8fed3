"""Segments at work: counts (in total and per store), the background actions over a
segment's members (issue a coupon, add a tag), and the nightly job that keeps every
rule tag equal to its segment and every saved count fresh."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.scan import Unindexed
from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.models import Coupon, CouponTemplate
from members import queue
from members.models import Member, Store, Tag, User
from members.selectors import ALL_STORES, store_scope
from members.services import member_tags_add, member_tags_remove

from ..models import Segment, SegmentRun
from .rules import check, members_matching

log = logging.getLogger(__name__)
BATCH = 500


def scope_store(user: User) -> Store | None | bool:
    """The store a staff member's segments are limited to: None for owners (every
    store), a Store for others, False for an account with no store (sees nobody)."""
    scope = store_scope(user)
    if scope is ALL_STORES:
        return None
    return False if scope is None else Store.objects.get(pk=scope)


def scoped_members(tree, user: User | None, *, now=None) -> QuerySet[Member]:
    store = scope_store(user) if user is not None else None
    if store is False:
        return Member.objects.none()
    return members_matching(tree, now=now, store=store)


def count_by_store(tree, *, store: Store | None = None, now=None) -> tuple[int, dict[str, int]]:
    """(members, {store id or "": members}) in one GROUP BY query."""
    rows = (
        members_matching(tree, now=now, store=store)
        .order_by()
        .annotate(by_store=Unindexed("store_id"))  # no walk of the store index (scan.py)
        .values_list("by_store")
        .annotate(n=Count("pk"))
    )
    per_store = {str(store_id or ""): n for store_id, n in rows}
    return sum(per_store.values()), per_store


def scoped_count(tree, user: User, *, now=None) -> int:
    """How many members of `tree` the user may see: the measured query (count_by_store)."""
    store = scope_store(user)
    return 0 if store is False else count_by_store(tree, store=store, now=now)[0]


def segment_recount(segment: Segment, *, now=None) -> Segment:
    total, per_store = count_by_store(segment.rules, now=now)
    segment.member_count, segment.store_counts = total, per_store
    segment.counted_at = now or timezone.now()
    Segment.objects.filter(pk=segment.pk).update(
        member_count=total, store_counts=per_store, counted_at=segment.counted_at
    )
    return segment


def count_for(segment: Segment, store: Store | None | bool) -> int | None:
    """The saved count within a viewer's scope (scope_store): their store's for a
    manager, every store's for an owner."""
    if segment.member_count is None:
        return None
    if store is None:
        return segment.member_count
    return 0 if store is False else segment.store_counts.get(str(store.pk), 0)


# --- background actions -----------------------------------------------------------------


@transaction.atomic
def segment_run_start(
    segment: Segment,
    *,
    kind: str,
    actor: User,
    template: CouponTemplate | None = None,
    tag: Tag | None = None,
) -> SegmentRun:
    """Queue an action over the segment's members as they are now (the rule is copied:
    editing the segment later does not change a run under way)."""
    store = scope_store(actor)
    if store is False:  # a staff account with no store sees no members: nothing to do
        raise PermissionDenied
    run = SegmentRun.objects.create(
        segment=segment,
        kind=kind,
        coupon_template=template,
        tag=tag,
        rules=check(segment.rules),
        store=store,
        actor=actor,
        total=scoped_members(segment.rules, actor).count(),
    )
    transaction.on_commit(lambda: enqueue(run.pk))
    return run


def enqueue(run_id: int) -> bool:
    """The run's task; False when the broker is down (requeue_segment_runs retries)."""
    return queue.enqueue(
        "campaigns.segments.services.segment_run_task", run_id, task_name=f"segment-{run_id}"
    )


def segment_run_retry(run: SegmentRun) -> bool:
    """Queue a failed run again; False when it has not failed. It goes on like a new
    run, and what it already did is not done twice (issue_batch's keys; a member
    holding the tag is not tagged again). Only this makes a failed run run again:
    the task claims queued runs only, so a late duplicate of its task does nothing."""
    queued = SegmentRun.objects.filter(pk=run.pk, status=SegmentRun.Status.FAILED).update(
        status=SegmentRun.Status.QUEUED, nudged_at=timezone.now(), finished_at=None
    )
    if queued:
        transaction.on_commit(lambda: enqueue(run.pk))
    return bool(queued)


REQUEUE_AFTER = dt.timedelta(minutes=2)


def requeue_segment_runs(day, now=None) -> dict:
    """Every minute: a run still queued REQUEUE_AFTER after it was asked for (or last
    nudged, nudged_at) gets its task again: it was lost while the broker was down
    (members/queue.py), or the workers are busy, in which case the run is nudged once
    every REQUEUE_AFTER, not every minute. However many of its tasks turn up, the run
    runs once: segment_run_task claims it."""
    now = now or timezone.now()
    waiting = SegmentRun.objects.filter(status=SegmentRun.Status.QUEUED)
    return {"segment_runs_requeued": queue.nudge_waiting(waiting, "nudged_at", enqueue, now,
                                                   wait=REQUEUE_AFTER)}  # fmt: skip


def segment_run_task(run_id: int) -> None:
    """django-q2 task: do the run's action, member by member (coupons) or in batches
    (tags), saving progress after each batch. Claimed, so it runs once: a queued run
    only (a failed one is queued again by segment_run_retry, never by a stray task)."""
    claimed = SegmentRun.objects.filter(pk=run_id, status=SegmentRun.Status.QUEUED).update(
        status=SegmentRun.Status.RUNNING, error=""
    )
    if not claimed:
        return
    run = SegmentRun.objects.select_related("coupon_template", "tag", "actor", "store").get(
        pk=run_id
    )
    members = members_matching(run.rules, store=run.store).order_by("pk")
    result = {"issued": 0, "skipped": 0, "reasons": {}} if run.kind == "coupon" else {"added": 0}
    done, last = 0, 0
    try:
        while batch := list(members.filter(pk__gt=last)[:BATCH]):
            last = batch[-1].pk
            if run.kind == SegmentRun.Kind.COUPON:
                stop = issue_batch(run, batch, result)
            else:
                ids = [member.pk for member in batch]
                result["added"] += member_tags_add(
                    members=Member.objects.filter(pk__in=ids), tag=run.tag, actor=run.actor
                )
                stop = False
            done += len(batch)
            SegmentRun.objects.filter(pk=run.pk).update(done=done, result=result)
            if stop:
                break
    except Exception as exc:
        log.exception("segment run %s failed", run.pk)
        SegmentRun.objects.filter(pk=run.pk).update(
            status=SegmentRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    SegmentRun.objects.filter(pk=run.pk).update(
        status=SegmentRun.Status.DONE, done=done, result=result, finished_at=timezone.now()
    )


def issue_batch(run: SegmentRun, batch: list[Member], result: dict) -> bool:
    """One coupon to each member of the batch, keyed by run and member (a run started
    again issues nothing twice). True when the stock ran out (the run stops)."""
    for member in batch:
        try:
            coupon, created = coupon_issue(
                template=run.coupon_template,
                member=member,
                source=Coupon.Source.CAMPAIGN,
                actor=run.actor,
                key=f"segment-run:{run.pk}:{member.pk}",
                note=_("Segment %(name)s") % {"name": run.segment.name},
            )
        except CouponNotIssued as exc:
            result["skipped"] += 1
            result["reasons"][exc.message] = result["reasons"].get(exc.message, 0) + 1
            template = CouponTemplate.objects.get(pk=run.coupon_template_id)
            if template.stock is not None and template.issued_count >= template.stock:
                result["out_of_stock"] = True
                return True
        else:
            result["issued"] += int(created)
    return False


# --- the nightly job ----------------------------------------------------------------------


def segments_refresh(day: dt.date, now=None) -> dict:
    """Every rule tag made equal to its segment (members who entered get it, those who
    left lose it; each change is in the member's history), then every count taken."""
    now = now or timezone.now()
    added = removed = failed = 0
    for segment in Segment.objects.select_related("tag").order_by("pk"):
        try:
            if segment.tag is not None and segment.tag.kind == Tag.Kind.RULE:
                a, r = rule_tag_sync(segment, now=now)
                added, removed = added + a, removed + r
            segment_recount(segment, now=now)
        except Exception:  # one broken rule (a tier renamed) must not stop the others
            log.exception("segment %s could not be refreshed", segment.pk)
            failed += 1
    return {"tags_added": added, "tags_removed": removed, "failed": failed}


def rule_tag_sync(segment: Segment, *, now=None) -> tuple[int, int]:
    """(added, removed): the segment's tag given to its members who lack it and taken
    from holders who are no longer in it. Only ever a rule tag (manual ones are staff's)."""
    tag = segment.tag
    if tag is None or tag.kind != Tag.Kind.RULE:
        return 0, 0
    inside = members_matching(segment.rules, now=now)
    added = member_tags_add(members=inside.exclude(tags=tag), tag=tag, actor=None)
    leaving = Member.objects.filter(tags=tag).exclude(pk__in=inside.values("pk"))
    removed = member_tags_remove(members=leaving, tag=tag, actor=None)
    return added, removed
