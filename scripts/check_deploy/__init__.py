"""The checks of scripts/check-deploy (its docstring says what each step checks), a
module per concern:

* base: the checkout's paths, the sample values, and the state and reporting (ok, note,
  FAIL) every step shares;
* rendering (1): the templates of deploy/ rendered, @NAME@ placeholders replaced;
* systemd_units (2), gunicorn_config (3), nginx_site (4), env_file (5), django_check (6);
* checker: Checker, the steps put together and run in order.

scripts/check-deploy puts scripts/ on sys.path and imports checker; nothing here is
meant to be run on its own.
"""
