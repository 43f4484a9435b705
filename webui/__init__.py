"""Flask app factory: load config, initialise extensions, register blueprints and error handlers."""
from __future__ import annotations

import logging
import logging.config
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from engine import runtime
from engine.case_data import DataLimits
from engine.db import configure_engine


# The key this project once shipped as its default: anyone who read the code could sign a session as anybody.
PUBLISHED_SECRET_KEYS = frozenset({"dev-only-change-me", "change-me", "secret", "dev"})
MIN_SECRET_KEY_LENGTH = 16
SECRET_KEY_HELP = ("JIEFEN_SECRET_KEY 未设置或不安全 / JIEFEN_SECRET_KEY is missing or unsafe: set it to a long random "
                   "value before starting, e.g. export JIEFEN_SECRET_KEY=\"$(python3 -c 'import secrets; "
                   "print(secrets.token_hex(32))')\" (docs/operations.md)")


class SecretKeyMissing(RuntimeError):
    """The app would sign sessions with no key or a published one; the message says how to set one."""


def _unsafe(key) -> bool:
    return not key or key in PUBLISHED_SECRET_KEYS or len(str(key)) < MIN_SECRET_KEY_LENGTH


def _demo_secret_key(path: Path) -> str:
    """Demo mode: a random key made on the first start and kept (mode 0600) for the next ones. Written beside the
    file and linked into place, so two processes starting at once never read a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text().strip()


def _settle_secret_key(app: Flask) -> None:
    """Never sign with no key or a published one: tests bring their own, demo mode keeps a random one in
    instance/, a one-off command (which signs nothing) gets a random throw-away key, and a server refuses to start."""
    if app.config.get("TESTING") or not _unsafe(app.config.get("SECRET_KEY")):
        return
    if app.config.get("JIEFEN_DEMO"):
        app.config["SECRET_KEY"] = _demo_secret_key(Path(app.config["JIEFEN_SECRET_KEY_FILE"]))
    elif app.config.get("JIEFEN_ONE_OFF_COMMAND"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    else:
        raise SecretKeyMissing(SECRET_KEY_HELP)


class FileStoreMisconfigured(RuntimeError):
    """JIEFEN_FILES_STORE names no store jiefen has, or "s3" without a bucket: the message says what to set."""


def _files_store(config) -> str:
    store = (config.get("JIEFEN_FILES_STORE") or "local").strip().lower()
    if store not in ("local", "s3"):
        raise FileStoreMisconfigured(f"JIEFEN_FILES_STORE={store!r}: use \"local\" (JIEFEN_FILES_DIR) or \"s3\"")
    if store == "s3" and not (config.get("JIEFEN_S3_BUCKET") or "").strip():
        raise FileStoreMisconfigured("JIEFEN_FILES_STORE=s3 needs JIEFEN_S3_BUCKET (and JIEFEN_S3_ENDPOINT_URL for "
                                     "a store other than AWS: MinIO, OSS, COS …)")
    return store


def create_app(config: object | Mapping | None = None) -> Flask:
    from config.settings import Config, database_url_from_env
    from webui.errors import JSONErrorMiddleware, register_error_handlers, swallow_teardown_errors
    from webui.extensions import RUNTIME_KEY, db, make_api
    from webui.inputs import BoundedIntConverter, StrictJSONProvider

    app = Flask(__name__, instance_relative_config=False)
    app.json = StrictJSONProvider(app)
    app.url_map.converters["int"] = BoundedIntConverter  # before any route is added
    app.config.from_object(Config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url_from_env()  # the environment as it is now
    if isinstance(config, Mapping):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    app.json.ensure_ascii = False
    _settle_secret_key(app)
    if str(app.config.get("JIEFEN_PUBLIC_BASE_URL") or "").lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    proxies = int(app.config.get("JIEFEN_TRUSTED_PROXIES") or 0)
    if proxies > 0:  # X-Forwarded-For / -Proto are believed only from this many proxies, never by default
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    logging.basicConfig(level=app.config["JIEFEN_LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO; keep our logs readable.
    logging.getLogger("spiff").setLevel(max(logging.WARNING, logging.getLogger().level))

    rt = app.config.get("JIEFEN_RUNTIME")  # a runtime built by the caller (tests), else one from the config
    if rt is None:
        settings = runtime.EngineSettings.from_files(app.config["JIEFEN_ORG_FILE"], app.config["JIEFEN_CALENDAR_FILE"])
        settings.demo_mode = bool(app.config.get("JIEFEN_DEMO"))
        settings.data_limits = DataLimits(max_depth=app.config["JIEFEN_MAX_DATA_DEPTH"],
                                          max_string=app.config["JIEFEN_MAX_TEXT_LENGTH"],
                                          max_bytes=app.config["JIEFEN_MAX_DATA_BYTES"])
        settings.files_dir = app.config["JIEFEN_FILES_DIR"]
        settings.files_store = _files_store(app.config)
        settings.s3_bucket = app.config["JIEFEN_S3_BUCKET"] or ""
        settings.s3_prefix = app.config["JIEFEN_S3_PREFIX"] or ""
        settings.s3_endpoint_url = app.config["JIEFEN_S3_ENDPOINT_URL"] or None
        settings.s3_region = app.config["JIEFEN_S3_REGION"] or None
        settings.s3_access_key_id = app.config["JIEFEN_S3_ACCESS_KEY_ID"] or None
        settings.s3_secret_access_key = app.config["JIEFEN_S3_SECRET_ACCESS_KEY"] or None
        settings.attachment_max_bytes = int(app.config["JIEFEN_ATTACHMENT_MAX_BYTES"])
        settings.attachments_per_case = int(app.config["JIEFEN_ATTACHMENTS_PER_CASE"])
        settings.documents_dir = app.config["JIEFEN_DOCUMENTS_DIR"]
        settings.script_cpu_seconds = float(app.config["JIEFEN_SCRIPT_CPU_SECONDS"])
        settings.script_memory_mb = int(app.config["JIEFEN_SCRIPT_MEMORY_MB"])
        settings.script_output_kb = int(app.config["JIEFEN_SCRIPT_OUTPUT_KB"])
        rt = runtime.Runtime(settings)
        from webui import calendar_file
        calendar_file.watch(app, rt)  # config/calendar.toml edited while running: served within seconds
    app.extensions[RUNTIME_KEY] = rt  # db.session carries it (webui.extensions.RuntimeSession)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and ":memory:" not in uri:  # a fresh clone has no instance/ yet
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    swallow_teardown_errors(app, db)
    with app.app_context():
        configure_engine(db.engine)
    from webui import calendar_file as _calendar_file
    _calendar_file.watch_notices(app)  # calendar years saved in the console by any process: served within seconds
    from webui import settings_watch
    settings_watch.watch(app)  # settings saved in the console by any process (ladder, lane map …): within seconds
    api = make_api()
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    from webui.api.views import blp as api_blueprint
    api.register_blueprint(api_blueprint)
    from webui.ui import register_ui
    register_ui(app)
    from webui.rate_limit import limit_public_lookups
    limit_public_lookups(app)
    from webui.inputs import body_limit_by_endpoint
    app.before_request(body_limit_by_endpoint)  # before the idempotency hook reads the body
    from webui import idempotency
    idempotency.init_app(app)  # after the UI's CSRF check: keys of real requests
    register_error_handlers(app)
    app.wsgi_app = JSONErrorMiddleware(app.wsgi_app)
    if app.config.get("JIEFEN_SCHEDULER_ENABLED"):
        from webui.scheduler import start_scheduler
        start_scheduler(app)
    return app
