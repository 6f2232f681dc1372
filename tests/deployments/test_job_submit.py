"""`POST /jobs` (uploads and JSON), `GET /jobs/{id}/results`, and jobs run by a real `RayJobRunner`.

The runner tests start a local Ray (2 CPUs) and run the real model at imgsz 320 on 1 s of vtest.avi.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect

from cluster.settings import ClipSettings, JobSettings, Settings, TrackerSettings
from deployments.api import create_app
from deployments.api.hub import Hub
from deployments.api.inputs import InputPolicy
from deployments.api.routes import job_submit, ws
from deployments.jobs import JobRunnerConfig, RayJobRunner
from domain.events import EventType, event_id
from storage import crud
from storage.models import UserRole
from tests.deployments.conftest import DEFAULT_REDIS_URL, bearer, create_random_user, login, make_config
from tests.factories import make_event, make_trajectory, model_settings

API = "/api/v1"
REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)
MiB = 2**20
BAD_SITE = """site:
  name: demo
cameras:
  cam1:
    fps: -5
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def upload_dir(workdir: Path) -> Path:
    return workdir / "uploads"


@pytest.fixture(scope="module")
def runner(pg_url: str, pg_engine: Engine, workdir: Path) -> RayJobRunner:
    config = JobRunnerConfig(
        database_url=pg_url, redis_url=REDIS_URL, store={"local_dir": workdir / "objects", "s3_endpoint": None},
        model=model_settings(imgsz=320), job=JobSettings(chunk_s=8, replicas=1, replica_num_cpus=1),
        tracker=TrackerSettings(), clip=ClipSettings(), cache_dir=workdir / "cache",
    )  # fmt: skip
    return RayJobRunner(config, engine=pg_engine)


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, runner: RayJobRunner,
        upload_dir: Path, workdir: Path) -> FastAPI:  # fmt: skip
    app = create_app(
        engine=pg_engine, redis=redis_client, config=make_config(module_prefix, max_upload_mb=1),
        extra_routers=[job_submit.router, ws.router],
        state={"job_runner": runner, "upload_dir": upload_dir, "hub": Hub(REDIS_URL),
               "stream_options": ws.StreamOptions(heartbeat_s=0.5),
               "input_policy": InputPolicy.of(roots=[workdir, "/nonexistent"], buckets=["footage"])},
    )  # fmt: skip
    app.include_router(ws.router)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


@pytest.fixture(scope="module")
def ray_cluster(workdir: Path) -> Iterator[None]:
    """A local Ray instance with 2 CPUs (shut down after the module if this started it)."""
    import ray

    from cluster.runtime import init_ray

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=workdir, ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def clip(vtest_path: Path, workdir: Path) -> Path:
    """1 s of vtest.avi (10 frames, MJPG AVI)."""
    out = workdir / "vtest_1s.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(10):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    cap.release()
    return out


def leftovers(upload_dir: Path) -> list[Path]:
    return [p for p in upload_dir.rglob("*") if p.is_file()] if upload_dir.exists() else []


def test_upload_over_the_limit_is_413_and_leaves_nothing(client: TestClient, auth_headers: dict, upload_dir: Path) -> None:
    headers = auth_headers[UserRole.OPERATOR]
    declared = client.post(f"{API}/jobs", headers=headers, files={"files": ("big.mp4", b"\0" * (MiB + 1))})
    assert (declared.status_code, declared.json()) == (413, {"detail": "upload too large (limit 1 MiB)"})

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 64 * 1024

    streamed = client.post(f"{API}/jobs", headers=headers | {"content-type": "multipart/form-data; boundary=b"},
                           content=chunked())  # fmt: skip
    assert (streamed.status_code, streamed.json()) == (413, {"detail": "upload too large (limit 1 MiB)"})
    assert leftovers(upload_dir) == []


@pytest.mark.parametrize("form", ["multipart", "json"])
def test_bad_site_yaml_is_422_with_its_line(client: TestClient, auth_headers: dict, upload_dir: Path, form: str) -> None:
    headers = auth_headers[UserRole.OPERATOR]
    if form == "multipart":
        response = client.post(f"{API}/jobs", headers=headers, data={"fps": "5"},
                               files=[("files", ("a.mp4", b"not a video")), ("site", ("store.yaml", BAD_SITE))])  # fmt: skip
    else:
        response = client.post(f"{API}/jobs", headers=headers, json={"inputs": ["/nonexistent/a.mp4"], "site_yaml": BAD_SITE})
    assert response.status_code == 422
    source = "store.yaml" if form == "multipart" else "site_yaml"
    assert response.json()["detail"].startswith(f"{source}:5: cameras.cam1.fps: Input should be greater than")
    assert leftovers(upload_dir) == []


