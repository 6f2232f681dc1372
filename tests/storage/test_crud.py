"""Repository functions on SQLite and PostgreSQL (real connections)."""

from __future__ import annotations

import pytest
from tests.factories import make_event, make_trajectory
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from domain.events import EventType, event_id
from storage import Clip, ClipCreate, Event, JobStatus, Track, TrackPoint, VideoStatus, crud


@pytest.fixture
def session(db_engine: Engine) -> Session:
    with Session(db_engine, expire_on_commit=False) as s:
        yield s


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _results(video_id: str, scope: str = "s"):  # noqa: ANN202
    trajectories = [
        make_trajectory(1, [0, 1, 2, 3], interpolated=[False, True, False, False], keypoints=True),
        make_trajectory(2, [5, 6]),
    ]
    e1 = make_event(EventType.ZONE_ENTER, t_start_s=0.5)
    e2 = make_event(EventType.DWELL, t_start_s=2.0, t_end_s=4.0, payload={"dwell_s": 2.0})
    events = [(event_id(scope, e1), e1), (event_id(scope, e2), e2)]
    clips = [
        ClipCreate(event_id=events[0][0], key=f"clips/{video_id}/a.mp4", t_start_s=0.0, t_end_s=1.0,
                   frame_count=10, fps=10.0, width=640, height=480, size_bytes=1234),
        {"event_id": events[1][0], "key": f"clips/{video_id}/b.mp4", "t_start_s": 2.0, "t_end_s": 4.0,
         "frame_count": 20, "fps": 10.0, "width": 640, "height": 480},
    ]  # fmt: skip
    return trajectories, events, clips


def _save(session: Session, video_id: str, scope: str = "s"):  # noqa: ANN202
    trajectories, events, clips = _results(video_id, scope)
    return crud.save_video_results(
        session, video_id=video_id, trajectories=trajectories, events=events, clips=clips,
        frames_analysed=7, people_count=2,
    )  # fmt: skip


def test_create_job_makes_pending_videos(session: Session) -> None:
    job = crud.create_job(session, params={"fps": 5}, inputs=["/data/a.mp4", "s3://bkt/x/b.mp4"])
    assert job.status == JobStatus.PENDING and job.videos_total == 2
    assert job.params["inputs"] == ["/data/a.mp4", "s3://bkt/x/b.mp4"]
    videos = crud.list_videos(session, job.id)
    assert [v.name for v in videos] == ["a.mp4", "b.mp4"]
    assert all(v.status == VideoStatus.PENDING for v in videos)
    assert crud.get_job(session, job.id).id == job.id
    with pytest.raises(ValueError, match="at least one input"):
        crud.create_job(session, params={}, inputs=[])


def test_save_video_results_round_trip(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video = crud.list_videos(session, job.id)[0]
    crud.update_video_probe(session, video.id, fps=10.0, frame_count=100, width=640, height=480, codec="avc1")
    crud.mark_video_running(session, video.id)
    saved = _save(session, video.id)
    assert saved.status == VideoStatus.DONE and saved.completed_at is not None
    assert saved.frames_analysed == 7 and saved.people_count == 2

    tracks = crud.list_tracks(session, video_id=video.id)
    assert [t.track_id for t in tracks] == [1, 2]
    t1 = tracks[0]
    assert (t1.first_frame, t1.last_frame, t1.frame_count) == (0, 3, 3)  # one interpolated point
    assert t1.mean_confidence == pytest.approx(0.9) and t1.job_id == job.id
    points = crud.get_track_points(session, track_pk=t1.id)
    assert [p.frame_index for p in points] == [0, 1, 2, 3]
    assert points[1].interpolated and points[1].confidence == 0.0
    assert (points[0].x1, points[0].y2, points[0].foot_x, points[0].foot_y) == (10.0, 120.0, 30.0, 120.0)
    assert len(points[0].keypoints) == 17 and points[0].keypoints[0] == [10.0, 20.0, 1.0]
    pairs = crud.list_track_points_for_video(session, video.id)
    assert [(tid, p.frame_index) for tid, p in pairs] == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 5), (2, 6)]

    events, total = crud.list_events(session, job_id=job.id)
    assert total == 2 and [e.type for e in events] == ["zone_enter", "dwell"]
    assert events[1].payload == {"dwell_s": 2.0} and events[1].video_id == video.id
    clips = crud.list_clips(session, job_id=job.id)
    assert [c.key for c in clips] == [f"clips/{video.id}/a.mp4", f"clips/{video.id}/b.mp4"]
    assert clips[0].video_id == video.id and clips[1].content_type == "video/mp4"
    assert crud.list_clips(session, event_id=events[1].id)[0].frame_count == 20


