"""Marketing consent: asked on the join page (unticked by default), switched on and off
in the member centre (audited), cleared on erasure; segments read it."""

import pytest
from django.urls import reverse

from members.models import AuditEntry, Member
from members.services import member_erase, member_join, member_marketing_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_joining_records_the_choice(store):
    yes, _ = member_join(phone="13800138001", consent_version="v1", marketing_consent=True)
    no, _ = member_join(phone="13800138002", consent_version="v1")
    assert (yes.marketing_consent, yes.marketing_consent_at is not None) == (True, True)
    assert (no.marketing_consent, no.marketing_consent_at) == (False, None)


def test_the_member_switches_it_in_the_member_centre(client):
    from members.member_auth import member_login

    member = MemberFactory()
    request = client.get("/").wsgi_request
    member_login(request, member)
    request.session.save()
    client.cookies["sessionid"] = request.session.session_key
    page = client.get(reverse("me:privacy")).content.decode()
    assert 'value="on"' in page
    response = client.post(reverse("me:marketing"), {"consent": "on"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.marketing_consent and member.marketing_consent_at
    client.post(reverse("me:marketing"), {"consent": "off"})
    member.refresh_from_db()
    assert not member.marketing_consent
    assert AuditEntry.objects.filter(action="member.marketing").count() == 2
    assert client.get(reverse("me:marketing")).status_code == 405


def test_the_same_choice_twice_records_once():
    member = MemberFactory()
    assert member_marketing_set(member=member, consent=True)
    assert not member_marketing_set(member=member, consent=True)
    assert AuditEntry.objects.filter(action="member.marketing").count() == 1


def test_erasure_clears_it():
    member = MemberFactory()
    member_marketing_set(member=member, consent=True)
    member_erase(member=member)
    assert not Member.objects.get(pk=member.pk).marketing_consent
