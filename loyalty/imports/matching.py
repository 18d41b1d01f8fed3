"""Values of another system matched to ours: tier names, count card packages, totals rows.

Tiers. The old system's tier names rarely equal ours ("金卡会员" for our 金卡), so a
tier cell is matched, first match wins:
1. exactly (case and width folded) to a tier's name;
2. to the owner's choice for that text, made in the import's mapping step and kept
   (ImportTierAlias) for every later import;
3. contained: our tier whose name is in the text with only decoration around it
   ("金卡会员", "VIP金卡" -> 金卡; "黄金" -> 黄金会员), the longest when several are; a
   different word around it is no match ("黑金卡" is not 金卡, it is the tier above).
Anything else refuses the row, naming our tiers. Each distinct text is matched once
and counted, so the dry run lists what was matched how (TierMatcher.seen) and the
owner corrects it before the real run.

Count cards. A package's name (or code) is matched to a count card template the same
way, without the owner's choices: the owner creates the template first.

Totals. Exports from cash registers end with a 合计 (totals) row: no phone, and a cell
saying so. It is skipped and reported, not an error row.
"""

import re
import unicodedata

from django.utils.translation import gettext as _

from ..models import CountCardTemplate, ImportTierAlias, Tier

# A totals row's first words: one of these alone, or followed by a colon and figures.
TOTALS = ("合计", "合計", "总计", "總計", "汇总", "小计", "total", "totals", "sum", "grandtotal")
_TOTALS = re.compile(r"^(?:" + "|".join(TOTALS) + r")(?:[:：].*)?$|^会员数[:：]", re.S)
# A tier cell saying "none" (CRMEB writes 无): no tier, as an empty cell.
NO_TIER = {"无", "暂无", "没有", "-", "--", "—", "——", "none", "null", "n/a"}
DECORATION = re.compile(r"会员|用户|客户|等级|级别|卡|级|vip|member|level|tier|card|[\s·._-]")
HOW_EXACT, HOW_CHOSEN, HOW_CONTAINED, HOW_NONE = "exact", "chosen", "contained", "none"
SEEN_MAX = 500  # distinct tier texts counted (a name column mapped to the tier by mistake)
REPORTED_MAX = 50  # of them in the report and the mapping step: the unmatched first
TEXT_MAX = 100  # a text as kept (ImportTierAlias.value)


class Unmatched(Exception):
    """The value names none of ours; the message says so, for the report."""


def fold_name(name) -> str:
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()


def is_totals(cells: list) -> bool:
    """Whether a row (one without a phone) is a totals row: one of its first non-empty
    cells starts with 合计, 总计, Total ... (银豹's summary: 会员数：N, 充值金额：...)."""
    texts = [c for c in cells if c is not None and c != ""][:3]
    return any(isinstance(c, str) and _TOTALS.match(fold_name(c)) for c in texts)


def _decoration(text: str) -> bool:
    """Whether `text` is only words that decorate a tier's name (会员, 卡, VIP ...)."""
    return not DECORATION.sub("", text)


def _contained(value: str, names: dict[str, int]) -> int | None:
    """The id of our name in `value` with only decoration around it (the longest), else
    of the one name holding `value` with only decoration around, else of the one name
    that is the same without decoration ("钻石会员" and 钻石卡 are both 钻石)."""
    inside = sorted(
        (n for n in names if n and n in value and _decoration(value.replace(n, "", 1))),
        key=len,
        reverse=True,
    )
    if inside and (len(inside) == 1 or len(inside[0]) > len(inside[1])):
        return names[inside[0]]
    holding = [n for n in names if value and value in n and _decoration(n.replace(value, "", 1))]
    if len(holding) == 1:
        return names[holding[0]]
    core = DECORATION.sub("", value)
    same = [n for n in names if core and DECORATION.sub("", n) == core]
    return names[same[0]] if len(same) == 1 else None


class TierMatcher:
    """A file's tier texts to our tiers; `seen` counts each distinct text and its match."""

    def __init__(self, chosen: dict[str, int] | None = None):
        tiers = list(Tier.objects.order_by("level").values_list("pk", "name"))
        self.names = {fold_name(name): pk for pk, name in tiers}
        self.listed = ", ".join(name for _pk, name in tiers)
        self.chosen = dict(
            ImportTierAlias.objects.filter(tier__in=[pk for pk, _name in tiers]).values_list(
                "value", "tier_id"
            )
        )
        self.chosen.update(chosen or {})
        self.memo: dict = {}
        self.seen: dict[str, list] = {}  # text: [rows, tier id or None, how]

    def match(self, value) -> int | None:
        found = self.memo.get(value)
        if found is None:
            found = self.memo[value] = self._match(value)
        text, tier_id, how = found
        entry = self.seen.get(text)
        if entry is None and len(self.seen) < SEEN_MAX:
            entry = self.seen[text] = [0, tier_id, how]
        if entry is not None:
            entry[0] += 1
        if tier_id is None and how != HOW_NONE:
            raise Unmatched(
                _("Unknown tier “%(value)s” (tiers: %(tiers)s).")
                % {"value": value, "tiers": self.listed}
            )
        return tier_id

    def _match(self, value) -> tuple[str, int | None, str]:
        text = str(value).strip()[:TEXT_MAX]
        key = fold_name(text)
        if key in self.names:
            return text, self.names[key], HOW_EXACT
        if key in NO_TIER:
            return text, None, HOW_NONE
        if key in self.chosen:
            return text, self.chosen[key], HOW_CHOSEN
        contained = _contained(key, self.names)
        return text, contained, HOW_CONTAINED if contained else ""

    def report(self) -> list[list]:
        """[[text, rows, tier id or None, how], ...], the unmatched first, then by rows."""
        rows = [[text, *entry] for text, entry in self.seen.items()]
        rows.sort(key=lambda r: (r[3] != "", r[3] == HOW_EXACT, -r[1], r[0]))
        return rows[:REPORTED_MAX]


def tier_choice_save(*, value: str, tier: Tier | None, actor=None) -> None:
    """The owner's choice of our tier for a text of their files (None: forget it)."""
    key = fold_name(value)[:TEXT_MAX]
    if tier is None:
        ImportTierAlias.objects.filter(value=key).delete()
        return
    ImportTierAlias.objects.update_or_create(
        value=key, defaults={"tier": tier, "created_by": actor}
    )


class CountCardMatcher:
    """A package's name or code to one of our count card templates."""

    def __init__(self):
        templates = list(CountCardTemplate.objects.values_list("pk", "name", "code"))
        self.names = {fold_name(name): pk for pk, name, _code in templates}
        self.codes = {fold_name(code): pk for pk, _name, code in templates}
        self.listed = ", ".join(name for _pk, name, _code in templates) or "—"

    def match(self, value) -> int:
        key = fold_name(value)
        found = self.names.get(key) or self.codes.get(key) or _contained(key, self.names)
        if found is None:
            raise Unmatched(
                _(
                    "No count card template “%(value)s” (templates: %(templates)s): add it "
                    "under Loyalty → Count card templates first."
                )
                % {"value": value, "templates": self.listed}
            )
        return found
