"""Engine construction, Alembic migrations and session scope.

The embedded default is SQLite (a file); production uses PostgreSQL through psycopg 3
(`postgresql+psycopg://user:pass@host/db`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pybreaker
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

__all__ = ["MIGRATIONS_DIR", "make_engine", "alembic_config", "migrate", "session_scope", "commit"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any 64-bit number, shared by every process that migrates the same PostgreSQL database.
_MIGRATION_LOCK_ID = 0x5749544E455353  # "WITNESS"


def _normalise_url(url: str) -> sa.URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, *, connect_timeout_s: int = 5, statement_timeout_s: float = 0.0, breaker_failures: int = 3,
                breaker_reset_s: float = 2.0, **engine_kwargs: Any) -> Engine:  # fmt: skip
    """Create an engine for a SQLite or PostgreSQL URL.

    SQLite: creates the database file's parent directory, allows use from several threads
    (`check_same_thread=False`), and turns on WAL journaling, foreign keys and a busy timeout.
    PostgreSQL: a plain `postgresql://` URL is switched to the psycopg 3 driver; connections
    are pinged before use, opening one gives up after `connect_timeout_s`, and TCP keepalives
    notice a vanished server; the pool waits at most `connect_timeout_s` for a free connection, and
    with `statement_timeout_s` the server cancels any statement running longer (PostgreSQL's
    `statement_timeout`: a hung or locked query fails with an `OperationalError` instead of holding
    its caller forever).
    New connections go through a circuit breaker: after `breaker_failures` failed connects in a row,
    connecting fails at once (an `OperationalError`, which the API answers with 503) for
    `breaker_reset_s`, then one trial connect decides; so while the server is down, requests are
    refused in microseconds instead of each waiting out the connect timeout.

    Args:
        url: SQLAlchemy URL, e.g. `sqlite:///data/witness.db` or
            `postgresql+psycopg://postgres@127.0.0.1:5432/witness`.
        connect_timeout_s: PostgreSQL connect timeout (`RELIABILITY__DB_CONNECT_TIMEOUT_S`); without
            one, a client waits for an unreachable server as long as the OS lets it.
        statement_timeout_s: PostgreSQL statement timeout (`RELIABILITY__DB_STATEMENT_TIMEOUT_S`);
            0: none (migrations and bulk maintenance).
        breaker_failures: failed connects in a row that open the circuit (PostgreSQL).
        breaker_reset_s: seconds the circuit stays open before a trial connect.
        **engine_kwargs: extra keyword arguments for `sqlalchemy.create_engine`.

    Returns:
        The engine (no connection is opened yet).

    Raises:
        ValueError: if the URL's backend is neither SQLite nor PostgreSQL.
    """
    parsed = _normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, **engine_kwargs.pop("connect_args", {})}
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if backend == "postgresql":
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine_kwargs.setdefault("pool_timeout", connect_timeout_s)
        connect_args = {"connect_timeout": connect_timeout_s, "keepalives": 1, "keepalives_idle": 10,
                        "keepalives_interval": 5, "keepalives_count": 3, **engine_kwargs.pop("connect_args", {})}
        if statement_timeout_s > 0:  # appended to the URL's own `options` (e.g. a search_path), not replacing them
            given = connect_args.get("options", parsed.query.get("options", ""))
            given = " ".join(given) if isinstance(given, tuple) else given
            connect_args["options"] = f"{given} -c statement_timeout={int(statement_timeout_s * 1000)}".strip()  # ms
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _guard_connects(engine, pybreaker.CircuitBreaker(fail_max=breaker_failures, reset_timeout=breaker_reset_s,
                                                         name=f"database {parsed.host}:{parsed.port}"))
        return engine
    raise ValueError(f"unsupported database URL {parsed.render_as_string()!r}: expected sqlite or postgresql")


def _guard_connects(engine: Engine, breaker: pybreaker.CircuitBreaker) -> None:
    """Open every new DBAPI connection of `engine` through `breaker` (see `make_engine`)."""

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return breaker.call(dialect.connect, *cargs, **cparams)
        except pybreaker.CircuitBreakerError as exc:
            raise dialect.loaded_dbapi.OperationalError(f"database unavailable (circuit open): {exc}") from None

    engine.circuit_breaker = breaker  # type: ignore[attr-defined]  (for status and tests)


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at the packaged migrations (no `alembic.ini` needed).

    Use it to drive Alembic commands from Python, e.g.
    `command.revision(alembic_config(url), autogenerate=True, message="...")`.

    Args:
        url: database URL for standalone runs (env.py builds its own engine from it);
            `None` when a connection is passed through `config.attributes["connection"]`.

    Returns:
        The Alembic `Config`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % must be doubled.
        rendered = _normalise_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (idempotent: a no-op when already there).

    On PostgreSQL a transaction-scoped advisory lock serialises concurrent migrators
    (several Ray workers starting at once), and the engine's statement timeout is lifted for the
    migration's transaction.

    Args:
        engine: engine of the target database.
        revision: Alembic revision to upgrade to.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))  # a migration may take long
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises.

    Args:
        engine: engine to bind the session to.

    Yields:
        The open `Session`; objects stay readable after the block (`expire_on_commit=False`).

    Raises:
        Exception: whatever the block raised, after rolling back.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def commit(session: Session, *rows: Any) -> None:
    """Commit the session (rolling back on any error, which is re-raised), then refresh `rows` from the database."""
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for row in rows:
        session.refresh(row)
