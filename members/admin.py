from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from import_export.admin import ImportExportMixin

from . import crypto, posters, services
from .audit import audit_record, field_label
from .forms import MemberAdminForm, TagChoiceForm
from .models import AuditEntry, Member, PrivacyNotice, Role, StaffProfile, Store, Tag, User
from .permission_labels import PermissionLabels
from .selectors import ALL_STORES, classify_query, sees_all_stores, staff_profile_of, store_scope


class LargeTablePaginator(Paginator):
    """A paginator that never runs COUNT(*) over a million-row table.

    Unfiltered: the planner's row estimate (PostgreSQL) or the highest id (SQLite),
    both instant. Filtered: an exact count, but of at most COUNT_CAP rows, so a
    broad filter costs a bounded index scan.
    """

    COUNT_CAP = 100_000

    @cached_property
    def count(self):
        qs = self.object_list
        if not qs.query.where:
            estimate = _estimated_rows(qs.model)
            if estimate is not None:
                return estimate
        return qs.order_by()[: self.COUNT_CAP].count()

    @property
    def capped(self) -> bool:
        """The count stopped at COUNT_CAP: there are at least that many."""
        return bool(self.object_list.query.where) and self.count >= self.COUNT_CAP


class MemberListPaginator(LargeTablePaginator):
    """The member list's: a page's members are picked by id first, in a subquery of the
    page's one query, and only those 50 are joined to their store and card.

    Joined in the query that sorts, every match of a broad filter would be joined before
    the sort took the page (SQLite does so): a store's 200,000 members read with their
    cards to show 50, 0.4 s at a million members instead of 0.03 s.

    A filter's count stops at 5,000 (the page says "more than 5,000"): counting a
    broad filter's 100,000 matches was most of a filtered page's time (0.16 of 0.23 s
    at a million members on SQLite, bench/segments.py; 10,000 still cost 44 ms of a
    page on PostgreSQL); nobody pages past the 100th page: a segment counts them all.
    """

    COUNT_CAP = 5_000

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        qs = self.object_list
        rows = qs.model._default_manager.filter(pk__in=qs.values("pk")[bottom:top])
        rows = rows.order_by(*qs.query.order_by)
        rows.query.select_related = qs.query.select_related  # the change list's joins
        return self._get_page(rows, number, self)


# Below this many rows an exact COUNT(*) is cheap and better than an estimate.
ESTIMATE_MIN_ROWS = 10_000


def _estimated_rows(model) -> int | None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            row = cursor.fetchone()
            # reltuples is -1 before the first ANALYZE: fall back to counting.
            return row[0] if row and row[0] >= ESTIMATE_MIN_ROWS else None
        if connection.vendor == "sqlite":
            pk = model._meta.pk.column
            cursor.execute(f'SELECT MAX("{pk}") FROM "{table}"')  # noqa: S608 - names from _meta
            row = cursor.fetchone()
            return row[0] if row and row[0] and row[0] >= ESTIMATE_MIN_ROWS else None
    return None


# Panels that apps above members add to a member's admin page from their
# AppConfig.ready() (loyalty: card, points and tier history), so members never imports
# them. Each callable takes (request, member) and returns a context dict with "title"
# and "template", or None.
MEMBER_PANELS: list = []
# How the member page's change history says an entry: an app above sets "sentence" (a
# callable taking the AuditEntry, returning text: loyalty's, "记录消费 ¥268.50 ..."), in
# its AppConfig.ready(); without one, each field's before and after.
AUDIT_TEXT: dict = {}

# The member list's Import and Export buttons (django-import-export) open loyalty's
# screens, which carry the card's points, tier and spend along. loyalty sets
# "import" and "export" (view functions taking request and this admin) and
# "may_import" (request -> bool) here from its AppConfig.ready(), so members never
# imports it.
MEMBER_TRANSFER: dict = {}

