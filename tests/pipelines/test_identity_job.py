"""End to end: a bulk job over two camera views cut from vtest.avi gives the people in their overlap one global id.

The views share a strip of the original frame, and both are calibrated to one plan (the
original frame in metres), so the truth is known by construction: a track of view `a` and a
track of view `b` whose foot points, put back in the original frame, coincide while both are
seen are one person. Run as a user: `witness analyze` then `witness export tracks --ids global`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from storage.db import make_engine
from tests.pipelines.test_bulk_job import base_env, summary_of, witness
from tests.pipelines.two_views import cut_two_views, site_yaml

pytestmark = pytest.mark.slow


def _points(engine, job_id: str) -> dict[tuple[str, int], dict]:
    """`(camera, track_id) -> {"gid", "frames": {frame: (foot x in the ORIGINAL frame, foot y)}}`."""
    out: dict = {}
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT v.camera_id, t.track_id, t.global_id, p.frame_index, p.foot_x, p.foot_y, p.interpolated "
            "FROM track_point p JOIN track t ON t.id = p.track_pk JOIN video v ON v.id = t.video_id "
            "WHERE v.job_id = :j"), {"j": job_id}).all()
    return out | _group(rows)


def _group(rows) -> dict:
    out: dict = {}
    for cam, tid, gid, frame, fx, fy, interp in rows:
        entry = out.setdefault((cam, tid), {"gid": gid, "frames": {}})
        if not interp:
            entry["frames"][frame] = (fx, fy)
    return out


def test_overlapping_views_share_global_ids(vtest_path: Path, tmp_path: Path) -> None:
    views = cut_two_views(vtest_path, tmp_path / "views", seconds=12.0, layout="overlap")
    site = tmp_path / "two-view.yaml"
    site.write_text(site_yaml(views, layout="overlap"))
    env = base_env(tmp_path / "data") | {"JOB__CHUNK_S": "30"}
    (tmp_path / "data").mkdir()
    proc = witness("analyze", str(views["a"]["path"]), str(views["b"]["path"]), "--site", str(site), "--fps", "5",
                   "--imgsz", "960", "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job_id = summary_of(proc)["job_id"]
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'witness.db'}")
    tracks = _points(engine, job_id)
    assert tracks and all(t["gid"] for t in tracks.values()), "every track gets a global id"
    x0b = views["b"]["x0_px"]
    same, apart = [], []
    for (cam_a, ta), a in tracks.items():
        for (cam_b, tb), b in tracks.items():
            if cam_a != "a" or cam_b != "b":
                continue
            common = sorted(set(a["frames"]) & set(b["frames"]))
            if len(common) < 3:
                continue
            d = np.array([np.hypot(a["frames"][f][0] - (b["frames"][f][0] + x0b), a["frames"][f][1] - b["frames"][f][1])
                          for f in common])
            if np.median(d) < 20:  # one foot point seen by both views
                same.append(a["gid"] == b["gid"])
            elif d.min() > 150:  # two places at once
                apart.append(a["gid"] != b["gid"])
    assert len(same) >= 2, f"the overlap strip should show people seen by both views, got {len(same)}"
    assert sum(same) >= 0.8 * len(same), f"people in the overlap got one global id in {sum(same)} of {len(same)} cases"
    assert apart and all(apart), "people seen at the same time far apart must not share a global id"
    with engine.connect() as c:
        stamped = c.execute(sa.text("SELECT count(*) FROM event WHERE job_id = :j AND track_id IS NOT NULL "
                                    "AND global_id IS NULL"), {"j": job_id}).scalar()
        people = c.execute(sa.text("SELECT count(*) FROM identity WHERE job_id = :j"), {"j": job_id}).scalar()
    assert stamped == 0 and 0 < people < len(tracks)
    engine.dispose()

    out = tmp_path / "mot"
    proc = witness("export", "tracks", "--job", job_id, "--format", "mot", "--ids", "global", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["ids.csv", "view-a.txt", "view-b.txt"]
    with (out / "ids.csv").open() as fh:
        number_of = {row["global_id"]: int(row["person"]) for row in csv.DictReader(fh)}
    assert len(number_of) == people
    ids_in = {name: {int(line.split(",")[1]) for line in (out / f"view-{name}.txt").read_text().splitlines()}
              for name in "ab"}
    shared = {number_of[t["gid"]] for (cam, _), t in tracks.items() if cam == "a"} & \
             {number_of[t["gid"]] for (cam, _), t in tracks.items() if cam == "b"}
    assert shared and shared <= ids_in["a"] & ids_in["b"]
    proc = witness("export", "tracks", "--job", job_id, "--ids", "nope", "--out", str(out), env=env)
    assert proc.returncode == 2 and "--ids must be local or global" in proc.stderr
