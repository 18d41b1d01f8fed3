from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Store, Tag

from ..models import ImportJob
from . import columns

SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx"}
MAX_BYTES = 500 * 1024 * 1024  # a million rows with every column is ~150 MB as CSV


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8, UTF-8 with BOM, GBK; comma, semicolon or tab) or Excel .xlsx, "
            "one member a row, column names in the first row."
        ),
    )
    kind = forms.ChoiceField(
        label=_("The file holds"), choices=ImportJob.Kind.choices, initial=ImportJob.Kind.MEMBERS
    )
    store = forms.ModelChoiceField(
        label=_("Default store"),
        queryset=Store.objects.filter(active=True),
        required=False,
        help_text=_("For new members whose row names no store."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in SUFFIXES:
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 500 MB: split it in two."))
        return upload


class MappingForm(forms.Form):
    """One choice per column of the file: which field it holds, or ignore it."""

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = columns.choices(job.kind)
        for index, header in enumerate(job.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or f"#{index + 1}",
                choices=choices,
                required=False,
                initial=job.mapping.get(str(index), ""),
            )

    def clean(self):
        data = super().clean()
        used = {}
        for index in range(len(self.job.headers)):
            key = data.get(f"col_{index}") or ""
            if key and key in used:
                self.add_error(
                    f"col_{index}",
                    _("Also chosen for column “%(other)s”.") % {"other": used[key]},
                )
            used.setdefault(key, self.job.headers[index])
        mapping = {str(i): data.get(f"col_{i}") or "" for i in range(len(self.job.headers))}
        missing = columns.missing_required(mapping, self.job.kind)
        if missing:
            raise forms.ValidationError(
                _("Choose the column that holds: %(fields)s.")
                % {"fields": ", ".join(str(c.label) for c in missing)}
            )
        data["mapping"] = mapping
        return data


class ExportForm(forms.Form):
    FORMATS = [("csv", _("CSV (UTF-8 with BOM: Excel opens the Chinese correctly)")),
               ("xlsx", _("Excel (.xlsx)"))]  # fmt: skip

    format = forms.ChoiceField(label=_("Format"), choices=FORMATS, initial="csv")
    tag = forms.ModelChoiceField(
        label=_("Only members with the tag"),
        queryset=Tag.objects.all(),
        required=False,
        help_text=_("Empty: the members of the list as it is filtered now."),
    )