@pytest.mark.parametrize(
    ("role", "kwargs", "status", "detail"),
    [
        (UserRole.VIEWER, {"json": {"inputs": ["/nonexistent/a.mp4"]}}, 403, "insufficient permissions"),  # may not submit
        (UserRole.OPERATOR, {"json": {"inputs": []}}, 422, None),  # no input
        (UserRole.OPERATOR, {"json": {"inputs": ["/nonexistent/a.mp4"], "imgsz": 100}}, 422, None),  # imgsz below 320
        (UserRole.OPERATOR, {"data": {"fps": "5"}}, 415, "expected multipart/form-data or application/json"),  # a plain form
        (UserRole.OPERATOR, {"files": {"site": ("s.yaml", b"site: {name: x}")}}, 422, "no video file uploaded"),  # site only
    ],
)
def test_refused_submissions(client: TestClient, auth_headers: dict, role: UserRole, kwargs: dict, status: int,
                             detail: str | None) -> None:  # fmt: skip
    response = client.post(f"{API}/jobs", headers=auth_headers[role], **kwargs)
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json()["detail"] == detail


def test_results_group_events_tracks_and_clips_per_video(client: TestClient, auth_headers: dict, pg_engine: Engine) -> None:
    with Session(pg_engine) as session:
        job = crud.create_job(session, params={}, inputs=["a.mp4", "b.mp4"])
        video, failed = crud.list_videos(session, job.id)
        events = [make_event(EventType.ZONE_ENTER, t_start_s=0.1), make_event(EventType.DWELL, t_start_s=0.2, rule="loiter")]
        keyed = [(event_id(f"{job.id}/{video.id}", e), e) for e in events]
        clip = dict(event_id=keyed[0][0], key=f"clips/{job.id}/{video.id}/{keyed[0][0]}.mp4", t_start_s=0.0, t_end_s=3.0,
                    frame_count=30, fps=10.0, width=640, height=480)  # fmt: skip
        crud.save_video_results(session, video_id=video.id, trajectories=[make_trajectory(1), make_trajectory(2)],
                                events=keyed, clips=[clip], frames_analysed=3, people_count=2)  # fmt: skip
        crud.fail_video(session, failed.id, "b.mp4: no such file")
        crud.finish_job(session, job.id)
    body = client.get(f"{API}/jobs/{job.id}/results", headers=auth_headers[UserRole.VIEWER]).json()
    assert body["status"] == "partial"
    done, bad = body["videos"]
    assert (done["status"], done["people"], done["tracks"], done["events_by_type"]) == ("done", 2, 2, {"zone_enter": 1, "dwell": 1})
    assert done["clips"] == [{"event_id": keyed[0][0], "key": clip["key"], "url": f"{API}/events/{keyed[0][0]}/clip",
                              "t_start_s": 0.0, "t_end_s": 3.0}]  # fmt: skip
    assert (bad["status"], bad["error"], bad["tracks"], bad["clips"]) == ("failed", "b.mp4: no such file", 0, [])
    missing = client.get(f"{API}/jobs/nope/results", headers=auth_headers[UserRole.VIEWER])
    assert (missing.status_code, missing.json()) == (404, {"detail": "job not found"})


