"""Permissions as staff read them in the admin's pickers (staff accounts, roles)."""

from django.apps import apps as django_apps
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

PERMISSION_ACTIONS = {
    "add": _("Can add %(what)s"),
    "change": _("Can change %(what)s"),
    "delete": _("Can delete %(what)s"),
    "view": _("Can view %(what)s"),
}


def permission_label(permission) -> str:
    """A permission as staff read it, in the language in use: Django stores its name in
    English when the tables are made ("Can add Task"); the model's and the app's names
    are translated, the custom permissions' names are their models' msgids."""
    content_type = permission.content_type
    model = content_type.model_class()
    what = str(model._meta.verbose_name) if model else content_type.model
    try:
        app = str(django_apps.get_app_config(content_type.app_label).verbose_name)
    except LookupError:
        app = content_type.app_label
    action = permission.codename.split("_", 1)[0]
    if action in PERMISSION_ACTIONS and permission.codename == f"{action}_{content_type.model}":
        name = PERMISSION_ACTIONS[action] % {"what": what}
    else:
        name = gettext(permission.name)
    return f"{app} | {what} | {name}"


class PermissionLabels:
    """The permission pickers of staff accounts and roles, labelled by permission_label."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_label
        return field
