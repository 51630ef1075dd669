"""Django settings: embedded defaults (SQLite in the data dir, in-memory channel layer), overridden
by environment variables. See the configuration table in the README."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from converge.config import env

BASE_DIR = env.data_dir()
DATA_DIR = BASE_DIR
DEBUG = env.env_bool("DEBUG", False)
SECRET_KEY = env.secret_key(DATA_DIR)
PUBLIC_BASE_URL = env.public_base_url()
_public_host = urlparse(PUBLIC_BASE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", [_public_host, "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "converge.core",
    "converge.accounts",
    "converge.audit",
    "converge.practices",
    "converge.patients",
    "converge.connectors",
    "converge.conversations",
    "converge.scheduling",
    "converge.reminders",
    "converge.routing",
    "converge.privacy",
    "converge.portal",
    "converge.replies",
    "converge.search",
    "converge.teamchat",
    "converge.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "converge.core.security.SecurityHeadersMiddleware",
    "converge.core.throttle.ThrottleMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "converge.core.security.RejectNulMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "converge.dashboard.middleware.IdleLogoutMiddleware",
    "converge.accounts.middleware.MfaMiddleware",
]

ROOT_URLCONF = "converge.config.urls"
ASGI_APPLICATION = "converge.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": env.database_config(DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def redis_channel_layer(url: str, *, prefix: str) -> dict[str, Any]:
    """Connections that outwait the layer's blocking pop and never lose a cancel
    (converge/core/redis_layer.py says why both matter)."""
    from converge.core.redis_layer import layer_host

    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [layer_host(url)], "prefix": prefix},
    }


REDIS_URL = env.redis_url()
# Rate limits and throttles count here; with several processes they must share Redis.
CACHES = (
    {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.env_str("CONVERGE_REDIS_PREFIX", "converge"),
        }
    }
    if REDIS_URL
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": redis_channel_layer(REDIS_URL, prefix=env.env_str("CONVERGE_REDIS_PREFIX", "converge"))
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
_tls = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = _tls
CSRF_COOKIE_SECURE = _tls
SECURE_HSTS_SECONDS = 31536000 if _tls else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _tls and env.env_bool("CONVERGE_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _tls and env.env_bool("CONVERGE_HSTS_PRELOAD", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto; plain HTTP is redirected.
SECURE_SSL_REDIRECT = _tls and env.env_bool("CONVERGE_SSL_REDIRECT", True)
if _tls:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Webhook providers and health checks must still reach plain paths when a proxy probes them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = DATA_DIR / "media"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# The outbox: how often a failing send is retried, and for how long a claim is held.
OUTBOX_MAX_ATTEMPTS = env.env_int("CONVERGE_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
OUTBOX_LEASE_SECONDS = env.env_int("CONVERGE_OUTBOX_LEASE_SECONDS", 120, minimum=5)
OUTBOX_BATCH_SIZE = env.env_int("CONVERGE_OUTBOX_BATCH_SIZE", 50, minimum=1)
# An ambiguous send (the provider may have accepted it: a timeout after the request was written)
# waits this long for the provider's status callback before it is failed for staff to review.
OUTBOX_CONFIRM_SECONDS = env.env_int("CONVERGE_OUTBOX_CONFIRM_SECONDS", 900, minimum=10)

INBOUND_BATCH_SIZE = env.env_int("CONVERGE_INBOUND_BATCH_SIZE", 100, minimum=1)

# Workers record a heartbeat this often; one silent for 3 beats is dead, and the rows it had
# claimed are released at once instead of after their lease (see core.heartbeat).
WORKER_HEARTBEAT_SECONDS = env.env_float("CONVERGE_WORKER_HEARTBEAT_SECONDS", 5.0, minimum=0.1)
# /readyz: whether a worker (in-process or `converge worker`) must be alive, and how old the oldest
# queued inbound message / the oldest due unsent outbound message may get before it answers 503.
WORKER_EXPECTED = env.env_bool("CONVERGE_WORKER_EXPECTED", True)
READYZ_INBOUND_MAX_AGE_SECONDS = env.env_int("CONVERGE_READYZ_INBOUND_MAX_AGE_SECONDS", 120, minimum=1)
READYZ_OUTBOX_MAX_LAG_SECONDS = env.env_int("CONVERGE_READYZ_OUTBOX_MAX_LAG_SECONDS", 300, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "converge.core.logfilters.RedactUrlSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO").upper()},
    # httpx logs request URLs at INFO: provider account ids and media ids stay out of the logs.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
