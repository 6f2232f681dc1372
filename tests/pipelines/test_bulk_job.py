"""End to end: `witness analyze` on a local Ray cluster with the real model on a real clip of vtest.avi.

Two runs, as a user would start them:
- PostgreSQL + S3 (SeaweedFS): the clip read from an `s3://` key, plus an S3 key that does not exist;
- the embedded defaults (SQLite + a local folder) at 5 fps, plus a missing path, a text file named
  `.mp4` and a truncated video.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import sqlalchemy as sa

from storage.db import make_engine
from storage.objectstore import S3ObjectStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "examples" / "site.yaml"
CLIP_FRAMES = 180  # 18 s of vtest.avi at 10 fps


def witness(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the `witness` CLI in a fresh process, like a user."""
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", *args], env=env, cwd=env["DATA_DIR"], capture_output=True, text=True,
        timeout=timeout,
    )


def base_env(data_dir: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("S3_", "DATABASE_URL", "MODEL__", "JOB__")) or k == "MODEL__EXPORT_DIR"}  # shared exports
    return keep | {"DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "2", "RAY_NUM_CPUS": "2", "JOB__CHUNK_S": "8"}


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip().startswith("{"), f"no JSON summary:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def vtest_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 18 s of vtest.avi (MJPG AVI, 768×576, 10 fps)."""
    out = tmp_path_factory.mktemp("clips") / "vtest_clip.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(CLIP_FRAMES):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    cap.release()
    return out


@pytest.fixture(scope="session")
def truncated_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s AVI cut off after 55 % of its bytes: the header promises 30 frames, about half decode."""
    d = tmp_path_factory.mktemp("bad")
    whole = d / "whole.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(30):
        writer.write(cap.read()[1])
    writer.release()
    data = whole.read_bytes()
    out = d / "truncated.avi"
    out.write_bytes(data[: int(len(data) * 0.55)])
    return out


# ------------------------------------------------------------------------- PostgreSQL + S3 run
@pytest.fixture(scope="module")
def s3_run(tmp_path_factory, pg_url, s3_server, vtest_clip):
    store = S3ObjectStore(
        endpoint=s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key,
        bucket="witness-e2e",
    )
    store.put_file("uploads/vtest_clip.avi", vtest_clip, "video/x-msvideo")
    env = base_env(tmp_path_factory.mktemp("s3run")) | {
        "DATABASE_URL": pg_url, "S3_ENDPOINT": s3_server.endpoint, "S3_ACCESS_KEY": s3_server.access_key,
        "S3_SECRET_KEY": s3_server.secret_key, "S3_BUCKET": "witness-e2e",
    }
    proc = witness(
        "analyze", "s3://witness-e2e/uploads/vtest_clip.avi", "s3://witness-e2e/uploads/nope.avi",
        "--site", str(SITE), "--json", env=env,
    )
    return proc, summary_of(proc), store, make_engine(pg_url)


def test_s3_run_exits_nonzero_and_names_the_missing_key(s3_run):
    proc, summary, _, _ = s3_run
    assert proc.returncode == 1, proc.stderr[-3000:]
    bad = next(v for v in summary["videos"] if v["uri"].endswith("nope.avi"))
    assert bad["status"] == "failed"
    assert "s3://witness-e2e/uploads/nope.avi" in bad["error"] and "no such S3 object" in bad["error"]
    assert summary["status"] == "partial"


def test_s3_run_tracks_people_and_fires_zone_events(s3_run):
    _, summary, _, engine = s3_run
    good = next(v for v in summary["videos"] if v["uri"].endswith("vtest_clip.avi"))
    assert good["status"] == "done", good["error"]
    assert good["frames_analysed"] == CLIP_FRAMES  # 10 fps on a 10 fps video: every frame
    assert good["people"] >= 4
    assert good["events_by_type"].get("zone_enter", 0) >= 1  # the aisle zone is drawn where people walk
    with engine.connect() as c:
        tracks = c.execute(sa.text("select count(distinct track_id) from track where video_id = :v"),
                           {"v": good["video_id"]}).scalar()
        points = c.execute(sa.text(
            "select count(*) from track_point p join track t on t.id = p.track_pk where t.video_id = :v"),
            {"v": good["video_id"]}).scalar()
        events = c.execute(sa.text("select count(*) from event where video_id = :v"), {"v": good["video_id"]}).scalar()
    assert tracks == good["people"]
    assert points >= 4 * 20  # at least 4 people seen for 2 s each
    assert events == sum(good["events_by_type"].values())


def test_s3_run_clips_exist_in_s3_and_decode_at_their_length(s3_run, tmp_path):
    _, summary, store, engine = s3_run
    good = next(v for v in summary["videos"] if v["uri"].endswith("vtest_clip.avi"))
    with engine.connect() as c:
        clips = c.execute(sa.text(
            "select c.key, c.frame_count, e.frame_start, e.frame_end from clip c join event e on e.id = c.event_id "
            "where c.video_id = :v"), {"v": good["video_id"]}).all()
    assert len(clips) == good["clips"] >= 1
    for key, frame_count, frame_start, frame_end in clips:
        local = store.download(key, tmp_path / Path(key).name)
        cap = cv2.VideoCapture(str(local))
        decoded = 0
        while cap.read()[0]:
            decoded += 1
        expected = min(CLIP_FRAMES, frame_end + 31) - max(0, frame_start - 30)  # ±3 s at 10 fps, clamped
        assert decoded == frame_count == expected, key


def test_s3_run_leaves_no_rows_for_the_failed_video(s3_run):
    _, summary, _, engine = s3_run
    bad = next(v for v in summary["videos"] if v["status"] == "failed")
    with engine.connect() as c:
        n = c.execute(sa.text("select (select count(*) from track where video_id = :v) + "
                              "(select count(*) from event where video_id = :v)"), {"v": bad["video_id"]}).scalar()
        status, error = c.execute(sa.text("select status, error from video where id = :v"), {"v": bad["video_id"]}).one()
    assert n == 0
    assert status.lower() == "failed" and "nope.avi" in error


# ------------------------------------------------------------------------ embedded defaults run
@pytest.fixture(scope="module")
def local_run(tmp_path_factory, vtest_clip, truncated_clip):
    data_dir = tmp_path_factory.mktemp("localrun")
    text = data_dir / "notes.mp4"
    text.write_text("this is not a video\n")
    env = base_env(data_dir)
    missing = str(data_dir / "missing.avi")
    proc = witness("analyze", str(vtest_clip), missing, str(text), str(truncated_clip), "--site", str(SITE),
                   "--fps", "5", "--json", env=env)
    return proc, summary_of(proc), env, {"missing": missing, "text": str(text), "truncated": str(truncated_clip)}


def test_local_run_bad_inputs_fail_with_clear_messages(local_run):
    proc, summary, _, bad = local_run
    assert proc.returncode == 1
    by_uri = {v["uri"]: v for v in summary["videos"]}
    assert by_uri[bad["missing"]]["error"] == f"{bad['missing']}: no such file"
    assert bad["text"] in by_uri[bad["text"]]["error"] and "not a video" in by_uri[bad["text"]]["error"]
    trunc = by_uri[bad["truncated"]]
    assert trunc["status"] == "failed" and "truncated or corrupt" in trunc["error"]
    assert bad["truncated"] in trunc["error"]


def test_local_run_good_video_completes_on_sqlite_and_folder(local_run):
    _, summary, env, _ = local_run
    good = next(v for v in summary["videos"] if v["status"] == "done")
    assert good["frames_analysed"] == CLIP_FRAMES // 2  # --fps 5 on a 10 fps video: every other frame
    assert good["people"] >= 4
    data_dir = Path(env["DATA_DIR"])
    assert (data_dir / "witness.db").is_file()
    files = list((data_dir / "objects" / "clips").rglob("*.mp4"))
    clips = [f for f in files if not f.name.endswith(".masked.mp4")]
    masked = {f.name.removesuffix(".masked.mp4") for f in files if f.name.endswith(".masked.mp4")}
    assert len(clips) == good["clips"] >= 1
    assert masked and masked <= {f.stem for f in clips}  # faces masked by default: a masked copy beside its clip


def test_local_run_jobs_events_and_mot_export(local_run, tmp_path):
    _, summary, env, _ = local_run
    job_id = summary["job_id"]
    jobs = witness("jobs", job_id, env=env)
    assert jobs.returncode == 0 and "partial" in jobs.stdout and "no such file" in jobs.stdout
    events = witness("events", "--job", job_id, "--json", env=env)
    assert events.returncode == 0
    listed = json.loads(events.stdout)
    good = next(v for v in summary["videos"] if v["status"] == "done")
    assert listed["count"] == sum(good["events_by_type"].values())
    out = tmp_path / "mot"
    exp = witness("export", "tracks", "--job", job_id, "--format", "mot", "--out", str(out), env=env)
    assert exp.returncode == 0, exp.stderr
    lines = (out / "vtest_clip.txt").read_text().splitlines()
    rows = [line.split(",") for line in lines]
    assert all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    frames = {int(r[0]) for r in rows}
    assert min(frames) >= 1 and max(frames) <= CLIP_FRAMES
    assert any(f % 2 == 0 for f in frames) and any(f % 2 == 1 for f in frames)  # analysed and interpolated frames
    assert len({int(r[1]) for r in rows}) == good["people"]


def test_invalid_site_file_exits_2_naming_line_and_field(tmp_path, vtest_clip):
    site = tmp_path / "bad.yaml"
    site.write_text(SITE.read_text().replace("dwell_s: 4", "dwell_s: -4", 1))
    assert "dwell_s: -4" in site.read_text()
    proc = witness("analyze", str(vtest_clip), "--site", str(site), env=base_env(tmp_path))
    assert proc.returncode == 2
    line = next(i for i, text in enumerate(site.read_text().splitlines(), 1) if "dwell_s: -4" in text)
    assert f"{site}:{line}:" in proc.stderr and "dwell_s" in proc.stderr
    assert not (tmp_path / "witness.db").exists()  # rejected before any job was created


def test_local_run_keeps_library_logs_off_the_terminal(local_run):
    proc, _, env, _ = local_run
    # Ray Data's deprecation warning and its "Progress bars disabled" line go to the log file, not the terminal.
    for noise in ("RayDeprecationWarning", "Progress bars disabled"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    log = Path(env["DATA_DIR"]).resolve() / "logs" / "witness.log"
    assert log.is_file() and "Progress bars disabled" in log.read_text()
