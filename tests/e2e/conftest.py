"""Playwright (sync API) driving Debian's Chromium against Django's live_server."""

import os
import shutil
from pathlib import Path

import pytest

# live_server runs in a thread beside Playwright's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

E2E = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """What a browser shows is the same on either database: the browser tests run in the
    SQLite pass, and CI's PostgreSQL pass (DATABASE_URL set) skips them (CI time)."""
    if not os.environ.get("DATABASE_URL"):
        return
    skip = pytest.mark.skip(reason="browser tests run in the SQLite pass")
    for item in items:
        if E2E in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI: `make system-deps` should have installed it")
        pytest.skip("Chromium not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


LAPTOP = {"viewport": {"width": 1366, "height": 768}}
PHONE = {
    "viewport": {"width": 375, "height": 667},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def _page(browser, locale: str, screen: dict = LAPTOP):
    context = browser.new_context(locale=locale, **screen)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


@pytest.fixture
def laptop(browser):
    """A shop laptop's screen, Chinese locale."""
    context, page = _page(browser, "zh-CN")
    yield page
    context.close()


@pytest.fixture
def english_laptop(browser):
    """The same laptop in English, the site's other language."""
    context, page = _page(browser, "en-US")
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    """A customer's phone (375x667, touch), Chinese locale."""
    context, page = _page(browser, "zh-CN", PHONE)
    yield page
    context.close()


@pytest.fixture
def english_phone(browser):
    """The same phone in English."""
    context, page = _page(browser, "en-US", PHONE)
    yield page
    context.close()


@pytest.fixture
def shot():
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
