"""The fake WeChat server (wechat/fake_server/core.py says what it answers and how).

The modules beside core register the endpoints of WeChat's other surfaces.
"""

from . import (
    card,  # noqa: F401 - registers its routes
    pay_v3,  # noqa: F401 - registers /_fake_pay/v3/notify
    wxa,  # noqa: F401 - registers the mini-program's code2Session and phone number
)
from .core import ROUTES, FakeWeChat, carried_out, error, route

__all__ = ["ROUTES", "FakeWeChat", "carried_out", "error", "route"]
