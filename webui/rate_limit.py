"""The public look-up's rate limit: Flask-Limiter, its counters in Redis (JIEFEN_REDIS_URL) or in the database."""
from __future__ import annotations

import logging
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits.storage import Storage
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.models import RateLimitModel

log = logging.getLogger(__name__)

LOOKUP_WINDOW = "10 minutes"
PUBLIC_ENDPOINTS = ("public.lookup", "public.rate")
_T = RateLimitModel.__table__


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limits` table, so that every server process (waitress threads, several
    workers, several hosts on one PostgreSQL) shares one count without a Redis to run.

    Written here because `limits` (Flask-Limiter's backend) ships memory, Redis, Memcached and MongoDB storages
    but none on SQL. Only what the fixed-window strategy needs; each call is one short transaction of its own,
    apart from the request's session. Registered under the scheme `jiefen-db://` (limits' storage registry)."""

    STORAGE_SCHEME = ["jiefen-db"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: Engine | None = None,
                 **options) -> None:
        if engine is None:
            raise ValueError("DatabaseStorage needs storage_options={'engine': <SQLAlchemy engine>}")
        self.engine = engine
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _upsert(self, dialect: str):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        insert = self._upsert(self.engine.dialect.name)
        stmt = insert(_T).values(key=key, hits=amount, expires_at=now + expiry)
        expired = _T.c.expires_at <= now
        # One statement, so two processes counting at once never lose a hit; an expired window starts again.
        stmt = stmt.on_conflict_do_update(index_elements=[_T.c.key], set_={
            "hits": _case(expired, stmt.excluded.hits, _T.c.hits + stmt.excluded.hits),
            "expires_at": _case(expired, stmt.excluded.expires_at, _T.c.expires_at),
        }).returning(_T.c.hits)
        with self.engine.begin() as conn:
            hits = conn.execute(stmt).scalar_one()
            conn.execute(delete(_T).where(_T.c.expires_at < now - 3600))  # forget windows long over
        return int(hits)

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            hits = conn.execute(select(_T.c.hits).where(_T.c.key == key, _T.c.expires_at > time.time())).scalar()
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            expires = conn.execute(select(_T.c.expires_at).where(_T.c.key == key)).scalar()
        return float(expires) if expires is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(_T)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_T).where(_T.c.key == key))


def _case(condition, then, otherwise):
    from sqlalchemy import case

    return case((condition, then), else_=otherwise)


def client_address() -> str:
    """The client's address: the socket's, or the one a trusted proxy reported (ProxyFix, JIEFEN_TRUSTED_PROXIES)."""
    return request.remote_addr or "?"


def _lookup_limit() -> str:
    return f"{int(current_app.config['JIEFEN_LOOKUP_MAX_FAILURES'])} per {LOOKUP_WINDOW}"


def _failed_lookup(response) -> bool:
    """Only failed look-ups and ratings count (404: no case matches the code and phone)."""
    return response.status_code == 404


def limit_public_lookups(app: Flask) -> Limiter:
    """A Limiter of this app's own (Flask-Limiter keeps its storage on the object, so one shared by two apps
    would mix their counters), counting failed POST /lookup and /lookup/rate per client address."""
    from webui.extensions import db

    redis_url = app.config.get("JIEFEN_REDIS_URL")
    with app.app_context():
        engine = db.engine
    # swallow_errors: an unreachable Redis is logged and the look-up still answers (the limit is a brake on
    # guessing, not a reason to take the citizens' page down).
    limiter = Limiter(key_func=client_address, storage_uri=redis_url or "jiefen-db://",
                      storage_options={} if redis_url else {"engine": engine}, strategy="fixed-window",
                      key_prefix="jiefen", swallow_errors=True)
    limiter.init_app(app)
    # One count for the look-up and the rating (both take code + phone): guessing through either is limited.
    shared = limiter.shared_limit(_lookup_limit, scope="public-lookup", methods=["POST"],
                                  deduct_when=_failed_lookup)
    for endpoint in PUBLIC_ENDPOINTS:
        # Flask-Limiter checks a decorated limit in the wrapper it returns, so the registered view is replaced.
        app.view_functions[endpoint] = shared(app.view_functions[endpoint])
    app.extensions["jiefen_limiter"] = limiter
    return limiter
