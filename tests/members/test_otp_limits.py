"""One-time SMS codes: every limit and error, at the service level (members/otp.py)."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone, translation

from members import otp, sms
from members.crypto import phone_hash
from members.models import OneTimeCode
from members.otp import OtpError, otp_check, otp_send

PHONE = "13800138000"
PHONE_E164 = "+8613800138000"
T0 = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def english_messages():
    """The messages are read in English here (their msgids)."""
    with translation.override("en"):
        yield


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def refused(expected: str, /, **kwargs) -> OtpError:
    """The OtpError of sending (no `code` given) or checking (with `code`), by its code."""
    with pytest.raises(OtpError) as exc:
        otp_send(**kwargs) if "code" not in kwargs else otp_check(**kwargs)
    assert exc.value.code == expected, exc.value.message
    return exc.value


@pytest.mark.django_db
def test_it_sends_a_six_digit_code_and_keeps_only_a_keyed_hash(sms_outbox):
    sent = otp_send(phone="+86 138-0013-8000", ip="1.2.3.4", now=T0)

    assert sent["phone"] == "+8613800138000"
    assert [(s.phone, s.minutes) for s in sms_outbox] == [("+8613800138000", 5)]
    code = sms_outbox[0].code
    assert len(code) == 6 and code.isdigit() and sent["code"] == code
    row = OneTimeCode.objects.get()
    assert row.phone_hash == phone_hash("+8613800138000")
    assert code not in (row.code_hash, row.ip_hash) and "1.2.3.4" not in row.ip_hash
    assert row.expires_at == at(300)


@pytest.mark.django_db
def test_it_refuses_a_second_code_within_60_seconds(sms_outbox):
    otp_send(phone=PHONE, now=T0)

    error = refused("too_soon", phone=PHONE, now=at(45))
    assert error.retry_after == 15 and "15" in error.message
    otp_send(phone=PHONE, now=at(60))
    assert len(sms_outbox) == 2


@pytest.mark.django_db
def test_it_refuses_a_sixth_code_for_one_phone_within_an_hour(sms_outbox):
    for i in range(5):
        otp_send(phone=PHONE, now=at(i * 61))

    error = refused("phone_hourly", phone=PHONE, now=at(5 * 61))
    assert "minute" in error.message and error.retry_after > 0
    otp_send(phone=PHONE, now=at(3601))  # the first one is an hour old
    assert len(sms_outbox) == 6


@pytest.mark.django_db
def test_it_refuses_the_21st_code_from_one_ip_within_an_hour(sms_outbox):
    for i in range(20):
        otp_send(phone=f"1390000{i:04d}", ip="10.0.0.7", now=at(i))

    refused("ip_hourly", phone="13900009999", ip="10.0.0.7", now=at(30))
    otp_send(phone="13900009999", ip="10.0.0.8", now=at(30))  # another network is fine
    otp_send(phone="13900009998", ip="10.0.0.7", now=at(3601))
    assert len(sms_outbox) == 22


@pytest.mark.django_db
def test_the_right_code_passes_once(sms_outbox):
    otp_send(phone=PHONE, now=T0)

    assert otp_check(phone="+8613800138000", code=sms_outbox[0].code, now=at(10)) == PHONE_E164
    refused("no_code", phone=PHONE, code=sms_outbox[0].code, now=at(11))


@pytest.mark.django_db
def test_full_width_digits_and_spaces_are_accepted(sms_outbox):
    otp_send(phone=PHONE, now=T0)
    code = sms_outbox[0].code
    typed = " ".join(chr(ord("０") + int(d)) for d in code)

    assert otp_check(phone=PHONE, code=typed, now=at(10)) == PHONE_E164


@pytest.mark.django_db
def test_a_code_expires_after_five_minutes(sms_outbox):
    otp_send(phone=PHONE, now=T0)

    error = refused("expired", phone=PHONE, code=sms_outbox[0].code, now=at(300))
    assert "expired" in error.message


@pytest.mark.django_db
def test_a_wrong_code_says_how_many_tries_are_left(sms_outbox):
    otp_send(phone=PHONE, now=T0)
    wrong = "000000" if sms_outbox[0].code != "000000" else "111111"

    assert "4 tries left" in refused("wrong", phone=PHONE, code=wrong, now=at(5)).message
    assert "3 tries left" in refused("wrong", phone=PHONE, code="", now=at(6)).message


@pytest.mark.django_db
def test_a_code_dies_after_five_wrong_tries(sms_outbox):
    otp_send(phone=PHONE, now=T0)
    right = sms_outbox[0].code
    wrong = "000000" if right != "000000" else "111111"
    for _i in range(4):
        refused("wrong", phone=PHONE, code=wrong, now=at(5))

    refused("dead", phone=PHONE, code=wrong, now=at(6))
    refused("dead", phone=PHONE, code=right, now=at(7))  # even the right one now
    assert OneTimeCode.objects.get().attempts == 5


@pytest.mark.django_db
def test_only_the_latest_code_counts(sms_outbox):
    otp_send(phone=PHONE, now=T0)
    otp_send(phone=PHONE, now=at(61))
    first, second = (s.code for s in sms_outbox)

    if first != second:
        refused("wrong", phone=PHONE, code=first, now=at(62))
    assert otp_check(phone=PHONE, code=second, now=at(63)) == PHONE_E164


@pytest.mark.django_db
def test_asking_before_any_code_was_sent_is_a_clear_error():
    assert "ask for a code" in refused("no_code", phone=PHONE, code="123456", now=T0).message


class FailingBackend(sms.BaseSmsBackend):
    def send_code(self, *, phone, code, minutes):
        raise sms.SmsError("LimitExceeded.PhoneNumberDailyLimit")


@pytest.mark.django_db
def test_a_failed_sms_cannot_be_entered_and_does_not_hold_up_a_retry(settings, sms_outbox):
    settings.SMS_BACKEND = "tests.members.test_otp_limits.FailingBackend"
    with pytest.raises(sms.SmsError):
        otp_send(phone=PHONE, now=T0)
    assert OneTimeCode.objects.get().failed

    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    refused("no_code", phone=PHONE, code="123456", now=at(1))
    otp_send(phone=PHONE, now=at(2))  # no 60 s wait after a failure
    assert otp_check(phone=PHONE, code=sms_outbox[0].code, now=at(3)) == PHONE_E164


@pytest.mark.django_db
def test_failed_sends_still_count_for_the_hourly_limit(settings):
    settings.SMS_BACKEND = "tests.members.test_otp_limits.FailingBackend"
    for i in range(5):
        with pytest.raises(sms.SmsError):
            otp_send(phone=PHONE, now=at(i))

    refused("phone_hourly", phone=PHONE, now=at(10))


@pytest.mark.django_db
def test_day_old_codes_are_purged_as_new_ones_are_sent(sms_outbox):
    otp_send(phone=PHONE, now=T0)
    otp_send(phone="13900001111", now=T0 + dt.timedelta(days=1, seconds=1))

    assert list(OneTimeCode.objects.values_list("phone_hash", flat=True)) == [
        phone_hash("+8613900001111")
    ]


@pytest.mark.django_db(transaction=True)
def test_limits_hold_when_eight_requests_race_for_one_phone(sms_outbox):
    outcomes, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        try:
            otp_send(phone=PHONE, ip="10.1.1.1")
            outcomes.append("sent")
        except OtpError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["sent"] + ["too_soon"] * 7
    assert OneTimeCode.objects.count() == 1 and len(sms_outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_exceed_five_tries(sms_outbox):
    otp_send(phone=PHONE)
    wrong = "000000" if sms_outbox[0].code != "000000" else "111111"
    barrier = threading.Barrier(8)

    def guess():
        barrier.wait()
        try:
            otp_check(phone=PHONE, code=wrong)
        except OtpError:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert OneTimeCode.objects.get().attempts == 5
    refused("dead", phone=PHONE, code=sms_outbox[0].code, now=timezone.now())


def test_the_limits_are_the_documented_ones():
    assert (otp.RESEND_SECONDS, otp.PER_PHONE_PER_HOUR, otp.PER_IP_PER_HOUR) == (60, 5, 20)
    assert (otp.CODE_MINUTES, otp.MAX_TRIES, otp.CODE_DIGITS) == (5, 5, 6)
