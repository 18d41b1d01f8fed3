"""QR codes (segno) and Code128 barcodes (python-barcode) as inline SVG.

Inline SVG needs no image requests, scales sharply on any phone screen, and prints.
Both libraries do the encoding; here we only draw: the QR through segno's SVG
writer, the barcode's bars as one path from python-barcode's module string.
"""

import segno
from barcode import Code128
from barcode.charsets import code128 as tables
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Code128 asks for a quiet zone of at least 10 modules either side.
QUIET_MODULES = 10


def qr_svg(data: str, *, label: str = "", css_class: str = "qr-code") -> SafeString:
    """A QR code of `data` that scales to its container (viewBox, no fixed size)."""
    qr = segno.make_qr(data, error="m")
    svg = qr.svg_inline(
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass=css_class,
        title=label or None,
    )
    return mark_safe(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S308 - segno escapes


def code128_modules(data: str) -> str:
    """The bars and spaces ("1"/"0") of a Code128 barcode of `data`.

    python-barcode 0.16.1 drops a leading "99" from digits (its start-code folding takes
    the data pair 99 for a switch to charset C: WhyNotHugo/python-barcode#251, fixed
    upstream in #263, not released yet): a member number 99xxxxxxx would scan as
    xxxxxxx, about one member in ninety. Digits are therefore encoded here, as that
    library does for them (start C, the pairs, a last odd digit in charset B), from its
    own tables; anything else goes to the library. tests/members/test_barcodes.py holds
    the two to the same bars and decodes both.
    """
    if not (data.isascii() and data.isdigit()):
        return Code128(data).build()[0]
    codes = [tables.START_CODES["C"]]
    codes += [int(data[i : i + 2]) for i in range(0, len(data) - 1, 2)]
    if len(data) % 2:
        codes += [100, ord(data[-1]) - 32]  # Code B, then the digit in charset B
    checksum = (codes[0] + sum(i * code for i, code in enumerate(codes[1:], start=1))) % 103
    return "".join(tables.CODES[code] for code in [*codes, checksum]) + tables.STOP + "11"


def code128_svg(data: str, *, label: str = "", css_class: str = "barcode") -> SafeString:
    """A Code128 barcode of `data`, bars drawn as one path, 40 modules tall."""
    modules = code128_modules(data)
    width = len(modules) + 2 * QUIET_MODULES
    height = 40
    bars, x, i = [], QUIET_MODULES, 0
    while i < len(modules):
        run = 1
        while i + run < len(modules) and modules[i + run] == modules[i]:
            run += 1
        if modules[i] == "1":
            bars.append(f"M{x} 0h{run}v{height}h-{run}z")
        x += run
        i += run
    title = f"<title>{escape(label)}</title>" if label else ""
    return mark_safe(  # noqa: S308 - only numbers and the escaped label go in
        f'<svg role="img" class="{escape(css_class)}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" shape-rendering="crispEdges">{title}'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(bars)}"/></svg>'
    )


def qr_png(data: str, *, scale: int = 12) -> bytes:
    """A PNG of the QR code (posters to download and print)."""
    import io

    out = io.BytesIO()
    segno.make_qr(data, error="q").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
