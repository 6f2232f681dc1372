"""The model registry's stages through the API and the CLI: promote, rollback, lineage, permissions and audit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from deployments.api import create_app
from deployments.api.routes import training
from storage import crud
from storage.model_stages import stage_key
from storage.models import ModelStageChange, UserRole
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import make_config
from tests.model_factories import save_constant_model

API = "/api/v1/models/behaviour"
S, O, A = UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.ADMIN


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    assert [save_constant_model(s, "normal"), save_constant_model(s, "concealment")] == ["v0001", "v0002"]
    return s


def _clear(engine: Engine, client: redis_lib.Redis) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(ModelStageChange))
    client.delete(stage_key("behaviour", "production"), stage_key("behaviour", "staging"))


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, store: LocalObjectStore) -> FastAPI:
    _clear(pg_engine, redis_client)
    yield create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[training.models_router], state={"store": store})  # fmt: skip
    _clear(pg_engine, redis_client)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_promote_and_rollback_through_the_api(client: TestClient, auth_headers: dict, users: dict,
                                              redis_client: redis_lib.Redis, pg_engine: Engine) -> None:  # fmt: skip
    sub = redis_client.pubsub()
    sub.subscribe("witness:models")
    r = client.post(f"{API}/promote", json={"version": "v0001"}, headers=auth_headers[S])
    assert r.status_code == 200, r.text
    assert r.json()["announced"] is True
    change = r.json()["change"]
    assert (change["stage"], change["version"], change["previous_version"], change["action"], change["actor"]) == (
        "production", "v0001", None, "promote", users[S].username)
    assert redis_client.get(stage_key("behaviour", "production")) == b"v0001"
    r = client.post(f"{API}/promote", json={"version": "latest", "stage": "production"}, headers=auth_headers[A])
    assert r.status_code == 200 and r.json()["change"]["version"] == "v0002"  # latest resolved
    assert r.json()["change"]["previous_version"] == "v0001"
    assert client.post(f"{API}/promote", json={"version": "v0001", "stage": "staging"},
                       headers=auth_headers[S]).status_code == 200  # fmt: skip

    listed = client.get(API, headers=auth_headers[O]).json()
    by_version = {m["version"]: m for m in listed["data"]}
    assert by_version["v0001"]["stages"] == ["staging"] and by_version["v0002"]["stages"] == ["production"]
    assert (by_version["v0002"]["dataset_hash"], by_version["v0002"]["trained_by"]) == ("test", "tests")

    r = client.post(f"{API}/rollback", json={}, headers=auth_headers[S])
    assert r.status_code == 200, r.text
    assert (r.json()["change"]["version"], r.json()["change"]["action"]) == ("v0001", "rollback")
    assert redis_client.get(stage_key("behaviour", "production")) == b"v0001"
    stages = client.get(f"{API}/stages", headers=auth_headers[O]).json()
    assert stages["stages"] == {"production": "v0001", "staging": "v0001"}
    assert [(h["stage"], h["action"], h["version"]) for h in stages["history"]] == [
        ("production", "rollback", "v0001"), ("staging", "promote", "v0001"), ("production", "promote", "v0002"),
        ("production", "promote", "v0001")]
    messages = []
    while (m := sub.get_message(timeout=0.5)) is not None:
        if m["type"] == "message":
            messages.append(json.loads(m["data"]))
    sub.close()
    assert [m["version"] for m in messages] == ["v0001", "v0002", "v0001", "v0001"]
    with Session(pg_engine) as s:
        actions = {(row.action, row.status_code) for row in crud.list_audit(s, resource_type="model", limit=100)[0]}
    assert {("model.promote", 200), ("model.rollback", 200)} <= actions


@pytest.mark.parametrize(
    ("role", "path", "body", "code", "detail"),
    [
        (O, "promote", {"version": "v0001"}, 403, None),  # operators may not promote
        (S, "promote", {"version": "v0099"}, 404, "v0099 not found"),  # no such version
        (S, "promote", {"version": "nope"}, 422, None),  # malformed version
        (S, "promote", {"version": "v0001", "stage": "canary"}, 422, None),  # unknown stage
        (S, "promote", {}, 422, None),  # empty body
        (S, "rollback", {"stage": "bogus"}, 422, None),  # unknown stage
    ],
)  # fmt: skip
def test_bad_stage_changes_are_refused(client: TestClient, auth_headers: dict, role, path, body, code, detail) -> None:
    before = client.get(f"{API}/stages", headers=auth_headers[S]).json()
    r = client.post(f"{API}/{path}", json=body, headers=auth_headers[role])
    assert r.status_code == code, r.text
    if detail:
        assert detail in r.json()["detail"]
    assert client.get(f"{API}/stages", headers=auth_headers[S]).json() == before


def test_cli_promote_rollback_and_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str,
                                         store: LocalObjectStore, redis_client: redis_lib.Redis) -> None:  # fmt: skip
    from cluster.cli import app as cli

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("OBJECT_STORE_DIR", str(store.root))
    monkeypatch.setenv("REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    monkeypatch.delenv("S3_ENDPOINT", raising=False)
    runner = CliRunner()
    before = json.loads(runner.invoke(cli, ["models", "stages", "--json"]).stdout)["stages"]
    target = "v0002" if before["staging"] != "v0002" else "v0001"
    result = runner.invoke(cli, ["models", "promote", target, "--stage", "staging", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {} == {"action": "promote", "stage": "staging", "version": target,
                                              "previous_version": before["staging"], "announced": True}
    assert redis_client.get(stage_key("behaviour", "staging")) == target.encode()
    result = runner.invoke(cli, ["models", "rollback", "--stage", "staging", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["version"] == before["staging"]
    bad = runner.invoke(cli, ["models", "promote", "v0042"])
    assert bad.exit_code == 2 and "v0042 not found" in bad.output
    assert runner.invoke(cli, ["models", "promote", "v0001", "--stage", "canary"]).exit_code == 2
    shown = runner.invoke(cli, ["models", "stages"])
    assert shown.exit_code == 0 and "stage changes" in shown.stdout
