"""Foreign-key indexes that cost every insert for rows that do not need them.

- A nullable foreign key that most rows leave empty (an API purchase's staff, a
  registration's referrer and guide, an automatic ledger row's actor, a coupon's
  purchase until it is used...) is indexed over the rows that have one only
  (`members.models.index_where_set`): the lookups of one value it serves (=, IN) imply
  IS NOT NULL, on SQLite and PostgreSQL alike.
- A foreign key's own index where a composite index starts with the same column.

The partial indexes are built first (CONCURRENTLY on PostgreSQL), then the old ones
dropped (CONCURRENTLY, IF EXISTS): the tables stay writable and a lookup always has an
index. The state change is the fields' db_index=False: SQLite would rebuild each table
for it (a copy of every row), so the database side is the DROP INDEX alone.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from config.platform.migration_ops import AddIndexConcurrently, DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY on PostgreSQL (config/platform/migration_ops.py)

    dependencies = [
        ('loyalty', '0009_rules_stamp'),
        ('members', '0007_partial_fk_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='coupon',
            index=models.Index(condition=models.Q(('issued_by__isnull', False)), fields=['issued_by'], name='coupon_issuer_set'),
        ),
        AddIndexConcurrently(
            model_name='coupon',
            index=models.Index(condition=models.Q(('redeemed_store__isnull', False)), fields=['redeemed_store'], name='coupon_store_set'),
        ),
        AddIndexConcurrently(
            model_name='coupon',
            index=models.Index(condition=models.Q(('redeemed_by__isnull', False)), fields=['redeemed_by'], name='coupon_verifier_set'),
        ),
        AddIndexConcurrently(
            model_name='coupon',
            index=models.Index(condition=models.Q(('purchase__isnull', False)), fields=['purchase'], name='coupon_purchase_set'),
        ),
        AddIndexConcurrently(
            model_name='couponevent',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='couponevent_actor_set'),
        ),
        AddIndexConcurrently(
            model_name='couponevent',
            index=models.Index(condition=models.Q(('store__isnull', False)), fields=['store'], name='couponevent_store_set'),
        ),
        AddIndexConcurrently(
            model_name='couponevent',
            index=models.Index(condition=models.Q(('purchase__isnull', False)), fields=['purchase'], name='couponevent_purchase_set'),
        ),
        AddIndexConcurrently(
            model_name='growthentry',
            index=models.Index(condition=models.Q(('purchase__isnull', False)), fields=['purchase'], name='growth_purchase_set'),
        ),
        AddIndexConcurrently(
            model_name='pointsentry',
            index=models.Index(condition=models.Q(('purchase__isnull', False)), fields=['purchase'], name='points_purchase_set'),
        ),
        AddIndexConcurrently(
            model_name='pointsentry',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='points_actor_set'),
        ),
        AddIndexConcurrently(
            model_name='purchase',
            index=models.Index(condition=models.Q(('staff__isnull', False)), fields=['staff'], name='purchase_staff_set'),
        ),
        AddIndexConcurrently(
            model_name='tierchange',
            index=models.Index(condition=models.Q(('from_tier__isnull', False)), fields=['from_tier'], name='tierchange_from_set'),
        ),
        AddIndexConcurrently(
            model_name='tierchange',
            index=models.Index(condition=models.Q(('purchase__isnull', False)), fields=['purchase'], name='tierchange_purchase_set'),
        ),
        AddIndexConcurrently(
            model_name='tierchange',
            index=models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='tierchange_actor_set'),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='coupon',
                    name='issued_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='issued by'),
                ),
                migrations.AlterField(
                    model_name='coupon',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='coupons', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='coupon',
                    name='purchase',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='coupons', to='loyalty.purchase', verbose_name='purchase'),
                ),
                migrations.AlterField(
                    model_name='coupon',
                    name='redeemed_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='verified by'),
                ),
                migrations.AlterField(
                    model_name='coupon',
                    name='redeemed_store',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='members.store', verbose_name='used at store'),
                ),
                migrations.AlterField(
                    model_name='coupon',
                    name='template',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='coupons', to='loyalty.coupontemplate', verbose_name='coupon template'),
                ),
                migrations.AlterField(
                    model_name='couponevent',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='by'),
                ),
                migrations.AlterField(
                    model_name='couponevent',
                    name='coupon',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='loyalty.coupon'),
                ),
                migrations.AlterField(
                    model_name='couponevent',
                    name='purchase',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='loyalty.purchase'),
                ),
                migrations.AlterField(
                    model_name='couponevent',
                    name='store',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='members.store'),
                ),
                migrations.AlterField(
                    model_name='growthentry',
                    name='purchase',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.purchase'),
                ),
                migrations.AlterField(
                    model_name='pointsentry',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='by'),
                ),
                migrations.AlterField(
                    model_name='pointsentry',
                    name='purchase',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='points_entries', to='loyalty.purchase'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='staff',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='staff'),
                ),
                migrations.AlterField(
                    model_name='tierchange',
                    name='actor',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='by'),
                ),
                migrations.AlterField(
                    model_name='tierchange',
                    name='from_tier',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.tier', verbose_name='from'),
                ),
                migrations.AlterField(
                    model_name='tierchange',
                    name='purchase',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='loyalty.purchase'),
                ),
            ],
            database_operations=[
                DropIndexIfExists(
                    "loyalty_coupon_issued_by_id_89da645b",
                    create='CREATE INDEX "loyalty_coupon_issued_by_id_89da645b" ON "loyalty_coupon" ("issued_by_id")',
                ),
                DropIndexIfExists(
                    "loyalty_coupon_member_id_a4c6573e",
                    create='CREATE INDEX "loyalty_coupon_member_id_a4c6573e" ON "loyalty_coupon" ("member_id")',
                ),
                DropIndexIfExists(
                    "loyalty_coupon_purchase_id_e448d136",
                    create='CREATE INDEX "loyalty_coupon_purchase_id_e448d136" ON "loyalty_coupon" ("purchase_id")',
                ),
                DropIndexIfExists(
                    "loyalty_coupon_redeemed_by_id_57a7bf44",
                    create='CREATE INDEX "loyalty_coupon_redeemed_by_id_57a7bf44" ON "loyalty_coupon" ("redeemed_by_id")',
                ),
                DropIndexIfExists(
                    "loyalty_coupon_redeemed_store_id_75e62f86",
                    create='CREATE INDEX "loyalty_coupon_redeemed_store_id_75e62f86" ON "loyalty_coupon" ("redeemed_store_id")',
                ),
                DropIndexIfExists(
                    "loyalty_coupon_template_id_27bd224a",
                    create='CREATE INDEX "loyalty_coupon_template_id_27bd224a" ON "loyalty_coupon" ("template_id")',
                ),
                DropIndexIfExists(
                    "loyalty_couponevent_actor_id_34f4df48",
                    create='CREATE INDEX "loyalty_couponevent_actor_id_34f4df48" ON "loyalty_couponevent" ("actor_id")',
                ),
                DropIndexIfExists(
                    "loyalty_couponevent_coupon_id_60aeb61f",
                    create='CREATE INDEX "loyalty_couponevent_coupon_id_60aeb61f" ON "loyalty_couponevent" ("coupon_id")',
                ),
                DropIndexIfExists(
                    "loyalty_couponevent_purchase_id_e6e9edea",
                    create='CREATE INDEX "loyalty_couponevent_purchase_id_e6e9edea" ON "loyalty_couponevent" ("purchase_id")',
                ),
                DropIndexIfExists(
                    "loyalty_couponevent_store_id_8f28cf74",
                    create='CREATE INDEX "loyalty_couponevent_store_id_8f28cf74" ON "loyalty_couponevent" ("store_id")',
                ),
                DropIndexIfExists(
                    "loyalty_growthentry_purchase_id_605a2270",
                    create='CREATE INDEX "loyalty_growthentry_purchase_id_605a2270" ON "loyalty_growthentry" ("purchase_id")',
                ),
                DropIndexIfExists(
                    "loyalty_pointsentry_actor_id_3deb05bc",
                    create='CREATE INDEX "loyalty_pointsentry_actor_id_3deb05bc" ON "loyalty_pointsentry" ("actor_id")',
                ),
                DropIndexIfExists(
                    "loyalty_pointsentry_purchase_id_295a19b1",
                    create='CREATE INDEX "loyalty_pointsentry_purchase_id_295a19b1" ON "loyalty_pointsentry" ("purchase_id")',
                ),
                DropIndexIfExists(
                    "loyalty_purchase_staff_id_1dac0390",
                    create='CREATE INDEX "loyalty_purchase_staff_id_1dac0390" ON "loyalty_purchase" ("staff_id")',
                ),
                DropIndexIfExists(
                    "loyalty_tierchange_actor_id_b4295cfb",
                    create='CREATE INDEX "loyalty_tierchange_actor_id_b4295cfb" ON "loyalty_tierchange" ("actor_id")',
                ),
                DropIndexIfExists(
                    "loyalty_tierchange_from_tier_id_35853b7a",
                    create='CREATE INDEX "loyalty_tierchange_from_tier_id_35853b7a" ON "loyalty_tierchange" ("from_tier_id")',
                ),
                DropIndexIfExists(
                    "loyalty_tierchange_purchase_id_0f9ed060",
                    create='CREATE INDEX "loyalty_tierchange_purchase_id_0f9ed060" ON "loyalty_tierchange" ("purchase_id")',
                ),
            ],
        ),
    ]