# The member list's columns, filters and joins that apps above members add from their
# AppConfig.ready() (loyalty: the card's tier, points, spend, last purchase, lifecycle
# stage and RFM segment), so members never names their models. "columns" (list_display
# entries) go between the member's own and the registration date, "filters"
# (list_filter entries) before the member's own, "related" into list_select_related
# (the page stays one query). "newest_first" maps a filter's lookup prefix to the
# order that is newest first while such a filter is on: the joined table's copy of the
# member id, which that filter's index holds in order, so the page is read in index
# order (SQLite does not see that the two ids are equal and would sort every match).
MEMBER_LIST: dict = {"columns": [], "filters": [], "related": [], "newest_first": {}}


class StoreScopedAdminMixin:
    """Managers and clerks see and edit only their own store's rows."""

    store_field = "store"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_all_stores(request.user):
            return qs
        profile = staff_profile_of(request.user)
        if profile is None or profile.store_id is None:
            return qs.none()
        return qs.filter(**{f"{self.store_field}_id": profile.store_id})


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "address", "phone", "active", "poster_link"]
    list_filter = ["active"]
    search_fields = ["code", "name"]

    @admin.display(description=_("QR poster"))
    def poster_link(self, obj):
        url = reverse("admin:members_store_poster", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Poster"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/poster/", view(self.poster_view), name="members_store_poster"),
            path("<int:pk>/poster.png", view(self.poster_png), name="members_store_poster_png"),
            *super().get_urls(),
        ]

    def _poster_target(self, request, pk):
        store = Store.objects.filter(pk=pk).first()
        if store is None:
            raise Http404
        if not self.has_view_permission(request, store):
            raise PermissionDenied
        guide = posters.guide_of(store, request.GET.get("staff", ""))
        return store, guide

    def poster_view(self, request, pk):
        """A print-ready A5 poster: the store's name and the QR code of its join link
        (per staff member with ?staff=ID, so sign-ups are credited to the guide)."""
        store, guide = self._poster_target(request, pk)
        link = posters.join_link(request, store, guide)
        return TemplateResponse(
            request,
            "admin/members/store/poster.html",
            {
                "store": store,
                "guide": guide,
                "link": link,
                "staff": posters.store_staff(store),
                "extras": posters.poster_extras(store, guide),
                "png_url": reverse("admin:members_store_poster_png", args=[store.pk])
                + (f"?staff={guide.pk}" if guide else ""),
            },
        )

    def poster_png(self, request, pk):
        store, guide = self._poster_target(request, pk)
        extras = posters.poster_extras(store, guide)
        link = posters.join_link(request, store, guide)
        png = posters.poster_png(link, store=store, guide=guide, extras=extras)
        name = f"join-{store.code}" + (f"-{guide.pk}" if guide else "")
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = f'attachment; filename="{name}.png"'
        return response


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(admin.ModelAdmin):
    """Owners write the notice; a version in force is frozen (members agreed to its words),
    so a change is a new version: "new version from this one" copies the text."""

    list_display = ["version", "title", "published_at", "in_force", "created_at"]
    search_fields = ["version", "title"]
    fields = ["version", "title", "body", "published_at"]

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, obj):
        current = PrivacyNotice.current()
        return current is not None and current.pk == obj.pk

    def _frozen(self, obj) -> bool:
        return bool(obj and obj.published_at and obj.published_at <= timezone.now())

    def get_readonly_fields(self, request, obj=None):
        return self.fields if self._frozen(obj) else []

    def has_delete_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_delete_permission(request, obj)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        source = request.GET.get("from", "")
        if source.isdecimal():  # what int() reads ("²" is a digit, not decimal)
            earlier = PrivacyNotice.objects.filter(pk=int(source)).first()
            if earlier is not None:
                initial.update(title=earlier.title, body=earlier.body)
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if str(object_id).isdigit():
            url = reverse("admin:members_privacynotice_add") + f"?from={object_id}"
            extra_context["new_version_url"] = url
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "description", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


# The largest id a database integer column holds: a larger one fails only when the query
# runs (SQLite: OverflowError), so it is no filter value.
MAX_ID = 2**63 - 1


