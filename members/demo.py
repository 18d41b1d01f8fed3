"""A believable demo merchant: stores, staff of every role, members in bulk.

Demo member i (0-based) has phone `demo_phone(i)` and number `demo_member_no(i)`:
both are bijections of i, so they are unique without asking the database, and the
benchmarks can pick existing members without decrypting anything.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from config.platform.bulk import insert_rows

from . import crypto
from .models import Member, Role, StaffProfile, Store, Tag, User
from .numbers import luhn_check_digit
from .services import staff_create

MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "177", "180",
    "181", "182", "183", "185", "186", "187", "188", "189", "198", "199",
]  # fmt: skip

STORES = [
    ("SH01", "静安旗舰店", "上海市静安区南京西路 1266 号"),
    ("SH02", "徐汇店", "上海市徐汇区衡山路 10 号"),
    ("SH03", "浦东店", "上海市浦东新区世纪大道 8 号"),
    ("HZ01", "杭州西湖店", "杭州市上城区湖滨路 28 号"),
    ("NJ01", "南京新街口店", "南京市秦淮区中山南路 1 号"),
]
TAGS = [
    ("常客", "一个月来店 4 次以上"),
    ("咖啡爱好者", "偏好手冲与单品"),
    ("新品尝鲜", "愿意尝试新品"),
    ("企业客户", "团购与企业订单"),
    ("价格敏感", "多在有券时消费"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝丽阳妮宝贝初程梵罡恒鸿桦骅剑娇纪宽苛灵玛媚琪晴容睿烁堂唯威韦雯苇萱阅彦宇雨洋忠宗曼紫逸贤蝶菡绿蓝儿翠烟"  # noqa: E501

MEMBER_COLUMNS = [
    "member_no", "phone", "phone_hash", "phone_last4", "name", "gender", "birthday", "email",
    "addresses", "source", "store", "guide", "wechat_unionid", "status", "consent_version",
    "consent_at", "note", "created_at", "updated_at",
]  # fmt: skip
DEMO_PASSWORD = "huiyuan-demo-2026"  # printed by seed_demo; for demo data only
_NO_SPACE = 9 * 10**7  # 8-digit member number bodies


def demo_phone(i: int) -> str:
    """E.164 phone of demo member i: a prefix and an 8-digit bijection of i."""
    prefix = MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
    k = i // len(MOBILE_PREFIXES)
    return f"+86{prefix}{(k * 7919 + 1234567) % 10**8:08d}"


def demo_member_no(i: int) -> str:
    body = str(10**7 + (i * 48271 + 7) % _NO_SPACE)
    return body + luhn_check_digit(body)


@dataclass
class DemoStaff:
    username: str
    role: str
    store: str


def seed_stores_and_staff(*, password: str = DEMO_PASSWORD) -> list[DemoStaff]:
    """Stores, tags, and an owner plus a manager and two clerks per store. Idempotent."""
    created: list[DemoStaff] = []
    with transaction.atomic():
        stores = {}
        for code, name, address in STORES:
            stores[code], _ = Store.objects.get_or_create(
                code=code, defaults={"name": name, "address": address}
            )
        for name, description in TAGS:
            Tag.objects.get_or_create(name=name, defaults={"description": description})
        plan = [("owner", Role.OWNER, None, "老板")]
        for code, name, _addr in STORES:
            slug = code.lower()
            plan.append((f"manager_{slug}", Role.MANAGER, stores[code], f"{name}店长"))
            plan += [
                (f"clerk_{slug}_{n}", Role.CLERK, stores[code], f"{name}店员{n}") for n in (1, 2)
            ]
        for username, role, store, display in plan:
            if User.objects.filter(username=username).exists():
                continue
            staff_create(
                username=username, password=password, role=role, store=store, display_name=display
            )
            created.append(DemoStaff(username, role, store.code if store else "*"))
    return created


def _random_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def seed_members(*, count: int, rng: random.Random, batch_size: int = 5000, progress=None) -> range:
    """Bulk-insert `count` demo members after those already there; returns their indexes.

    Rows are built in Python (encryption included) and written with bulk_create in
    batches, each its own transaction, so a million members take about a minute.
    """
    stores = list(Store.objects.order_by("code"))
    guides_by_store: dict[int, list[int]] = {}
    for user_id, store_id in StaffProfile.objects.filter(store__isnull=False).values_list(
        "user_id", "store_id"
    ):
        guides_by_store.setdefault(store_id, []).append(user_id)
    tag_ids = list(Tag.objects.values_list("pk", flat=True))
    start = Member.objects.count()
    now = timezone.now()
    through = Member.tags.through
    sources = [Member.Source.QR] * 6 + [Member.Source.COUNTER] * 2 + [Member.Source.WECHAT]
    for lo in range(start, start + count, batch_size):
        hi = min(lo + batch_size, start + count)
        rows = []
        for i in range(lo, hi):
            phone = demo_phone(i)
            store = stores[i % len(stores)]
            guides = guides_by_store.get(store.pk) or [None]
            created_at = now - timedelta(seconds=rng.randrange(0, 730 * 86400))
            birthday = None
            if rng.random() < 0.6:
                birthday = date(
                    rng.randrange(1960, 2006), rng.randrange(1, 13), rng.randrange(1, 29)
                )
            rows.append(
                (
                    demo_member_no(i),
                    phone,
                    crypto.phone_hash(phone),
                    phone[-4:],
                    _random_name(rng),
                    rng.choice(("M", "F", "F", "")),
                    birthday,
                    "",
                    "",
                    rng.choice(sources),
                    store.pk,
                    rng.choice(guides) if rng.random() < 0.5 else None,
                    "",
                    Member.Status.ACTIVE,
                    "2026-01",
                    created_at,
                    "",
                    created_at,
                    now,
                )
            )
        with transaction.atomic():
            # Skip numbers/phones real registrations already took (demo data can be
            # added to a database that is in use).
            taken = set(
                Member.objects.filter(phone_hash__in=[r[2] for r in rows]).values_list(
                    "phone_hash", flat=True
                )
            ) | set(
                Member.objects.filter(member_no__in=[r[0] for r in rows]).values_list(
                    "member_no", flat=True
                )
            )
            if taken:
                rows = [r for r in rows if r[2] not in taken and r[0] not in taken]
            insert_rows(Member, MEMBER_COLUMNS, rows)
            if tag_ids:
                tagged = [r[0] for r in rows if rng.random() < 0.15]
                ids = Member.objects.filter(member_no__in=tagged).values_list("pk", flat=True)
                insert_rows(through, ["member", "tag"], [(mid, rng.choice(tag_ids)) for mid in ids])
        if progress:
            progress(hi - start, count)
    return range(start, start + count)
