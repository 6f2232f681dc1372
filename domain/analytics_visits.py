"""Visits, line crossings and detection metrics from a stored track or from stored live events.

Bulk jobs store every track point, so their visits come from the foot points (`visits_of_track`,
`crossings_of_track`). Live cameras store only events, so their visits come from `zone_enter` /
`zone_exit` pairs and `dwell` events, and their crossings from `line_cross` events
(`visits_from_events`). Both produce the same `Visit` / `Crossing` values, which the rollups
aggregate in one way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.analytics import VIEW, Crossing, Visit
from domain.geometry import segment_crosses, side_of_line
from domain.site import LineConfig, ZoneConfig  # noqa: F401  (ZoneConfig: the doctest builds one)
from domain.zones import PolygonZone

__all__ = [
    "presence_runs",
    "visits_of_track",
    "crossings_of_track",
    "EventRecord",
    "visits_from_events",
    "DetectionMetrics",
    "detection_metrics",
]


def presence_runs(
    t_s: npt.ArrayLike, inside: npt.ArrayLike, *, inertia: int = 1, max_gap_s: float = float("inf")
) -> list[tuple[float, float]]:
    """Debounced stretches of consecutive samples inside a zone: `[(t_enter_s, t_exit_s), ...]`.

    A stretch starts at the first sample of `inertia` consecutive samples inside and ends at the
    last sample inside before `inertia` consecutive samples outside (as the rules engine's zone
    membership does, so analytics and events agree). A gap of more than `max_gap_s` between two
    samples ends the stretch (the person was not seen: they may have left).

    Args:
        t_s: `(T,)` sample times, seconds, increasing.
        inside: `(T,)` bool, whether each sample is inside.
        inertia: consecutive samples needed to change state (>= 1). Raising it filters box jitter on
            the zone edge but misses visits shorter than `inertia` samples.
        max_gap_s: longest unobserved gap a stretch survives.

    Returns:
        The stretches, in order; a stretch of one sample has `t_enter_s == t_exit_s`.

    Raises:
        ValueError: mismatched lengths or `inertia < 1`.

    Example:
        >>> presence_runs([0, 1, 2, 3, 4, 5], [0, 1, 1, 0, 1, 1], inertia=1)
        [(1.0, 2.0), (4.0, 5.0)]
        >>> presence_runs([0, 1, 2, 3, 4, 5], [0, 1, 1, 0, 1, 1], inertia=2)
        [(1.0, 5.0)]
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    ins = np.asarray(inside, dtype=bool).reshape(-1)
    if t.shape != ins.shape:
        raise ValueError(f"t_s and inside must have the same length, but got {t.shape} and {ins.shape}")
    if inertia < 1:
        raise ValueError(f"inertia must be >= 1, but got {inertia}")
    runs: list[tuple[float, float]] = []
    if t.size == 0:
        return runs
    # Split at unobserved gaps first: each piece is debounced on its own.
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    for piece_t, piece_in in zip(np.split(t, cuts), np.split(ins, cuts)):
        runs.extend(_debounced(piece_t, piece_in, inertia))
    return runs


def _debounced(t: npt.NDArray[np.float64], ins: npt.NDArray[np.bool_], inertia: int) -> list[tuple[float, float]]:
    # Run-length encode, then flip state only on runs of at least `inertia` samples.
    change = np.flatnonzero(np.diff(ins.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(ins)]])
    state = False
    enter = last_inside = None
    out: list[tuple[float, float]] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        value, length = bool(ins[s]), e - s
        if value:
            if not state and length >= inertia:
                state, enter = True, t[s]
            if state:
                last_inside = t[e - 1]
        elif state and length >= inertia:
            out.append((float(enter), float(last_inside)))
            state = False
    if state:
        out.append((float(enter), float(last_inside)))
    return out


