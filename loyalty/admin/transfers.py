"""The admin screens of imports and exports (loyalty/imports/admin.py)."""

from django.contrib import admin

from loyalty.imports.admin import ExportJobAdmin, ImportJobAdmin
from loyalty.models import ExportJob, ImportJob

admin.site.register(ImportJob, ImportJobAdmin)
admin.site.register(ExportJob, ExportJobAdmin)
