"""Member-card barcodes (Code128) decode to the member number, whatever its digits:
python-barcode 0.16.1 dropped a leading "99" (members.barcodes.code128_modules)."""

import random
import re

import pytest
from barcode import Code128

from members.barcodes import code128_modules, code128_svg

NUMBERS = ["992364588", "990000000", "999999999", "100000009", "123456789", "12345678"]
NUMBERS += [str(random.Random(7).randrange(10**8, 10**9)) for _ in range(30)]


def decode(modules: str) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    scale, quiet = 3, 10
    width = (len(modules) + 2 * quiet) * scale
    image = Image.new("L", (width, 60), 255)
    for i, bit in enumerate(modules):
        if bit == "1":
            x = (quiet + i) * scale
            image.paste(0, (x, 0, x + scale, 60))
    return [r.text for r in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("number", NUMBERS)
def test_a_member_number_reads_back(number):
    assert decode(code128_modules(number)) == [number]


def test_the_same_bars_as_the_library_where_it_is_right():
    for number in NUMBERS + ["ABC-123", "hy_9912"]:
        if not number.startswith("99"):
            assert code128_modules(number) == Code128(number).build()[0]


def test_the_svg_draws_those_bars():
    svg = str(code128_svg("992364588", label="会员码"))
    widths = [int(w) for w in re.findall(r"h(\d+)v", svg)]
    assert sum(widths) == code128_modules("992364588").count("1")
    assert "<title>会员码</title>" in svg
