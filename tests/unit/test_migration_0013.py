"""Migration 0013: tokens made before it get an expiry, users a session version; it downgrades."""
from alembic import command
from sqlalchemy import inspect, text

from tests.unit.test_migrations import _old_database


def test_0013_gives_old_tokens_an_expiry_and_downgrades(tmp_path):
    engine, cfg = _old_database(tmp_path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
        conn.execute(text("INSERT INTO users (id, username, password_hash, active, failed_logins, created_at) "
                          "VALUES (1, 'old', 'h', 1, 3, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO api_tokens (user_id, token_hash, created_at, revoked) "
                          "VALUES (1, 'd', '2026-01-01 00:00:00', 0)"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0013")
        assert conn.execute(text("SELECT session_version FROM users")).scalar() == 0
        assert conn.execute(text("SELECT expires_at FROM api_tokens")).scalar() is not None
        assert {"login_failures", "rate_limits"} <= set(inspect(conn).get_table_names())
        command.downgrade(cfg, "0012")
        columns = {c["name"] for c in inspect(conn).get_columns("users")}
        assert "failed_logins" in columns and "session_version" not in columns
        assert "rate_limits" not in inspect(conn).get_table_names()
    engine.dispose()
