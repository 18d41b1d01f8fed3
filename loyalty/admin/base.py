"""What the loyalty admin screens share: read-only ledgers, the exact member search."""

from django.contrib import admin

from members import crypto
from members.admin import LargeTablePaginator
from members.phones import normalize_phone
from members.selectors import classify_query


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledgers and history: looked at, filtered, never edited by hand."""

    paginator = LargeTablePaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def member_search(queryset, search_term, prefix="member__"):
    """Exact, indexed search by phone (any format), member number or last 4 digits."""
    kind, value = classify_query(search_term)
    if kind == "phone":
        return queryset.filter(**{f"{prefix}phone_hash": crypto.phone_hash(normalize_phone(value))})
    if kind == "member_no":
        return queryset.filter(**{f"{prefix}member_no": value})
    if kind == "last4":
        return queryset.filter(**{f"{prefix}phone_last4": value})
    return queryset.filter(**{f"{prefix}name": value})


class MemberSearchMixin:
    """The changelist's search box: the row's own exact key where it has one (a purchase
    reference, a coupon code), and the member by phone, number, last 4 or name through
    `member_prefix` (member_search); every lookup on an index."""

    member_prefix = "member__"
    key_kinds = ("phone", "member_no")  # typed text that may be a member's as well as a key

    def exact_key(self, queryset, term):
        """The rows whose own key is `term`, or None when rows have no such key."""
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_key = self.exact_key(queryset, term)
        if by_key is None:
            return member_search(queryset, term, prefix=self.member_prefix), False
        kind, _value = classify_query(term)
        if kind in self.key_kinds:
            return by_key | member_search(queryset, term, prefix=self.member_prefix), False
        return by_key, False