def visits_of_track(
    *,
    camera_id: str,
    person: str,
    t_s: npt.ArrayLike,
    foot_xy: npt.ArrayLike,
    zones: Mapping[str, PolygonZone],
    max_gap_s: float,
    track_id: int | None = None,
    global_id: str | None = None,
) -> list[Visit]:
    """A track's visits: to the camera's view (`VIEW`) and to each zone its foot point entered.

    Args:
        camera_id: camera id.
        person: the person key (`global_id` when known, else a per-track key).
        t_s: `(T,)` epoch seconds of the track's points, increasing.
        foot_xy: `(T, 2)` foot points `[x, y]` in pixels.
        zones: the camera's zones in the same pixels (built once per frame size), by name; each
            zone's `inertia_frames` debounces its membership.
        max_gap_s: a longer unobserved gap splits a visit.
        track_id: the per-camera track id.
        global_id: the cross-camera person id, if matched.

    Returns:
        The visits, `VIEW` first, then zones in name order, each in time order.

    Example:
        >>> zone = PolygonZone("z", ZoneConfig(polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]), (100, 100))
        >>> t = np.arange(0, 12.01, 0.5)  # standing still for 12 s, inside the zone
        >>> vs = visits_of_track(camera_id="c", person="p", t_s=t, foot_xy=np.tile([[10, 50]], (len(t), 1)),
        ...                      zones={"z": zone}, max_gap_s=2)
        >>> [(v.zone, v.dwell_s) for v in vs]
        [('', 12.0), ('z', 12.0)]
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    feet = np.asarray(foot_xy, dtype=np.float64).reshape(-1, 2)
    if len(t) != len(feet):
        raise ValueError(f"t_s and foot_xy must have the same length, but got {len(t)} and {len(feet)}")
    if len(t) == 0:
        return []

    def make(zone: str, runs: list[tuple[float, float]]) -> list[Visit]:
        return [Visit(camera_id, zone, person, a, b, track_id, global_id) for a, b in runs]

    visits = make(VIEW, presence_runs(t, np.ones(len(t), bool), max_gap_s=max_gap_s))
    for name in sorted(zones):
        zone = zones[name]
        visits += make(name, presence_runs(t, zone.trigger(feet), inertia=zone.inertia_frames, max_gap_s=max_gap_s))
    return visits


def crossings_of_track(
    *,
    camera_id: str,
    person: str,
    t_s: npt.ArrayLike,
    foot_xy: npt.ArrayLike,
    lines: Mapping[str, LineConfig],
    resolution_wh: tuple[int, int],
    max_gap_s: float,
) -> list[Crossing]:
    """A track's crossings of each counting line, each passage counted once, in its direction.

    Same semantics as the `line_cross` rule (`domain.zones.LineZone`): a point exactly on the line
    keeps the previous side, so stepping onto the line and on across counts once, and stepping on
    and back counts nothing; `in` is from the left-hand to the right-hand side of start → end. A
    gap of more than `max_gap_s` forgets the last side (a stale position never "crosses").

    Example:
        >>> line = LineConfig(start=[0, 0.5], end=[1, 0.5])
        >>> cs = crossings_of_track(camera_id="c", person="p", t_s=[0, 1, 2, 3], foot_xy=[[50, 40], [50, 60], [50, 50], [50, 40]],
        ...                         lines={"door": line}, resolution_wh=(100, 100), max_gap_s=5)
        >>> [(c.direction, c.t_s) for c in cs]
        [('in', 1.0), ('out', 3.0)]
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1)
    feet = np.asarray(foot_xy, dtype=np.float64).reshape(-1, 2)
    out: list[Crossing] = []
    if len(t) < 2:
        return out
    w, h = resolution_wh
    for name in sorted(lines):
        cfg = lines[name]
        a = np.array([cfg.start[0] * w, cfg.start[1] * h])
        b = np.array([cfg.end[0] * w, cfg.end[1] * h])
        sides = side_of_line(feet, a, b)
        last: int | None = None  # index of the last off-line point
        for i in range(len(t)):
            if last is not None and t[i] - t[last] > max_gap_s:
                last = None
            if sides[i] == 0:
                continue
            if last is not None and sides[i] != sides[last] and segment_crosses(feet[last], feet[i], a, b):
                out.append(Crossing(camera_id, name, "in" if sides[i] > 0 else "out", float(t[i]), person))
            last = i
    out.sort(key=lambda c: (c.t_s, c.line))
    return out