def filter_id(value: str | None) -> int | None:
    """An id in a list filter's parameter: ASCII digits within MAX_ID, else None."""
    value = value or ""
    if value.isascii() and value.isdecimal() and int(value) <= MAX_ID:
        return int(value)
    return None


class IdListFilter(admin.SimpleListFilter):
    """A filter by the id of a row of another table. A value that is no id (?tag=abc,
    ?guide=²) is ignored, with a message: the whole list, never a 500."""

    id_lookup = ""  # e.g. "tags__id"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        pk = filter_id(self.value())
        if pk is None:
            messages.warning(
                request,
                _("The filter “%(filter)s” in the address is not valid and was ignored.")
                % {"filter": self.title},
            )
            return queryset
        return queryset.filter(**{self.id_lookup: pk})


class TagFilter(IdListFilter):
    title = _("tag")
    parameter_name = "tag"
    id_lookup = "tags__id"

    def lookups(self, request, model_admin):
        return [(t.pk, t.name) for t in Tag.objects.all()]


class GuideFilter(IdListFilter):
    """Members by their guide (导购). The choices are staff accounts only, those the
    viewer may pick as a guide (their store's staff and the owners), never every user;
    the filter reads the member_guide_set index."""

    title = _("guide")
    parameter_name = "guide"
    id_lookup = "guide_id"

    def lookups(self, request, model_admin):
        scope = store_scope(request.user)
        if scope is None:
            return []
        profiles = StaffProfile.objects.select_related("user").order_by("user__username")
        if scope is not ALL_STORES:
            profiles = profiles.filter(Q(store_id=scope) | Q(role=Role.OWNER))
        return [(str(p.user_id), p.display_name or p.user.get_username()) for p in profiles]


class FiltersOnlyChangeList(ChangeList):
    """A change list that reads only its filters' own parameters from the address.

    Django's applies any other lookup on the model's own fields too (?store=x,
    ?created_at__year=-1, ?name__regex=[, ?id__in=<20 digits>): unchecked, over the
    whole table, and some fail only when the query runs, a 500. Any parameter that
    is not a filter's is an IncorrectLookupParameters instead, which the admin answers
    with the whole list (?e=1; MemberAdmin.changelist_view says why)."""

    def get_filters(self, request):
        specs, has_filters, remaining, duplicates, active = super().get_filters(request)
        if remaining:
            raise IncorrectLookupParameters(f"not a filter of this list: {sorted(remaining)}")
        return specs, has_filters, remaining, duplicates, active


