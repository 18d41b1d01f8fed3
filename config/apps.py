"""Third-party apps as the merchant reads them: Chinese names in the admin.

django-axes names neither its app nor ships zh_Hans, django-q2's zh_Hans leaves most of
its admin's columns and help texts in English, and Django's own zh_Hans catalog lacks the
newer texts of the admin's two-box picker (filter_horizontal) and of its index table's
screen-reader headers. Their names are given here (the app's AppConfig, INSTALLED_APPS)
and their texts are listed for makemessages, translated in locale/zh_Hans (django.po;
djangojs.po for the picker): the project's catalog comes first (LOCALE_PATHS).

The admin itself is installed by AdminConfig below, so that its site lists the
merchant's sections first (config/admin_site.py).
"""

from axes.apps import AppConfig as AxesAppConfig
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class AdminConfig(DjangoAdminConfig):
    """The admin with its site ordered for the merchant (config/admin_site.py)."""

    default_site = "config.admin_site.HuiyuanAdminSite"


class AxesConfig(AxesAppConfig):
    verbose_name = _("Login protection")


# django-axes' texts (its models and admin), kept in our catalog by makemessages.
AXES_TEXTS = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Attempt Time"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Expires At"),
    gettext_noop("Failed Logins"),
    gettext_noop("Form Data"),
    gettext_noop("GET Data"),
    gettext_noop("HTTP Accept"),
    gettext_noop("IP Address"),
    gettext_noop("Locked Out"),
    gettext_noop("Logout Time"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("POST Data"),
    gettext_noop("Path"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
    gettext_noop("Username"),
)

# django-q2's admin texts its zh_Hans catalog leaves untranslated (or fuzzy, so unused).
DJANGO_Q_TEXTS = (
    gettext_noop("Time Taken"),
    gettext_noop("Short result"),
    gettext_noop("Task id"),
    gettext_noop("32-character task identifier."),
    gettext_noop("Optional human-readable name for lookup and display."),
    gettext_noop("Function"),
    gettext_noop("Dotted import path to the callable, e.g. myapp.tasks.job."),
    gettext_noop("Hook"),
    gettext_noop("Optional dotted path to a callback that receives the task result."),
    gettext_noop("Arguments"),
    gettext_noop("Pickled positional arguments (tuple)."),
    gettext_noop("Keyword arguments"),
    gettext_noop("Pickled keyword arguments (dict)."),
    gettext_noop("Pickled return value or error payload."),
    gettext_noop("Optional group id to aggregate related tasks."),
    gettext_noop("Cluster"),
    gettext_noop("Name of the cluster that executed this task."),
    gettext_noop("Started at"),
    gettext_noop("When the worker started executing the task."),
    gettext_noop("Stopped at"),
    gettext_noop("When the worker finished (success or failure)."),
    gettext_noop("success"),
    gettext_noop("False if the task raised an exception or timed out."),
    gettext_noop("Attempt count"),
    gettext_noop("How many times execution was attempted."),
    gettext_noop("Task"),
    gettext_noop("Tasks"),
    gettext_noop("Optional label to identify this schedule in the admin."),
    gettext_noop("e.g. module.tasks.function"),
    gettext_noop("e.g. module.tasks.result_function"),
    gettext_noop("How often this task should be enqueued."),
    gettext_noop("When this schedule runs next (stored in UTC)."),
    gettext_noop("Last task id"),
    gettext_noop("Id of the last task spawned from this schedule (read-only)."),
    gettext_noop("Name of the target cluster"),
    gettext_noop("Intended date kwarg"),
    gettext_noop("Cluster key"),
    gettext_noop("Payload"),
    gettext_noop("Signed serialized task package (do not edit manually)."),
    gettext_noop("Lock until"),
    gettext_noop("Prevent any cluster from pulling until"),
    gettext_noop("Queue options"),
)

# The admin index's table headers for screen readers, newer than Django's zh_Hans.
ADMIN_TEXTS = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
)
