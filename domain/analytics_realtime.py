"""Real-time store metrics from the live `tracking_update` feed: people now, dwell so far, crowding.

`LiveOccupancy` keeps, per camera, the latest analysed frame's people and, per zone, since when
each person has been inside. `metrics()` turns that into the SpotOn `analytics_update` payload's
`live_metrics` and its `alerts` (zones over their occupancy threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domain.geometry import foot_points
from domain.site import ZoneConfig
from domain.zones import PolygonZone

__all__ = ["LiveMetrics", "OccupancyAlert", "LiveOccupancy"]


@dataclass(frozen=True)
class OccupancyAlert:
    """A zone holding more people than its threshold (a `high_occupancy` alert item)."""

    camera_id: str
    zone: str
    count: int
    threshold: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": "high_occupancy", "camera_id": self.camera_id, "zone": self.zone, "count": self.count,
                "threshold": self.threshold}  # fmt: skip


@dataclass(frozen=True)
class LiveMetrics:
    """What is happening now.

    Attributes:
        t_s: epoch seconds of the newest frame considered.
        total_persons: people in view of all fresh cameras.
        persons_per_camera: camera id → people in view.
        zone_occupancy: `"{camera}/{zone}"` → people inside.
        avg_dwell_s: mean seconds the people inside a zone have been there so far (`None`: nobody).
        crowd_density: the most crowded zone's occupancy relative to its threshold (0 = empty,
            1 = at the threshold; `None` when no zone has a threshold).
        alerts: zones over their threshold.
        stale_cameras: cameras whose latest frame is older than the freshness limit (not counted).
    """

    t_s: float
    total_persons: int
    persons_per_camera: dict[str, int]
    zone_occupancy: dict[str, int]
    avg_dwell_s: float | None
    crowd_density: float | None
    alerts: list[OccupancyAlert] = field(default_factory=list)
    stale_cameras: list[str] = field(default_factory=list)

    def to_payload(self, environment_id: str, timestamp: str) -> dict[str, Any]:
        """The `analytics_update` message payload (SpotOn plan format)."""
        return {
            "environment_id": environment_id,
            "timestamp": timestamp,
            "live_metrics": {
                "total_persons": self.total_persons,
                "persons_per_camera": self.persons_per_camera,
                "zone_occupancy": self.zone_occupancy,
                "avg_dwell_time": None if self.avg_dwell_s is None else round(self.avg_dwell_s, 2),
                "crowd_density": None if self.crowd_density is None else round(self.crowd_density, 3),
            },
            "alerts": [a.to_dict() for a in self.alerts],
            "stale_cameras": self.stale_cameras,
        }


@dataclass
class _Camera:
    t_s: float = 0.0
    people: int = 0
    resolution_wh: tuple[int, int] | None = None
    zones: dict[str, PolygonZone] = field(default_factory=dict)
    inside_since: dict[str, dict[int, float]] = field(default_factory=dict)  # zone -> track -> t entered


class LiveOccupancy:
    """Per-camera live state fed with `tracking_update` messages.

    Args:
        zones: camera id → its zones (normalized polygons).
        thresholds: camera id → zone → people above which the zone is crowded (the camera's
            `occupancy` rules' `max_count`, or a default).
        fresh_s: a camera whose latest frame is older than this is stale: not counted.
    """

    def __init__(self, zones: Mapping[str, Mapping[str, ZoneConfig]], thresholds: Mapping[str, Mapping[str, int]],
                 *, fresh_s: float = 10.0) -> None:  # fmt: skip
        self.zone_configs = {c: dict(z) for c, z in zones.items()}
        self.thresholds = {c: dict(t) for c, t in thresholds.items()}
        self.fresh_s = fresh_s
        self._cameras: dict[str, _Camera] = {}

    def update(self, message: Mapping[str, Any]) -> None:
        """Apply one `tracking_update` (`camera_id`, `t` epoch s, `tracks` with `track_id` and
        `bbox_xyxy`, `resolution_wh`); messages of unknown cameras or older than the latest are ignored."""
        camera_id = message.get("camera_id")
        if not isinstance(camera_id, str) or camera_id not in self.zone_configs:
            return
        t_s = float(message.get("t") or 0.0)
        cam = self._cameras.setdefault(camera_id, _Camera())
        if t_s < cam.t_s:
            return
        tracks = [t for t in message.get("tracks") or [] if isinstance(t, Mapping) and t.get("bbox_xyxy")]
        cam.t_s, cam.people = t_s, len(tracks)
        res = message.get("resolution_wh")
        if res and tuple(res) != cam.resolution_wh:
            cam.resolution_wh = (int(res[0]), int(res[1]))
            cam.zones = {n: PolygonZone(n, z, cam.resolution_wh) for n, z in self.zone_configs[camera_id].items()}
        if cam.resolution_wh is None:
            return
        ids = [int(t.get("track_id", -1)) for t in tracks]
        feet = foot_points(np.array([t["bbox_xyxy"] for t in tracks], dtype=np.float64).reshape(-1, 4))
        for name, zone in cam.zones.items():
            inside = zone.trigger(feet) if len(feet) else np.zeros(0, bool)
            since = cam.inside_since.setdefault(name, {})
            now_inside = {tid for tid, ok in zip(ids, inside.tolist()) if ok}
            for tid in list(since):
                if tid not in now_inside:
                    del since[tid]
            for tid in now_inside:
                since.setdefault(tid, t_s)

    def metrics(self, now_s: float, cameras: list[str] | None = None) -> LiveMetrics:
        """The metrics over `cameras` (default: every known camera) at `now_s` (epoch s)."""
        wanted = list(self.zone_configs) if cameras is None else [c for c in cameras if c in self.zone_configs]
        per_camera: dict[str, int] = {}
        zone_occ: dict[str, int] = {}
        dwell: list[float] = []
        density: list[float] = []
        alerts: list[OccupancyAlert] = []
        stale: list[str] = []
        newest = 0.0
        for camera_id in wanted:
            cam = self._cameras.get(camera_id)
            if cam is None or now_s - cam.t_s > self.fresh_s:
                stale.append(camera_id)
                continue
            newest = max(newest, cam.t_s)
            per_camera[camera_id] = cam.people
            for zone in sorted(self.zone_configs[camera_id]):
                since = cam.inside_since.get(zone, {})
                count = len(since)
                zone_occ[f"{camera_id}/{zone}"] = count
                dwell += [cam.t_s - t for t in since.values()]
                threshold = self.thresholds.get(camera_id, {}).get(zone)
                if threshold is not None:
                    density.append(count / max(threshold, 1))
                    if count > threshold:
                        alerts.append(OccupancyAlert(camera_id, zone, count, threshold))
        return LiveMetrics(
            t_s=newest or now_s,
            total_persons=sum(per_camera.values()),
            persons_per_camera=per_camera,
            zone_occupancy=zone_occ,
            avg_dwell_s=float(np.mean(dwell)) if dwell else None,
            crowd_density=max(density) if density else None,
            alerts=alerts,
            stale_cameras=stale,
        )