@dataclass(frozen=True)
class EventRecord:
    """A stored event as the live rollup needs it (times already in epoch seconds).

    Attributes:
        type: event type value (`zone_enter`, `zone_exit`, `dwell`, `line_cross`, ...).
        camera_id: camera id.
        track_id: per-camera track id (`None` for occupancy events).
        zone: zone or line name.
        t_start_s: epoch seconds of the start.
        t_end_s: epoch seconds of the end.
        payload: the event's payload (`direction` for crossings).
    """

    type: str
    camera_id: str
    track_id: int | None
    zone: str | None
    t_start_s: float
    t_end_s: float
    payload: Mapping[str, Any] = field(default_factory=dict)


def visits_from_events(
    events: Sequence[EventRecord], *, person_gap_s: float, max_visit_s: float
) -> tuple[list[Visit], list[Crossing]]:
    """Visits and crossings of a live camera from its stored events.

    - A `zone_exit` closes the latest open `zone_enter` of the same camera, track and zone (at
      most `max_visit_s` earlier); an enter never closed is not a visit yet (the person may still
      be inside).
    - A `dwell` event is a whole visit (`t_start_s` → `t_end_s`), used where no enter/exit pair of
      the same camera, track and zone overlaps it (zones with a dwell rule but no enter/exit rules).
    - A `line_cross` event is a crossing in `payload["direction"]`.

    Person keys: live track ids restart when a camera restarts, so one track's events separated
    by more than `person_gap_s` belong to different people: `"{camera}:{track}@{first epoch s}"`.
    Events without a track (occupancy) are ignored.

    Example:
        >>> ev = [EventRecord("zone_enter", "c", 1, "aisle", 100, 100), EventRecord("zone_exit", "c", 1, "aisle", 112, 112)]
        >>> [(v.zone, v.dwell_s) for v in visits_from_events(ev, person_gap_s=600, max_visit_s=3600)[0]]
        [('aisle', 12.0)]
    """
    ordered = sorted((e for e in events if e.track_id is not None), key=lambda e: (e.t_start_s, e.t_end_s))
    persons: dict[tuple[str, int], tuple[str, float]] = {}  # (camera, track) -> (key, last seen)

    def person_of(e: EventRecord) -> str:
        k = (e.camera_id, int(e.track_id))  # type: ignore[arg-type]
        current = persons.get(k)
        if current is None or e.t_start_s - current[1] > person_gap_s:
            current = (f"{e.camera_id}:{e.track_id}@{int(e.t_start_s)}", e.t_end_s)
        persons[k] = (current[0], max(current[1], e.t_end_s))
        return current[0]

    open_enters: dict[tuple[str, str, str], float] = {}
    paired: list[Visit] = []
    dwells: list[Visit] = []
    crossings: list[Crossing] = []
    for e in ordered:
        person = person_of(e)
        if e.type == "line_cross" and e.zone:
            direction = str(e.payload.get("direction", ""))
            if direction in ("in", "out"):
                crossings.append(Crossing(e.camera_id, e.zone, direction, e.t_start_s, person))
        elif e.type == "zone_enter" and e.zone:
            open_enters[(e.camera_id, person, e.zone)] = e.t_start_s
        elif e.type == "zone_exit" and e.zone:
            t_in = open_enters.pop((e.camera_id, person, e.zone), None)
            if t_in is not None and 0 <= e.t_start_s - t_in <= max_visit_s:
                paired.append(Visit(e.camera_id, e.zone, person, t_in, e.t_start_s, e.track_id))
        elif e.type == "dwell" and e.zone and e.t_end_s >= e.t_start_s:
            dwells.append(Visit(e.camera_id, e.zone, person, e.t_start_s, e.t_end_s, e.track_id))
    covered = {(v.camera_id, v.person, v.zone): [] for v in paired}
    for v in paired:
        covered[(v.camera_id, v.person, v.zone)].append((v.t_enter_s, v.t_exit_s))
    extra = [
        d for d in dwells
        if not any(a <= d.t_exit_s and d.t_enter_s <= b for a, b in covered.get((d.camera_id, d.person, d.zone), []))
    ]  # fmt: skip
    visits = sorted(paired + extra, key=lambda v: (v.t_enter_s, v.camera_id, v.zone))
    return visits, crossings


