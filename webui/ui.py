"""Registers the server-rendered web UI (blueprints, Babel, CSRF); the API lives in webui/api."""
from flask import Flask


def register_ui(app: Flask) -> None:
    """Placeholder until the staff UI lands: nothing to register yet."""
