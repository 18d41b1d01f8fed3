"""The module-level registries are filled from AppConfig.ready() only (issue #19).

A lower app keeps a registry (a list or dict) and the apps above it add their entries
from their ready(), so the lower app never imports them; importing a module adds
nothing. ready() may run more than once (tests): a second run changes nothing.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from django.apps import apps

from campaigns import privacy as campaigns_privacy
from campaigns import staff_timeline
from campaigns.channels import CHANNELS, ConsoleChannel, InboxChannel, SmsMarketingChannel
from campaigns.segments.fields import FIELDS
from loyalty.admin import member_list
from loyalty.admin.panels import loyalty_panel
from loyalty.centre.views import loyalty_export
from loyalty.counter.selectors import TIMELINE_SOURCES
from loyalty.imports.admin import may_import, member_export_view, member_import_view
from loyalty.jobs import JOBS, QUIET_JOBS
from loyalty.stored_value import prepaid_erase_hold
from members.admin import MEMBER_LIST, MEMBER_PANELS, MEMBER_TRANSFER
from members.audit import ACTION_LABELS
from members.member_auth import JOIN_HOOKS
from members.posters import POSTER_EXTRAS
from members.privacy import ERASE_HOLDS, EXPORT_SECTIONS
from members.roles import ROLE_PERMISSIONS
from members.selectors import MEMBER_CODE_FINDERS
from members.signals import member_registered
from wechat import member_card
from wechat.channels import WeChatTemplateChannel
from wechat.oauth import oauth_hook
from wechat.segment_fields import WECHAT_SUBSCRIBED

ROOT = Path(__file__).resolve().parent.parent
APPS = ("members", "loyalty", "campaigns", "wechat")
MEMBERS_OWN_PERMISSIONS = ("members.", "django_q.", "axes.")
MEMBERS_OWN_ACTIONS = ("member.", "staff.")


def test_each_registry_is_filled_after_setup():
    assert [loyalty_export, campaigns_privacy.messages_export] == EXPORT_SECTIONS
    assert [prepaid_erase_hold] == ERASE_HOLDS
    assert [oauth_hook] == JOIN_HOOKS
    assert [loyalty_panel] == MEMBER_PANELS
    assert {
        "import": member_import_view,
        "export": member_export_view,
        "may_import": may_import,
    } == MEMBER_TRANSFER
    assert {
        **member_list.MEMBER_LIST_ENTRIES,
        "newest_first": member_list.NEWEST_FIRST,
    } == MEMBER_LIST
    assert {"purchase.record", "points.adjust", "tier.set", "coupon.redeem"} <= set(ACTION_LABELS)
    assert list(JOBS) == [
        "expire_points",
        "notify_expiring_points",
        "review_tiers",
        "birthday_benefits",
        "monthly_tier_coupons",
        "lifecycle_and_rfm",
        "expire_count_cards",
        "notify_expiring_count_cards",
        "expire_coupons",
        "notify_expiring_coupons",
        "prune_transfers",
        "requeue_waiting",
        "send_messages",
        "dashboard_aggregates",
        "segments_refresh",
        "send_campaigns",
        "requeue_segment_runs",
        "campaign_journeys",
        "send_card_updates",
        "reconcile_member_cards",
        "prune_mp_tokens",
        "prune_wechat_callbacks",
    ]
    assert {
        "send_messages",
        "send_campaigns",
        "requeue_waiting",
        "requeue_segment_runs",
        "send_card_updates",
    } == QUIET_JOBS
    # Segment rule fields: campaigns' own, then wechat's from its ready().
    assert (
        list(FIELDS)[-1] == "wechat_subscribed" and FIELDS["wechat_subscribed"] is WECHAT_SUBSCRIBED
    )
    assert [staff_timeline.timeline_messages] == TIMELINE_SOURCES
    assert [member_card.poster_claim] == POSTER_EXTRAS
    assert [member_card.member_no_of_code] == MEMBER_CODE_FINDERS
    assert list(CHANNELS) == ["inbox", "console", "sms", "wechat"]
    assert isinstance(CHANNELS["inbox"], InboxChannel)
    assert isinstance(CHANNELS["console"], ConsoleChannel)
    assert isinstance(CHANNELS["sms"], SmsMarketingChannel)
    assert isinstance(CHANNELS["wechat"], WeChatTemplateChannel)
    assert {"loyalty.*", "campaigns.*", "wechat.*"} <= set(ROLE_PERMISSIONS["owner"])
    assert {"loyalty.view_card", "campaigns.view_dailystats"} <= set(ROLE_PERMISSIONS["manager"])
    assert "loyalty.add_purchase" in ROLE_PERMISSIONS["clerk"]


def _snapshot():
    return {
        "EXPORT_SECTIONS": list(EXPORT_SECTIONS),
        "ERASE_HOLDS": list(ERASE_HOLDS),
        "JOIN_HOOKS": list(JOIN_HOOKS),
        "MEMBER_PANELS": list(MEMBER_PANELS),
        "MEMBER_TRANSFER": dict(MEMBER_TRANSFER),
        "MEMBER_LIST": {key: list(entries) for key, entries in MEMBER_LIST.items()},
        "ACTION_LABELS": dict(ACTION_LABELS),
        "JOBS": dict(JOBS),
        "QUIET_JOBS": set(QUIET_JOBS),
        "TIMELINE_SOURCES": list(TIMELINE_SOURCES),
        "POSTER_EXTRAS": list(POSTER_EXTRAS),
        "MEMBER_CODE_FINDERS": list(MEMBER_CODE_FINDERS),
        "CHANNELS": dict(CHANNELS),  # the same instances: a second ready() keeps them
        "ROLE_PERMISSIONS": {role: list(names) for role, names in ROLE_PERMISSIONS.items()},
        "member_registered": len(member_registered.receivers),
    }


def test_ready_twice_changes_nothing():
    before = _snapshot()
    for label in APPS:
        apps.get_app_config(label).ready()
    assert _snapshot() == before


# A fresh interpreter: the four apps' ready() switched off, Django set up (the admin's
# autodiscover imports every admin module), then every module of the apps imported.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil

from campaigns.apps import CampaignsConfig
from loyalty.apps import LoyaltyConfig
from members.apps import MembersConfig
from wechat.apps import WechatConfig

for config in (MembersConfig, LoyaltyConfig, CampaignsConfig, WechatConfig):
    config.ready = lambda self: None

import django

django.setup()
imported = []
for app in %(apps)r:
    package = importlib.import_module(app)
    for info in pkgutil.walk_packages(package.__path__, app + "."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)
            imported.append(info.name)
importlib.import_module("config.urls")

from campaigns.channels import CHANNELS
from loyalty.counter.selectors import TIMELINE_SOURCES
from loyalty.jobs import JOBS, QUIET_JOBS
from members.admin import MEMBER_LIST, MEMBER_PANELS, MEMBER_TRANSFER
from members.audit import ACTION_LABELS
from members.member_auth import JOIN_HOOKS
from members.posters import POSTER_EXTRAS
from members.privacy import ERASE_HOLDS, EXPORT_SECTIONS
from members.roles import ROLE_PERMISSIONS
from members.selectors import MEMBER_CODE_FINDERS

print(json.dumps({
    "ERASE_HOLDS": len(ERASE_HOLDS),
    "imported": imported,
    "EXPORT_SECTIONS": len(EXPORT_SECTIONS),
    "JOIN_HOOKS": len(JOIN_HOOKS),
    "MEMBER_PANELS": len(MEMBER_PANELS),
    "MEMBER_TRANSFER": sorted(MEMBER_TRANSFER),
    "MEMBER_LIST": sum(len(entries) for entries in MEMBER_LIST.values()),
    "JOBS": sorted(JOBS),
    "QUIET_JOBS": sorted(QUIET_JOBS),
    "TIMELINE_SOURCES": len(TIMELINE_SOURCES),
    "POSTER_EXTRAS": len(POSTER_EXTRAS),
    "MEMBER_CODE_FINDERS": len(MEMBER_CODE_FINDERS),
    "CHANNELS": sorted(CHANNELS),
    "ACTION_LABELS": sorted(ACTION_LABELS),
    "ROLE_PERMISSIONS": sorted({n for names in ROLE_PERMISSIONS.values() for n in names}),
}))
"""


