"""The dashboard's lifecycle funnel and RFM grid: members per lifecycle stage and per RFM
segment, of one store or all, as the nightly `lifecycle_and_rfm` job left them on the
cards (loyalty/jobs.py; the definitions are in docs/loyalty.md).

Counted with GROUP BY over the card table (counts), whatever the date range: the stages
are a state of "now" (last night), not of the range, and are kept in the cache until the
job runs again (cached_counts). A member counts in their registration store, as every
dashboard figure; erased members are left out, as from the member total.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.models import Card, JobRun, Lifecycle, LoyaltySettings, RfmSegment
from loyalty.money import ZERO, yuan
from members.models import Member
from members.replica import from_replica

JOB = "lifecycle_and_rfm"  # the job that stages the cards (loyalty/jobs.py)
CACHE_SECONDS = 2 * 24 * 3600  # a key lives until the next run or so
# prospect/new -> active -> dormant -> churned: from not yet buying to lost.
FUNNEL = [Lifecycle.PROSPECT, Lifecycle.NEW, Lifecycle.ACTIVE, Lifecycle.DORMANT, Lifecycle.CHURNED]
# segment -> (R, F, M high?) and what that means in plain words.
GRID = {
    RfmSegment.CHAMPIONS: (
        (True, True, True),
        gettext_lazy("Bought recently, often and much: the best customers."),
    ),
    RfmSegment.IMPORTANT_DEVELOP: (
        (True, False, True),
        gettext_lazy("Bought recently and much, but seldom: bring them back more often."),
    ),
    RfmSegment.IMPORTANT_KEEP: (
        (False, True, True),
        gettext_lazy("Bought often and much, but not lately: keep them from slipping away."),
    ),
    RfmSegment.IMPORTANT_WIN_BACK: (
        (False, False, True),
        gettext_lazy("Spent much, but seldom and not lately: win them back."),
    ),
    RfmSegment.GENERAL_VALUE: (
        (True, True, False),
        gettext_lazy("Buy recently and often, small amounts: raise the spend per visit."),
    ),
    RfmSegment.GENERAL_DEVELOP: (
        (True, False, False),
        gettext_lazy("Bought recently, seldom and little: often new buyers."),
    ),
    RfmSegment.GENERAL_KEEP: (
        (False, True, False),
        gettext_lazy("Bought often but little, and not lately."),
    ),
    RfmSegment.GENERAL_WIN_BACK: (
        (False, False, False),
        gettext_lazy("Bought seldom, little and long ago."),
    ),
}


@dataclass
class Stage:
    code: str
    label: str
    members: int
    share: Decimal | None  # of the members in scope, 0-100
    definition: str
    url: str  # the admin member list filtered to the stage

    # Shown as the dashboard's tiles show numbers: 1,234 and ¥1,234.50 (the Chinese
    # locale's own format groups by four digits with no separator).
    @property
    def members_shown(self) -> str:
        return f"{self.members:,}"


@dataclass
class Segment(Stage):
    highs: tuple[bool, bool, bool]  # R, F, M: high (4-5) or low (1-3)
    spent: Decimal  # their total spent (cash paid less refunds, all time)
    spent_share: Decimal | None  # of the total spent in scope, 0-100

    @property
    def spent_per_member(self) -> Decimal | None:
        return yuan(self.spent / self.members) if self.members else None

    @property
    def spent_shown(self) -> str:
        return f"¥{self.spent:,.2f}"

    @property
    def spent_per_member_shown(self) -> str:
        per = self.spent_per_member
        return "—" if per is None else f"¥{per:,.2f}"


@dataclass
class SegmentStats:
    members: int
    stages: list[Stage]
    unstaged: int  # cards the job has not staged yet (joined since its last run)
    activity: str  # what counts as activity, per the settings
    segments: list[Segment]
    unscored: int  # members who never bought: no RFM segment
    spent: Decimal
    as_of: dt.datetime | None  # the end of the job's run counted (None: not through run_job)

    @property
    def unscored_shown(self) -> str:
        return f"{self.unscored:,}"

    @property
    def unscored_share(self) -> Decimal | None:
        return _share(self.unscored, self.members)


@from_replica  # last night's stages: the replica's lag does not show
def counts(store_id: int | None) -> tuple[dict, dict]:
    """({stage: members}, {segment: (members, total spent)}) of the store's members
    (store_id None: every store), erased ones left out; "" is "not staged" and "never
    bought". At 1,000,000 cards: about 1 s for all stores on SQLite (0.5 s on
    PostgreSQL), 0.4 s for a store of 100,000: hence the cache (cached_counts)."""
    per_stage: dict[str, int] = defaultdict(int)
    per_segment: dict[str, list] = defaultdict(lambda: [0, ZERO])
    sums = {"n": Count("pk"), "spent": Sum("total_spent")}

    def add(rows, sign: int) -> None:
        for stage, segment, n, spent in rows:
            per_stage[stage] += sign * n
            per_segment[segment][0] += sign * n
            per_segment[segment][1] += sign * (spent or ZERO)

    active = Member.Status.ACTIVE
    if store_id is None:
        # No join to a million members: every card (the lifecycle index alone answers
        # the first query), then the erased members' cards (few) taken off.
        cards = Card.objects.all()
        for stage, n in _grouped(cards, "lifecycle", n=Count("pk")):
            per_stage[stage] += n
        for segment, n, spent in _grouped(cards, "rfm_segment", **sums):
            per_segment[segment][0] += n
            per_segment[segment][1] += spent or ZERO
        erased = Member.objects.exclude(status=active).values("pk")
        add(
            _grouped(Card.objects.filter(member__in=erased), "lifecycle", "rfm_segment", **sums), -1
        )
    else:
        # One pass over the store's members (their index), each one's card read once.
        cards = Card.objects.filter(member__store_id=store_id, member__status=active)
        add(_grouped(cards, "lifecycle", "rfm_segment", **sums), 1)
    return dict(per_stage), {code: tuple(values) for code, values in per_segment.items()}


def _grouped(cards, *fields, **aggregates):
    return cards.values(*fields).annotate(**aggregates).order_by().values_list(*fields, *aggregates)


def cached_counts(store_id: int | None) -> tuple[tuple[dict, dict], dt.datetime | None]:
    """counts() as of the last run of the job, and when that run ended (None: never).

    The stages change only when the job runs (at night), so the counts are kept in the
    cache under the run: a run gives a new key. Members who join or are erased after
    it are counted at the next run, as they are staged.
    """
    run = (
        JobRun.objects.filter(job=JOB, status=JobRun.Status.OK)
        .order_by("-started_at")
        .values_list("pk", "started_at", "finished_at")
        .first()
    )
    if run is None:  # never run through run_job (tests, a fresh install): no key
        return counts(store_id), None
    pk, started_at, finished_at = run
    key = f"dashboard:segments:{store_id or 'all'}:{pk}:{started_at.timestamp()}"
    found = cache.get(key)
    if found is None:
        found = counts(store_id)
        cache.set(key, found, CACHE_SECONDS)
    return found, finished_at


def _share(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def _member_list(store_id: int | None, show_store: bool, **filters) -> str:
    """The admin member list with the dashboard's scope and one stage or segment."""
    query = {"status__exact": Member.Status.ACTIVE, **filters}
    if store_id is not None and show_store:  # a manager's list is their store's anyway
        query["store__id__exact"] = store_id
    return f"{reverse('admin:members_member_changelist')}?{urlencode(query)}"


