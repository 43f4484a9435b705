"""Extension objects, created without an app and bound in create_app with init_app."""
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
api = Api()
