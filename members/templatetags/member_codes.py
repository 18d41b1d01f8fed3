"""{% load member_codes %}: {% qr_code text %} and {% barcode text %} as inline SVG."""

from django import template

from members.barcodes import code128_svg, qr_svg

register = template.Library()


@register.simple_tag
def qr_code(data, label="", css_class="qr-code"):
    return qr_svg(str(data), label=str(label), css_class=css_class)


@register.simple_tag
def barcode(data, label="", css_class="barcode"):
    return code128_svg(str(data), label=str(label), css_class=css_class)
