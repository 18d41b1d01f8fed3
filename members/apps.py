from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender, **kwargs):
    from django.contrib.auth.models import Group, Permission

    from .roles import sync_role_groups

    sync_role_groups(Group, Permission)


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        from . import checks  # noqa: F401  (registers system checks)

        # After every migrate, so permissions of apps migrated later reach their roles.
        # post_migrate comes after every app's ready(), where apps above members add
        # their permissions to the roles (roles.contribute).
        post_migrate.connect(_sync_roles, dispatch_uid="members.sync_roles")