# ------------------------------------------------------------------------------ real Ray jobs
def job_messages(client: TestClient, job_id: str, token: str, timeout_s: float = 400) -> list[dict]:
    """Everything `/ws/jobs/{id}` sends until the server closes it after `job_done`."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout_s
    with client.websocket_connect(f"/ws/jobs/{job_id}?access_token={token}") as session:
        while time.monotonic() < deadline:
            try:
                messages.append(session.receive_json())
            except WebSocketDisconnect:
                return messages
    raise AssertionError(f"job {job_id} did not end within {timeout_s} s; last messages {messages[-3:]}")


def test_json_job_runs_and_a_missing_input_fails_alone(ray_cluster: None, client: TestClient, auth_headers: dict,
                                                       clip: Path) -> None:  # fmt: skip
    headers = auth_headers[UserRole.OPERATOR]
    missing = str(clip.parent / "missing.mp4")
    response = client.post(f"{API}/jobs", headers=headers, json={"inputs": [str(clip), missing], "fps": 10, "imgsz": 320})
    assert response.status_code == 202, response.text
    body = response.json()
    job_id = body["id"]
    assert (body["url"], body["ws"]) == (f"{API}/jobs/{job_id}", f"{API}/ws/jobs/{job_id}")
    messages = job_messages(client, job_id, headers["Authorization"].split()[1])
    kinds = [m["kind"] for m in messages if m["kind"] != "heartbeat"]
    assert kinds[0] == "job_status" and kinds[-1] == "job_done" and "job_progress" in kinds
    last_progress = [m for m in messages if m["kind"] == "job_progress"][-1]
    assert last_progress["frames_done"] == last_progress["frames_total"] == 10
    done = messages[-1]
    assert done["status"] == "partial"
    assert [(v["name"], v["status"]) for v in done["videos"]] == [(clip.name, "done"), ("missing.mp4", "failed")]
    job = client.get(f"{API}/jobs/{job_id}", headers=headers).json()
    assert (job["status"], job["videos_failed"]) == ("partial", 1)
    assert "missing.mp4" in job["videos"][1]["error"]
    results = client.get(f"{API}/jobs/{job_id}/results", headers=headers).json()
    assert [v["status"] for v in results["videos"]] == ["done", "failed"]
    assert results["videos"][0]["tracks"] == results["videos"][0]["people"]


def test_uploaded_job_can_be_cancelled(ray_cluster: None, client: TestClient, auth_headers: dict, runner: RayJobRunner,
                                       clip: Path, upload_dir: Path) -> None:  # fmt: skip
    response = client.post(f"{API}/jobs", headers=auth_headers[UserRole.OPERATOR], data={"fps": "5", "imgsz": "320"},
                           files={"files": ("cam 1.avi", clip.read_bytes(), "video/x-msvideo")})  # fmt: skip
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    cancelled = client.post(f"{API}/jobs/{job_id}/cancel", headers=auth_headers[UserRole.SUPERVISOR])
    assert cancelled.status_code == 200, cancelled.text
    assert runner.wait(job_id, timeout_s=300) == "cancelled"
    job = client.get(f"{API}/jobs/{job_id}", headers=auth_headers[UserRole.VIEWER]).json()
    (stored,) = [p for p in leftovers(upload_dir) if str(p) in job["params"]["inputs"]]
    assert stored.name == "cam_1.avi" and stored.read_bytes() == clip.read_bytes()
    assert (job["status"], job["params"]["fps"], job["params"]["imgsz"]) == ("cancelled", 5.0, 320)
    assert [(v["status"], v["error"]) for v in job["videos"]] == [("failed", "cancelled")]


BAD_POS = "transaction_id,terminal_id,time,sku,quantity,payment_method\nt1,till-1,12.0,CHOC001,1,card\nt2,till-1,14.0,NOPE999,1,card\n"


@pytest.mark.parametrize("form", ["multipart", "json"])
def test_bad_pos_file_is_422_with_its_line_and_starts_nothing(client: TestClient, auth_headers: dict, upload_dir: Path,
                                                              pg_engine: Engine, form: str) -> None:
    headers = auth_headers[UserRole.OPERATOR]
    files_before = leftovers(upload_dir)
    with Session(pg_engine) as s:
        jobs_before = crud.list_jobs(s)[1]
    if form == "multipart":
        response = client.post(f"{API}/jobs", headers=headers,
                               files=[("files", ("a.mp4", b"not really a video")), ("pos", ("pos.csv", BAD_POS.encode()))])
    else:
        response = client.post(f"{API}/jobs", headers=headers,
                               json={"inputs": ["/nonexistent/a.mp4"], "pos": {"name": "pos.csv", "text": BAD_POS}})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "POS file pos.csv:3: unknown SKU 'NOPE999'"
    assert leftovers(upload_dir) == files_before  # the uploaded video was removed
    with Session(pg_engine) as s:
        assert crud.list_jobs(s)[1] == jobs_before


def test_wall_clock_pos_needs_the_video_start(client: TestClient, auth_headers: dict) -> None:
    text = BAD_POS.replace("NOPE999", "CHOC001").replace("12.0", "2026-11-22T10:00:12Z").replace("14.0", "2026-11-22T10:00:14Z")
    body = {"inputs": ["/nonexistent/a.mp4"], "pos": {"name": "pos.csv", "text": text}}
    response = client.post(f"{API}/jobs", headers=auth_headers[UserRole.OPERATOR], json=body)
    assert response.status_code == 422 and "video start" in response.json()["detail"]


def test_a_job_records_its_pos_file(ray_cluster: None, client: TestClient, auth_headers: dict, runner: RayJobRunner,
                                    pg_engine: Engine) -> None:
    text = BAD_POS.replace("NOPE999", "CHOC001").replace("12.0", "2026-11-22T10:00:12Z").replace("14.0", "2026-11-22T10:00:14Z")
    body = {"inputs": ["/nonexistent/a.mp4"],
            "pos": {"name": "pos.csv", "text": text, "video_start": "2026-11-22T10:00:00Z"}}
    response = client.post(f"{API}/jobs", headers=auth_headers[UserRole.OPERATOR], json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    with Session(pg_engine) as s:
        params = crud.get_job(s, job_id).params
    assert params["pos"] == {"source": "pos.csv", "transactions": 2, "time_offset_s": 1795341600.0}
    assert runner.wait(job_id, timeout_s=300) == "failed"  # the video is missing; the POS file was fine


# ------------------------------------------------------------------- which files and groups a job may name
@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        (["/etc/shadow"], "not under an allowed input folder"),  # a server file
        (["/nonexistent/../etc/passwd"], "not under an allowed input folder"),  # `..` out of a root
        (["file:///etc/passwd"], "not under an allowed input folder"),  # the same as a URL
        (["s3://other-bucket/a.mp4"], "bucket 'other-bucket' is not allowed"),  # a bucket not configured
        (["s3://footage/../../x.mp4"], "without '..' segments"),  # a key that would escape the download folder
        (["s3://footage//etc/x.mp4"], "without '..' segments"),  # an absolute key
        (["http://169.254.169.254/latest"], "unsupported input scheme"),  # not a path or S3
    ],
)
def test_inputs_outside_the_allowed_roots_are_422_naming_them(client: TestClient, auth_headers: dict, pg_engine: Engine,
                                                              workdir: Path, inputs: list[str], why: str) -> None:  # fmt: skip
    with Session(pg_engine) as s:
        jobs_before = crud.list_jobs(s)[1]
    response = client.post(f"{API}/jobs", headers=auth_headers[UserRole.OPERATOR], json={"inputs": inputs})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inputs", 0] and why in error["msg"]
    if "folder" in why:
        assert str(workdir.resolve()) in error["msg"]  # the message says which roots are allowed
    with Session(pg_engine) as s:
        assert crud.list_jobs(s)[1] == jobs_before


def test_a_link_inside_a_root_cannot_point_out_of_it(client: TestClient, auth_headers: dict, workdir: Path) -> None:
    link = workdir / "innocent.mp4"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/passwd")
    response = client.post(f"{API}/jobs", headers=auth_headers[UserRole.OPERATOR], json={"inputs": [str(link)]})
    assert response.status_code == 422 and "not under an allowed input folder" in response.text


def test_a_job_belongs_to_the_submitters_camera_group(ray_cluster: None, client: TestClient, pg_engine: Engine,
                                                      runner: RayJobRunner, upload_dir: Path) -> None:  # fmt: skip
    run = uuid.uuid4().hex[:6]
    g1, g2 = f"g1-{run}", f"g2-{run}"
    scoped = create_random_user(pg_engine, UserRole.OPERATOR, camera_groups=[g1, g2])
    outsider = create_random_user(pg_engine, UserRole.SUPERVISOR, camera_groups=[f"g3-{run}"])
    nobody = create_random_user(pg_engine, UserRole.OPERATOR, camera_groups=[], all_cameras=False)
    h = bearer(login(client, scoped.username))
    body = {"inputs": ["/nonexistent/scoped.mp4"]}
    refused = client.post(f"{API}/jobs", headers=h, json=body | {"camera_group": f"g3-{run}"})
    assert refused.status_code == 422 and "one of your groups" in refused.json()["detail"]
    before = leftovers(upload_dir)
    uploaded = client.post(f"{API}/jobs", headers=h, data={"camera_group": f"g3-{run}"},
                           files={"files": ("a.avi", b"not a video", "video/x-msvideo")})  # fmt: skip
    assert uploaded.status_code == 422 and leftovers(upload_dir) == before  # the refused upload was removed
    assert client.post(f"{API}/jobs", headers=bearer(login(client, nobody.username)), json=body).status_code == 422
    chosen = client.post(f"{API}/jobs", headers=h, json=body | {"camera_group": g2})
    default = client.post(f"{API}/jobs", headers=h, json=body)
    assert (chosen.status_code, default.status_code) == (202, 202), chosen.text
    with Session(pg_engine) as s:
        jobs = [crud.get_job(s, r.json()["id"]) for r in (chosen, default)]
    assert [(j.camera_group, j.created_by) for j in jobs] == [(g2, scoped.id), (g1, scoped.id)]
    for job in jobs:
        assert client.get(f"{API}/jobs/{job.id}", headers=h).status_code == 200
        assert client.get(f"{API}/jobs/{job.id}", headers=bearer(login(client, outsider.username))).status_code == 404
        runner.wait(job.id, timeout_s=300)
