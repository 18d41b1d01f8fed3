import pytest
from django.core.exceptions import ValidationError

from members.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138-0013-8000",
        "0086 138 0013 8000",
        "+8613800138000",
        "１３８００１３８０００",
    ],
)
def test_it_normalises_every_written_form_to_e164(raw):
    assert normalize_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abc", "010 12345678", "+86 999"])
def test_it_rejects_what_is_not_a_mobile_number(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_it_masks_the_middle_digits():
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone("") == ""