def stage_definitions(conf: LoyaltySettings) -> dict[str, str]:
    days = {
        "new": conf.lifecycle_new_days,
        "active": conf.lifecycle_active_days,
        "dormant": conf.lifecycle_dormant_days,
    }
    return {
        Lifecycle.PROSPECT: _(
            "Never bought, registered over %(new)s days ago, no activity within %(active)s days."
        )
        % days,
        Lifecycle.NEW: _("Registered within %(new)s days, fewer than 2 purchases.") % days,
        Lifecycle.ACTIVE: _("Activity within the last %(active)s days.") % days,
        Lifecycle.DORMANT: _("Last activity %(active)s to %(dormant)s days ago.") % days,
        Lifecycle.CHURNED: _("No activity for over %(dormant)s days.") % days,
    }


def segment_stats(
    *, store_id: int | None, show_store: bool = False, conf: LoyaltySettings | None = None
) -> SegmentStats:
    """The funnel and the grid of one store's members (None: all stores). `show_store`:
    the member-list links carry the store (an owner who picked one)."""
    conf = conf or LoyaltySettings.current()
    (per_stage, per_segment), as_of = cached_counts(store_id)
    members = sum(per_stage.values())
    definitions = stage_definitions(conf)
    stages = [
        Stage(
            code=stage.value,
            label=stage.label,
            members=per_stage.get(stage.value, 0),
            share=_share(per_stage.get(stage.value, 0), members),
            definition=definitions[stage],
            url=_member_list(store_id, show_store, card__lifecycle__exact=stage.value),
        )
        for stage in FUNNEL
    ]
    spent = sum((s for _n, s in per_segment.values()), ZERO)
    segments = []
    for segment, (highs, meaning) in GRID.items():
        n, segment_spent = per_segment.get(segment.value, (0, ZERO))
        segments.append(
            Segment(
                code=segment.value,
                label=segment.label,
                members=n,
                share=_share(n, members),
                definition=str(meaning),
                url=_member_list(store_id, show_store, card__rfm_segment__exact=segment.value),
                highs=highs,
                spent=yuan(segment_spent),
                spent_share=_share(segment_spent, spent),
            )
        )
    if conf.lifecycle_counts_visits:
        activity = _("Activity: a purchase, a visit of the member centre or a check-in.")
    else:
        activity = _("Activity: a purchase (visits do not count, per the settings).")
    return SegmentStats(
        members=members,
        stages=stages,
        unstaged=per_stage.get("", 0),
        activity=activity,
        segments=segments,
        unscored=per_segment.get("", (0, ZERO))[0],
        spent=yuan(spent),
        as_of=as_of,
    )
