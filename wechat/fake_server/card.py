"""The fake WeChat's member card (会员卡) endpoints, as WeChat documents them.

- POST /cgi-bin/media/uploadimg                     an image -> {"url"} on mmbiz.qpic.cn
- POST /card/create                                 {"card": {"card_type": "MEMBER_CARD", ...}}
- POST /card/update                                 {"card_id", "member_card": {...}}
- POST /card/membercard/activateuserform/set        the one-click activation form
- POST /card/qrcode/create                          a claim QR code (outer_str kept)
- POST /card/membercard/activate                    a claimed code becomes a member's
- POST /card/membercard/updateuser                  bonus / balance (fen) / custom fields
- POST /card/membercard/userinfo/get                what the holder filled in, bonus, balance

Errors as WeChat answers them: an unknown card_id 40073, an unknown or deleted code
40056, a card body missing what WeChat requires 47001 (data format error).

A claim happens in the WeChat app, not through the API: `claim()` stands for it (tests,
and `fake_wechat`, which loads the cards the database says WeChat holds). The callback
that WeChat then sends (user_get_card) is the test's to send.
"""

import secrets

from .core import error, route

INVALID_CODE, INVALID_CARD, DATA_FORMAT = 40056, 40073, 47001
REQUIRED_BASE = ("logo_url", "brand_name", "code_type", "title", "color", "notice",
                 "description", "sku", "date_info")  # fmt: skip


def _state(fake) -> dict:
    return fake.data.setdefault("card", {"cards": {}, "holdings": {}, "qrcodes": []})


def claim(fake, card_id: str, openid: str, *, code: str = "", outer_str: str = "") -> str:
    """Someone adds the card to their 卡包: a new code (12 digits, as WeChat's)."""
    code = code or str(secrets.randbelow(9 * 10**11) + 10**11)
    with fake.lock:
        _state(fake)["holdings"][code] = {
            "card_id": card_id, "openid": openid, "outer_str": outer_str, "active": False,
            "deleted": False, "membership_number": "", "bonus": 0, "balance": 0,
            "custom_field_value1": "", "form": [],
        }  # fmt: skip
    return code


def known_card(fake, card_id: str, card: dict | None = None) -> None:
    """A card WeChat already holds (created before this fake started)."""
    with fake.lock:
        _state(fake)["cards"].setdefault(card_id, card or {})


def load(fake, holdings: list[dict]) -> None:
    """Cards and activated holdings WeChat already holds (fake_wechat, from the database:
    wechat/demo.py fake_cards)."""
    for held in holdings:
        known_card(fake, held["card_id"])
        claim(fake, held["card_id"], held["openid"], code=held["code"])
        with fake.lock:
            _state(fake)["holdings"][held["code"]].update(
                active=True, membership_number=held["membership_number"],
                bonus=held["bonus"], balance=held["balance"],
            )  # fmt: skip


def fill_form(fake, code: str, **fields) -> None:
    """The holder fills in the activation form: mobile="138…", birthday="1990-05-01"."""
    names = {"mobile": "USER_FORM_INFO_FLAG_MOBILE", "birthday": "USER_FORM_INFO_FLAG_BIRTHDAY"}
    with fake.lock:
        holding = _state(fake)["holdings"][code]
        holding["form"] = [{"name": names[k], "value": v} for k, v in fields.items()]
        holding["active"] = True  # one-click activation: WeChat activates on submission


def delete(fake, code: str) -> None:
    """The holder deletes the card from 卡包."""
    with fake.lock:
        _state(fake)["holdings"][code]["deleted"] = True


def holding(fake, code: str) -> dict:
    """What WeChat shows on the card of `code` now (a copy)."""
    with fake.lock:
        return dict(_state(fake)["holdings"][code])


def _holding(fake, body: dict):
    state = _state(fake)
    if body.get("card_id") not in state["cards"]:
        return None, error(INVALID_CARD, "invalid card_id")
    found = state["holdings"].get(str(body.get("code", "")))
    if found is None or found["deleted"] or found["card_id"] != body["card_id"]:
        return None, error(INVALID_CODE, "invalid serial code")
    return found, None


