import pytest
from django.core.exceptions import FieldError
from django.db import connection

from members import crypto
from members.models import Member
from tests.factories import MemberFactory


def _raw_columns(member_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone, email, addresses, phone_hash, phone_last4 "
            "FROM members_member WHERE id = %s",
            [member_id],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_contact_data_is_stored_encrypted_and_read_back_plain():
    member = MemberFactory(
        phone="13800138000", email="li@example.com", addresses="上海市静安区南京西路 1 号"
    )
    phone, email, addresses, phone_hash, last4 = _raw_columns(member.pk)
    for stored in (phone, email, addresses):
        assert stored.startswith("v1.")
    assert "13800138000" not in phone and "example" not in email and "南京" not in addresses
    assert phone_hash == crypto.phone_hash("+8613800138000") and last4 == "8000"
    fresh = Member.objects.get(pk=member.pk)
    assert (fresh.phone, fresh.email, fresh.address_list) == (
        "+8613800138000",
        "li@example.com",
        ["上海市静安区南京西路 1 号"],
    )


def test_the_same_value_encrypts_differently_each_time():
    assert crypto.encrypt("13800138000") != crypto.encrypt("13800138000")


def test_a_tampered_value_is_refused(settings):
    token = crypto.encrypt("13800138000")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered)


def test_rotation_old_key_still_decrypts_new_key_encrypts(settings):
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    old_token = crypto.encrypt("secret")
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(old_token) == "secret"
    assert crypto.key_id_of(crypto.encrypt("secret")) != crypto.key_id_of(old_token)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old_token)


@pytest.mark.django_db
def test_filtering_on_an_encrypted_column_is_refused_not_silently_empty():
    with pytest.raises(FieldError):
        list(Member.objects.filter(phone="+8613800138000"))


@pytest.mark.django_db
def test_reencrypt_command_moves_rows_to_the_current_key(settings):
    from django.core.management import call_command

    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    member = MemberFactory(phone="13800138000", email="a@example.com")
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt_members", batch_size=10)
    phone, email, *_ = _raw_columns(member.pk)
    new_id = crypto.current_key_id()
    assert crypto.key_id_of(phone) == new_id and crypto.key_id_of(email) == new_id
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Member.objects.get(pk=member.pk).phone == "+8613800138000"
