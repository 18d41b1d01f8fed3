import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from members import roles
from members.models import AuditEntry, Role
from members.services import staff_profile_save


@pytest.mark.django_db
def test_migrate_creates_the_three_role_groups():
    perms = {g.name: {p.codename for p in g.permissions.all()} for g in Group.objects.all()}
    assert {"owner", "manager", "clerk"} <= set(perms)
    assert {"change_member", "delete_member", "export_member"} <= perms["owner"]
    assert "change_member" in perms["manager"] and "delete_member" not in perms["manager"]
    assert perms["clerk"] >= {"view_member", "add_member"}
    assert not perms["clerk"] & {"change_member", "delete_member", "export_member"}


@pytest.mark.django_db
def test_the_apps_above_members_add_their_permissions_to_the_roles():
    perms = {
        g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()}
        for g in Group.objects.prefetch_related("permissions__content_type")
    }
    apps_of = {role: {name.split(".")[0] for name in names} for role, names in perms.items()}
    assert {"members", "loyalty", "campaigns", "wechat"} <= apps_of["owner"]
    assert {"loyalty.view_card", "loyalty.adjust_points", "campaigns.view_dailystats"} <= perms[
        "manager"
    ]
    assert "loyalty.change_loyaltysettings" not in perms["manager"]
    assert {"loyalty.add_purchase", "loyalty.change_redemption"} <= perms["clerk"]
    assert not apps_of["manager"] & {"wechat"} and not apps_of["clerk"] & {"campaigns", "wechat"}


def test_members_roles_name_no_app_above_members():
    source = Path(roles.__file__).read_text(encoding="utf-8")
    assert not re.search(r"loyalty|campaigns|wechat", source)


def test_contribute_adds_each_name_once_and_refuses_mistakes(monkeypatch):
    table = {role: list(names) for role, names in roles.ROLE_PERMISSIONS.items()}
    monkeypatch.setattr(roles, "ROLE_PERMISSIONS", table)
    roles.contribute({"clerk": ["members.view_store", "members.view_store"]})
    roles.contribute({Role.CLERK: ["members.view_store"]})
    assert table["clerk"].count("members.view_store") == 1
    with pytest.raises(ValueError):
        roles.contribute({"cashier": ["members.view_member"]})
    with pytest.raises(ValueError):
        roles.contribute({"clerk": ["view_member"]})


@pytest.mark.django_db
def test_each_role_gets_its_group_and_admin_access(owner, manager, clerk):
    assert [g.name for g in owner.groups.all()] == ["owner"] and owner.is_staff
    assert [g.name for g in manager.groups.all()] == ["manager"] and manager.is_staff
    assert [g.name for g in clerk.groups.all()] == ["clerk"] and not clerk.is_staff
    assert manager.has_perm("members.change_member") and not clerk.has_perm("members.change_member")


@pytest.mark.django_db
def test_a_role_change_moves_group_and_access_and_is_audited(clerk, owner, store):
    staff_profile_save(user=clerk, role=Role.MANAGER, store=store, actor=owner)
    clerk.refresh_from_db()
    assert [g.name for g in clerk.groups.all()] == ["manager"] and clerk.is_staff
    entry = AuditEntry.objects.get(action="staff.set_role", actor=owner)
    assert entry.changes["role"] == ["clerk", "manager"] and entry.actor == owner


@pytest.mark.django_db
def test_a_clerk_must_belong_to_a_store(clerk, owner):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        staff_profile_save(user=clerk, role=Role.CLERK, store=None, actor=owner)


@pytest.mark.django_db
def test_owner_changes_a_role_in_the_admin(owner_client, clerk, store):
    from django.urls import reverse

    url = reverse("admin:members_user_change", args=[clerk.pk])
    page = owner_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": clerk.username,
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "groups": [],
            "user_permissions": [],
            "staff_profile-TOTAL_FORMS": "1",
            "staff_profile-INITIAL_FORMS": "1",
            "staff_profile-MIN_NUM_FORMS": "0",
            "staff_profile-MAX_NUM_FORMS": "1",
            "staff_profile-0-id": clerk.staff_profile.pk,
            "staff_profile-0-user": clerk.pk,
            "staff_profile-0-role": "manager",
            "staff_profile-0-store": store.pk,
            "staff_profile-0-display_name": "小王",
        }
    )
    data.pop("last_login", None)
    response = owner_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    clerk.refresh_from_db()
    assert clerk.staff_profile.role == "manager" and clerk.is_staff
    assert [g.name for g in clerk.groups.all()] == ["manager"]