@route("/cgi-bin/media/uploadimg")
def upload_image(fake, method, query, body):
    return {"url": f"http://mmbiz.qpic.cn/mmbiz/fake{secrets.token_hex(12)}/0"}


@route("/card/create")
def card_create(fake, method, query, body):
    card = body.get("card") or {}
    member_card = card.get("member_card") or {}
    base = member_card.get("base_info") or {}
    if card.get("card_type") != "MEMBER_CARD" or any(not base.get(k) for k in REQUIRED_BASE):
        return error(DATA_FORMAT, "data format error")
    if len(base["brand_name"]) > 12 or len(base["title"]) > 9 or len(base["notice"]) > 16:
        return error(DATA_FORMAT, "data format error")
    card_id = "pFAKE" + secrets.token_urlsafe(18)[:23]
    with fake.lock:
        _state(fake)["cards"][card_id] = card
    return {"errcode": 0, "errmsg": "ok", "card_id": card_id}


@route("/card/update")
def card_update(fake, method, query, body):
    with fake.lock:
        card = _state(fake)["cards"].get(body.get("card_id"))
        if card is None:
            return error(INVALID_CARD, "invalid card_id")
        card.setdefault("updates", []).append(body.get("member_card") or {})
    return {"errcode": 0, "errmsg": "ok", "send_check": False}


@route("/card/membercard/activateuserform/set")
def activate_form(fake, method, query, body):
    with fake.lock:
        card = _state(fake)["cards"].get(body.get("card_id"))
        if card is None:
            return error(INVALID_CARD, "invalid card_id")
        card["activate_form"] = body
    return {"errcode": 0, "errmsg": "ok"}


@route("/card/qrcode/create")
def qrcode_create(fake, method, query, body):
    card = ((body.get("action_info") or {}).get("card")) or {}
    with fake.lock:
        if card.get("card_id") not in _state(fake)["cards"]:
            return error(INVALID_CARD, "invalid card_id")
        _state(fake)["qrcodes"].append(card)
    ticket = "gQ" + secrets.token_urlsafe(24)
    show = f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={ticket}"
    return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expire_seconds": 0,
            "url": f"http://weixin.qq.com/q/{ticket[:22]}", "show_qrcode_url": show}  # fmt: skip


@route("/card/membercard/activate")
def activate(fake, method, query, body):
    with fake.lock:
        found, refused = _holding(fake, body)
        if refused:
            return refused
        if not body.get("membership_number"):
            return error(DATA_FORMAT, "data format error")
        found.update(active=True, membership_number=body["membership_number"],
                     bonus=int(body.get("init_bonus", found["bonus"])),
                     balance=int(body.get("init_balance", found["balance"])))  # fmt: skip
        if "init_custom_field_value1" in body:
            found["custom_field_value1"] = body["init_custom_field_value1"]
    return {"errcode": 0, "errmsg": "ok"}


@route("/card/membercard/updateuser")
def update_user(fake, method, query, body):
    with fake.lock:
        found, refused = _holding(fake, body)
        if refused:
            return refused
        # WeChat: with both, the total (bonus) is shown and add_bonus is the message's.
        for total, change in (("bonus", "add_bonus"), ("balance", "add_balance")):
            if total in body:
                found[total] = int(body[total])
            elif change in body:
                found[total] += int(body[change])
        if "custom_field_value1" in body:
            found["custom_field_value1"] = body["custom_field_value1"]
        return {"errcode": 0, "errmsg": "ok", "result_bonus": found["bonus"],
                "result_balance": found["balance"], "openid": found["openid"]}  # fmt: skip


@route("/card/membercard/userinfo/get")
def user_info(fake, method, query, body):
    with fake.lock:
        found, refused = _holding(fake, body)
        if refused:
            return refused
        return {
            "errcode": 0, "errmsg": "ok", "openid": found["openid"], "nickname": "",
            "membership_number": found["membership_number"], "bonus": found["bonus"],
            "balance": found["balance"], "sex": "", "user_card_status": "NORMAL",
            "user_info": {"common_field_list": list(found["form"]), "custom_field_list": []},
            "has_active": found["active"],
        }  # fmt: skip
