"""The audit trail's entries as sentences for the member 360 timeline.

An AuditEntry keeps its changes as {key: [old, new]} for the record (members.audit);
read raw, that is "purchase: — → counter:q8sg…; amount: — → 268.50". Here each action
a member's timeline shows has one formatter, turning the entry's changes into what a
clerk reads: "记录消费 ¥268.50，使用 100 积分". An action without one (an app's new
action) is shown field by field, by the fields' names.
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from loyalty.models import Tender
from members.models import AuditEntry, Member

Changes = dict


def new(changes: Changes, key: str, default=None):
    """The value `key` changed to ([old, new] pairs; a bare value is the new one)."""
    pair = changes.get(key, default)
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[1]
    return pair


def old(changes: Changes, key: str, default=None):
    pair = changes.get(key)
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[0]
    return default


def yuan(value) -> str:
    """¥268.50 for "268.50" (what the entry kept); the text itself when not a number."""
    try:
        return f"¥{Decimal(str(value)):.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def number(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def sentence(*clauses) -> str:
    """The clauses that are not empty, as one sentence (full-width commas in Chinese)."""
    return pgettext("clauses of a sentence", ", ").join(str(c) for c in clauses if c)


def with_reason(text: str, reason) -> str:
    if not reason or reason == "—":
        return text
    return _("%(text)s (reason: %(reason)s)") % {"text": text, "reason": reason}


def tender_label(code) -> str:
    try:
        return str(Tender(code).label)
    except ValueError:
        return str(code or "")


# --- loyalty's actions -------------------------------------------------------------------


def purchase_record(c: Changes) -> str:
    used, earned = number(new(c, "points_used")), number(new(c, "points_earned"))
    stored = new(c, "stored_value_used")
    amount, paid = new(c, "amount"), new(c, "paid")
    return sentence(
        _("Purchase of %(amount)s recorded") % {"amount": yuan(amount)},
        _("%(paid)s paid") % {"paid": yuan(paid)} if paid is not None and paid != amount else "",
        _("%(n)d points used") % {"n": used} if used else "",
        _("%(amount)s from stored value") % {"amount": yuan(stored)} if stored else "",
        _("%(n)d points earned") % {"n": earned} if earned else "",
    )


def purchase_refund(c: Changes) -> str:
    before, after = old(c, "refunded_amount"), new(c, "refunded_amount")
    try:
        amount = Decimal(str(after)) - Decimal(str(before or 0))
    except (InvalidOperation, ValueError):
        return _("Purchase refunded")
    return sentence(
        _("%(amount)s refunded") % {"amount": yuan(amount)},
        _("%(total)s refunded in all") % {"total": yuan(after)} if number(before) else "",
    )


def points_adjust(c: Changes) -> str:
    before, after = number(old(c, "points_balance")), number(new(c, "points_balance"))
    return with_reason(
        sentence(
            _("Points adjusted by %(delta)+d") % {"delta": after - before},
            _("balance %(before)d → %(after)d") % {"before": before, "after": after},
        ),
        new(c, "reason"),
    )


def tier_set(c: Changes) -> str:
    text = _("Tier set: %(before)s → %(after)s") % {
        "before": old(c, "tier") or _("none"),
        "after": new(c, "tier") or _("none"),
    }
    return with_reason(text, new(c, "note"))


def coupon_redeem(c: Changes) -> str:
    return _("Coupon %(code)s redeemed") % {"code": old(c, "coupon") or new(c, "coupon")}


def coupon_issue(c: Changes) -> str:
    return _("Coupon issued: %(coupon)s") % {"coupon": new(c, "coupon")}


def redemption_fulfil(c: Changes) -> str:
    return _("Reward handed over: %(reward)s") % {"reward": old(c, "pickup") or new(c, "pickup")}


def stored_value_top_up(c: Changes) -> str:
    bonus = new(c, "bonus")
    return sentence(
        _("Stored value topped up by %(amount)s") % {"amount": yuan(new(c, "top_up"))},
        _("%(bonus)s bonus") % {"bonus": yuan(bonus)} if bonus and Decimal(str(bonus)) else "",
        _("paid by %(tender)s") % {"tender": tender_label(new(c, "tender"))}
        if new(c, "tender")
        else "",
        _("balance %(balance)s") % {"balance": yuan(new(c, "stored_value"))},
    )


def stored_value_cash_out(c: Changes) -> str:
    return with_reason(
        sentence(
            _("Stored value of %(amount)s paid back") % {"amount": yuan(new(c, "paid_back"))},
            _("balance %(before)s → %(after)s")
            % {"before": yuan(old(c, "stored_value")), "after": yuan(new(c, "stored_value"))},
        ),
        new(c, "reason"),
    )


def count_card_sell(c: Changes) -> str:
    return sentence(
        _("Count card sold: %(card)s") % {"card": new(c, "count_card")},
        yuan(new(c, "price")),
        _("paid by %(tender)s") % {"tender": tender_label(new(c, "tender"))}
        if new(c, "tender")
        else "",
    )


def count_card_refund(c: Changes) -> str:
    to_stored_value = new(c, "paid_to") == "stored_value"
    return with_reason(
        sentence(
            _("Count card refunded: %(card)s") % {"card": new(c, "count_card")},
            _("%(n)d uses left") % {"n": number(old(c, "uses_left"))},
            (
                _("%(amount)s back to stored value")
                if to_stored_value
                else _("%(amount)s paid back at the till")
            )
            % {"amount": yuan(new(c, "paid_back"))},
        ),
        new(c, "reason"),
    )


def member_served_elsewhere(c: Changes) -> str:
    """A counter of another store of the chain opened the member (the chain rule)."""
    home = old(c, "store")
    return sentence(
        _("Served at %(store)s") % {"store": new(c, "store")},
        _("member of %(home)s") % {"home": home} if home else "",
    )


# --- members' actions --------------------------------------------------------------------


def member_tags(c: Changes) -> str:
    before, after = old(c, "tags"), new(c, "tags")
    before = set(before if isinstance(before, list) else [before] if before else [])
    after = set(after if isinstance(after, list) else [after] if after else [])
    separator = pgettext("list separator", ", ")
    return sentence(
        _("Tags added: %(tags)s") % {"tags": separator.join(sorted(after - before))}
        if after - before
        else "",
        _("Tags removed: %(tags)s") % {"tags": separator.join(sorted(before - after))}
        if before - after
        else "",
    )


def member_import(c: Changes) -> str:
    """The fields an import changed (keyed by their names already), and the import."""
    job = new(c, "import")
    fields = member_fields({k: v for k, v in c.items() if k != "import"})
    return sentence(_("Import #%(job)s") % {"job": job} if job else "", fields)


def member_marketing(c: Changes) -> str:
    if new(c, "marketing_consent"):
        return _("Agreed to receive marketing messages")
    return _("Declined marketing messages")


def member_erase(c: Changes) -> str:
    return ""  # the title says it all; the fields are gone


def member_fields(c: Changes) -> str:
    """Each field by its name: "姓名：张三 → 李四", a new value alone when there was none."""
    parts = []
    for key, pair in c.items():
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            continue
        before, after = (display(key, v) for v in pair)
        if before == after == "—":
            continue  # erased since: nothing left to show
        label = field_name(key)
        if before == "—":
            parts.append(_("%(field)s: %(value)s") % {"field": label, "value": after})
        else:
            parts.append(
                _("%(field)s: %(before)s → %(after)s")
                % {"field": label, "before": before, "after": after}
            )
    return pgettext("list separator", ", ").join(parts)


def field_name(key: str) -> str:
    try:
        return str(Member._meta.get_field(key).verbose_name)
    except FieldDoesNotExist:
        return key


def display(key: str, value) -> str:
    """A member field's value as staff read it: a choice by its label, blank as —."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    try:
        choices = dict(Member._meta.get_field(key).flatchoices)
    except FieldDoesNotExist:
        choices = {}
    return str(choices.get(value, value))


SENTENCES: dict[str, Callable[[Changes], str]] = {
    "purchase.record": purchase_record,
    "purchase.refund": purchase_refund,
    "points.adjust": points_adjust,
    "tier.set": tier_set,
    "coupon.redeem": coupon_redeem,
    "coupon.issue": coupon_issue,
    "redemption.fulfil": redemption_fulfil,
    "stored_value.top_up": stored_value_top_up,
    "stored_value.cash_out": stored_value_cash_out,
    "count_card.sell": count_card_sell,
    "count_card.refund": count_card_refund,
    "member.served_elsewhere": member_served_elsewhere,
    "member.create": member_fields,
    "member.update": member_fields,
    "member.tags": member_tags,
    "member.import": member_import,
    "member.marketing": member_marketing,
    "member.erase": member_erase,
}


def audit_sentence(entry: AuditEntry) -> str:
    """The entry's changes as a sentence (its action's formatter, else field by field)."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    formatter = SENTENCES.get(entry.action, member_fields)
    try:
        return formatter(changes)
    except (TypeError, ValueError, InvalidOperation, AttributeError):
        # An entry written in an older shape: its fields, rather than a broken page.
        return member_fields(changes)
