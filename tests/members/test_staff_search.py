import pytest
from django.urls import reverse

from members.models import User
from tests.factories import MemberFactory

URL = reverse("staff:home")


@pytest.mark.django_db
def test_it_requires_login(client):
    response = client.get(URL, {"q": "13800138000"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_it_refuses_accounts_without_a_staff_profile(client):
    user = User.objects.create_user("visitor", password="x-long-password-1")
    client.force_login(user)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_it_refuses_post(clerk_client):
    assert clerk_client.post(URL, {"q": "13800138000"}).status_code == 405


@pytest.mark.django_db
def test_clerk_finds_a_member_by_the_phone_they_typed_and_sees_it_in_full(clerk_client, store):
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    response = clerk_client.get(URL, {"q": "138-0013-8000"})
    assert list(response.context["results"]) == [member]
    assert "+8613800138000" in response.content.decode()


@pytest.mark.django_db
def test_last_four_digits_show_masked_numbers(clerk_client, store):
    MemberFactory(phone="13800138000", store=store)
    MemberFactory(phone="13900138000", store=store)
    response = clerk_client.get(URL, {"q": "8000"})
    page = response.content.decode()
    assert len(response.context["results"]) == 2
    assert "138****8000" in page and "139****8000" in page and "13800138000" not in page


@pytest.mark.django_db
def test_clerk_never_finds_another_stores_member(clerk_client, other_store):
    theirs = MemberFactory(phone="13800138000", store=other_store)
    for query in ("13800138000", "8000", theirs.member_no, theirs.name):
        response = clerk_client.get(URL, {"q": query}, HTTP_HX_REQUEST="true")
        assert list(response.context["results"]) == [], query
        assert theirs.member_no not in response.content.decode()


@pytest.mark.django_db
def test_owner_finds_members_of_every_store(owner_client, store, other_store):
    member = MemberFactory(phone="13800138000", store=other_store)
    response = owner_client.get(URL, {"q": member.member_no})
    assert list(response.context["results"]) == [member]


@pytest.mark.django_db
def test_htmx_requests_get_only_the_results_partial(clerk_client, store):
    MemberFactory(phone="13800138000", store=store)
    response = clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<html" not in page and "+8613800138000" in page


@pytest.mark.django_db
def test_no_match_says_so(clerk_client, store):
    response = clerk_client.get(URL, {"q": "13700137000"})
    assert "未找到" in response.content.decode() or "No member" in response.content.decode()


@pytest.mark.django_db
def test_lookup_query_count_is_pinned(clerk_client, store, django_assert_num_queries):
    MemberFactory(phone="13800138000", store=store)
    # session, user, staff profile, member (+store via join)
    with django_assert_num_queries(4):
        clerk_client.get(URL, {"q": "13800138000"}, HTTP_HX_REQUEST="true")
