"""Migrations: `migrate` builds exactly the models' schema, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from storage import Job, make_engine, migrate, session_scope


def test_migration_matches_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrate_is_idempotent_and_orm_works(db_engine: Engine) -> None:
    migrate(db_engine)  # already at head: a no-op
    migrate(db_engine)
    with session_scope(db_engine) as session:
        session.add(Job(params={"fps": 5}))
    with session_scope(db_engine) as session:
        job = session.exec(select(Job)).one()
        assert job.params == {"fps": 5}
        assert job.created_at.tzinfo is not None


def test_make_engine_creates_sqlite_parent_dir(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'w.db'}")
    migrate(engine)
    assert (tmp_path / "a" / "b" / "w.db").exists()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_0008_keeps_ungrouped_users_seeing_every_camera(tmp_path) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine, "0007")
    with engine.begin() as conn:
        for user_id, groups in (("u-all", "[]"), ("u-north", '["north"]')):
            conn.execute(sa.text("INSERT INTO app_user (id, username, role, camera_groups, is_active, password_hash, "
                                 "created_at) VALUES (:id, :id, 'viewer', :g, 1, 'x', '2026-01-01')"),
                         {"id": user_id, "g": groups})  # fmt: skip
    migrate(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, all_cameras FROM app_user ORDER BY id")).all())
        versions = set(conn.execute(sa.text("SELECT token_version FROM app_user")).scalars())
    assert rows == {"u-all": 1, "u-north": 0} and versions == {0}
    engine.dispose()


def test_postgres_statement_timeout_cancels_a_hung_query_and_keeps_url_options(pg_url: str) -> None:
    import time

    import sqlalchemy as sa

    engine = make_engine(pg_url, statement_timeout_s=0.5)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "500ms"
            assert conn.execute(sa.text("SHOW search_path")).scalar().startswith("test_")  # the URL's options kept
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.execute(sa.text("SELECT pg_sleep(5)"))
            assert time.monotonic() - started < 3
        migrate(engine)  # migrations lift the timeout for their transaction (a no-op upgrade here)
    finally:
        engine.dispose()
