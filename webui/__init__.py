"""Flask app factory: load config, initialise extensions, register blueprints and error handlers."""
from __future__ import annotations

import logging
import logging.config
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from engine import runtime
from engine.db import configure_engine


def create_app(config: object | Mapping | None = None) -> Flask:
    from config.settings import Config, database_url_from_env
    from webui.errors import register_error_handlers
    from webui.extensions import db, make_api

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url_from_env()  # the environment as it is now
    if isinstance(config, Mapping):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    app.json.ensure_ascii = False
    logging.basicConfig(level=app.config["JIEFEN_LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO; keep our logs readable.
    logging.getLogger("spiff").setLevel(max(logging.WARNING, logging.getLogger().level))

    if app.config.get("JIEFEN_RUNTIME") is not None:
        runtime._runtime = app.config["JIEFEN_RUNTIME"]
    else:
        settings = runtime.EngineSettings.from_files(app.config["JIEFEN_ORG_FILE"], app.config["JIEFEN_CALENDAR_FILE"])
        settings.demo_mode = bool(app.config.get("JIEFEN_DEMO"))
        settings.script_cpu_seconds = float(app.config["JIEFEN_SCRIPT_CPU_SECONDS"])
        settings.script_memory_mb = int(app.config["JIEFEN_SCRIPT_MEMORY_MB"])
        settings.script_output_kb = int(app.config["JIEFEN_SCRIPT_OUTPUT_KB"])
        runtime.configure(settings)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and ":memory:" not in uri:  # a fresh clone has no instance/ yet
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    api = make_api()
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    from webui.api.views import blp as api_blueprint
    api.register_blueprint(api_blueprint)
    from webui.ui import register_ui
    register_ui(app)
    register_error_handlers(app)
    if app.config.get("JIEFEN_SCHEDULER_ENABLED"):
        from webui.scheduler import start_scheduler
        start_scheduler(app)
    return app
