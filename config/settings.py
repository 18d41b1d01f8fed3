"""Huiyuan settings: one module, driven by the environment (django-environ).

Every value has a safe development default; production sets DEBUG=false and the
secrets below (see docs/operations.md). Bad values fail loudly at start-up.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (never committed) is read when present; real env vars win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Under pytest the suite runs tasks inline and hashes passwords cheaply. Decided here,
# once, because django-q2 reads Q_CLUSTER when its modules are first imported.
TESTING = env.bool("TESTING", default="pytest" in sys.modules)

DEBUG = env.bool("DEBUG", default=True)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

_DEV_SECRET = "dev-insecure-secret-key-change-me-in-production-0123456789abcdefghij"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.AdminConfig",  # django.contrib.admin, its site ordered (config/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "import_export",
    "django_q",
    "ninja",
    "config.apps.AxesConfig",  # django-axes, named in Chinese (config/apps.py)
    "members",
    "loyalty",
    "campaigns",
    "wechat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The Content-Security-Policy header on every page (CONTENT_SECURITY_POLICY below);
    # after WhiteNoise, so static files go out without it.
    "csp.middleware.CSPMiddleware",
    # A NUL in the path, query, form or a header: 400 before anything reads it (PostgreSQL
    # refuses NUL in text; config/middleware_nul.py).
    "config.middleware_nul.RefuseNulMiddleware",
    # PostgreSQL restarting, SQLite locked too long, Redis away: a 503 that says so, in
    # the caller's language or the API's JSON, never a 500 (config/outage.py).
    "config.outage.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        # The counter's member card (loyalty/staff/_card*.html), the one partial every
        # lookup renders: Jinja compiles it to Python and renders it in about a fifth of
        # the Django engine's time (docs/benchmarks.md, lookup). Its own directory, so a
        # name resolves to one engine; the Django engine is asked first.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "config.platform.jinja2.environment",
            "context_processors": ["config.platform.jinja2.per_render"],
        },
    },
]

# --- Database ---------------------------------------------------------------
# SQLite is the embedded default. WAL lets readers run beside the writer and
# IMMEDIATE makes a writing transaction take the write lock at BEGIN, so
# concurrent writers wait (up to `timeout`) instead of failing with
# "database is locked" half-way through (select_for_update is a no-op there).
# An empty DATABASE_URL means the default too (`make test-sqlite` sets it empty).
# PostgreSQL (the primary and the replica): a host that does not answer costs a new
# connection DB_CONNECT_TIMEOUT seconds, then a 503; one that vanishes under a kept
# connection (no refusal, no answer) gives up its unacknowledged data after 5 s instead
# of the kernel's minutes (then gunicorn's kill and a 502), and idle connections are probed.
PG_CONNECTION_OPTIONS = {
    "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=3),
    "tcp_user_timeout": 5000,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'huiyuan.sqlite3'}"


def kept_postgres(db: dict) -> None:
    """A PostgreSQL database's kept, checked connections (the primary's and the replica's):
    Django's backend with the socket-polling health check (config/platform/postgresql),
    CONN_MAX_AGE, CONN_HEALTH_CHECKS and PG_CONNECTION_OPTIONS, unless set in the URL."""
    if db["ENGINE"] == "django.db.backends.postgresql":
        db["ENGINE"] = "config.platform.postgresql"
    db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    db.setdefault("CONN_HEALTH_CHECKS", True)
    for option, value in PG_CONNECTION_OPTIONS.items():
        db.setdefault("OPTIONS", {}).setdefault(option, value)


DATABASES = {"default": env.db_url_config(DATABASE_URL)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # How long a writer waits for the write lock before "database is locked" (a 503 page,
    # config/outage.py): long enough for any one write of this app. A writer waits first
    # for the lock file (up to this), then, only when a program other than Huiyuan holds
    # SQLite's own lock, for that (busy_timeout, at most 5 s): together short of
    # gunicorn's 30 s timeout.
    _busy = env.float("SQLITE_TIMEOUT", default=20)
    # Django's backend, but writers queue on a lock file instead of SQLite's sleeps
    # (config/platform/sqlite/base.py).
    _db["ENGINE"] = "config.platform.sqlite"
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": _busy,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA busy_timeout={int(min(_busy, 5) * 1000)}; PRAGMA cache_size=-64000; "
                "PRAGMA temp_store=MEMORY;"
            ),
        }
    )
    _db.setdefault("TEST", {})["NAME"] = env.str(
        "SQLITE_TEST_NAME", default=str(DATA_DIR / "test_huiyuan.sqlite3")
    )
    # Persistent: opening a SQLite connection (Django registers its SQL functions, the
    # PRAGMAs above run) cost 7 of the 10.5 ms of a counter lookup when done per request.
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=600))
else:
    # Persistent connections, each checked before a request reuses it (a PostgreSQL restart
    # or a killed backend leaves every worker's connection dead: the first request after
    # it gets a new one, tests/faults/); PG_CONNECTION_OPTIONS above. Django's backend,
    # but the check polls the socket instead of a round trip (config/platform/postgresql).
    kept_postgres(_db)
    # Server-side binding: statements sent with their parameters apart, so psycopg
    # prepares those a connection runs often (prepare_threshold) and PostgreSQL plans
    # them once (docs/benchmarks.md, lookup on PostgreSQL).
    if env.bool("DB_SERVER_SIDE_BINDING", default=False):
        _db["OPTIONS"]["server_side_binding"] = True
        _db["OPTIONS"]["prepare_threshold"] = env.int("DB_PREPARE_THRESHOLD", default=2)
# A PostgreSQL read replica (optional): the dashboard, exports and segment counts read
# from it, inside members.replica.from_replica(), and nothing else does (a replica lags:
# the counter and the API read what they just wrote). Never written to nor migrated; when
# it cannot be reached those reads go to the primary. Left out under pytest: pytest-django
# would keep its real database (it makes test databases only for the aliases a test asks
# for) and refuse queries to it; tests/test_replica.py runs processes with two databases.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
# Seconds the replica may be behind the primary; further behind, its reads go to the
# primary until it catches up (members/replica.py).
REPLICA_MAX_LAG = env.float("REPLICA_MAX_LAG", default=30.0)
DATABASE_ROUTERS = []  # none without a replica: the hot reads skip the routing (fixed_sql)
if DATABASE_REPLICA_URL and not TESTING:
    _replica = DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    if _replica["ENGINE"] != "django.db.backends.sqlite3":  # SQLite: tests' stand-in
        kept_postgres(_replica)
    DATABASE_ROUTERS = ["members.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# `manage.py backup` writes here (and keeps the newest BACKUP_KEEP); copy it off the host.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(DATA_DIR / "backups")))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)

# --- Cache and sessions ------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # django-redis, for one thing Django's own Redis backend lacks: with Redis down a
    # read is a miss and a write is skipped (IGNORE_EXCEPTIONS, logged), so sessions
    # fall back to the database (cached_db) and the counter keeps working; the short
    # socket timeouts keep a Redis that hangs from holding requests (tests/faults/).
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.5),
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "huiyuan.redis"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "huiyuan_cache",
        },
    }
# Per process, never shared: only what may be up to its TIMEOUT old on another worker
# (the rendered first-visit /join/ page; members/member_views.py).
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "huiyuan-local",
    "TIMEOUT": 30,
    "OPTIONS": {"MAX_ENTRIES": 500},
}
# With Redis, sessions are read from the shared cache (cached_db). Without it they
# stay in the database: a per-process cache would let a session that was logged
# out through one worker live on in another.
# Django's stores, reading the session with one fixed SELECT (config/platform/sessions.py).
SESSION_ENGINE = "config.platform.cached_sessions" if REDIS_URL else "config.platform.sessions"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "staff:home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "members.backends.StaffBackend",  # ModelBackend, with the staff profile joined
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Brute-force protection of the staff and admin logins (django-axes) ----------
# Failures count per username *and* address together: the clerks of one shop share
# one public IP, so locking by IP alone would let one mistyped password (or one
# attacker) lock the whole shop out. Records live in the database (every host sees
# them); owners unlock in the admin (访问尝试) or by waiting for the cool-off.
# Password spraying (a few passwords tried on many usernames) stays under that count, so
# an address also has a limit across usernames, higher: once AXES_FAILURE_LIMIT_PER_ADDRESS
# failures from one address are on record (within the cool-off), every login from there is
# refused until the cool-off, whatever the username. axes compares one count with one
# limit, so the limit is the callable below (it answers 0, "locked", for such an address);
# the records stay per username and address, so a success still clears only that user's
# own failures, never the address's (as listing "ip_address" in AXES_LOCKOUT_PARAMETERS
# would: one valid account would then reset everyone's count).
AXES_FAILURE_LIMIT_PER_USER = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_FAILURE_LIMIT_PER_ADDRESS = env.int("AXES_FAILURE_LIMIT_PER_ADDRESS", default=20)


def _axes_failure_limit(request, credentials=None):
    """AXES_FAILURE_LIMIT: failures allowed for this username from this address."""
    from axes.attempts import get_cool_off_threshold
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.db.models import Sum

    ip_address = getattr(request, "axes_ip_address", None)
    if ip_address is not None:
        recent = AccessAttempt.objects.filter(ip_address=ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            recent = recent.filter(attempt_time__gte=get_cool_off_threshold(request))
        failures = recent.aggregate(n=Sum("failures_since_start"))["n"] or 0
        if failures >= settings.AXES_FAILURE_LIMIT_PER_ADDRESS:
            return 0
    return settings.AXES_FAILURE_LIMIT_PER_USER


AXES_FAILURE_LIMIT = _axes_failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "members.member_auth.client_ip"  # honours TRUSTED_PROXIES
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- i18n / time -------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
# zh-hans dates as the staff screens write them: 2026-12-07 09:30 (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
PHONE_REGION = env.str("PHONE_REGION", default="CN")

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
# Uploads over 2.5 MB wait here while the request is read (default: the system's temporary
# directory; put it on a disk with room). Django's two upload handlers; the temporary-file
# one removes its file when the disk fills up mid-upload (config/uploads.py).
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "config.uploads.TemporaryFileUploadHandler",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Contact-data encryption (members/crypto.py) --------------------------------
# Keys are separate from SECRET_KEY. FIELD_ENCRYPTION_KEYS: comma-separated
# url-safe base64 32-byte keys, the first encrypts, all decrypt (rotation, see
# docs/operations.md). PHONE_HASH_KEY keys the HMAC used for exact lookups.
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWh1aXl1YW4tMDAwMDE="
_DEV_HASH_KEY = "dev-only-phone-hash-key-huiyuan"
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_KEY] if DEBUG else [])
PHONE_HASH_KEY = env.str("PHONE_HASH_KEY", default=_DEV_HASH_KEY if DEBUG else "")
if not FIELD_ENCRYPTION_KEYS or not PHONE_HASH_KEY:
    raise environ.ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS and PHONE_HASH_KEY must be set when DEBUG is false"
    )
DEV_ENCRYPTION_KEYS_IN_USE = _DEV_FIELD_KEY in FIELD_ENCRYPTION_KEYS or (
    PHONE_HASH_KEY == _DEV_HASH_KEY
)

# --- django-q2 ------------------------------------------------------------------
# timeout < retry, or a long task is handed to a second worker while the first
# still runs it. The ORM broker needs nothing but the database; Redis scales out.
Q_CLUSTER = {
    "name": "huiyuan",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=1800),
    "retry": env.int("Q_RETRY", default=2100),
    "max_attempts": 3,
    "queue_limit": 50,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=TESTING),
    "label": _("Task queue"),
    # Seconds between the guard's checks; the scheduler runs every ~30 s of them (tests set 30
    # so a cluster schedules at once on start).
    "guard_cycle": env.float("Q_GUARD_CYCLE", default=0.5),
}
if REDIS_URL:
    # The broker's own connection (not the cache's): a Redis that does not answer costs a
    # request that queues a task 1 s, not redis-py's default wait, before members.queue
    # gives up and the sweeps take over; its reads wait longer than the workers' 1 s BLPOP.
    _sep = "&" if "?" in REDIS_URL else "?"
    Q_CLUSTER["redis"] = f"{REDIS_URL}{_sep}socket_connect_timeout=1&socket_timeout=5"
else:
    Q_CLUSTER["orm"] = "default"

# --- Security (production) --------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp) ---------------------------------------------
# Everything the pages load is served from here (Bootstrap, htmx and Chart.js are vendored
# in static/vendor), so 'self' is the whole list: no inline <script>, no on...="" handler,
# no style="" attribute or <style> block in any template (they are in static/js and
# static/css), no eval (htmx's is switched off: templates/_htmx_config.html). data: images
# are Bootstrap's: its CSS draws checkboxes, selects and close buttons as data: SVGs.
# The same policy covers the staff pages, the member centre and the admin (Django's own and
# django-import-export's, django-q2's and django-axes' pages). tests/test_csp_header.py
# checks the header; tests/e2e/test_csp.py walks the pages in Chromium and fails on any
# violation. CSP_REPORT_URI: where browsers report violations (empty: nowhere).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],  # as X_FRAME_OPTIONS
        "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,
    },
}

# Channels every notice goes out by (campaigns/channels.py); the inbox always.
NOTICE_CHANNELS = env.list("NOTICE_CHANNELS", default=["inbox", "console"])

# --- Member sign-in: SMS codes, the member centre (members/sms.py, members/otp.py) ---
# SMS_BACKEND like Django's e-mail backends: the console backend logs codes (and,
# with SMS_SHOW_CODE, the page shows them: development); tests keep them in memory;
# members.sms.TencentCloudBackend sends through Tencent Cloud SMS (SendSms).
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="members.sms.LocmemBackend" if TESTING else "members.sms.ConsoleBackend",
)
SMS_SHOW_CODE = env.bool("SMS_SHOW_CODE", default=DEBUG)
SMS_TENCENT = {
    "secret_id": env.str("TENCENT_SMS_SECRET_ID", default=""),
    "secret_key": env.str("TENCENT_SMS_SECRET_KEY", default=""),
    "sdk_app_id": env.str("TENCENT_SMS_SDK_APP_ID", default=""),
    "sign_name": env.str("TENCENT_SMS_SIGN_NAME", default=""),
    "template_id": env.str("TENCENT_SMS_TEMPLATE_ID", default=""),
    "template_params": env.list("TENCENT_SMS_TEMPLATE_PARAMS", default=["code", "minutes"]),
    "region": env.str("TENCENT_SMS_REGION", default="ap-guangzhou"),
    "endpoint": env.str("TENCENT_SMS_ENDPOINT", default="https://sms.tencentcloudapi.com"),
}
# Marketing SMS (营销短信, campaigns' "sms" channel) through the same backend: its own
# approved template, taking the text as its one parameter, and signature (empty: the
# code's). Replies (上行短信) such as "T" withdraw consent: Tencent Cloud posts them to
# /sms/inbound/?token=SMS_INBOUND_TOKEN (empty: the callback refuses everything).
SMS_MARKETING_TEMPLATE_ID = env.str("SMS_MARKETING_TEMPLATE_ID", default="")
SMS_MARKETING_SIGN_NAME = env.str("SMS_MARKETING_SIGN_NAME", default="")
SMS_INBOUND_TOKEN = env.str("SMS_INBOUND_TOKEN", default="")
# Reverse proxies in front of the app that append to X-Forwarded-For (0: none); the
# per-IP code limit reads the client's address from there.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
# The customers' site, e.g. https://vip.example.com: QR posters printed from the admin
# point there. Empty: the host the admin was opened on.
PUBLIC_URL = env.str("PUBLIC_URL", default="")
# Days an import's files and refused rows, and an export's file, are kept (personal
# data); the jobs' history stays (loyalty/imports/retention.py).
TRANSFER_RETENTION_DAYS = env.int("TRANSFER_RETENTION_DAYS", default=30)
MEMBER_SESSION_AGE = env.int("MEMBER_SESSION_AGE", default=60 * 60 * 24 * 30)
MEMBER_LOGIN_REDIRECT_URL = "centre:home"

# --- WeChat (wechat/client.py is the one module that talks to WeChat) ---------------
# With DEBUG and no WECHAT_APP_ID, development values that work with the fake WeChat
# server (`manage.py fake_wechat`, started by `make run`) at WECHAT_API_BASE.
WECHAT_APP_ID = env.str("WECHAT_APP_ID", default="")
WECHAT_FAKE = not WECHAT_APP_ID and (DEBUG or TESTING)
if WECHAT_FAKE:
    WECHAT_APP_ID = "wxfake0000000001"
WECHAT_APP_SECRET = env.str("WECHAT_APP_SECRET", default="fake-secret" if WECHAT_FAKE else "")
WECHAT_TOKEN = env.str("WECHAT_TOKEN", default="fake-token" if WECHAT_FAKE else "")
# 43 characters; when set, callbacks are in safe mode (AES, WeChatCrypto).
WECHAT_AES_KEY = env.str("WECHAT_AES_KEY", default="")
# Empty: the real WeChat. Set: every WeChat host is rewritten to this base URL.
WECHAT_API_BASE = env.str("WECHAT_API_BASE", default="http://127.0.0.1:8765" if WECHAT_FAKE else "")
WECHAT_TIMEOUT = env.float("WECHAT_TIMEOUT", default=5.0)
# A callback whose timestamp is further than this from now (seconds) is refused.
WECHAT_CALLBACK_MAX_AGE = env.int("WECHAT_CALLBACK_MAX_AGE", default=300)
WECHAT_MCH_ID = env.str("WECHAT_MCH_ID", default="1900000109" if WECHAT_FAKE else "")
WECHAT_PAY_KEY = env.str(
    "WECHAT_PAY_KEY", default="fake-pay-key-0123456789abcdef012" if WECHAT_FAKE else ""
)
# WeChat Pay API v3 notices (/wechat/pay/v3/notify/): the APIv3 key (32 characters) that
# decrypts the notice's resource, and WeChat Pay's public key (a PEM file: the "微信支付公钥",
# or the platform certificate) with its id, which the Wechatpay-Serial header names.
# Empty key: v3 notices are refused. Development: the fake server's test key pair.
WECHAT_PAY_V3_KEY = env.str(
    "WECHAT_PAY_V3_KEY", default="fake-apiv3-key-0123456789abcdef0" if WECHAT_FAKE else ""
)
WECHAT_PAY_V3_PUBLIC_KEY_FILE = env.str(
    "WECHAT_PAY_V3_PUBLIC_KEY_FILE",
    default=str(BASE_DIR / "wechat" / "fake_server" / "pay_v3_public.pem") if WECHAT_FAKE else "",
)
WECHAT_PAY_V3_PUBLIC_KEY_ID = env.str(
    "WECHAT_PAY_V3_PUBLIC_KEY_ID", default="PUB_KEY_ID_0000000000000001" if WECHAT_FAKE else ""
)
# The mini-program (小程序) behind the member API /api/mp/v1/: its own app id and secret.
# Empty: the mini-program API refuses logins.
WECHAT_MP_APP_ID = env.str("WECHAT_MP_APP_ID", default="wxfakemp00000001" if WECHAT_FAKE else "")
WECHAT_MP_APP_SECRET = env.str(
    "WECHAT_MP_APP_SECRET", default="fake-mp-secret" if WECHAT_FAKE else ""
)
# Seconds a mini-program session token lives; requests per minute per member and per address.
MP_TOKEN_AGE = env.int("MP_TOKEN_AGE", default=7 * 24 * 3600)
MP_RATE_MEMBER = env.int("MP_RATE_MEMBER", default=60)
MP_RATE_ADDRESS = env.int("MP_RATE_ADDRESS", default=120)
# Template ids per notice event (empty: no template message for that event).
WECHAT_TEMPLATES = {
    event: env.str(f"WECHAT_TEMPLATE_{event.upper()}", default=WECHAT_FAKE and f"tpl-{event}" or "")
    for event in (
        "welcome", "points_earned", "points_spent", "points_expiring", "tier_up", "tier_down",
        "tier_warning", "coupon_received", "coupon_expiring", "campaign",
    )
}  # fmt: skip
# The site's address in links sent through WeChat (replies, menu, template messages).
WECHAT_SITE_URL = (
    PUBLIC_URL or env.str("WECHAT_SITE_URL", default="http://127.0.0.1:8000")
).rstrip("/")
# Development: treat every browser as if inside WeChat, so /join/ goes through the fake
# server's OAuth (`make run` sets it when it starts the fake server).
WECHAT_OAUTH_ANY_BROWSER = env.bool("WECHAT_OAUTH_ANY_BROWSER", default=False)
# The official account's menu (`manage.py wechat_menu`): 注册会员, 会员中心, 签到.
WECHAT_MENU = {
    "button": [
        {"type": "view", "name": "注册会员", "url": f"{WECHAT_SITE_URL}/join/"},
        {"type": "view", "name": "会员中心", "url": f"{WECHAT_SITE_URL}/me/"},
        {"type": "click", "name": "签到", "key": "CHECKIN"},
    ]
}

# Extra URLs used only by the benchmark runner (a hello-world baseline view).
BENCH_URLS = env.bool("BENCH_URLS", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-axes logs every login at INFO; failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
