"""Kapstone settings: one module, driven by KAPSTONE_* environment variables.

Secure by default. Local development opts out with ``KAPSTONE_DEV=1`` (no TLS redirect, plain
cookie names, a throwaway secret key); production never needs to opt in to anything.
docs/configuration.md lists every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from kapstone.env import (
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    parse_choice,
    parse_database_url,
    parse_keys,
    parse_networks,
    parse_path,
    parse_syslog_address,
)

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent

DEV = env_bool("DEV", default=False)
DEBUG = False  # Never on, not even in development: error pages must not show PHI.

_secret = env_secret("SECRET_KEY")
if not _secret:
    if not DEV:
        raise ImproperlyConfigured(
            "KAPSTONE_SECRET_KEY (or KAPSTONE_SECRET_KEY_FILE) is required unless KAPSTONE_DEV=1."
        )
    _secret = "dev-only-insecure-key-" + "k" * 40
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEV else [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_htmx",
    "ninja",
    "kapstone.accounts",
    "kapstone.audit",
    "kapstone.patients",
    "kapstone.screening",
    "kapstone.care",
    "kapstone.dosing",
    "kapstone.inventory",
    "kapstone.monitoring",
    "kapstone.safety",
    "kapstone.outcomes",
    "kapstone.research",
    "kapstone.portal",
    "kapstone.api",
    "kapstone.operations",
    "kapstone.demo",
    "kapstone.server",
    "kapstone.interop",
    "django_q",
]

MIDDLEWARE = [
    # Outermost: the visitor's address behind the proxy; every response carries X-Request-ID;
    # the metrics time everything.
    "kapstone.server.context.TrustedProxyMiddleware",
    "kapstone.server.context.RequestIdMiddleware",
    "kapstone.server.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "kapstone.server.context.UserIdMiddleware",  # the user's numeric id for the logs
    "kapstone.accounts.middleware.SessionLifetimeMiddleware",
    "kapstone.accounts.middleware.ClinicTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kapstone.accounts.middleware.NoStoreMiddleware",
    # Inside the others, so that it sees the handler's own 404/500 pages: under /api/v1 those
    # become the API's JSON error shape.
    "kapstone.api.middleware.ApiJsonErrorsMiddleware",
    # Axes must come last: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kapstone.urls"
WSGI_APPLICATION = "kapstone.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kapstone.accounts.context_processors.kapstone",
                "kapstone.portal.context_processors.referral_counts",
            ],
            # Date and time filters every page uses (``day``, ``moment``, ``clock``), and
            # ``{% plotly_assets %}`` beside each chart (kapstone/chart_assets.py).
            "builtins": ["kapstone.display", "kapstone.chart_assets"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "sqlite:///var/kapstone.sqlite3")
_db = parse_database_url(DATABASE_URL, base_dir=BASE_DIR)
DATABASES = {"default": _db.settings}
DATABASE_VENDOR = _db.engine
# A streaming replica for research reads (kapstone/replica.py): the cohort report and the
# de-identified exports read from it; every write and everything clinical stays on the primary.
REPLICA_DATABASE_URL = env_str("REPLICA_DATABASE_URL")
if REPLICA_DATABASE_URL:
    _replica = parse_database_url(REPLICA_DATABASE_URL, base_dir=BASE_DIR, variable="REPLICA_DATABASE_URL")
    if _replica.engine != _db.engine:
        raise ImproperlyConfigured(
            "KAPSTONE_REPLICA_DATABASE_URL: the replica must be the same engine as the primary "
            f"({_db.engine}), not {_replica.engine}."
        )
    # Tests run against the primary's test database: the replica mirrors it there.
    DATABASES["replica"] = {**_replica.settings, "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["kapstone.replica.ResearchReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Audit trail ----------------------------------------------------------------------------
# kapstone/audit/keys.py and checkpoints.py; the threat model is in docs/architecture.md.
# The audit chain is an HMAC-SHA-256 chain under this key, which is never stored in the database.
# Production without it fails `check --deploy` (kapstone.E001) and refuses to write audit events;
# development (KAPSTONE_DEV=1) without it uses a key generated on first use in AUDIT_DEV_KEY_FILE.
_audit_keys = parse_keys("AUDIT_KEY", env_secret("AUDIT_KEY"), min_length=32)
if len(_audit_keys) > 1:
    raise ImproperlyConfigured(
        "KAPSTONE_AUDIT_KEY (or KAPSTONE_AUDIT_KEY_FILE) holds more than one key; "
        "earlier keys belong in KAPSTONE_AUDIT_OLD_KEYS_FILE."
    )
AUDIT_KEY = _audit_keys[0] if _audit_keys else None
# Keys of earlier segments of the chain (after a rotation), so that `audit verify` can check them.
AUDIT_OLD_KEYS = parse_keys("AUDIT_OLD_KEYS", env_secret("AUDIT_OLD_KEYS"), min_length=32)
AUDIT_DEV_KEY_FILE = BASE_DIR / "var" / "audit-dev.key"
# Checkpoints anchor the chain outside the database: a line every N events and every hour.
AUDIT_CHECKPOINT_FILE = parse_path(
    env_str("AUDIT_CHECKPOINT_FILE"), BASE_DIR / "var" / "audit-checkpoints.log", base_dir=BASE_DIR
)
AUDIT_CHECKPOINT_EVERY = env_int("AUDIT_CHECKPOINT_EVERY", 1000, minimum=1, maximum=1_000_000)
AUDIT_CHECKPOINT_SYSLOG = parse_syslog_address("AUDIT_CHECKPOINT_SYSLOG", env_str("AUDIT_CHECKPOINT_SYSLOG"))

# --- Authentication -------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Two-factor authentication (TOTP) for every staff login. The demo may switch it off; the
# deploy check kapstone.W001 warns whenever it is off.
MFA_REQUIRED = env_bool("MFA_REQUIRED", default=True)
OTP_TOTP_ISSUER = "Kapstone"

# Lockout after repeated failures (django-axes): 5 failures for one username lock it for 15 min.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=3, maximum=20)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=1440))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 asks to lock by IP address too. Clinic staff share one NAT address; an IP lockout
# would let one mistyped password (or one attacker) lock a whole ward out of a bedside system.
# Availability is a safety property here, so we lock per account and say so (docs/configuration.md).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# --- Sessions and cookies -------------------------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_TIMEOUT_S = env_int("SESSION_IDLE_MINUTES", 15, minimum=1, maximum=60) * 60
SESSION_ABSOLUTE_TIMEOUT_S = env_int("SESSION_MAX_HOURS", 12, minimum=1, maximum=24) * 3600
# Patients in the portal: a longer idle timeout (a questionnaire filled at home, a phone put down).
PORTAL_SESSION_IDLE_S = env_int("PORTAL_SESSION_IDLE_MINUTES", 30, minimum=5, maximum=240) * 60
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_S
SESSION_SAVE_EVERY_REQUEST = True  # the cookie age then acts as an idle timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "kapstone.views.csrf_failure"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

if DEV:
    SESSION_COOKIE_SECURE = False
    CSRF_COOKIE_SECURE = False
    SECURE_SSL_REDIRECT = False
else:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("BEHIND_TLS_PROXY", default=False):
        # Only when the proxy strips and sets this header itself.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Content-Security-Policy (django-csp 4): no inline scripts or styles, nothing from elsewhere.
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
        "frame-ancestors": ["'none'"],
    },
}

# --- Requests -------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
# Staff pages are in English; the public pre-screen is in English and Spanish (the portal's
# views choose the language per request, without a cookie).
USE_I18N = True
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = parse_path(env_str("STATIC_ROOT"), BASE_DIR / "var" / "static", base_dir=BASE_DIR)
# plotly.js is vendored there too (static/plotly/, the basic bundle; see its README.md).
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEV:
    # No collectstatic step in development; WhiteNoise serves from the finders.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

# --- Public pre-screen and referrals ----------------------------------------------------------
# Requests per source address (counted in the database; see kapstone/portal/ratelimit.py).
REFERRAL_RATE_PER_HOUR = env_int("REFERRAL_RATE_PER_HOUR", 10, minimum=1, maximum=1000)
PRESCREEN_RATE_PER_MINUTE = env_int("PRESCREEN_RATE_PER_MINUTE", 60, minimum=1, maximum=10000)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEV
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "kapstone@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)

# --- Logging: no request bodies, no PHI ---------------------------------------------------
# JSON lines in production, plain text in development; each line with the request id and the
# user's numeric id (kapstone/server/logs.py, docs/deployment.md).
LOG_FORMAT = parse_choice(
    "LOG_FORMAT", env_str("LOG_FORMAT"), ("json", "plain"), default="plain" if DEV else "json"
)
DEFAULT_EXCEPTION_REPORTER_FILTER = "kapstone.errorreports.ScrubbingExceptionReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "kapstone.server.logs.PlainFormatter"},
        "json": {"()": "kapstone.server.logs.JsonFormatter"},
    },
    "filters": {"request_context": {"()": "kapstone.server.logs.RequestContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_context"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        # The default AdminEmailHandler would mail tracebacks with request data: never.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- Operators' metrics (kapstone/server/metrics.py, docs/deployment.md) ----------------------
# /metrics answers a bearer token, or a direct (not proxied) request from these networks; any
# other request gets the ordinary 404 page.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "KAPSTONE_METRICS_TOKEN (or KAPSTONE_METRICS_TOKEN_FILE) needs at least 32 characters."
    )
METRICS_ALLOW = parse_networks("METRICS_ALLOW", env_str("METRICS_ALLOW"), ["127.0.0.1/32", "::1/128"])
# The liveness, readiness and metrics endpoints answer on plain HTTP too: a monitor or Prometheus
# on the machine asks gunicorn directly on loopback, not through the TLS proxy. They show no PHI.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
# Behind the TLS proxy, REMOTE_ADDR becomes the visitor's address the proxy forwarded (in
# X-Forwarded-For), when the connection comes from one of these (gunicorn reads the same list
# for X-Forwarded-Proto). kapstone/server/context.py::TrustedProxyMiddleware.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", default=False)
FORWARDED_ALLOW_IPS = parse_networks(
    "FORWARDED_ALLOW_IPS", env_str("FORWARDED_ALLOW_IPS"), ["127.0.0.1", "::1"]
)

# --- Background work: `kapstone worker` (django-q2 on the ORM broker) -------------------------
# docs/operations.md. The queue and the schedules live in the database itself, so several workers
# on several machines share them; each job's run of one schedule slot is claimed in a row of its
# own (kapstone/operations/services.py), so it runs once however many workers see it.
# SQLite has one writer at a time: one worker process there; PostgreSQL: one per CPU.
WORKER_PROCESSES = env_int(
    "WORKER_PROCESSES", 1 if DATABASE_VENDOR == "sqlite" else (os.cpu_count() or 1), minimum=1, maximum=64
)
# A job running longer than this is stopped (and its run failed, to be retried); a task that no
# worker acknowledged (its worker died) is handed out again a little later than that.
JOB_TIMEOUT_S = env_int("JOB_TIMEOUT_SECONDS", 300, minimum=5, maximum=3600)
JOB_REDELIVERY_S = JOB_TIMEOUT_S + max(5, JOB_TIMEOUT_S // 5)
#: How long the files of a FHIR bulk export are kept for the user who asked for it, from the
#: export's end; then they are deleted (kapstone/interop/fhir/bulk.py, docs/interop.md).
FHIR_EXPORT_KEEP_HOURS = env_int("FHIR_EXPORT_KEEP_HOURS", 24, minimum=1, maximum=24 * 7)
#: Patients per step of a bulk export (one transaction, one file per type): a step must end well
#: inside JOB_TIMEOUT_SECONDS; 250 patients take a few seconds.
FHIR_EXPORT_STEP_PATIENTS = env_int("FHIR_EXPORT_STEP_PATIENTS", 250, minimum=1, maximum=10_000)
# The worker writes its heartbeat this often; /ready fails once the newest is older than that.
WORKER_HEARTBEAT_S = env_int("WORKER_HEARTBEAT_SECONDS", 30, minimum=1, maximum=300)
READY_HEARTBEAT_S = env_int("READY_HEARTBEAT_SECONDS", 180, minimum=10, maximum=86_400)
# The address staff open Kapstone at: the link in the daily reminder e-mails.
BASE_URL = env_str("BASE_URL", "http://127.0.0.1:8000")
Q_CLUSTER = {
    "name": "kapstone",
    "orm": "default",
    "workers": WORKER_PROCESSES,
    "timeout": JOB_TIMEOUT_S,
    "retry": JOB_REDELIVERY_S,  # larger than the timeout: a running job is never handed out twice
    "max_attempts": 3,  # a task whose worker keeps dying is given up after 3 deliveries
    "catch_up": False,  # after a stop, run each schedule once, not once per missed slot
    "save_limit": 250,  # django-q2's own record of successful tasks
    "ack_failures": True,  # our jobs retry themselves with back-off (operations/services.py)
    "poll": 1,  # seconds between two looks at an empty queue
    "label": "Background jobs",
}
