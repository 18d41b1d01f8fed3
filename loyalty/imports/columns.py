"""Which column is which: header synonyms in Chinese and English, and the mapping.

A header is compared after folding: full-width to half-width (NFKC), lower case,
without spaces, underscores, dashes, asterisks, colons or a bracketed remark
("手机号（必填）", "生日(yyyy-mm-dd)"). Staff fix what was not recognised in the
mapping step; the mapping is {column index as text: field key or ""}.
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


MEMBER_COLUMNS = [
    Column(
        "phone",
        _("Mobile number"),
        ("手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式", "移动电话",
         "会员手机", "会员手机号", "mobile", "phone", "phonenumber", "mobilephone",
         "mobilenumber", "cellphone", "cell", "tel", "telephone"),
        required=True,
    ),
    Column("name", _("Name"), ("姓名", "名字", "会员姓名", "客户姓名", "会员名", "顾客姓名",
                                "name", "fullname", "membername", "customername")),
    Column("gender", _("Gender"), ("性别", "gender", "sex")),
    Column("birthday", _("Birthday"), ("生日", "出生日期", "出生年月日", "出生年月", "生日日期",
                                       "birthday", "birthdate", "dateofbirth", "dob")),
    Column("email", _("E-mail"), ("邮箱", "电子邮箱", "电子邮件", "邮件", "邮箱地址",
                                  "email", "mail", "emailaddress")),
    Column("addresses", _("Address"), ("地址", "联系地址", "收货地址", "家庭地址", "通讯地址",
                                       "address", "addresses")),
    Column("points", _("Points balance"), ("积分", "当前积分", "可用积分", "积分余额", "剩余积分",
                                           "会员积分", "points", "point", "pointsbalance",
                                           "pointbalance")),
    # Stored value (储值), three ways of saying it (loyalty/imports/opening_stored_value.py):
    # the whole balance (a lone 余额 is money: points say 积分), what of it was paid in
    # (the export's own column), and what of it was the merchant's bonus.
    Column("stored_value", _("Stored value balance"), ("储值余额", "余额", "储值", "卡内余额",
                                                       "会员余额", "账户余额", "卡余额",
                                                       "储值卡余额", "储值总额", "balance",
                                                       "storedvalue", "storedvaluebalance")),
    Column("stored_principal", _("Stored value paid in"), ("储值本金", "本金", "本金余额",
                                                           "充值本金", "实充金额", "实充余额",
                                                           "storedprincipal", "principal",
                                                           "paidin")),
    Column("stored_bonus", _("Stored value bonus"), ("赠送余额", "赠送金", "储值赠送金",
                                                     "赠送金额", "赠金", "赠金余额", "bonus",
                                                     "bonusbalance", "storedbonus")),
    Column("tier", _("Tier"), ("等级", "会员等级", "级别", "会员级别", "卡等级", "会员卡等级",
                               "tier", "level", "memberlevel", "membertier", "grade",
                               "viplevel")),
    Column("total_spent", _("Total spent"), ("累计消费", "累计消费金额", "消费总额", "消费金额",
                                             "总消费", "累计金额", "totalspent", "totalspend",
                                             "spent", "spend", "totalamount", "lifetimevalue")),
    Column("purchase_count", _("Number of purchases"), ("消费次数", "购买次数", "累计消费次数",
                                                        "numberofpurchases",
                                                        "订单数", "累计订单数", "到店次数",
                                                        "purchasecount", "purchases", "orders",
                                                        "ordercount", "visits")),
    Column("last_purchase_at", _("Last purchase"), ("最近消费", "最近消费时间", "最后消费时间",
                                                    "最近购买时间", "最后消费", "最近消费日期",
                                                    "lastpurchase", "lastpurchaseat",
                                                    "lastpurchasedate", "lastorder")),
    Column("created_at", _("Registered at"), ("注册时间", "注册日期", "开卡时间", "开卡日期",
                                              "入会时间", "入会日期", "加入时间", "创建时间",
                                              "registered", "registeredat", "registrationdate",
                                              "joindate", "joined", "created", "createdat",
                                              "signupdate")),
    Column("tags", _("Tags"), ("标签", "会员标签", "客户标签", "tags", "tag", "labels")),
    Column("store", _("Store"), ("门店", "所属门店", "注册门店", "开卡门店", "店铺", "归属门店",
                                 "门店名称", "门店编码", "门店代码", "store", "shop", "storecode",
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


def fold(header: str) -> str:
    text = unicodedata.normalize("NFKC", header or "").lower()
    text = _REMARK.sub("", text)
    return _NOISE.sub("", text)


def _synonyms(kind: str) -> dict[str, str]:
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


def auto_map(headers: list[str], kind: str = "members") -> dict[str, str]:
    """{column index: field key} for the headers recognised; each field once (leftmost)."""
    synonyms = _synonyms(kind)
    mapping, taken = {}, set()
    for index, header in enumerate(headers):
        key = synonyms.get(fold(header), "")
        if key == ERROR_COLUMN or key in taken:
            key = ""
        if key:
            taken.add(key)
        mapping[str(index)] = key
    return mapping


def looks_like_header(kind: str):
    """For the reader: a row that names the phone column is the header."""
    synonyms = _synonyms(kind)

    def check(cells: list[str]) -> bool:
        return any(synonyms.get(fold(c)) == "phone" for c in cells)

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
