"""Retention against PostgreSQL and a real S3 server: rows and objects removed together, legal holds, dry runs."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import numpy as np
import pytest
from sqlmodel import Session, select

from domain.events import Event as DomainEvent, EventType
from domain.privacy import masked_key
from domain.retention import DataKind, RetentionPolicy, resolve_policy
from domain.tracks import Trajectory
from storage import crud
from storage.models import AuditLog, Clip, Event, LegalHold, TrackPoint, utcnow
from storage.retention import active_holds, list_policies, place_hold, purge, release_hold, set_policy

DAY = timedelta(days=1)


def stored_job(engine, store, *, site: str, n_events: int, age_days: float) -> dict:
    """A done bulk job of `site` with `n_events` events, each with a clip (and its masked copy) in `store`."""
    with Session(engine, expire_on_commit=False) as s:
        job = crud.create_job(s, params={"site": site}, inputs=["/x/vtest.avi"])
        video = crud.list_videos(s, job.id)[0]
        traj = Trajectory(1, np.arange(3), np.arange(3) / 10.0, np.tile(np.float32([0, 0, 10, 30]), (3, 1)),
                          np.full(3, 0.9, np.float32), np.zeros(3, bool), np.zeros((3, 17, 3), np.float32))
        events, clips = [], []
        for i in range(n_events):
            eid = f"{job.id}-e{i}"
            events.append((eid, DomainEvent(EventType.ZONE_ENTER, "r", "cam", 1, "z", float(i), float(i), i, i, 0.9)))
            key = f"clips/{job.id}/{video.id}/{eid}.mp4"
            store.put_bytes(key, b"clip-" + eid.encode(), "video/mp4")
            store.put_bytes(masked_key(key), b"masked-" + eid.encode(), "video/mp4")
            clips.append({"event_id": eid, "key": key, "t_start_s": 0.0, "t_end_s": 1.0, "frame_count": 10, "fps": 10.0,
                          "width": 64, "height": 48})
        crud.save_video_results(s, video_id=video.id, trajectories=[traj], events=events, clips=clips,
                                frames_analysed=3, people_count=1)
    old = utcnow() - age_days * DAY
    with Session(engine) as s:  # age everything
        for row in s.exec(select(Event).where(Event.job_id == job.id)).all():
            row.created_at = old
            s.add(row)
        for row in s.exec(select(Clip).where(Clip.job_id == job.id)).all():
            row.created_at = old
            s.add(row)
        v = crud.get_video(s, video.id)
        v.completed_at = old
        s.add(v)
        s.commit()
    return {"job_id": job.id, "video_id": video.id, "event_ids": [e for e, _ in events], "keys": [c["key"] for c in clips]}


def test_resolve_policy_per_kind() -> None:
    rows = {"*": RetentionPolicy(events_days=90, clips_days=60), "shop": RetentionPolicy(clips_days=7)}
    p = resolve_policy("shop", rows, RetentionPolicy(audit_days=365, clips_days=1))
    assert (p.events_days, p.clips_days, p.audit_days, p.uploads_days) == (90, 7, 365, None)
    assert resolve_policy("other", rows, RetentionPolicy()).clips_days == 60
    with pytest.raises(ValueError, match="greater than 0"):
        RetentionPolicy(clips_days=0)


def test_purge_deletes_rows_and_objects_together_keeps_holds_and_dry_runs_change_nothing(pg_engine, s3_store, tmp_path):
    site = f"shop{uuid.uuid4().hex[:6]}"
    with Session(pg_engine) as s:
        set_policy(s, site, RetentionPolicy(events_days=30, track_points_days=30), actor="ann")
        assert list_policies(s)[site].events_days == 30
    old = stored_job(pg_engine, s3_store, site=site, n_events=2, age_days=40)
    held = stored_job(pg_engine, s3_store, site=site, n_events=1, age_days=40)
    fresh = stored_job(pg_engine, s3_store, site=site, n_events=1, age_days=5)
    other = stored_job(pg_engine, s3_store, site=f"{site}x", n_events=1, age_days=40)  # no policy: kept forever
    with Session(pg_engine) as s:
        alert = crud.create_alert(s, score=0.9, severity="high", camera_id="cam", job_id=held["job_id"],
                                  video_id=held["video_id"], event_ids=held["event_ids"], clip_keys=held["keys"])
        crud.apply_transition(s, alert.id, "escalate", actor="sam", reason="police report 123")  # places the hold
        assert [h.reason for h in active_holds(s, alert.id)] == ["escalated: police report 123"]
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    stale, new = uploads / "old.mp4", uploads / "new.mp4"
    stale.write_bytes(b"x")
    new.write_bytes(b"y")
    past = time.time() - 40 * 86400
    os.utime(stale, (past, past))

    before = sorted(s3_store.list_keys("clips/"))
    default = RetentionPolicy(uploads_days=30)  # the settings' policy (uploads go by it)
    dry = purge(pg_engine, s3_store, default=default, dry_run=True, upload_dir=uploads)
    assert dry.rows[DataKind.EVENTS.value] == 2 and dry.rows[DataKind.CLIPS.value] == 2
    assert dry.objects[DataKind.CLIPS.value] == 4  # each clip and its masked copy
    assert dry.objects[DataKind.UPLOADS.value] == 1 and dry.held >= 2
    assert sorted(s3_store.list_keys("clips/")) == before and stale.exists()  # a dry run changes nothing

    report = purge(pg_engine, s3_store, default=default, upload_dir=uploads)
    assert report.errors == [] and report.rows[DataKind.EVENTS.value] == 2 and report.objects[DataKind.CLIPS.value] == 4
    assert report.rows[DataKind.TRACK_POINTS.value] == 3  # the old job's video; the held one's stay
    with Session(pg_engine) as s:
        left_events = {e.id for e in s.exec(select(Event)).all()}
        left_clips = {c.key for c in s.exec(select(Clip)).all()}
        audit = s.exec(select(AuditLog).where(AuditLog.action == "retention.purge")).all()
    for eid, key in zip(old["event_ids"], old["keys"]):  # gone: row and both objects
        assert eid not in left_events and key not in left_clips
        assert not s3_store.exists(key) and not s3_store.exists(masked_key(key))
    for job in (held, fresh, other):  # kept: rows and objects
        assert set(job["event_ids"]) <= left_events and set(job["keys"]) <= left_clips
        assert all(s3_store.exists(k) and s3_store.exists(masked_key(k)) for k in job["keys"])
    assert not stale.exists() and new.exists()
    assert [a.detail["dry_run"] for a in audit][-2:] == [True, False]  # both runs audited

    with Session(pg_engine) as s:  # released: the escalated evidence goes at the next purge
        with pytest.raises(ValueError, match="needs a reason"):
            release_hold(s, alert.id, actor="sam", reason=" ")
        release_hold(s, alert.id, actor="sam", reason="case closed")
        with pytest.raises(crud.NotFoundError, match="no active legal hold"):
            release_hold(s, alert.id, actor="sam", reason="again")
    purge(pg_engine, s3_store)
    assert not any(s3_store.exists(k) for k in held["keys"])
    with Session(pg_engine) as s:
        assert place_hold(s, alert.id, actor="ann", reason="new request").released_at is None
        assert len(s.exec(select(LegalHold).where(LegalHold.alert_id == alert.id)).all()) == 2
        kept = {p.track_pk for p in s.exec(select(TrackPoint)).all()}
        tracks = {v: [t.id for t in crud.list_tracks(s, video_id=v)] for v in (old["video_id"], other["video_id"])}
    assert not set(tracks[old["video_id"]]) & kept and set(tracks[other["video_id"]]) <= kept


def test_people_last_seen_before_the_cutoff_go_with_their_embeddings_and_crops(pg_engine, s3_store) -> None:
    from storage.models import Identity, IdentityEmbedding

    now = time.time()
    site = f"shop{uuid.uuid4().hex[:6]}"
    ids = {}
    with Session(pg_engine) as s:
        for name, age_days in (("old", 10), ("recent", 0.1)):
            gid = str(uuid.uuid4())
            crop = f"identity/{site}/{gid}.jpg"
            s3_store.put_bytes(crop, b"jpeg " + name.encode(), "image/jpeg")
            seen = now - age_days * 86400
            s.add(Identity(global_id=gid, site=site, first_seen_s=seen, last_seen_s=seen, first_camera_id="c",
                           last_camera_id="c", crop_key=crop, expires_at=now + 3600))
            s.commit()
            s.add(IdentityEmbedding(global_id=gid, camera_id="c", t_s=seen, quality=1.0,
                                    vector=np.ones(4, np.float32).tobytes()))
            s.commit()
            ids[name] = (gid, crop)
    policy = RetentionPolicy(embeddings_days=1)
    dry = purge(pg_engine, s3_store, default=policy, dry_run=True)
    assert dry.rows[DataKind.EMBEDDINGS.value] >= 1
    with Session(pg_engine) as s:  # a dry run changes nothing
        assert s.get(Identity, ids["old"][0]) is not None
    report = purge(pg_engine, s3_store, default=policy)
    assert not report.errors
    with Session(pg_engine) as s:
        assert s.get(Identity, ids["old"][0]) is None
        assert s.exec(select(IdentityEmbedding).where(IdentityEmbedding.global_id == ids["old"][0])).all() == []
        assert s.get(Identity, ids["recent"][0]) is not None
    assert not s3_store.exists(ids["old"][1]) and s3_store.exists(ids["recent"][1])
