"""End to end: the shoplifting-intent chain in a bulk job on real footage, run as a user runs it.

`witness analyze CLIP --site examples/intent-site.yaml --pos POS.json` on the last 30 s of vtest.avi
with the real pose model: shelf pickups → the POS cross-check → the intent score → alerts with
evidence clips. The footage shows people walking, not shopping (no labelled shoplifting footage is
public): the site file's stand-in zones make walkers "pick up" and "leave", so this checks the chain
and its wiring, not detection accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from domain.scoring import Severity
from storage import crud
from storage.db import make_engine, session_scope
from tests.pipelines.test_bulk_job import REPO, base_env, summary_of, witness

pytestmark = pytest.mark.slow

SITE = REPO / "examples" / "intent-site.yaml"
FIRST_FRAME = 500  # the clip is vtest.avi from 50 s to its end (~29.5 s at 10 fps)
# The one till visit in that part is at about 71–73 s of vtest.avi: 21–23 s into the clip.
POS = {"transactions": [{"transaction_id": "t-1", "terminal_id": "till-1", "t_start": 20.5, "t_end": 23.5,
                         "payment_method": "card", "zone": "till", "items": [{"sku": "CHOC001", "quantity": 1}]}]}


@pytest.fixture(scope="module")
def tail_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("intent") / "vtest_tail.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, FIRST_FRAME)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    cap.release()
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory, tail_clip):
    data = tmp_path_factory.mktemp("intent-run")
    pos = data / "pos.json"
    pos.write_text(json.dumps(POS))
    env = base_env(data) | {"MODEL__IMGSZ": "960", "DATABASE_URL": f"sqlite:///{data / 'witness.db'}",
                            "REDIS_URL": "redis://127.0.0.1:6379/13"}
    proc = witness("analyze", str(tail_clip), "--site", str(SITE), "--pos", str(pos), "--fps", "5", "--json", env=env)
    return proc, summary_of(proc), make_engine(env["DATABASE_URL"]), data


def test_the_job_raises_alerts_naming_the_unbilled_skus(run) -> None:
    proc, summary, engine, data = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    video = summary["videos"][0]
    assert video["status"] == "done" and video["alerts"] >= 1
    assert video["events_by_type"].get("pickup", 0) >= 2
    with session_scope(engine) as s:
        alerts, total = crud.list_alerts(s, job_id=summary["job_id"])
    assert total == video["alerts"]
    for alert in alerts:
        assert alert.severity in (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
        assert alert.score >= 0.5 and alert.requires_human_review
        missing = alert.evidence["discrepancy"]["missing_from_billing"]
        assert missing, "every alert here has unbilled pickups"
        for sku in missing:
            assert sku in alert.explanation  # the explanation names each missing SKU
        assert alert.explanation.endswith("This is a request for human review, not a finding of theft.")
        assert set(alert.components) == {"discrepancy", "concealment", "bypass", "duration"}
        assert all("evidence" in c for c in alert.components.values())
        assert alert.evidence["clip_keys"], "an alert carries its evidence clips"
        for key in alert.evidence["clip_keys"]:
            assert (data / "objects" / key).stat().st_size > 1000  # an H.264 clip in the local object store


def test_the_billed_till_visit_is_credited(run) -> None:
    _, summary, engine, _ = run
    with session_scope(engine) as s:
        alerts, _ = crud.list_alerts(s, job_id=summary["job_id"], limit=1000)
    billed = [a for a in alerts if "t-1" in a.evidence["discrepancy"]["transaction_ids"]]
    # The shopper at the till paid for the chocolate: if they are alerted at all, it is not for it.
    for a in billed:
        assert "CHOC001" not in a.evidence["discrepancy"]["missing_from_billing"]


def test_a_bad_pos_file_is_refused_before_any_work(tmp_path, tail_clip) -> None:
    bad = tmp_path / "pos.csv"
    bad.write_text("transaction_id,terminal_id,time,sku,quantity,payment_method\nt1,till-1,12.0,NOPE999,1,card\n")
    env = base_env(tmp_path) | {"DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    proc = witness("analyze", str(tail_clip), "--site", str(SITE), "--pos", str(bad), env=env, timeout=120)
    assert proc.returncode == 2
    assert "pos.csv" in proc.stderr and "line 2" in proc.stderr and "NOPE999" in proc.stderr
    with session_scope(make_engine(env["DATABASE_URL"])) as s:
        assert crud.list_jobs(s)[1] == 0  # nothing was started


def test_wall_clock_pos_times_need_the_video_start(tmp_path, tail_clip) -> None:
    pos = tmp_path / "pos.json"
    pos.write_text(json.dumps({"transactions": [{**POS["transactions"][0], "t_start": "2026-11-22T10:00:20Z",
                                                 "t_end": "2026-11-22T10:00:23Z"}]}))
    env = base_env(tmp_path) | {"DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    proc = witness("analyze", str(tail_clip), "--site", str(SITE), "--pos", str(pos), env=env, timeout=120)
    assert proc.returncode == 2 and "--video-start" in proc.stderr, proc.stderr[-2000:]
