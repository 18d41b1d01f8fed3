"""The signed-in request's two reads, written as fixed SQL (config/platform/sessions.py,
members/backends.py): they must answer exactly what Django's ORM reads answered."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.platform import cached_sessions, sessions
from members.backends import StaffBackend, user_with_profile
from members.models import StaffProfile


@pytest.mark.django_db
@pytest.mark.parametrize("engine", [sessions, cached_sessions], ids=["db", "cached_db"])
def test_a_live_session_loads_and_an_expired_one_does_not(engine):
    store = engine.SessionStore()
    store["who"] = "店员"
    store.set_expiry(600)
    store.save()
    key = store.session_key

    cached = hasattr(store, "cache_key")
    if cached:  # read from the database, then kept in the cache
        store._cache.delete(store.cache_key)
    again = engine.SessionStore(session_key=key)
    assert again["who"] == "店员"
    if cached:
        assert again._cache.get(again.cache_key) == {"who": "店员", "_session_expiry": 600}

    Session.objects.filter(pk=key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    if cached:
        again._cache.delete(again.cache_key)
    expired = engine.SessionStore(session_key=key)
    assert expired.get("who") is None
    assert expired.session_key is None  # as Django's: a new key on the next save


@pytest.mark.django_db
def test_an_unknown_or_malformed_key_is_an_empty_session():
    assert sessions.SessionStore(session_key="x" * 32).load() == {}
    assert sessions.SessionStore(session_key="short").load() == {}  # invalid: never queried


@pytest.mark.django_db
def test_the_user_comes_with_its_profile_in_one_query(clerk, store, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = user_with_profile(clerk.pk)
        assert user.staff_profile.store_id == store.pk
        assert user.staff_profile.user is user
    fresh = get_user_model().objects.get(pk=clerk.pk)
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(fresh, field.attname), field.name
    assert timezone.is_aware(user.date_joined)
    assert user._state.adding is False and user._state.db == "default"


@pytest.mark.django_db
def test_a_user_without_profile_has_none_cached(django_assert_num_queries):
    plain = get_user_model().objects.create_user("plain", password="x")
    with django_assert_num_queries(1):
        user = user_with_profile(plain.pk)
        with pytest.raises(StaffProfile.DoesNotExist):
            _ = user.staff_profile


@pytest.mark.django_db
def test_unknown_inactive_and_malformed_ids_are_nobody(clerk):
    backend = StaffBackend()
    assert backend.get_user(10**9) is None
    assert backend.get_user("not a number") is None
    assert backend.get_user(str(clerk.pk)).pk == clerk.pk  # sessions keep ids as text
    clerk.is_active = False
    clerk.save(update_fields=["is_active"])
    assert backend.get_user(clerk.pk) is None


@pytest.mark.django_db
def test_a_staff_request_reads_session_and_user_once_each(clerk_client, clerk):
    with CaptureQueriesContext(connection) as queries:
        response = clerk_client.get("/staff/")
    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("django_session" in s for s in sql) == 1
    assert sum('"members_user"' in s and "staffprofile" in s for s in sql) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("engine", [sessions, cached_sessions], ids=["db", "cached_db"])
def test_sessions_are_written_exists_and_deleted_as_djangos(engine):
    from django.contrib.sessions.backends.base import CreateError, UpdateError

    store = engine.SessionStore()
    store["n"] = 1
    store.create()  # a new key, INSERTed
    key = store.session_key
    assert store.exists(key) and Session.objects.filter(pk=key).exists()
    store["n"] = 2
    store.save()  # an UPDATE of the same row
    assert Session.objects.get(pk=key).get_decoded()["n"] == 2
    with pytest.raises(CreateError):
        store.save(must_create=True)  # the key is taken
    store.delete()
    assert not store.exists(key) and not Session.objects.filter(pk=key).exists()
    gone = engine.SessionStore(session_key=key)
    gone._session_cache = {"n": 3}
    with pytest.raises(UpdateError):
        gone.save()  # the row was deleted meanwhile (a logout elsewhere)


def test_a_known_session_text_is_decoded_once_and_each_caller_gets_its_own_copy(monkeypatch):
    from django.contrib.sessions.backends.base import SessionBase

    store = sessions.SessionStore()
    text = store.encode({"_auth_user_id": "7", "flag": True})
    tampered = text[:-1] + ("A" if text[-1] != "A" else "B")
    nested = store.encode({"cart": ["a"]})
    calls = []
    plain_decode = SessionBase.decode

    def counting(self, data):
        calls.append(data)
        return plain_decode(self, data)

    monkeypatch.setattr(SessionBase, "decode", counting)
    monkeypatch.setattr(sessions, "_known", {})
    first = store.decode(text)
    first["_auth_user_id"] = "changed by a view"
    assert store.decode(text) == {"_auth_user_id": "7", "flag": True}
    assert calls == [text]  # the signature was checked once for that text
    assert store.decode(tampered) == {} and store.decode(tampered) == {}
    assert calls.count(tampered) == 2  # a refused text is never remembered
    store.decode(nested)["cart"].append("b")
    assert store.decode(nested) == {"cart": ["a"]} and calls.count(nested) == 2

    class OtherSalt(sessions.SessionStore):
        key_salt = "another store"

    assert OtherSalt().decode(text) == {}  # checked against its own salt, not remembered


def test_a_remembered_text_is_checked_again_when_the_secret_changes(monkeypatch, settings):
    store = sessions.SessionStore()
    text = store.encode({"_auth_user_id": "7"})
    monkeypatch.setattr(sessions, "_known", {})
    assert store.decode(text) == {"_auth_user_id": "7"}  # remembered
    settings.SECRET_KEY = "a-rotated-secret-key-" + "z" * 40
    assert store.decode(text) == {}  # signed with the old key: refused, as Django does


@pytest.mark.django_db
def test_each_store_reads_what_it_uses_in_one_query():
    """The database store reads the session's data only; the cached store also its
    expiry (to keep it in the cache as long): one read of the session table each,
    nothing loaded afterwards."""
    store = sessions.SessionStore()
    store["who"] = "店员"
    store.save()

    def session_reads(load):
        with CaptureQueriesContext(connection) as seen:
            assert load() == {"who": "店员"}
        return [q["sql"] for q in seen.captured_queries if "django_session" in q["sql"]]

    [read] = session_reads(sessions.SessionStore(session_key=store.session_key).load)
    assert "expire_date" not in read.split("WHERE")[0]
    cached = cached_sessions.SessionStore(session_key=store.session_key)
    cached._cache.delete(cached.cache_key)
    [read] = session_reads(cached.load)
    assert "expire_date" in read.split("WHERE")[0]
    assert cached._cache.get(cached.cache_key) == {"who": "店员"}