def test_resave_is_idempotent(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video_id = crud.list_videos(session, job.id)[0].id
    _save(session, video_id)
    counts = [_count(session, m) for m in (Track, TrackPoint, Event, Clip)]
    _save(session, video_id)
    assert [_count(session, m) for m in (Track, TrackPoint, Event, Clip)] == counts == [2, 6, 2, 2]


def test_bulk_save_many_points(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video_id = crud.list_videos(session, job.id)[0].id
    trajectories = [make_trajectory(i, list(range(2000)), keypoints=True) for i in range(10)]
    crud.save_video_results(session, video_id=video_id, trajectories=trajectories, events=[], clips=[],
                            frames_analysed=2000, people_count=10)  # fmt: skip
    assert _count(session, TrackPoint) == 20_000


def test_event_upsert_by_id(session: Session) -> None:
    e = make_event(confidence=0.5)
    eid = event_id("live/cam-1", e)
    assert crud.upsert_events(session, [(eid, e)]) == 1
    e2 = make_event(confidence=0.8)  # same identity, better confidence: a retried write
    crud.upsert_events(session, [(eid, e2), (eid, e2)][:1])
    events, total = crud.list_events(session, camera_id="cam-1")
    assert total == 1 and events[0].confidence == pytest.approx(0.8) and events[0].job_id is None


def test_failed_save_leaves_nothing(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video_id = crud.list_videos(session, job.id)[0].id
    trajectories, events, _ = _results(video_id)
    bad_clip = {"event_id": "no-such-event", "key": "k", "t_start_s": 0, "t_end_s": 1, "frame_count": 1,
                "fps": 1.0, "width": 1, "height": 1}  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017  (IntegrityError from either backend)
        crud.save_video_results(session, video_id=video_id, trajectories=trajectories, events=events,
                                clips=[bad_clip], frames_analysed=1, people_count=1)  # fmt: skip
    assert [_count(session, m) for m in (Track, TrackPoint, Event, Clip)] == [0, 0, 0, 0]
    assert crud.get_video(session, video_id).status == VideoStatus.PENDING


def test_duplicate_track_ids_rejected(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video_id = crud.list_videos(session, job.id)[0].id
    with pytest.raises(ValueError, match="unique track_id"):
        crud.save_video_results(session, video_id=video_id, trajectories=[make_trajectory(1), make_trajectory(1)],
                                events=[], clips=[], frames_analysed=0, people_count=0)  # fmt: skip


def test_fail_video_removes_partial_rows(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4", "b.mp4"])
    va, vb = crud.list_videos(session, job.id)
    _save(session, va.id, scope="a")
    _save(session, vb.id, scope="b")
    failed = crud.fail_video(session, va.id, "decode error at frame 12")
    assert failed.status == VideoStatus.FAILED and failed.error == "decode error at frame 12"
    assert failed.completed_at is None
    assert crud.list_tracks(session, video_id=va.id) == []
    assert crud.list_events(session, video_id=va.id)[1] == 0
    assert [_count(session, m) for m in (Track, TrackPoint, Event, Clip)] == [2, 6, 2, 2]  # b's rows stay


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["done", "done"], JobStatus.DONE),  # all good
        (["done", "failed"], JobStatus.PARTIAL),  # some failed
        (["failed", "failed"], JobStatus.FAILED),  # all failed
        (["done", "pending"], JobStatus.PARTIAL),  # never processed counts as failed
    ],
)
def test_finish_job_status(session: Session, outcomes: list[str], expected: JobStatus) -> None:
    job = crud.create_job(session, params={}, inputs=[f"v{i}.mp4" for i in range(len(outcomes))])
    crud.start_job(session, job.id)
    crud.update_job_progress(session, job.id, frames_done=5, frames_total=10)
    assert crud.get_job(session, job.id).progress == pytest.approx(0.5)
    for video, outcome in zip(crud.list_videos(session, job.id), outcomes, strict=True):
        if outcome == "done":
            _save(session, video.id, scope=video.id)
        elif outcome == "failed":
            crud.fail_video(session, video.id, "boom")
    job = crud.finish_job(session, job.id)
    assert job.status == expected and job.finished_at is not None and job.started_at is not None
    assert job.videos_total == len(outcomes)
    assert job.videos_failed == sum(o != "done" for o in outcomes)
    if expected == JobStatus.FAILED:
        assert "boom" in job.error


def test_list_events_filters_and_pagination(session: Session) -> None:
    job = crud.create_job(session, params={}, inputs=["a.mp4"])
    video_id = crud.list_videos(session, job.id)[0].id
    events = [
        make_event(EventType.ZONE_ENTER if i % 2 else EventType.DWELL, camera_id=f"cam-{i % 3}", t_start_s=float(i))
        for i in range(10)
    ]
    crud.upsert_events(session, [(event_id("s", e), e) for e in events], job_id=job.id, video_id=video_id)
    page, total = crud.list_events(session, job_id=job.id, limit=4, offset=4)
    assert total == 10 and [e.t_start_s for e in page] == [4.0, 5.0, 6.0, 7.0]
    assert crud.list_events(session, type=EventType.DWELL)[1] == 5
    assert crud.list_events(session, type="zone_enter", camera_id="cam-1")[1] == 2  # i = 1, 7
    got, total = crud.list_events(session, t_from=2.0, t_to=5.0)
    assert total == 3 and [e.t_start_s for e in got] == [2.0, 3.0, 4.0]
    assert crud.list_events(session, job_id="nope") == ([], 0)
    assert crud.list_events(session, video_id=video_id, limit=1)[1] == 10


def test_list_jobs_newest_first(session: Session) -> None:
    ids = [crud.create_job(session, params={"n": i}, inputs=["a.mp4"]).id for i in range(3)]
    jobs, total = crud.list_jobs(session, limit=2)
    assert total == 3 and [j.id for j in jobs] == ids[::-1][:2]


def test_missing_ids_raise(session: Session) -> None:
    with pytest.raises(crud.NotFoundError, match="nope"):
        crud.start_job(session, "nope")
    with pytest.raises(crud.NotFoundError, match="nope"):
        crud.fail_video(session, "nope", "x")
    assert crud.get_job(session, "nope") is None
