"""Default settings and four tiers, so a fresh install works; merchants rename them."""

from decimal import Decimal

from django.db import migrations

TIERS = [
    # level, name, qualify at (yuan spent), keep at, price rate, points multiplier, and
    # benefits: only what the rules do not say already (the member centre lists the price
    # rate, the multiplier and the coupons from the rules, then this text: issue #24).
    (1, "普通会员", "0", "0", "1.000", "1.00", ""),
    (2, "银卡", "500", "300", "0.980", "1.20", ""),
    (3, "金卡", "2000", "1200", "0.950", "1.50", ""),
    (4, "钻石卡", "5000", "3000", "0.900", "2.00", "专属客服"),
]


def create_defaults(apps, schema_editor):
    LoyaltySettings = apps.get_model("loyalty", "LoyaltySettings")
    Tier = apps.get_model("loyalty", "Tier")
    LoyaltySettings.objects.get_or_create(pk=1)
    if Tier.objects.exists():
        return
    for level, name, qualify, keep, rate, mult, benefits in TIERS:
        Tier.objects.create(
            level=level,
            name=name,
            qualify_threshold=Decimal(qualify),
            keep_threshold=Decimal(keep),
            discount_rate=Decimal(rate),
            points_multiplier=Decimal(mult),
            benefits=benefits,
        )


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
