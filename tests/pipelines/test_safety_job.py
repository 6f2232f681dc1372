"""End to end: the safety rules and rule alerts in a bulk job on real footage, run as a user runs it.

`witness analyze CLIP --site examples/safety-site.yaml` on 15 s of vtest.avi with the real pose
model: walkers raise no fall and no fight; the entrance rule's events become rule alerts with an
explanation, their evidence clip and its face-masked copy; the chain of custody verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from domain.privacy import masked_key
from storage import crud
from storage.db import make_engine, session_scope
from tests.pipelines.test_bulk_job import REPO, base_env, summary_of, witness

pytestmark = pytest.mark.slow

SITE = REPO / "examples" / "safety-site.yaml"
FRAMES = 150  # 15 s of vtest.avi at 10 fps


@pytest.fixture(scope="module")
def run(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("safety-run")
    clip = data / "vtest_cut.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(FRAMES):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    env = base_env(data) | {"MODEL__IMGSZ": "960", "DATABASE_URL": f"sqlite:///{data / 'witness.db'}",
                            "REDIS_URL": "redis://127.0.0.1:6379/13"}
    proc = witness("analyze", str(clip), "--site", str(SITE), "--fps", "5", "--json", env=env)
    return proc, summary_of(proc), make_engine(env["DATABASE_URL"]), data, env


def test_walkers_raise_no_fall_and_no_fight(run) -> None:
    proc, summary, *_ = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    video = summary["videos"][0]
    assert video["status"] == "done" and video["people"] >= 5
    assert "fall" not in video["events_by_type"] and "fighting" not in video["events_by_type"]


def test_rule_events_become_alerts_with_masked_clips(run) -> None:
    proc, summary, engine, data, _ = run
    video = summary["videos"][0]
    entries = video["events_by_type"].get("zone_enter", 0)
    assert entries >= 1 and video["alerts"] == entries
    with session_scope(engine) as s:
        alerts, total = crud.list_alerts(s, job_id=summary["job_id"], limit=100)
    assert total == entries
    for alert in alerts:
        assert (alert.origin, alert.rule, alert.severity.value, alert.status.value) == ("rule", "entrance", "low", "pending")
        assert alert.explanation.startswith(f"Person {alert.track_id} entered zone 'entrance'.")
        assert alert.evidence["notify"] is False and len(alert.evidence["clip_keys"]) == 1
        key = alert.evidence["clip_keys"][0]
        original, masked = data / "objects" / key, data / "objects" / masked_key(key)
        assert original.stat().st_size > 1000 and masked.stat().st_size > 1000
        assert original.read_bytes() != masked.read_bytes()


def test_custody_verifies_the_job_s_clips(run) -> None:
    *_, env = run
    proc = subprocess.run([sys.executable, "-m", "cluster.cli", "verify"], env=env, cwd=env["DATA_DIR"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified" in proc.stdout and "objects re-hashed: 0" not in proc.stdout
