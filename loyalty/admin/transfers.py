"""The admin screens of imports and exports (loyalty/imports/admin.py), and the owner's
kept choices of which tier a tier name of the old system's files means."""

from django.contrib import admin

from loyalty.imports.admin import ExportJobAdmin, ImportJobAdmin
from loyalty.imports.matching import TEXT_MAX, fold_name
from loyalty.models import ExportJob, ImportJob, ImportTierAlias

admin.site.register(ImportJob, ImportJobAdmin)
admin.site.register(ExportJob, ExportJobAdmin)


@admin.register(ImportTierAlias)
class ImportTierAliasAdmin(admin.ModelAdmin):
    """Made in an import's mapping step; changed or forgotten here."""

    list_display = ["value", "tier", "created_by", "updated_at"]
    list_select_related = ["tier", "created_by"]
    search_fields = ["value"]
    fields = ["value", "tier"]

    def has_add_permission(self, request):
        return False  # made in the import's mapping step, where the file's texts are

    def save_model(self, request, obj, form, change):
        obj.value = fold_name(obj.value)[:TEXT_MAX]  # as the import compares it
        super().save_model(request, obj, form, change)
