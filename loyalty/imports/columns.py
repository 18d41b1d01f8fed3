"""Which column is which: header synonyms in Chinese and English, and the mapping.

A header is compared after folding: full-width to half-width (NFKC), lower case,
without spaces, underscores, dashes, asterisks, colons or a bracketed remark
("手机号（必填）", "生日(yyyy-mm-dd)", "余额（元）"). What old systems put around a
name is tried away next: a prefix naming whose it is (客户/会员/用户/顾客/粉丝, customer
...: "客户手机号" is 手机号), then a suffix naming a unit or kind (号码, 余额, 元 ...:
"手机号码" is 手机), then both; the first of those that is a synonym wins.

Some headers name a field only when no other column does (`secondary`): a nickname
(昵称) is the name of a file without a real name; a paid tier (付费等级) is the tier of
a file without a free one (免费等级, the tier earned by spending, which ours are).
`alternatives` says, for the mapping step, which ignored column could have been
which field. Named presets of other systems' exports (presets.py) map their headers
first. Staff fix what was not recognised in the mapping step; the mapping is
{column index as text: field key or ""}.
"""

import re
import unicodedata
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext_lazy as _

ERROR_COLUMN = "error"  # the error file's own column: ignored when it comes back


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    synonyms: tuple[str, ...]
    required: bool = False
    secondary: tuple[str, ...] = ()  # headers naming it only when no other column does


