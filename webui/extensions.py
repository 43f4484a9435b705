"""Extension objects, created without an app and bound in create_app with init_app."""
from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def make_api():
    """flask-smorest keeps one OpenAPI spec per Api object, so each app gets its own (see create_app)."""
    from flask_smorest import Api

    from webui.api.schemas import ApiError

    class JiefenApi(Api):
        ERROR_SCHEMA = ApiError  # webui/errors.py answers every error under /api/ in this shape

    return JiefenApi()