@dataclass(frozen=True)
class DetectionMetrics:
    """How well a camera (or video) was analysed.

    Attributes:
        frames_analysed: frames the detector ran on.
        duration_s: seconds of footage.
        analysed_fps: `frames_analysed / duration_s`.
        mean_people_per_frame: detected (not interpolated) track points per analysed frame.
        tracks: number of tracks.
        mean_track_s: mean track duration (s).
        fragmentation: share of track starts and ends that happen away from the frame border and
            away from the start and end of the footage, in 0–1. People enter and leave across the
            border, so a track beginning or ending mid-frame is most likely a fragment of a longer
            one (an occlusion or an identity switch). A proxy: without ground truth the MOT
            fragmentation count (Milan et al., MOT16, "Frag") cannot be measured.
    """

    frames_analysed: int
    duration_s: float
    analysed_fps: float
    mean_people_per_frame: float
    tracks: int
    mean_track_s: float
    fragmentation: float


def detection_metrics(
    tracks: Sequence[tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]],
    *,
    frames_analysed: int,
    duration_s: float,
    resolution_wh: tuple[int, int],
    border_frac: float = 0.05,
    edge_s: float = 1.0,
) -> DetectionMetrics:
    """Detection metrics of one video from its tracks.

    Args:
        tracks: per track `(t_s (T,) seconds from the video start, xyxy (T, 4) pixels,
            interpolated (T,) bool)`.
        frames_analysed: frames the detector ran on.
        duration_s: video length (s).
        resolution_wh: frame size `(width, height)`.
        border_frac: a box within this fraction of the frame size from an edge touches the border.
        edge_s: a track starting (ending) within this many seconds of the video's start (end) is
            not a fragment.

    Example:
        >>> m = detection_metrics([([0.0, 1.0], [[0, 10, 10, 50], [0, 10, 10, 50]], [False, False])],
        ...                       frames_analysed=2, duration_s=1.0, resolution_wh=(100, 100))
        >>> m.mean_people_per_frame, m.fragmentation
        (1.0, 0.0)
    """
    w, h = resolution_wh
    points = 0
    lengths: list[float] = []
    ends_total = ends_mid = 0
    for t_s, xyxy, interpolated in tracks:
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        if t.size == 0:
            continue
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        points += int((~np.asarray(interpolated, dtype=bool)).sum())
        lengths.append(float(t[-1] - t[0]))
        for i, near_edge_of_time in ((0, t[0] <= edge_s), (-1, t[-1] >= duration_s - edge_s)):
            x1, y1, x2, y2 = boxes[i]
            at_border = x1 <= border_frac * w or y1 <= border_frac * h or x2 >= (1 - border_frac) * w \
                or y2 >= (1 - border_frac) * h  # fmt: skip
            ends_total += 1
            ends_mid += int(not (at_border or near_edge_of_time))
    return DetectionMetrics(
        frames_analysed=int(frames_analysed),
        duration_s=float(duration_s),
        analysed_fps=float(frames_analysed / duration_s) if duration_s > 0 else 0.0,
        mean_people_per_frame=float(points / frames_analysed) if frames_analysed else 0.0,
        tracks=len(lengths),
        mean_track_s=float(np.mean(lengths)) if lengths else 0.0,
        fragmentation=float(ends_mid / ends_total) if ends_total else 0.0,
    )