MEMBER_COLUMNS = [
    Column(
        "phone",
        _("Mobile number"),
        ("手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式", "移动电话",
         "会员手机", "会员手机号", "绑定手机", "绑定手机号", "注册手机号", "mobile", "phone",
         "phonenumber", "mobilephone", "mobilenumber", "mobileno", "phoneno", "telno", "mob",
         "cellphone", "cell", "tel", "telephone"),
        required=True,
    ),
    Column("name", _("Name"), ("姓名", "名字", "会员姓名", "客户姓名", "会员名", "顾客姓名",
                                "真实姓名", "会员名称", "客户名称", "name", "fullname",
                                "realname", "membername", "customername"),
           secondary=("昵称", "微信昵称", "用户昵称", "客户昵称", "会员昵称", "nickname", "nick")),
    Column("gender", _("Gender"), ("性别", "gender", "sex")),
    Column("birthday", _("Birthday"), ("生日", "出生日期", "出生年月日", "出生年月", "生日日期",
                                       "birthday", "birthdate", "dateofbirth", "dob")),
    Column("email", _("E-mail"), ("邮箱", "电子邮箱", "电子邮件", "邮件", "邮箱地址",
                                  "email", "mail", "emailaddress")),
    Column("addresses", _("Address"), ("地址", "联系地址", "收货地址", "家庭地址", "通讯地址",
                                       "address", "addresses")),
    Column("points", _("Points balance"), ("积分", "当前积分", "可用积分", "积分余额", "剩余积分",
                                           "会员积分", "积分数", "points", "point", "pts",
                                           "pointsbalance", "pointbalance", "bonuspoints")),
    # Stored value (储值), three ways of saying it (loyalty/imports/opening_stored_value.py):
    # the whole balance (a lone 余额 is money: points say 积分), what of it was paid in
    # (the export's own column), and what of it was the merchant's bonus.
    Column("stored_value", _("Stored value balance"), ("储值余额", "余额", "储值", "卡内余额",
                                                       "会员余额", "账户余额", "卡余额",
                                                       "储值卡余额", "储值总额", "储值金额",
                                                       "总余额", "可用余额", "balance", "bal",
                                                       "storedvalue", "storedvaluebalance")),
    Column("stored_principal", _("Stored value paid in"), ("储值本金", "本金", "本金余额",
                                                           "充值本金", "实充金额", "实充余额",
                                                           "储值本金余额", "实储余额",
                                                           "storedprincipal", "principal",
                                                           "paidin")),
    Column("stored_bonus", _("Stored value bonus"), ("赠送余额", "赠送金", "储值赠送金",
                                                     "赠送金额", "赠金", "赠金余额", "赠送",
                                                     "储值赠送余额", "储值赠送金额", "赠送金余额",
                                                     "bonus",
                                                     "bonusbalance", "storedbonus")),
    Column("tier", _("Tier"), ("等级", "会员等级", "级别", "会员级别", "卡等级", "会员卡等级",
                               "免费等级", "免费会员等级", "等级名称", "会员等级名称", "会员卡名称",
                               "tier", "level", "memberlevel", "membertier", "grade",
                               "viplevel", "freetier", "freelevel", "lvl"),
           secondary=("付费等级", "付费会员等级", "付费会员卡", "paidtier", "paidlevel")),
    Column("total_spent", _("Total spent"), ("累计消费", "累计消费金额", "消费总额", "消费金额",
                                             "总消费", "累计金额", "累计消费额", "消费总金额",
                                             "累计实付金额", "totalconsumption", "totalspent",
                                             "totalspend", "spent", "spend", "totalamount",
                                             "lifetimevalue")),
    Column("purchase_count", _("Number of purchases"), ("消费次数", "购买次数", "累计消费次数",
                                                        "消费笔数", "numberofpurchases",
                                                        "订单数", "累计订单数", "到店次数",
                                                        "purchasecount", "purchases", "orders",
                                                        "ordercount", "visits")),
    Column("last_purchase_at", _("Last purchase"), ("最近消费", "最近消费时间", "最后消费时间",
                                                    "最近购买时间", "最后消费", "最近消费日期",
                                                    "最后消费日期", "上次消费时间", "上次消费日期",
                                                    "最近到店时间", "lastvisit",
                                                    "lastpurchase", "lastpurchaseat",
                                                    "lastpurchasedate", "lastorder")),
    Column("created_at", _("Registered at"), ("注册时间", "注册日期", "开卡时间", "开卡日期",
                                              "入会时间", "入会日期", "加入时间", "创建时间",
                                              "成为客户时间", "成为会员时间", "办卡时间",
                                              "会员加入时间", "开卡日期",
                                              "registertime", "regdate", "regtime",
                                              "registered", "registeredat", "registrationdate",
                                              "joindate", "joined", "created", "createdat",
                                              "signupdate")),
    Column("tags", _("Tags"), ("标签", "会员标签", "客户标签", "用户标签", "标签名称", "tags",
                               "tag", "labels")),
    Column("store", _("Store"), ("门店", "所属门店", "注册门店", "开卡门店", "店铺", "归属门店",
                                 "门店名称", "门店编码", "门店代码", "门店编号", "所属门店名称",
                                 "办卡门店", "归属网点", "成为会员店铺", "入会门店", "store",
                                 "shop", "storecode",
                                 "storename", "branch")),
    Column("note", _("Note"), ("备注", "备注信息", "note", "notes", "remark", "remarks")),
    # Yes or no to marketing messages (营销短信 ...), apart from the privacy consent.
    Column("marketing_consent", _("Marketing consent"), ("营销同意", "同意营销", "接受营销",
                                                         "营销授权", "接受营销消息",
                                                         "marketingconsent", "marketing",
                                                         "acceptsmarketing", "optin")),
    # Huiyuan's own member number (an export of ours imported back): on a row whose
    # number is the member's, the card's figures are this system's, not an opening.
    Column("member_no", _("Member number"), ("会员号", "会员编号", "会员卡号", "卡号",
                                             "memberno", "membernumber", "cardno")),
    # Growth value (成长值, CRMEB's 经验): an opening like the points (openings.py).
    Column("growth_value", _("Growth value"), ("成长值", "当前成长值", "累计成长值", "经验",
                                               "经验值", "growth", "growthvalue", "exp")),
    # WeChat: the member's openid (of the merchant's official account) and unionid.
    Column("wechat_openid", _("WeChat openid"), ("openid", "微信openid", "公众号openid",
                                                 "粉丝openid", "wxopenid", "wechatopenid")),
    Column("wechat_unionid", _("WeChat unionid"), ("unionid", "微信unionid", "wxunionid",
                                                   "wechatunionid")),
    # Who invited the member: their phone; the referrer when they are a member.
    Column("referrer_phone", _("Referrer's mobile number"), (
        "推荐人手机", "推荐人手机号", "推荐人电话", "邀请人手机", "邀请人手机号", "邀请人电话",
        "推广人手机号", "推广员手机号", "上级手机号", "referrerphone", "inviterphone",
        "referrermobile", "invitermobile")),
    # A count card (次卡) the member holds: which package, and how many uses are left.
    Column("count_card", _("Count card"), ("次卡", "次卡名称", "计次卡", "计次卡名称", "次卡项目",
                                           "套餐名称", "次卡套餐", "countcard", "package",
                                           "packagename")),
    Column("count_card_uses", _("Count card uses left"), (
        "剩余次数", "次卡剩余次数", "可用次数", "剩余可用次数", "计次卡剩余次数", "usesleft",
        "remaininguses", "countcarduses")),
]  # fmt: skip

_MEMBER = {c.key: c for c in MEMBER_COLUMNS}
PURCHASE_COLUMNS = [
    _MEMBER["phone"],
    Column("order_no", _("Order number"), ("订单号", "单号", "订单编号", "流水号", "小票号",
                                           "orderno", "ordernumber", "order", "orderid",
                                           "reference", "receipt", "receiptno"), required=True),
    Column("amount", _("Amount paid"), ("金额", "实付金额", "消费金额", "实收金额", "支付金额",
                                        "订单金额", "amount", "paid", "total", "amountpaid"),
           required=True),
    Column("occurred_at", _("Time"), ("时间", "消费时间", "下单时间", "支付时间", "交易时间",
                                      "日期", "消费日期", "time", "date", "datetime",
                                      "occurredat", "orderdate", "purchasedat"), required=True),
    _MEMBER["store"],
    Column("category", _("Category"), ("品类", "类别", "商品类别", "分类", "category")),
]  # fmt: skip

