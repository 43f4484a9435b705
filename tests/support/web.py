"""The staff UI through the Flask test client: the CSRF token of a page, and a form login."""
from __future__ import annotations

import re

from tests.support import PASSWORD


def csrf(html: str) -> str:
    """The csrf_token of the form on this page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def ui_login(client, username: str, password: str = PASSWORD, addr: str = "127.0.0.1", expect: int | None = None):
    """Log in through the /login form (from client address `addr`); the response to the POST, whose status
    must be `expect` when given."""
    token = csrf(client.get("/login", environ_base={"REMOTE_ADDR": addr}).get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": addr})
    if expect is not None:
        assert response.status_code == expect, response.get_data(as_text=True)
    return response
