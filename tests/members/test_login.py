import pytest

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200 and 'name="password"' in response.content.decode()


@pytest.mark.django_db
def test_staff_log_in_and_land_on_the_search_page(client, clerk):
    response = client.post(
        "/accounts/login/", {"username": "clerk", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/staff/"
    assert response.context["user"] == clerk


@pytest.mark.django_db
def test_a_wrong_password_is_a_form_error(client, clerk):
    response = client.post("/accounts/login/", {"username": "clerk", "password": "wrong"})
    assert response.status_code == 200 and response.context["form"].errors


@pytest.mark.django_db
def test_home_sends_visitors_to_login_and_staff_to_search(client, clerk):
    assert client.get("/")["Location"] == "/accounts/login/"
    client.force_login(clerk)
    assert client.get("/")["Location"] == "/staff/"


@pytest.mark.django_db
def test_logout_is_post_only_and_ends_the_session(clerk_client):
    assert clerk_client.get("/accounts/logout/").status_code == 405
    clerk_client.post("/accounts/logout/")
    assert clerk_client.get("/staff/").status_code == 302