COLUMNS = {"members": MEMBER_COLUMNS, "purchases": PURCHASE_COLUMNS}
_REMARK = re.compile(r"[(\[【].*?[)\]】]")
_NOISE = re.compile(r"[\s_\-*:.#/]+")
# Around a header's name: whose it is (a prefix), its unit or kind (a suffix).
PREFIXES = ("客户", "会员", "用户", "顾客", "粉丝", "customer", "member", "user", "vip")
SUFFIXES = ("号码", "余额", "信息", "元", "分", "no", "number")  # not 金额: 最近消费金额


def fold(header: str) -> str:
    text = unicodedata.normalize("NFKC", header or "").lower()
    text = _REMARK.sub("", text)
    return _NOISE.sub("", text)


def variants(header: str) -> list[str]:
    """The folded header, then without its prefix, its suffix, both: the ways to try it."""
    folded = fold(header)
    found = [folded]
    bare = next((folded[len(p) :] for p in PREFIXES if folded.startswith(p)), folded)
    for text in (bare, *(t[: -len(s)] for t in (folded, bare) for s in SUFFIXES if t.endswith(s))):
        if text and text not in found:
            found.append(text)
    return found


def _synonyms(kind: str, *, secondary: bool = False) -> dict[str, str]:
    if secondary:
        return {fold(s): c.key for c in COLUMNS[kind] for s in c.secondary}
    table = {fold(s): c.key for c in COLUMNS[kind] for s in (c.key, *c.synonyms)}
    # The labels themselves, in English and in the language in use: what an export
    # (loyalty/imports/exports.py) writes as its header imports back.
    for column in COLUMNS[kind]:
        with translation.override("en"):
            table.setdefault(fold(str(column.label)), column.key)
        table.setdefault(fold(str(column.label)), column.key)
    for word in ("错误", "错误原因", "错误信息", "error", "errors"):
        table[fold(word)] = ERROR_COLUMN
    return table


def recognise(header: str, table: dict[str, str]) -> str:
    """The field (or ERROR_COLUMN) the header names in `table`, or ""."""
    return next((table[v] for v in variants(header) if v in table), "")


def auto_map(headers: list[str], kind: str = "members", preset=None) -> dict[str, str]:
    """{column index: field key} for the headers recognised; each field once.

    A preset's own headers first (presets.Preset.headers: its decisions), then the
    synonyms, leftmost first, then the secondary headers for fields still free."""
    synonyms = _synonyms(kind)
    mapping, taken = {}, set()
    fixed = preset.mapping_for(headers) if preset is not None else {}
    taken.update(key for key in fixed.values() if key)
    for index, header in enumerate(headers):
        if str(index) in fixed:
            mapping[str(index)] = fixed[str(index)]
            continue
        key = recognise(header, synonyms)
        if key == ERROR_COLUMN or key in taken:
            key = ""
        if key:
            taken.add(key)
        mapping[str(index)] = key
    second = _synonyms(kind, secondary=True)
    for index, header in enumerate(headers):
        if mapping[str(index)] or str(index) in fixed:
            continue
        key = recognise(header, second)
        if key and key not in taken:
            taken.add(key)
            mapping[str(index)] = key
    return mapping


def alternatives(headers: list[str], mapping: dict[str, str], kind: str = "members"):
    """{column index: field key} of the columns left out that name a field another
    column holds (免费等级 and 付费等级): the mapping step says which won, editable."""
    primary, second = _synonyms(kind), _synonyms(kind, secondary=True)
    used = {key for key in mapping.values() if key}
    found = {}
    for index, header in enumerate(headers):
        if mapping.get(str(index)):
            continue
        key = recognise(header, primary) or recognise(header, second)
        if key in used:
            found[str(index)] = key
    return found


def looks_like_header(kind: str):
    """For the reader: a row that names the phone column is the header."""
    synonyms = _synonyms(kind)

    def check(cells: list[str]) -> bool:
        return any(recognise(c, synonyms) == "phone" for c in cells if c)

    return check


def choices(kind: str) -> list[tuple[str, str]]:
    return [("", _("(ignore this column)"))] + [(c.key, c.label) for c in COLUMNS[kind]]


def missing_required(mapping: dict[str, str], kind: str) -> list[Column]:
    present = set(mapping.values())
    return [c for c in COLUMNS[kind] if c.required and c.key not in present]


def clean_mapping(mapping: dict[str, str], headers: list[str], kind: str) -> dict[str, str]:
    """The mapping with unknown keys dropped and every field used at most once."""
    known = {c.key for c in COLUMNS[kind]}
    cleaned, taken = {}, set()
    for index in range(len(headers)):
        key = mapping.get(str(index), "")
        if key not in known or key in taken:
            key = ""
        if key:
            taken.add(key)
        cleaned[str(index)] = key
    return cleaned
