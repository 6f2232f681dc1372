"""`GET /models/behaviour`, `POST /training/runs`, `GET /training/runs[/{id}]` with a real `RayTrainingRunner`.

A local Ray (2 CPUs) trains on clips cut from vtest.avi. Their class folders are arbitrary (no public
labelled shoplifting footage exists): the tests check the API and the run's lifecycle, not the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cluster.settings import BehaviourSettings, JobSettings, TrackerSettings
from deployments.api import create_app
from deployments.api.inputs import InputPolicy
from deployments.api.routes import training
from deployments.training import RayTrainingRunner, TrainingRunnerConfig
from storage.models import UserRole
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import DEFAULT_REDIS_URL, make_config
from tests.factories import model_settings
from tests.pipelines.test_train_behaviour import cut_clips, local_ray

API = "/api/v1"
REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("training")


@pytest.fixture(scope="module")
def store(workdir: Path) -> LocalObjectStore:
    return LocalObjectStore(workdir / "objects")


@pytest.fixture(scope="module")
def runner(pg_url: str, pg_engine: Engine, workdir: Path) -> RayTrainingRunner:
    config = TrainingRunnerConfig(
        database_url=pg_url, redis_url=REDIS_URL, store={"local_dir": workdir / "objects", "s3_endpoint": None},
        model=model_settings(), tracker=TrackerSettings(), job=JobSettings(), cache_dir=workdir / "cache",
        behaviour=BehaviourSettings(n_estimators=50, fps=5, imgsz=480, window=10, stride=5),
        clip={"ignored": True},  # the job runner's other fields are ignored
    )  # fmt: skip
    return RayTrainingRunner(config, engine=pg_engine)


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, runner: RayTrainingRunner,
        store: LocalObjectStore, workdir: Path) -> FastAPI:  # fmt: skip
    return create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                      extra_routers=[training.router, training.models_router],
                      state={"store": store, "training_runner": runner,
                             "input_policy": InputPolicy.of(roots=[workdir])})  # fmt: skip


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def ray_cluster(workdir: Path) -> Iterator[None]:
    with local_ray(workdir):
        yield


@pytest.fixture(scope="module")
def data_dir(vtest_path: Path, workdir: Path) -> Path:
    """Four 3 s clips, two in normal/ and two in pickup/ (arbitrary labels)."""
    plan = {f"{'normal' if k % 2 == 0 else 'pickup'}/clip{k}.mp4": (420 + k * 60, 30) for k in range(4)}
    cut_clips(vtest_path, plan, workdir / "data")
    return workdir / "data"


def messages(pubsub: redis_lib.client.PubSub) -> list[dict]:
    out = []
    while (m := pubsub.get_message(timeout=1.0)) is not None:
        if m["type"] == "pmessage":
            out.append(json.loads(m["data"]))
    return out


def test_training_run_end_to_end(ray_cluster: None, client: TestClient, auth_headers: dict, runner: RayTrainingRunner,
                                 redis_client: redis_lib.Redis, data_dir: Path) -> None:  # fmt: skip
    empty = client.get(f"{API}/models/behaviour", headers=auth_headers[UserRole.VIEWER])
    assert empty.status_code == 200 and empty.json() == {"data": [], "count": 0}
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("witness:training:*")
    response = client.post(f"{API}/training/runs", json={"data_dir": str(data_dir), "seed": 3},
                           headers=auth_headers[UserRole.SUPERVISOR])  # fmt: skip
    assert response.status_code == 202, response.text
    submitted = response.json()
    run_id = submitted["id"]
    assert submitted["channel"] == f"witness:training:{run_id}" and submitted["url"] == f"{API}/training/runs/{run_id}"
    assert runner.wait(run_id, timeout_s=300) == "done"
    run = client.get(f"{API}/training/runs/{run_id}", headers=auth_headers[UserRole.VIEWER]).json()
    assert (run["status"], run["version"], run["progress"], run["error"]) == ("done", "v0001", 1.0, None)
    assert run["frames_total"] == run["frames_done"] == 60  # 4 clips × 3 s × 5 fps
    assert run["params"]["seed"] == 3 and run["created_by"].startswith("supervisor-")
    report = run["report"]
    assert report["labels"] == ["normal", "pickup", "concealment", "bypass"]
    assert sum(map(sum, report["confusion"])) == report["n_test"] > 0
    got = messages(pubsub)
    pubsub.close()
    mine = [m for m in got if m["run_id"] == run_id]
    assert mine[0]["kind"] == "training_progress" and mine[0]["frames_done"] == 0
    assert mine[-1] == {"kind": "training_done", "run_id": run_id, "status": "done", "version": "v0001", "report": report}
    models = client.get(f"{API}/models/behaviour", headers=auth_headers[UserRole.VIEWER]).json()
    assert models["count"] == 1
    (v1,) = models["data"]
    assert (v1["version"], v1["latest"], v1["key"]) == ("v0001", True, "models/behaviour/v0001/model.joblib")
    assert v1["metrics"] == report and v1["params"]["seed"] == 3 and v1["params"]["window"] == 10
    listed = client.get(f"{API}/training/runs", headers=auth_headers[UserRole.VIEWER]).json()
    assert run_id in [r["id"] for r in listed["data"]]


def test_a_run_without_usable_windows_fails_with_its_reason(ray_cluster: None, client: TestClient, auth_headers: dict,
                                                           runner: RayTrainingRunner, vtest_path: Path,
                                                           workdir: Path) -> None:  # fmt: skip
    cut_clips(vtest_path, {"normal/a.mp4": (500, 5), "bypass/b.mp4": (560, 5)}, workdir / "short")
    response = client.post(f"{API}/training/runs", json={"data_dir": str(workdir / "short")},
                           headers=auth_headers[UserRole.ADMIN])  # fmt: skip
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert runner.wait(run_id, timeout_s=300) == "failed"
    run = client.get(f"{API}/training/runs/{run_id}", headers=auth_headers[UserRole.VIEWER]).json()
    assert run["status"] == "failed" and run["version"] is None and "no usable pose windows" in run["error"]


@pytest.mark.parametrize(
    ("role", "body", "code", "detail"),
    [
        (UserRole.OPERATOR, {"data_dir": "{data}"}, 403, None),  # operators may not train
        (UserRole.VIEWER, {"data_dir": "{data}"}, 403, None),  # nor viewers
        (UserRole.SUPERVISOR, {"data_dir": "{work}/nope"}, 422, "no such folder"),  # missing folder
        (UserRole.SUPERVISOR, {"data_dir": "/etc"}, 422, "not under an allowed input folder"),  # a server folder
        (UserRole.SUPERVISOR, {"data_dir": "{data}", "labels_csv": "clip,t_start_s,t_end_s,label\nx.mp4,0,1,normal\n"},
         422, "clip(s) not found under DATA_DIR"),  # labels name a clip that is not there
        (UserRole.SUPERVISOR, {"data_dir": "{data}", "imgsz": 100}, 422, None),  # out-of-range knob
        (UserRole.SUPERVISOR, {"data_dir": "{data}", "epochs": 3}, 422, None),  # unknown field
        (UserRole.SUPERVISOR, {}, 422, None),  # empty input
    ],
)  # fmt: skip
def test_start_run_rejects_bad_requests_and_stores_nothing(client: TestClient, auth_headers: dict, data_dir: Path,
                                                           workdir: Path, role, body, code, detail) -> None:  # fmt: skip
    before = client.get(f"{API}/training/runs", headers=auth_headers[UserRole.VIEWER]).json()["count"]
    body = {k: v.format(data=data_dir, work=workdir) if isinstance(v, str) else v for k, v in body.items()}
    response = client.post(f"{API}/training/runs", json=body, headers=auth_headers[role])
    assert response.status_code == code, response.text
    if detail:
        assert detail in response.json()["detail"]
    assert client.get(f"{API}/training/runs", headers=auth_headers[UserRole.VIEWER]).json()["count"] == before


def test_unknown_run_is_404_and_anonymous_is_401(client: TestClient, auth_headers: dict) -> None:
    response = client.get(f"{API}/training/runs/nope", headers=auth_headers[UserRole.VIEWER])
    assert response.status_code == 404 and response.json()["detail"] == "training run not found"
    assert client.get(f"{API}/models/behaviour").status_code == 401


def test_a_deployment_without_a_runner_answers_503(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str,
                                                   store: LocalObjectStore, auth_headers: dict) -> None:  # fmt: skip
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[training.router], state={"store": store})  # fmt: skip
    with TestClient(app) as c:
        response = c.post(f"{API}/training/runs", json={"data_dir": "/x"}, headers=auth_headers[UserRole.ADMIN])
    assert response.status_code == 503 and response.json()["detail"] == "training is not available on this deployment"
