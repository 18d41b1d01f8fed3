"""Staff roles mapped to Django groups and permissions.

members declares the roles and its own permissions; every app above it adds its own
from its AppConfig.ready() with `contribute`, so members never names them. The table is
applied by `sync_role_groups`: from the members data migration (so the groups exist
from the first migrate) and again after every migrate (post_migrate), so permissions of
apps added later join their roles. Both run after every app's ready(): the
contributions are in place by then.
"""

from collections.abc import Iterable, Mapping

from .models import Role

# Permission codenames as "app_label.codename"; "app_label.*" means all of that app.
# Names missing from the database (an app not migrated yet) are skipped.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.OWNER: [
        "members.*",
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
    ],
    Role.CLERK: [
        "members.view_member",
        "members.add_member",
        "members.view_tag",
    ],
}

ROLE_GROUP_NAMES = {Role.OWNER: "owner", Role.MANAGER: "manager", Role.CLERK: "clerk"}


def contribute(permissions: Mapping[str, Iterable[str]]) -> None:
    """Add an app's permissions to roles: {role: ["app_label.codename", ...]}.

    Called from the app's AppConfig.ready(), which may run more than once: a name its
    role has already is not added again. An unknown role or a name without an app
    label is a mistake and raises ValueError.
    """
    for role, names in permissions.items():
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"unknown role {role!r}")
        table = ROLE_PERMISSIONS[role]
        for name in names:
            app_label, dot, codename = name.partition(".")
            if not (app_label and dot and codename):
                raise ValueError(f"{name!r} is not 'app_label.codename' nor 'app_label.*'")
            if name not in table:
                table.append(name)


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
