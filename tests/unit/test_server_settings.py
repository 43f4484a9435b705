"""db.server_settings / server_warnings: PostgreSQL settings that hurt a long-running jiefen, told at start-up."""
from sqlalchemy import text

from engine.db import server_settings, server_warnings


def test_autovacuum_or_statistics_off_is_warned_about_by_name():
    assert server_warnings({"autovacuum": "on", "track_counts": "on"}) == []
    [line] = server_warnings({"autovacuum": "off", "track_counts": "on"})
    assert "autovacuum=off" in line and "postgresql.conf" in line
    assert len(server_warnings({"autovacuum": "off", "track_counts": "off"})) == 2
    assert server_warnings({}) == []  # SQLite: nothing to tell


def test_settings_are_read_from_the_server(db_engine):
    settings = server_settings(db_engine)
    if db_engine.dialect.name != "postgresql":
        assert settings == {}
        return
    with db_engine.connect() as conn:
        assert settings == {"autovacuum": conn.execute(text("SHOW autovacuum")).scalar(),
                            "track_counts": conn.execute(text("SHOW track_counts")).scalar()}


def test_services_print_the_warnings_when_they_start(app, capsys):
    from jiefen_cli import _warn_about_server
    from webui.extensions import db

    _warn_about_server(app)
    with app.app_context():
        expected = server_warnings(server_settings(db.engine))
    err = capsys.readouterr().err
    assert err.count("警告 / warning:") == len(expected)
    for line in expected:
        assert line in err