@admin.register(Member)
class MemberAdmin(ImportExportMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    form = MemberAdminForm
    # The upper apps' columns and filters (MEMBER_LIST) join these: get_list_display.
    list_display = ["member_no", "name", "phone_display", "store", "registered"]
    list_filter = ["store", GuideFilter, TagFilter, "status", "source", "gender"]
    list_select_related = ["store"]
    # At a million rows a column is sortable only when an index serves its order (the
    # others, the upper apps' too, would sort the whole table on each page).
    sortable_by = ["member_no", "name", "registered"]
    # Facet counts would count the whole table once per filter choice.
    show_facets = admin.ShowFacets.NEVER
    search_fields = ["member_no"]  # handled by get_search_results; enables the box
    search_help_text = _(
        "Exact mobile number (any format), member number, last 4 digits of the phone, or full name."
    )
    autocomplete_fields = ["store", "guide", "referred_by", "tags"]
    readonly_fields = [
        "member_no",
        "source",
        "status",
        "wechat_openid",
        "consent_version",
        "consent_at",
        "marketing_consent",
        "marketing_consent_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["member_no", "phone", "name", "gender", "birthday"]}),
        (_("Contact"), {"fields": ["email", "addresses"]}),
        (_("Relationship"), {"fields": ["store", "guide", "referred_by", "tags", "note"]}),
        (
            _("Origin and consent"),
            {
                "fields": [
                    "source",
                    "status",
                    "wechat_openid",
                    "consent_version",
                    "consent_at",
                    "marketing_consent",
                    "marketing_consent_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    paginator = MemberListPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["add_tag", "remove_tag"]
    change_form_template = "admin/members/member/change_form.html"

    def get_list_display(self, request):
        *own, registered = self.list_display
        return [*own, *MEMBER_LIST["columns"], registered]

    def get_list_filter(self, request):
        return [*MEMBER_LIST["filters"], *self.list_filter]

    def get_changelist(self, request, **kwargs):
        return FiltersOnlyChangeList

    def changelist_view(self, request, extra_context=None):
        # ?e=1: Django's redirect after a filter it could not apply (a value or a
        # parameter the list has no use for): the whole list, saying so.
        if ERROR_FLAG in request.GET:
            message = _("The filters in the address could not be applied: all members are shown.")
            self.message_user(request, message, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_export_queryset(self, request):
        # The Export button carries the list's address along: the same filters only.
        try:
            return super().get_export_queryset(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest("not a filter of the member list") from exc

    def get_list_select_related(self, request):
        return [*self.list_select_related, *MEMBER_LIST["related"]]

    def get_ordering(self, request):
        # Newest first; by the joined table's member id while its filter is on.
        for prefix, ordering in MEMBER_LIST["newest_first"].items():
            if any(key.startswith(prefix) for key in request.GET):
                return [ordering]
        return super().get_ordering(request)

    def has_import_permission(self, request):
        return "import" in MEMBER_TRANSFER and MEMBER_TRANSFER["may_import"](request)

    def has_export_permission(self, request):
        return "export" in MEMBER_TRANSFER and self.has_view_permission(request)

    def import_action(self, request, **kwargs):
        if "import" not in MEMBER_TRANSFER:
            raise Http404
        return MEMBER_TRANSFER["import"](request, self)

    def process_import(self, request, **kwargs):
        raise Http404  # the stock import is not used: loyalty's import has the button

    def export_action(self, request):
        if "export" not in MEMBER_TRANSFER:
            raise Http404
        return MEMBER_TRANSFER["export"](request, self)

    @admin.display(description=_("registered at"), ordering="created_at")
    def registered(self, obj):
        return timezone.localdate(obj.created_at)  # the day (Shanghai's): the list is wide

    @admin.display(description=_("mobile number"))
    def phone_display(self, obj):
        # Staff without the export permission see masked numbers in lists.
        return obj.masked_phone

    def get_search_results(self, request, queryset, search_term):
        # Every search hits an index: the phone's keyed hash, member_no, the last-4
        # column or the name. A LIKE over a million rows is never run.
        if not search_term.strip():
            return queryset, False
        kind, value = classify_query(search_term)
        if kind == "phone":
            return queryset.filter(phone_hash=crypto.phone_hash(value)), False
        if kind == "member_no":
            return queryset.filter(member_no=value), False
        if kind == "last4":
            return queryset.filter(phone_last4=value), False
        return queryset.filter(name=value), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not sees_all_stores(request.user):
            profile = staff_profile_of(request.user)
            store_field = form.base_fields.get("store")
            if store_field is not None and profile is not None:
                store_field.queryset = Store.objects.filter(pk=profile.store_id)
                store_field.initial = profile.store_id
        return form

    def save_model(self, request, obj, form, change):
        # Writes go through the services, which audit and enforce the rules.
        data = {f: form.cleaned_data[f] for f in services.EDITABLE_FIELDS if f in form.cleaned_data}
        try:
            if change:
                saved = services.member_update(member=obj, actor=request.user, **data)
            else:
                saved = services.member_create(
                    **data, source=Member.Source.ADMIN, actor=request.user
                )
        except ValidationError as exc:  # a race lost to another edit of the same phone
            form.add_error(None, exc)
            raise
        obj.pk, obj.member_no = saved.pk, saved.member_no

    def save_related(self, request, form, formsets, change):
        old = set(form.instance.tags.values_list("pk", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        new = set(form.instance.tags.values_list("pk", flat=True))
        if old != new:
            names = dict(Tag.objects.filter(pk__in=old | new).values_list("pk", "name"))
            audit_record(
                actor=request.user,
                action="member.tags",
                obj=form.instance,
                changes={"tags": [sorted(names[i] for i in old), sorted(names[i] for i in new)]},
                store=form.instance.store,
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        entries = AuditEntry.objects.filter(
            object_type=Member._meta.label_lower, object_id=str(object_id)
        ).select_related("actor")[:50]
        sentence = AUDIT_TEXT.get("sentence")
        extra_context["audit_entries"] = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action_label,
                "sentence": sentence(e) if sentence else "",
                "changes": []
                if sentence
                else [(field_label(Member, f), pair[0], pair[1]) for f, pair in e.changes.items()],
            }
            for e in entries
        ]
        member = self.get_object(request, object_id)
        if member is not None:
            panels = (panel(request, member) for panel in MEMBER_PANELS)
            extra_context["member_panels"] = [p for p in panels if p]
        return super().change_view(request, object_id, form_url, extra_context)

    def _tag_action(self, request, queryset, adding: bool):
        form = TagChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            tag = form.cleaned_data["tag"]
            if adding:
                n = services.member_tags_add(members=queryset, tag=tag, actor=request.user)
                msg = ngettext(
                    "Tag “%(tag)s” added to %(n)d member.",
                    "Tag “%(tag)s” added to %(n)d members.",
                    n,
                )
            else:
                n = services.member_tags_remove(members=queryset, tag=tag, actor=request.user)
                msg = ngettext(
                    "Tag “%(tag)s” removed from %(n)d member.",
                    "Tag “%(tag)s” removed from %(n)d members.",
                    n,
                )
            self.message_user(request, msg % {"tag": tag.name, "n": n}, messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/members/member/tag_action.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Add a tag") if adding else _("Remove a tag"),
                "form": form,
                "action": request.POST["action"],
                "queryset": queryset,
                "select_across": request.POST.get("select_across", "0"),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Add a tag to the selected members"), permissions=["change"])
    def add_tag(self, request, queryset):
        return self._tag_action(request, queryset, adding=True)

    @admin.action(description=_("Remove a tag from the selected members"), permissions=["change"])
    def remove_tag(self, request, queryset):
        return self._tag_action(request, queryset, adding=False)


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    autocomplete_fields = ["store"]
    fields = ["role", "store", "display_name"]


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(PermissionLabels, BaseGroupAdmin):
    pass


@admin.register(User)
class UserAdmin(PermissionLabels, BaseUserAdmin):
    inlines = [StaffProfileInline]
    list_display = ["username", "profile_display", "is_staff", "is_active", "last_login"]
    list_select_related = ["staff_profile__store"]
    list_filter = ["is_active", "staff_profile__role", "staff_profile__store"]

    @admin.display(description=_("role"))
    def profile_display(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return str(profile) if profile else "—"

    def save_formset(self, request, form, formset, change):
        if formset.model is not StaffProfile:
            return super().save_formset(request, form, formset, change)
        # The profile goes through the service, so the role's group and admin
        # access follow it and the change is audited.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed() or not inline_form.cleaned_data:
                continue
            data = inline_form.cleaned_data
            existed = inline_form.instance.pk is not None
            profile = services.staff_profile_save(
                user=form.instance,
                role=data["role"],
                store=data.get("store"),
                display_name=data.get("display_name", ""),
                actor=request.user,
            )
            if existed:
                formset.changed_objects.append((profile, inline_form.changed_data))
            else:
                formset.new_objects.append(profile)
        return None


@admin.register(StaffProfile)
class StaffProfileAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "display_name", "role", "store"]
    list_filter = ["role", "store"]
    list_select_related = ["user", "store"]
    search_fields = ["user__username", "display_name"]

    def has_add_permission(self, request):
        return False  # staff are added with their account (staff accounts page)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "at",
        "actor",
        "action_display",
        "object_type",
        "object_repr",
        "store",
        "changes",
    ]
    list_filter = ["action", "object_type", "store"]
    list_select_related = ["actor", "store"]
    search_fields = ["object_repr", "object_id", "actor__username", "action"]
    date_hierarchy = "at"
    paginator = LargeTablePaginator
    show_full_result_count = False

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj):
        return obj.action_label

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
