"""/join/privacy-notice/?version=: only a published version is public (a draft: 404)."""

import datetime as dt

import pytest
from django.utils import timezone

from members.models import PrivacyNotice
from members.privacy import BUILTIN_VERSION
from tests.centre import text_of

pytestmark = pytest.mark.django_db
URL = "/join/privacy-notice/"


@pytest.fixture
def notices():
    now = timezone.now()
    return {
        "old": PrivacyNotice.objects.create(
            version="2026-01", title="旧版", body="旧的正文。",
            published_at=now - dt.timedelta(days=90),
        ),
        "current": PrivacyNotice.objects.create(
            version="2026-11", title="现行版", body="现行正文。", published_at=now
        ),
        "draft": PrivacyNotice.objects.create(
            version="2027-draft", title="草稿", body="尚未发布的草稿正文。", published_at=None
        ),
        "scheduled": PrivacyNotice.objects.create(
            version="2027-01", title="下一版", body="明年生效的正文。",
            published_at=now + dt.timedelta(days=30),
        ),
    }  # fmt: skip


def test_a_draft_version_is_not_found_and_published_ones_are_shown(web, notices):
    response = web.get(URL, {"version": "2027-draft"})
    assert response.status_code == 404
    assert "尚未发布的草稿正文" not in response.content.decode()
    # Published versions, the one in force and the built-in one stay public.
    assert "现行正文。" in text_of(web.get(URL))
    assert "旧的正文。" in text_of(web.get(URL, {"version": "2026-01"}))
    assert "现行正文。" in text_of(web.get(URL, {"version": "2026-11"}))
    assert web.get(URL, {"version": BUILTIN_VERSION}).status_code == 200


def test_a_version_in_force_from_a_later_date_is_not_public_yet(web, notices):
    response = web.get(URL, {"version": "2027-01"})
    assert response.status_code == 404
    assert "明年生效的正文" not in response.content.decode()


def test_an_unknown_version_is_not_found_rather_than_the_current_one(web, notices):
    assert web.get(URL, {"version": "1999-01"}).status_code == 404
    assert web.get(URL, {"version": "x" * 200}).status_code == 404
