"""Staff roles mapped to Django groups and permissions.

One declarative table, applied by `sync_role_groups`: from the members data
migration (so the groups exist from the first migrate) and again after every
migrate (post_migrate), so permissions of apps added later join their roles.
"""

from .models import Role

# Permission codenames as "app_label.codename"; "app_label.*" means all of that app.
# Names missing from the database (an app not migrated yet) are skipped.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.OWNER: [
        "members.*",
        "loyalty.*",
        "campaigns.*",
        "wechat.*",
        "django_q.*",
        "axes.*",  # unlock staff accounts locked after failed logins
        "members.export_member",
    ],
    Role.MANAGER: [
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.view_tag",
        "members.add_tag",
        "members.change_tag",
        "members.view_store",
        "members.view_staffprofile",
        "members.view_auditentry",
        "loyalty.view_loyaltysettings",  # the configuration: read, the owner changes it
        "loyalty.view_tier",
        "loyalty.view_earnrule",
        "loyalty.view_card",
        "loyalty.view_purchase",
        "loyalty.add_purchase",
        "loyalty.add_refund",
        "loyalty.view_refund",
        "loyalty.view_pointsentry",
        "loyalty.view_growthentry",
        "loyalty.view_tierchange",
        "loyalty.adjust_points",
        "loyalty.issue_coupon",
        "loyalty.view_coupon",
        "loyalty.change_coupon",
        "loyalty.view_couponevent",
        "loyalty.view_coupontemplate",
        "loyalty.view_reward",
        "loyalty.view_redemption",
        "loyalty.change_redemption",
        "loyalty.view_checkin",
        "loyalty.view_referral",
        "campaigns.view_dailystats",  # the dashboard, of their store
    ],
    Role.CLERK: [
        "members.view_member",
        "members.add_member",
        "members.view_tag",
        "loyalty.view_card",
        "loyalty.add_purchase",
        "loyalty.view_purchase",
        "loyalty.add_refund",  # refunds at the counter, their store's members only
        "loyalty.view_coupon",
        "loyalty.change_coupon",  # 核销 a coupon without a purchase
        "loyalty.view_redemption",
        "loyalty.change_redemption",  # hand over a reward (pickup code)
    ],
}

ROLE_GROUP_NAMES = {Role.OWNER: "owner", Role.MANAGER: "manager", Role.CLERK: "clerk"}


def sync_role_groups(group_model, permission_model) -> None:
    """Create the role groups and give each exactly the permissions of its role."""
    all_perms = list(permission_model.objects.select_related("content_type"))
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in all_perms}
    for role, names in ROLE_PERMISSIONS.items():
        wanted = set()
        for name in names:
            app_label, codename = name.split(".", 1)
            if codename == "*":
                wanted.update(p for p in all_perms if p.content_type.app_label == app_label)
            elif name in by_name:
                wanted.add(by_name[name])
        group, _ = group_model.objects.get_or_create(name=ROLE_GROUP_NAMES[role])
        group.permissions.set(wanted)
