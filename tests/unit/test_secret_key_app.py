"""create_app never signs sessions with no key or a published one; demo mode keeps a random key in instance/."""
from __future__ import annotations

import stat

import pytest

from webui import create_app


def _config(database_url, rt, **extra) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt, "JIEFEN_DEMO": False,
            "SECRET_KEY": None, **extra}


def _dispose(app) -> None:
    from webui.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("key", [None, "", "dev-only-change-me", "too-short"])
def test_an_app_outside_tests_and_demo_refuses_an_unsafe_key(db_engine, database_url, rt, key):
    with pytest.raises(RuntimeError, match="JIEFEN_SECRET_KEY"):  # webui.SecretKeyMissing
        create_app(_config(database_url, rt, SECRET_KEY=key))


def test_an_app_with_its_own_key_keeps_it(db_engine, database_url, rt):
    app = create_app(_config(database_url, rt, SECRET_KEY="k" * 40))
    assert app.secret_key == "k" * 40
    _dispose(app)


def test_demo_mode_makes_a_key_once_and_keeps_it(db_engine, database_url, rt, tmp_path):
    key_file = tmp_path / "instance" / "secret_key"
    first = create_app(_config(database_url, rt, JIEFEN_DEMO=True, JIEFEN_SECRET_KEY_FILE=str(key_file)))
    assert first.secret_key == key_file.read_text() and len(first.secret_key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = create_app(_config(database_url, rt, JIEFEN_DEMO=True, JIEFEN_SECRET_KEY_FILE=str(key_file),
                                SECRET_KEY="dev-only-change-me"))
    assert second.secret_key == first.secret_key  # reused, and the published key is never used
    for app in (first, second):
        _dispose(app)


def test_a_one_off_command_gets_a_throw_away_key(db_engine, database_url, rt):
    apps = [create_app(_config(database_url, rt, JIEFEN_ONE_OFF_COMMAND=True)) for _ in range(2)]
    assert apps[0].secret_key != apps[1].secret_key and len(apps[0].secret_key) == 64
    for app in apps:
        _dispose(app)
