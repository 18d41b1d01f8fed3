"""config/platform/scan.py: Unindexed gives the ORM's answers, and on SQLite keeps the
term off its index."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.db.models.lookups import LessThan
from django.utils import timezone

from config.platform.scan import Unindexed
from members.models import Member
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_a_range_on_an_unindexed_column_selects_what_the_orm_does():
    now = timezone.now()
    for days in (1, 10, 40, 400):
        MemberFactory(created_at=now - dt.timedelta(days=days))
    cut = now - dt.timedelta(days=30)
    plain = set(Member.objects.filter(created_at__lt=cut).values_list("pk", flat=True))
    unindexed = Member.objects.filter(Q(LessThan(Unindexed("created_at"), cut)))
    assert set(unindexed.values_list("pk", flat=True)) == plain and len(plain) == 2
    sql = str(unindexed.query)
    assert ('+"members_member"."created_at"' in sql) == (connection.vendor == "sqlite")


def test_grouping_by_an_unindexed_column_counts_what_the_orm_does():
    one, two = StoreFactory(), StoreFactory()
    for store in (one, one, two, None):
        MemberFactory(store=store)
    plain = dict(Member.objects.order_by().values_list("store_id").annotate(n=Count("pk")))
    grouped = dict(
        Member.objects.order_by()
        .annotate(by=Unindexed("store_id"))
        .values_list("by")
        .annotate(n=Count("pk"))
    )
    assert grouped == plain == {one.pk: 2, two.pk: 1, None: 1}
