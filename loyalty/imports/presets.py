"""Named presets: the member exports of the systems merchants switch from.

Each preset is the header row its system writes (as published, or reconstructed where
no export was published: docs/imports.md says which), with our field for each column
or "" and the reason it is not imported. An upload is recognised as a preset when most
of the preset's columns are in its header (detect); its columns are then mapped by the
preset's decisions, and any other column by the synonyms (columns.auto_map). Staff
see the preset's name and the reasons in the mapping step and may still change any
column there.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .columns import fold

# Why a column is not imported, said once for every preset that has it.
NICKNAME = _("a WeChat nickname, not the member's name")
PAID_TIER = _("a paid membership (付费会员卡), not a tier earned by spending like ours")
SECOND_DATE = _("the registration time is taken from the earlier column")
LIFETIME = _("a lifetime total, not a balance: the balance column is imported")
DERIVED = _("a figure we compute ourselves from the purchases")
THEIR_ID = _("the old system's own id: members are matched by mobile number")
STAFF = _("a staff member's name: guides are set in Huiyuan")
NOT_KEPT = _("not kept by Huiyuan")
DISCOUNT = _("the discount comes from the member's tier in Huiyuan")
STATUS = _("every imported member starts active; disable members in Huiyuan")
GROUP = _("a group: import it as tags by choosing “Tags” for this column instead")
REFUNDS = _("refunds of the old system are part of its spend figures already")


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    # (header as the system writes it, our field or "", the reason when "")
    columns: tuple[tuple[str, str, str], ...]
    source: str  # where the header row comes from (docs/imports.md)
    signature: tuple[str, ...]  # headers only this system writes: how a file is known

    @property
    def headers(self) -> list[str]:
        return [header for header, _key, _why in self.columns]

    def mapping_for(self, headers: list[str]) -> dict[str, str]:
        """{column index: field or ""} of the file's columns that are this preset's."""
        mine = {fold(header): key for header, key, _why in self.columns}
        return {str(i): mine[fold(h)] for i, h in enumerate(headers) if fold(h) in mine}

    def reasons(self) -> dict[str, str]:
        """{folded header: why it is not imported}."""
        return {fold(header): str(why) for header, key, why in self.columns if not key}


def _preset(key, name, source, signature, *columns) -> Preset:
    return Preset(key, name, tuple((c + ("",))[:3] for c in columns), source, signature)


PRESETS = [
    _preset(
        "youzan", _("Youzan (有赞) customer export"), "published",
        ("客户手机号", "客户昵称", "客户积分", "客户储值余额", "免费等级", "付费等级",
         "成为客户时间"),
        ("客户姓名", "name"), ("客户昵称", "", NICKNAME), ("客户手机号", "phone"),
        ("客户生日", "birthday"), ("客户性别", "gender"), ("标签", "tags"),
        ("是否会员", "", STATUS), ("成长值", "growth_value"), ("免费等级", "tier"),
        ("付费等级", "", PAID_TIER), ("权益卡", "", PAID_TIER), ("客户积分", "points"),
        ("客户储值余额", "stored_value"), ("消费次数", "purchase_count"),
        ("消费金额", "total_spent"), ("累计退款金额", "", REFUNDS),
        ("累计退款订单数", "", REFUNDS), ("笔单价", "", DERIVED),
        ("上次消费时间", "last_purchase_at"), ("分销员", "", STAFF), ("导购员", "", STAFF),
        ("企微好友", "", NOT_KEPT), ("来源渠道", "", NOT_KEPT), ("来源方式", "", NOT_KEPT),
        ("成为客户时间", "created_at"), ("成为会员时间", "", SECOND_DATE),
        ("成为会员店铺", "store"), ("公众号", "", NOT_KEPT), ("公众号关注时间", "", NOT_KEPT),
        ("最近浏览时间", "", NOT_KEPT), ("微信地域", "", NOT_KEPT), ("所属区域", "", NOT_KEPT),
        ("指定时间消费次数", "", DERIVED), ("指定时间消费金额", "", DERIVED),
    ),
    _preset(
        "weimob", _("Weimob (微盟) customer export"), "reconstructed",
        ("客户ID", "专属导购", "累计售后次数", "企微好友状态", "客户状态", "归属门店"),
        ("客户ID", "", THEIR_ID), ("微信昵称", "", NICKNAME), ("姓名", "name"),
        ("手机号", "phone"), ("性别", "gender"), ("生日", "birthday"),
        ("会员卡号", "", THEIR_ID), ("会员等级", "tier"), ("成长值", "growth_value"),
        ("当前积分", "points"), ("累计积分", "", LIFETIME), ("储值余额", "stored_value"),
        ("累计储值", "", LIFETIME), ("累计消费金额", "total_spent"),
        ("累计消费次数", "purchase_count"), ("最近消费时间", "last_purchase_at"),
        ("最近消费金额", "", DERIVED), ("累计售后次数", "", REFUNDS),
        ("累计退款金额", "", REFUNDS), ("成为客户时间", "created_at"),
        ("成为会员时间", "", SECOND_DATE), ("归属门店", "store"), ("专属导购", "", STAFF),
        ("推荐人手机号", "referrer_phone"), ("客户标签", "tags"), ("企微好友状态", "", NOT_KEPT),
        ("客户状态", "", STATUS),
    ),
    _preset(
        "crmeb", _("CRMEB user export"), "published",
        ("用户ID", "用户等级", "用户分组", "用户类型", "用户余额", "最后登录时间", "是否注销"),
        ("用户ID", "", THEIR_ID), ("昵称", "", NICKNAME), ("真实姓名", "name"),
        ("性别", "gender"), ("电话", "phone"), ("用户等级", "tier"), ("用户分组", "", GROUP),
        ("用户标签", "tags"), ("用户类型", "", NOT_KEPT), ("用户余额", "stored_value"),
        ("最后登录时间", "", NOT_KEPT), ("注册时间", "created_at"), ("是否注销", "", STATUS),
    ),
    _preset(
        "keruyun", _("Keruyun (客如云) member export"), "reconstructed",
        ("顾客姓名", "顾客来源", "本金余额", "注册门店", "累计储值"),
        ("会员卡号", "", THEIR_ID), ("顾客姓名", "name"), ("手机号", "phone"), ("性别", "gender"),
        ("生日", "birthday"), ("会员等级", "tier"), ("储值余额", "stored_value"),
        ("本金余额", "stored_principal"), ("赠送余额", "stored_bonus"),
        ("累计储值", "", LIFETIME), ("积分", "points"), ("累计积分", "", LIFETIME),
        ("累计消费金额", "total_spent"), ("消费次数", "purchase_count"),
        ("最近消费时间", "last_purchase_at"), ("注册时间", "created_at"),
        ("注册门店", "store"), ("顾客来源", "", NOT_KEPT), ("分组", "", GROUP),
        ("状态", "", STATUS), ("备注", "note"),
    ),
    _preset(
        "yinbao", _("Yinbao / Pospal (银豹) member export"), "reconstructed",
        ("折扣", "开卡日期", "到期日期", "QQ", "开卡门店", "微信OpenID"),
        ("会员号", "", THEIR_ID), ("姓名", "name"), ("会员等级", "tier"), ("折扣", "", DISCOUNT),
        ("余额", "stored_value"), ("积分", "points"), ("手机号", "phone"), ("生日", "birthday"),
        ("开卡日期", "created_at"), ("到期日期", "", NOT_KEPT), ("状态", "", STATUS),
        ("QQ", "", NOT_KEPT), ("邮箱", "email"), ("地址", "addresses"), ("备注", "note"),
        ("开卡门店", "store"), ("微信OpenID", "wechat_openid"),
    ),
    _preset(
        "meituan", _("Meituan / Koubei POS (美团收银 / 口碑) member export"), "reconstructed",
        ("会员卡名称", "储值本金余额(¥)", "储值赠送金额(¥)", "次卡剩余次数", "会员加入时间"),
        ("门店", "store"), ("会员编号", "", THEIR_ID), ("会员姓名", "name"),
        ("手机号码", "phone"), ("会员卡名称", "tier"), ("储值本金余额(¥)", "stored_principal"),
        ("储值赠送金额(¥)", "stored_bonus"), ("次卡名称", "count_card"),
        ("次卡剩余次数", "count_card_uses"), ("积分", "points"),
        ("累计消费金额(¥)", "total_spent"), ("累计消费次数", "purchase_count"),
        ("会员加入时间", "created_at"), ("上次消费时间", "last_purchase_at"),
    ),
]  # fmt: skip
BY_KEY = {p.key: p for p in PRESETS}
MIN_SIGNATURE = 3  # of a preset's own headers in the file (two are found in other files)


def detect(headers: list[str]) -> Preset | None:
    """The preset of which the header holds the most own headers (its signature, at
    least MIN_SIGNATURE), then the most columns; None when none does. An older, shorter
    export of a system (Youzan's first had 7 columns, 6 of them its own) is still known."""
    found = {fold(h) for h in headers if h}
    best, best_score = None, (0, 0)
    for preset in PRESETS:
        score = (
            len(found & {fold(h) for h in preset.signature}),
            len(found & {fold(h) for h in preset.headers}),
        )
        if score[0] >= MIN_SIGNATURE and score > best_score:
            best, best_score = preset, score
    return best


def preset_for(key: str) -> Preset | None:
    return BY_KEY.get(key or "")


def choices() -> list[tuple[str, str]]:
    return [("", _("Recognise from the columns"))] + [(p.key, p.name) for p in PRESETS]
