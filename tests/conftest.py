import pytest

from members.models import Role
from members.services import staff_create
from tests.factories import StoreFactory
from tests.fake_wechat import _fake_server, fake  # noqa: F401 - fixtures for every test

PASSWORD = "test-pass-2026"


@pytest.fixture(autouse=True)
def _each_test_starts_in_the_sites_language():
    """A request of an English client leaves English active in the thread (Django's
    LocaleMiddleware activates, nothing deactivates): the next test would read services'
    messages in English, whichever file ran before it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True, scope="session")
def _jinja_templates_seen_by_the_test_client():
    """response.context and response.templates for the Jinja templates too (the counter's
    card): Django instruments only its own engine for the test client, the way this does."""
    from django.template.backends import jinja2 as backend
    from django.test.signals import template_rendered

    plain = backend.Template.render

    def render(self, context=None, request=None):
        context = {} if context is None else context
        html = plain(self, context, request)
        self.name = self.origin.template_name  # what assertTemplateUsed compares
        template_rendered.send(sender=self, template=self, context=context)
        return html

    backend.Template.render = render
    yield
    backend.Template.render = plain


@pytest.fixture(autouse=True)
def _fresh_display_copies():
    """Each test starts without the per-process copies (loyalty.rules' settings and
    tiers, the "local" cache's pages): a rolled-back test must not leave them to the next."""
    from django.core.cache import caches

    from loyalty import rules

    rules.forget()
    caches["local"].clear()  # the first-visit /join/ pages
    yield
    rules.forget()
    caches["local"].clear()


@pytest.fixture
def store(db):
    return StoreFactory(code="SH01", name="静安店")


@pytest.fixture
def other_store(db):
    return StoreFactory(code="SH02", name="徐汇店")


@pytest.fixture
def owner(db):
    return staff_create(username="owner", password=PASSWORD, role=Role.OWNER, store=None)


@pytest.fixture
def manager(store):
    return staff_create(username="manager", password=PASSWORD, role=Role.MANAGER, store=store)


@pytest.fixture
def clerk(store):
    return staff_create(username="clerk", password=PASSWORD, role=Role.CLERK, store=store)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client