def test_importing_the_modules_fills_no_registry():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING % {"apps": APPS}],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"loyalty.admin.panels", "loyalty.centre.views", "loyalty.counter.services"} <= set(
        found.pop("imported")
    )
    assert all(name.startswith(MEMBERS_OWN_ACTIONS) for name in found.pop("ACTION_LABELS"))
    assert all(name.startswith(MEMBERS_OWN_PERMISSIONS) for name in found.pop("ROLE_PERMISSIONS"))
    assert found == {
        "ERASE_HOLDS": 0,
        "EXPORT_SECTIONS": 0,
        "JOIN_HOOKS": 0,
        "MEMBER_PANELS": 0,
        "MEMBER_TRANSFER": [],
        "MEMBER_LIST": 0,
        "JOBS": [],
        "QUIET_JOBS": [],
        "TIMELINE_SOURCES": 0,
        "POSTER_EXTRAS": 0,
        "MEMBER_CODE_FINDERS": 0,
        "CHANNELS": [],
    }


# Calls that fill a registry; at module level they would run on import.
FILLING = {"append", "extend", "insert", "update", "add", "setdefault", "register", "contribute"}


def _module_level(body):
    """The statements that run on import: not those inside functions and classes."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield node
        for name in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _module_level(inner)


def test_no_module_fills_a_registry_on_import():
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or path.name == "apps.py":
                continue
            for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
                what = None
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                    func = node.value.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    # The admin site's own registry is filled by the admin's autodiscover.
                    if name in FILLING and ast.unparse(func) != "admin.site.register":
                        what = ast.unparse(func)
                elif isinstance(node, ast.Assign | ast.AugAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Subscript) for t in targets):
                        what = ast.unparse(node)
                if what:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {what}")
    assert not found, "registries filled on import:\n  " + "\n  ".join(found)
