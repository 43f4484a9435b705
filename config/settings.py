"""Every setting jiefen reads, with its default; environment variables are read and typed here only."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default=None):
    return os.environ.get(f"JIEFEN_{name}", default)


def _bool(value, default: bool = False) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def database_url_from_env() -> str:
    """DATABASE_URL (or JIEFEN_DATABASE_URL); default: SQLite file under instance/."""
    url = os.environ.get("JIEFEN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        # Heroku-style and bare postgresql:// URLs get the psycopg 3 driver we ship.
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return f"sqlite:///{ROOT / 'instance' / 'jiefen.sqlite3'}"


class Config:
    # Database URL; SQLite (WAL, foreign keys on) by default, PostgreSQL in production.
    SQLALCHEMY_DATABASE_URI = database_url_from_env()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Flask session signing key: required outside demo mode (`jiefen serve` refuses to start without one).
    SECRET_KEY = _env("SECRET_KEY")
    # Demo mode only: where the random key made on the first start is kept (file mode 0600).
    JIEFEN_SECRET_KEY_FILE = _env("SECRET_KEY_FILE", str(ROOT / "instance" / "secret_key"))
    # Days an API bearer token stays valid.
    JIEFEN_TOKEN_DAYS = int(_env("TOKEN_DAYS", "30"))
    # Folder of BPMN files deployed by `jiefen deploy-all` / `jiefen demo`.
    JIEFEN_PROCESSES_DIR = _env("PROCESSES_DIR", str(ROOT / "processes"))
    # Per-center calendar overrides (closures, make-up workdays, years missing from the holiday package).
    JIEFEN_CALENDAR_FILE = _env("CALENDAR_FILE", str(ROOT / "config" / "calendar.toml"))
    # Seconds between looks at the calendar file's modification time (web requests, scheduler ticks): an edited
    # file is served within this, and its changed years are recomputed by the scheduler after twice this.
    JIEFEN_CALENDAR_CHECK_SECONDS = float(_env("CALENDAR_CHECK_SECONDS", "5"))
    # How often (seconds) a process checks for settings saved in the console by another one (the ladder policy,
    # the lane map, group cases, ranking weights, disabled org units); the scheduler checks on every tick.
    JIEFEN_SETTINGS_CHECK_SECONDS = float(_env("SETTINGS_CHECK_SECONDS", "5"))
    # Org/roles overrides: lane name -> role id, ladder policy per tier.
    JIEFEN_ORG_FILE = _env("ORG_FILE", str(ROOT / "config" / "org.toml"))
    # Start the timer scheduler inside this process (only `jiefen run`/`jiefen scheduler` set it).
    JIEFEN_SCHEDULER_ENABLED = _bool(_env("SCHEDULER_ENABLED"), False)
    # Seconds between scheduler wake-ups when nothing is due sooner.
    JIEFEN_SCHEDULER_INTERVAL = int(_env("SCHEDULER_INTERVAL", "15"))
    # Timers claimed per drain batch.
    JIEFEN_TIMER_BATCH = int(_env("TIMER_BATCH", "200"))
    # Seconds a drain's claim on a timer lasts (real time, renewed while it works): a killed drain's timers
    # are taken over this long after it died.
    JIEFEN_TIMER_LEASE_SECONDS = int(_env("TIMER_LEASE_SECONDS", "30"))
    # Failed firings of a timer before it becomes an incident (`jiefen incidents`).
    JIEFEN_TIMER_MAX_ATTEMPTS = int(_env("TIMER_MAX_ATTEMPTS", "3"))
    # Seconds before a failed timer is tried again; doubled for each further attempt.
    JIEFEN_TIMER_BACKOFF_SECONDS = int(_env("TIMER_BACKOFF_SECONDS", "30"))
    # Demo mode: demo users with published passwords exist; never in production.
    JIEFEN_DEMO = _bool(_env("DEMO"), False)
    # Failed logins of one username from one address before that pair waits, and the first wait in minutes
    # (doubled after every further failure, up to a day).
    JIEFEN_LOGIN_MAX_FAILURES = int(_env("LOGIN_MAX_FAILURES", "5"))
    JIEFEN_LOGIN_LOCK_MINUTES = int(_env("LOGIN_LOCK_MINUTES", "15"))
    # Public address printed in the receipt's QR code (default: the address the request came in on).
    JIEFEN_PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL")
    # Failed public look-ups (code + phone) per client address in ten minutes before it is refused (429).
    JIEFEN_LOOKUP_MAX_FAILURES = int(_env("LOOKUP_MAX_FAILURES", "10"))
    # Reverse proxies in front of the server that set X-Forwarded-For / -Proto (0: none, the headers are ignored).
    JIEFEN_TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))
    # Redis for the rate-limit counters (redis://host:6379/0); default: a table in the database.
    JIEFEN_REDIS_URL = _env("REDIS_URL")
    # Where `npm install` put bpmn-js (the case diagram); default: node_modules/ in the repository.
    JIEFEN_NODE_MODULES = _env("NODE_MODULES")
    # Largest request body in bytes (JSON, forms); larger ones get 413. BPMN deploys have their own limit.
    MAX_CONTENT_LENGTH = int(_env("MAX_BODY_BYTES", str(1024 * 1024)))
    # Largest BPMN file accepted by POST /api/v1/processes, in bytes.
    JIEFEN_MAX_UPLOAD_BYTES = int(_env("MAX_UPLOAD_BYTES", str(16 * 1024 * 1024)))
    # Case data of one command (start data, a task's form): size as JSON, longest text, deepest nesting.
    # Attachments (docs/operations.md "Attachments"): the local file store's directory, a file's size and a
    # case's number of files at most.
    JIEFEN_FILES_DIR = _env("FILES_DIR", str(ROOT / "instance" / "files"))
    # The file store: "local" (JIEFEN_FILES_DIR) or "s3" (an S3-compatible bucket: AWS S3, MinIO, OSS, COS …;
    # docs/operations.md "Attachments"). Keys left empty: boto3's own credential chain (an instance role, ~/.aws).
    JIEFEN_FILES_STORE = _env("FILES_STORE", "local")
    JIEFEN_S3_BUCKET = _env("S3_BUCKET", "")
    JIEFEN_S3_PREFIX = _env("S3_PREFIX", "")
    JIEFEN_S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")  # e.g. http://minio.internal:9000; empty: AWS
    JIEFEN_S3_REGION = _env("S3_REGION")
    JIEFEN_S3_ACCESS_KEY_ID = _env("S3_ACCESS_KEY_ID")
    JIEFEN_S3_SECRET_ACCESS_KEY = _env("S3_SECRET_ACCESS_KEY")
    JIEFEN_ATTACHMENT_MAX_BYTES = int(_env("ATTACHMENT_MAX_BYTES", str(20 * 1024 * 1024)))
    JIEFEN_ATTACHMENTS_PER_CASE = int(_env("ATTACHMENTS_PER_CASE", "50"))
    # Documents (docs/operations.md "Documents"): the folder of their templates, one <kind>.html each, which a
    # center may edit; default config/documents/.
    JIEFEN_DOCUMENTS_DIR = _env("DOCUMENTS_DIR", str(ROOT / "config" / "documents"))
    JIEFEN_MAX_DATA_BYTES = int(_env("MAX_DATA_BYTES", str(256 * 1024)))
    JIEFEN_MAX_TEXT_LENGTH = int(_env("MAX_TEXT_LENGTH", "10000"))
    JIEFEN_MAX_DATA_DEPTH = int(_env("MAX_DATA_DEPTH", "10"))
    # What one BPMN script or expression may use: CPU seconds, memory (MB) and task data written (KB).
    JIEFEN_SCRIPT_CPU_SECONDS = float(_env("SCRIPT_CPU_SECONDS", "1"))
    JIEFEN_SCRIPT_MEMORY_MB = int(_env("SCRIPT_MEMORY_MB", "64"))
    JIEFEN_SCRIPT_OUTPUT_KB = int(_env("SCRIPT_OUTPUT_KB", "1024"))
    # Log level for the root logger.
    JIEFEN_LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    # Session cookie hardening; the cookie is also `Secure` whenever JIEFEN_PUBLIC_BASE_URL is https (create_app).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool(_env("SECURE_COOKIES"), False)
    # UI language default (zh_CN first, English available).
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    # flask-smorest / OpenAPI
    API_TITLE = "jiefen"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"


class DevConfig(Config):
    JIEFEN_DEMO = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    JIEFEN_SCHEDULER_ENABLED = False
