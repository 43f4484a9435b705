"""Extension objects, created without an app and bound in create_app with init_app."""
from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as _AppSession

from engine import runtime
from engine.models import Base

RUNTIME_KEY = "jiefen.runtime"  # app.extensions[RUNTIME_KEY]: the app's engine runtime (create_app)


def current_runtime() -> runtime.Runtime:
    """The runtime of the app handling this request or command (views, the scheduler, the CLI)."""
    return current_app.extensions[RUNTIME_KEY]


class RuntimeSession(_AppSession):
    """db.session of an app carries that app's runtime (engine.runtime.of reads it): sessions are made per app
    context, so two apps in one process each hand the engine their own settings and clock."""

    def __init__(self, db, **kwargs):
        super().__init__(db, **kwargs)
        runtime.bind(self, current_runtime())


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False, "class_": RuntimeSession})


def make_api():
    """flask-smorest keeps one OpenAPI spec per Api object, so each app gets its own (see create_app)."""
    from flask_smorest import Api

    from webui.api.schemas import ApiError

    class JiefenApi(Api):
        ERROR_SCHEMA = ApiError  # webui/errors.py answers every error under /api/ in this shape

    return JiefenApi()
