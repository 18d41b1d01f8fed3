"""Member numbers: eight random digits and a Luhn check digit, nine on the card.

Random rather than sequential: numbers printed on cards reveal nothing about member
counts, and the check digit catches a mistyped digit at the counter. Every member
number is made here, one at a time (member_create) or thousands at once (the import,
which draws them against a bitmap of the numbers taken): `member_numbers`.
"""

import os

MEMBER_NO_DIGITS = 8  # plus one Luhn check digit: 9 digits on the card
FIRST_BODY = 10 ** (MEMBER_NO_DIGITS - 1)  # the bodies are FIRST_BODY ... FIRST_BODY + BODIES - 1
BODIES = 9 * FIRST_BODY
_DOUBLED = [2 * d - 9 if 2 * d > 9 else 2 * d for d in range(10)]  # Luhn's doubled digits


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit of a string of digits."""
    if digits.isascii():
        values = [ord(c) - 48 for c in reversed(digits)]
    else:  # digits as typed (full-width): int() reads any decimal digit
        values = [int(c) for c in reversed(digits)]
    total = sum(_DOUBLED[d] for d in values[0::2]) + sum(values[1::2])
    return str((10 - total % 10) % 10)


def is_member_no(text: str) -> bool:
    """Nine digits whose last is the Luhn check digit of the first eight."""
    return (
        len(text) == MEMBER_NO_DIGITS + 1
        and text.isdecimal()  # what int() reads: "²" is a digit, not a decimal
        and luhn_check_digit(text[:-1]) == text[-1]
    )


def member_number(body: int) -> str:
    """The member number of a body (FIRST_BODY <= body < FIRST_BODY + BODIES): the
    body's digits and their check digit."""
    digits = str(body)
    return digits + luhn_check_digit(digits)


def random_bodies(count: int) -> list[int]:
    """`count` random number bodies, uniform as secrets.randbelow's, from one read of the
    system's random source (a read each was a third of the cost of a number). The
    modulo's bias, 2^64 mod BODIES in 2^64, is below 10^-11."""
    raw = os.urandom(8 * count)
    return [
        int.from_bytes(raw[i : i + 8], "little") % BODIES + FIRST_BODY
        for i in range(0, 8 * count, 8)
    ]


def member_numbers(count: int) -> list[str]:
    """`count` new random member numbers (not checked against those taken: the unique
    index, or the import's bitmap, does that)."""
    return [member_number(body) for body in random_bodies(count)]


def generate_member_no() -> str:
    """One new random member number."""
    return member_numbers(1)[0]


def body_of(number: str) -> int | None:
    """The body of a member number as member_number makes them, else None."""
    if len(number) == MEMBER_NO_DIGITS + 1 and number.isascii() and number.isdigit():
        body = int(number[:-1])
        if FIRST_BODY <= body < FIRST_BODY + BODIES:
            return body
    return None
