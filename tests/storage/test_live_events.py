"""Live events from the event sink: idempotent batch writes with clips, on SQLite and PostgreSQL."""

from __future__ import annotations

from storage import crud
from storage.db import session_scope
from tests.factories import make_event


def test_retried_batches_never_duplicate_events_or_clips(db_engine):
    events = [(f"live-{i}", make_event(track_id=i, camera_id="shop.entrance")) for i in range(3)]
    clips = [{"event_id": "live-0", "key": "clips/live/shop.entrance/live-0.mp4", "t_start_s": 0.0, "t_end_s": 6.0,
              "frame_count": 60, "fps": 10.0, "width": 640, "height": 480, "size_bytes": 1234}]
    for _ in range(2):  # the second write is a camera re-sending after a sink restart
        with session_scope(db_engine) as s:
            assert crud.save_live_events(s, events=events, clips=clips) == 3
    with session_scope(db_engine) as s:
        stored, count = crud.list_events(s, camera_id="shop.entrance")
        assert count == 3 and all(e.job_id is None and e.video_id is None for e in stored)
        assert [c.key for c in crud.list_clips(s, event_id="live-0")] == ["clips/live/shop.entrance/live-0.mp4"]
