"""Hand-made store data for the analytics tests: a site, a bulk job with known people, live events.

The site `shop` has one camera `cam` (100×100 px frames at 10 fps) with two zones and a line:
`aisle` is the left half, `till` the bottom-right quarter, `door` a horizontal line at mid-height
whose `in` direction is downwards on the image. `store_shop_job` stores one video of that camera
starting at `VIDEO_START`, with:

- person 1 standing 12 s in the aisle (t = 0–12 s), then 5 s at the till (t = 14–19 s);
- person 2 standing in the aisle from t = 2 s to t = 8 s (so the aisle holds two people then);
- person 3 walking down across the door line at t = 30 s, on the right (never in the aisle).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlmodel import Session

from domain.events import EventType
from domain.site import parse_site_yaml
from domain.tracks import Trajectory
from storage import crud
from tests.factories import make_event

__all__ = ["SHOP_YAML", "VIDEO_START", "FPS", "store_shop_site", "store_shop_job", "shop_trajectories",
           "store_live_events", "person_track", "write_shop_video"]

FPS = 10.0
VIDEO_START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
SHOP_YAML = """
site: {name: shop, friendly_name: Corner shop, timezone: UTC}
cameras:
  cam:
    match: ["shop*"]
    zones:
      aisle: {kind: shelf, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
      till: {kind: checkout, polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]]}
    lines:
      door: {start: [0.5, 0.5], end: [1, 0.5]}
    rules:
      aisle-enter: {type: zone_enter, zone: aisle}
      aisle-exit: {type: zone_exit, zone: aisle}
      crowd: {type: occupancy, zone: aisle, max_count: 1, for_s: 1}
"""


def person_track(track_id: int, path: list[tuple[float, float, float]]) -> Trajectory:
    """A trajectory through `(t_s, foot_x, foot_y)` samples (boxes 10 px wide, 40 px tall above the foot)."""
    t = np.array([p[0] for p in path], dtype=np.float64)
    boxes = np.array([[x - 5, y - 40, x + 5, y] for _, x, y in path], dtype=np.float32)
    frames = np.round(t * FPS).astype(np.int64)
    return Trajectory(track_id, frames, t, boxes, np.full(len(t), 0.9, np.float32), np.zeros(len(t), bool))


def _still(t0: float, t1: float, x: float, y: float) -> list[tuple[float, float, float]]:
    return [(t, x, y) for t in np.round(np.arange(t0, t1 + 1e-9, 1 / FPS), 3).tolist()]


def shop_trajectories() -> list[Trajectory]:
    """The three people of the module docstring."""
    walk_to_till = [(12.0 + 0.5 * i, 25 + 12.5 * i, 60.0) for i in range(1, 4)]  # leaves the aisle at 12.5 s
    p1 = _still(0, 12, 20, 60) + walk_to_till + _still(14, 19, 80, 80)
    p2 = _still(2, 8, 30, 40)
    p3 = [(29.5 + 0.1 * i, 80.0, 30.0 + 5 * i) for i in range(11)]  # y 30 -> 80: across y = 50 at t = 29.9
    return [person_track(1, p1), person_track(2, p2), person_track(3, p3)]


def store_shop_site(session: Session, *, camera_group: str | None = None) -> str:
    """Import the `shop` site; returns the camera id (`shop.cam`)."""
    crud.import_site_config(session, parse_site_yaml(SHOP_YAML, source="shop.yaml"))
    camera_id = crud.camera_id_for("shop", "cam")
    if camera_group is not None:
        from storage.models import CameraUpdate

        crud.update_camera(session, camera_id, data=CameraUpdate(camera_group=camera_group))
    return camera_id


def store_shop_job(session: Session, *, video_start: datetime = VIDEO_START, duration_s: float = 40.0,
                   trajectories: list[Trajectory] | None = None, name: str = "shop-cam.mp4",
                   uri: str | None = None) -> tuple[str, str]:  # fmt: skip
    """A done job over one video of `shop.cam` with `shop_trajectories()`; returns `(job_id, video_id)`."""
    job = crud.create_job(session, params={"fps": FPS, "site": "shop", "video_start": video_start.isoformat()},
                          inputs=[uri or f"/videos/{name}"])  # fmt: skip
    video = crud.list_videos(session, job.id)[0]
    crud.update_video_probe(session, video.id, camera_id="cam", fps=FPS, frame_count=int(duration_s * FPS), width=100,
                            height=100, codec="avc1", duration_s=duration_s, size_bytes=1000)  # fmt: skip
    trajectories = shop_trajectories() if trajectories is None else trajectories
    events = [(f"ev-{job.id}-{i}", e) for i, e in enumerate([
        make_event(EventType.ZONE_ENTER, rule="aisle-enter", camera_id="cam", track_id=1, zone="aisle", t_start_s=0.0),
        make_event(EventType.ZONE_EXIT, rule="aisle-exit", camera_id="cam", track_id=1, zone="aisle", t_start_s=12.5),
    ])]  # fmt: skip
    crud.save_video_results(session, video_id=video.id, trajectories=trajectories, events=events, clips=[],
                            frames_analysed=int(duration_s * FPS), people_count=len(trajectories))  # fmt: skip
    crud.finish_job(session, job.id)
    return job.id, video.id


def store_live_events(session: Session, camera_id: str, t0: float) -> None:
    """Live events of `camera_id` (epoch times in the payload, as the camera actor stores them):
    track 7 in the aisle from `t0` to `t0 + 30` (enter + exit) and a `door` crossing `in` at `t0 + 40`."""
    def live(type_, rule, zone, t, payload=None):  # noqa: ANN001, ANN202
        return make_event(type_, rule=rule, camera_id=camera_id, track_id=7, zone=zone, t_start_s=t - t0,
                          payload={"epoch_start_s": t, "epoch_end_s": t, **(payload or {})})  # fmt: skip

    events = [
        live(EventType.ZONE_ENTER, "aisle-enter", "aisle", t0),
        live(EventType.ZONE_EXIT, "aisle-exit", "aisle", t0 + 30),
        live(EventType.LINE_CROSS, "walk-in", "door", t0 + 40, {"direction": "in"}),
    ]
    crud.save_live_events(session, events=[(f"live-{camera_id}-{t0}-{i}", e) for i, e in enumerate(events)], clips=[])


def write_shop_video(path, *, seconds: float = 40.0) -> None:  # noqa: ANN001
    """A real H.264 MP4 of `shop.cam` (100×100 px, 10 fps, a moving gradient) for exports and playback."""
    from actors.ring_buffer import encode_mp4

    def frames():  # noqa: ANN202
        x = np.arange(100, dtype=np.int64)
        for i in range(int(seconds * FPS)):
            img = np.empty((100, 100, 3), np.uint8)
            img[..., 0] = ((x[None, :] + i) % 256).astype(np.uint8)
            img[..., 1] = x[:, None].astype(np.uint8)
            img[..., 2] = 128
            yield img

    encode_mp4(frames(), FPS, path)
