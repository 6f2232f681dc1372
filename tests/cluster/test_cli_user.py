"""`witness user create` / `witness user list` against a SQLite DATA_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from deployments.api.security import verify_password
from storage import crud
from storage.db import make_engine, session_scope

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_user_create_and_list(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["user", "create", "alice", "--role", "supervisor", "--password-stdin", "--camera-group", "north",
              "--camera-group", "door"], input="s3cret-password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "alice" in result.output
    engine = make_engine(f"sqlite:///{data_dir / 'witness.db'}")
    with session_scope(engine) as s:
        user = crud.get_user_by_username(s, "alice")
    engine.dispose()
    assert user is not None
    assert (user.role.value, user.camera_groups) == ("supervisor", ["north", "door"])
    assert verify_password(user.password_hash, "s3cret-password")

    listed = runner.invoke(app, ["user", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert data["count"] == 1 and data["data"][0]["username"] == "alice"
    assert "password" not in listed.output


def test_user_create_prompts_for_the_password(data_dir: Path) -> None:
    result = runner.invoke(app, ["user", "create", "bob", "--role", "viewer"], input="long-password\nlong-password\n")
    assert result.exit_code == 0, result.output
    assert "role viewer" in result.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["carol", "--role", "viewer"], "short\n", "password"),  # weak password (< 8 characters)
        (["bad name", "--role", "viewer"], "long-password\n", "username"),  # invalid username
        (["dave", "--role", "boss"], "long-password\n", "boss"),  # invalid role
    ],
)
def test_user_create_bad_input_exits_2(data_dir: Path, args: list[str], stdin: str, message: str) -> None:
    result = runner.invoke(app, ["user", "create", *args, "--password-stdin"], input=stdin)
    assert result.exit_code == 2
    assert message in result.output


def test_duplicate_user_exits_2(data_dir: Path) -> None:
    args = ["user", "create", "erin", "--role", "admin", "--password-stdin"]
    assert runner.invoke(app, args, input="long-password\n").exit_code == 0
    again = runner.invoke(app, args, input="long-password\n")
    assert again.exit_code == 2
    assert "already exists" in again.output
