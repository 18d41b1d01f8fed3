from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Store, Tag

from ..models import ImportJob, Tier
from . import columns, presets
from .matching import HOW_EXACT, HOW_NONE

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
    preset = forms.ChoiceField(
        label=_("Exported from"),
        choices=presets.choices,
        required=False,
        help_text=_(
            "The system the member file comes from. Its export is recognised by its "
            "columns; choose it here when it is not."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in SUFFIXES:
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 500 MB: split it in two."))
        return upload


def samples_of(job: ImportJob, index: int) -> str:
    """The column's first values in the file (the mapping step shows them)."""
    values = [row[index] for row in job.samples if index < len(row)]
    shown = [str(v)[:30] for v in values if v not in (None, "")]
    return " · ".join(shown) if shown else _("(empty in the first rows)")


def column_hint(job: ImportJob, index: int, alternatives: dict, labels: dict) -> str:
    """Why a column left out is left out: the preset's reason, or the column it lost to."""
    header = job.headers[index]
    if job.mapping.get(str(index)):
        return ""
    if key := alternatives.get(str(index)):
        winner = next(
            (job.headers[int(i)] for i, k in job.mapping.items() if k == key and i.isdigit()), ""
        )
        return _("Could also be “%(field)s”, which is taken from the column “%(other)s”.") % {
            "field": labels[key],
            "other": winner,
        }
    preset = presets.preset_for(job.preset)
    return (preset.reasons().get(columns.fold(header), "") if preset else "") or ""


class MappingForm(forms.Form):
    """One choice per column of the file: which field it holds, or ignore it; after a
    dry run, which of our tiers each tier name of the file means."""

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = columns.choices(job.kind)
        labels = {c.key: c.label for c in columns.COLUMNS[job.kind]}
        alternatives = columns.alternatives(job.headers, job.mapping, job.kind)
        for index, header in enumerate(job.headers):
            hint = column_hint(job, index, alternatives, labels)
            example = _("Sample: %(values)s") % {"values": samples_of(job, index)}
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or f"#{index + 1}",
                choices=choices,
                required=False,
                initial=job.mapping.get(str(index), ""),
                help_text=f"{example}\n{hint}".strip(),
            )
        self.tier_texts = []
        tiers = [("", _("(no tier of ours: refuse those rows)"))]
        tiers += [(str(pk), name) for pk, name in Tier.objects.order_by("level").values_list(
            "pk", "name")]  # fmt: skip
        for text, rows, tier_id, how in job.notes.get("tiers", []):
            if how in (HOW_EXACT, HOW_NONE):
                continue
            name = f"tier_{len(self.tier_texts)}"
            self.tier_texts.append((name, text))
            self.fields[name] = forms.ChoiceField(
                label=_("Tier “%(text)s” (rows: %(rows)d)") % {"text": text, "rows": rows},
                choices=tiers,
                required=False,
                initial=str(tier_id or ""),
            )

    def column_fields(self):
        return [self[f"col_{i}"] for i in range(len(self.job.headers))]

    def tier_fields(self):
        return [self[name] for name, _text in self.tier_texts]

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
        # Only what the owner changed: a guess left as it was stays a guess (shown so).
        data["tiers"] = {
            text: data.get(name) or ""
            for name, text in self.tier_texts
            if name in self.changed_data
        }
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
