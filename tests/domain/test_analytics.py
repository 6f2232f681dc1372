"""Analytics maths on hand-made visits, tracks and events (no database)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise
from datetime import datetime, timezone

import numpy as np
import pytest

from domain.analytics import (
    VIEW,
    Crossing,
    RollupKind,
    TimeRange,
    TimeRangeError,
    Visit,
    auto_bucket_s,
    bucket_edges,
    dwell_stats,
    occupancy,
    occupancy_series,
    rollup_rows,
    transition_counts,
)
from domain.analytics_visits import (
    EventRecord,
    crossings_of_track,
    detection_metrics,
    presence_runs,
    visits_from_events,
    visits_of_track,
)
from domain.site import LineConfig, ZoneConfig
from domain.zones import PolygonZone

RES = (100, 100)
LEFT_HALF = ZoneConfig(polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]])
DOOR = LineConfig(start=[0, 0.5], end=[1, 0.5])  # `in` = crossing downwards on the image


def standing(x: float, y: float, seconds: float, fps: float = 10.0, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`(t_s, foot_xy)` of a person standing at `(x, y)` for `seconds`."""
    t = t0 + np.arange(0, round(seconds * fps) + 1) / fps
    return t, np.tile([[x, y]], (len(t), 1)).astype(np.float64)


def walking(points: list[tuple[float, float]], fps: float = 10.0, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`(t_s, foot_xy)` visiting `points` one sample each."""
    return t0 + np.arange(len(points)) / fps, np.array(points, dtype=np.float64).reshape(-1, 2)


# ------------------------------------------------------------------------------------------ visits
@pytest.mark.parametrize(
    ("track", "expected", "exception"),
    [
        (standing(10, 50, 0)[:1] + (np.empty((0, 2)),), [], pytest.raises(ValueError)),  # mismatched lengths
        ((np.empty(0), np.empty((0, 2))), [], DoesNotRaise()),  # empty track: no visit
        (standing(10, 50, 12), [(VIEW, 12.0), ("z", 12.0)], DoesNotRaise()),  # standing 12 s in the zone: dwell 12 s
        (standing(90, 50, 12), [(VIEW, 12.0)], DoesNotRaise()),  # standing 12 s outside: only in view
        (walking([(90, 50), (10, 50), (10, 50), (90, 50)]), [(VIEW, 0.3), ("z", 0.1)], DoesNotRaise()),  # in for 2 samples
    ],
)
def test_visits_of_track(track, expected, exception) -> None:
    t, feet = track
    with exception:
        visits = visits_of_track(camera_id="c", person="p", t_s=t, foot_xy=feet,
                                 zones={"z": PolygonZone("z", LEFT_HALF, RES)}, max_gap_s=2.0)
        assert [(v.zone, round(v.dwell_s, 6)) for v in visits] == expected


@pytest.mark.parametrize(
    ("t", "inside", "inertia", "max_gap_s", "expected"),
    [
        ([], [], 1, 10, []),  # empty input
        ([0, 1, 2], [1, 1, 1], 1, 10, [(0.0, 2.0)]),  # one stretch
        ([0, 1, 2, 3, 4], [1, 1, 0, 1, 1], 1, 10, [(0.0, 1.0), (3.0, 4.0)]),  # left for one sample
        ([0, 1, 2, 3, 4], [1, 1, 0, 1, 1], 2, 10, [(0.0, 4.0)]),  # ... which inertia 2 ignores
        ([0, 1, 2, 3], [0, 1, 0, 0], 2, 10, []),  # one sample inside is below inertia 2
        ([0, 1, 10, 11], [1, 1, 1, 1], 1, 5, [(0.0, 1.0), (10.0, 11.0)]),  # unseen 9 s: two visits
    ],
)
def test_presence_runs(t, inside, inertia, max_gap_s, expected) -> None:
    assert presence_runs(t, inside, inertia=inertia, max_gap_s=max_gap_s) == expected


# --------------------------------------------------------------------------------------- occupancy
@pytest.mark.parametrize(
    ("intervals", "edges", "person_s", "peak", "exception"),
    [
        ([], [0, 60], [0.0], [0], DoesNotRaise()),  # empty input: nobody
        ([[0, 60]], [0, 60], [60.0], [1], DoesNotRaise()),  # one person the whole minute
        ([[0, 60], [0, 60]], [0, 60], [120.0], [2], DoesNotRaise()),  # two people at once: occupancy 2
        ([[0, 20], [30, 50]], [0, 60], [40.0], [1], DoesNotRaise()),  # two people one after the other: peak 1
        ([[50, 70]], [0, 60, 120], [10.0, 10.0], [1, 1], DoesNotRaise()),  # across a bucket edge
        ([[5, 5]], [0, 60], [0.0], [1], DoesNotRaise()),  # one sample: present, no person-seconds
        ([[0, 12], [12, 20]], [0, 60], [20.0], [2], DoesNotRaise()),  # meeting at one instant counts two
        ([[130, 140]], [0, 60, 120], [0.0, 0.0], [0, 0], DoesNotRaise()),  # after the range
        ([[10, 5]], [0, 60], None, None, pytest.raises(ValueError)),  # ends before it starts
        ([[0, 1]], [0], None, None, pytest.raises(ValueError)),  # no bucket
    ],
)
def test_occupancy(intervals, edges, person_s, peak, exception) -> None:
    with exception:
        ps, pk = occupancy(intervals, edges)
        assert ps.tolist() == pytest.approx(person_s)
        assert pk.tolist() == peak


def test_occupancy_series_peak_and_mean() -> None:
    # People in 10-second buckets: one from 0-30, a second from 10-20, nobody later.
    s = occupancy_series([[0, 30], [10, 20]], 0, 60, 10)
    assert s.peak.tolist() == [1, 2, 2, 1, 0, 0]
    assert s.mean.tolist() == pytest.approx([1.0, 2.0, 1.0, 0.0, 0.0, 0.0])
    assert s.peak_value == 2 and s.peak_at_s == 10.0
    assert s.overall_mean == pytest.approx(40 / 60)


def test_empty_series_keeps_the_range() -> None:
    s = occupancy_series(np.empty((0, 2)), 120, 300, 60)
    assert s.t_s.tolist() == [120.0, 180.0, 240.0]
    assert s.peak_value == 0 and s.peak_at_s is None and s.overall_mean == 0.0


@pytest.mark.parametrize(
    ("t_from", "t_to", "bucket_s", "expected", "exception"),
    [
        (0, 60, 60, [0.0, 60.0], DoesNotRaise()),
        (30, 150, 60, [0.0, 60.0, 120.0, 180.0], DoesNotRaise()),  # aligned to the bucket
        (0, 60, 0, None, pytest.raises(ValueError)),  # no bucket length
    ],
)
def test_bucket_edges(t_from, t_to, bucket_s, expected, exception) -> None:
    with exception:
        assert bucket_edges(t_from, t_to, bucket_s).tolist() == expected


def test_auto_bucket_grows_with_the_range() -> None:
    assert auto_bucket_s(3600) == 60
    assert auto_bucket_s(31 * 86400) == 6 * 3600


# ------------------------------------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    ("t_from", "t_to", "max_s", "field", "exception"),
    [
        (datetime(2026, 1, 1), datetime(2026, 1, 2), None, None, DoesNotRaise()),  # naive = UTC
        (None, datetime(2026, 1, 2), None, "from", pytest.raises(TimeRangeError)),  # unbounded
        (datetime(2026, 1, 1), None, None, "to", pytest.raises(TimeRangeError)),  # unbounded
        (datetime(2026, 1, 2), datetime(2026, 1, 1), None, "to", pytest.raises(TimeRangeError)),  # inverted
        (datetime(2026, 1, 1), datetime(2026, 1, 1), None, "to", pytest.raises(TimeRangeError)),  # empty
        (datetime(2026, 1, 1), datetime(2026, 3, 1), 30 * 86400, "to", pytest.raises(TimeRangeError)),  # too long
    ],
)
def test_time_range(t_from, t_to, max_s, field, exception) -> None:
    with exception as caught:
        rng = TimeRange.from_datetimes(t_from, t_to, max_s=max_s)
        assert rng.t_from_s == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    if field is not None:
        assert caught.value.field == field and field in str(caught.value)


# -------------------------------------------------------------------------------------------- dwell
@pytest.mark.parametrize(
    ("dwell", "visits", "bounces", "median", "p90", "histogram"),
    [
        ([], 0, 0, None, None, [0, 0, 0]),  # empty input
        ([12.0], 1, 0, 12.0, 12.0, [0, 1, 0]),  # the 12 s visit
        ([1.0, 3.0, 12.0, 100.0], 4, 2, 7.5, 73.6, [2, 1, 1]),  # beyond the last edge: the last bin
    ],
)
def test_dwell_stats(dwell, visits, bounces, median, p90, histogram) -> None:
    s = dwell_stats(dwell, bounce_s=5.0, bin_edges_s=[0, 10, 30, 60])
    assert (s.visits, s.bounces, s.histogram) == (visits, bounces, histogram)
    assert s.median_s == (pytest.approx(median) if median is not None else None)
    assert s.p90_s == (pytest.approx(p90) if p90 is not None else None)


def test_dwell_stats_refuses_bad_edges() -> None:
    with pytest.raises(ValueError, match="bin_edges_s"):
        dwell_stats([1], bounce_s=5, bin_edges_s=[10, 5])


# ---------------------------------------------------------------------------------------- crossings
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([], []),  # empty input
        ([(50, 40), (50, 60)], ["in"]),  # one crossing downwards: in, counted once
        ([(50, 60), (50, 40)], ["out"]),  # upwards: out
        ([(50, 40), (50, 60), (50, 40)], ["in", "out"]),  # across and back: once per direction
        ([(50, 40), (50, 50), (50, 50), (50, 60)], ["in"]),  # lingering on the line: still once
        ([(50, 40), (50, 50), (50, 40)], []),  # onto the line and back: nothing
        ([(50, 40), (50, 45), (50, 48)], []),  # approaching, never across
    ],
)
def test_crossings_of_track(path, expected) -> None:
    t, feet = walking(path) if path else (np.empty(0), np.empty((0, 2)))
    crossings = crossings_of_track(camera_id="c", person="p", t_s=t, foot_xy=feet, lines={"door": DOOR},
                                   resolution_wh=RES, max_gap_s=5)
    assert [c.direction for c in crossings] == expected


def test_crossing_after_a_long_gap_is_not_counted() -> None:
    crossings = crossings_of_track(camera_id="c", person="p", t_s=[0, 30], foot_xy=[[50, 40], [50, 60]],
                                   lines={"door": DOOR}, resolution_wh=RES, max_gap_s=5)
    assert crossings == []


# -------------------------------------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("visits", "expected"),
    [
        ([], {}),  # empty input
        ([Visit("c", "aisle", "p", 0, 5), Visit("c", "till", "p", 8, 20)], {("aisle", "till"): 1}),
        ([Visit("c", "aisle", "p", 0, 5), Visit("c", "till", "p", 500, 520)], {}),  # too long between
        ([Visit("c", "aisle", "p", 0, 5), Visit("c", "aisle", "p", 8, 9)], {}),  # same zone again: no path
        ([Visit("c", "aisle", "p", 0, 5), Visit("c", "till", "q", 8, 20)], {}),  # two people
        ([Visit("c", VIEW, "p", 0, 50), Visit("c", "aisle", "p", 1, 5), Visit("c", "till", "p", 8, 9),
          Visit("c", "doors", "p", 10, 12)], {("aisle", "till"): 1, ("till", "doors"): 1}),  # the view is no zone
    ],
)
def test_transition_counts(visits, expected) -> None:
    assert dict(transition_counts(visits, max_gap_s=60)) == expected


# ------------------------------------------------------------------------------------------ rollups
def test_rollup_rows_two_people_and_a_crossing() -> None:
    visits = [Visit("c", "aisle", "p", 10, 70), Visit("c", "aisle", "q", 20, 30), Visit("c", "till", "p", 80, 90)]
    crossings = [Crossing("c", "door", "in", 15, "p"), Crossing("c", "door", "out", 95, "p")]
    rows = rollup_rows(visits, crossings, bucket_s=60, path_max_gap_s=60)
    by = {(r.kind, r.name, r.t_bucket): r for r in rows}
    first = by[(RollupKind.ZONE, "aisle", 0)]
    assert (first.person_s, first.peak, first.entries, first.exits) == (60.0, 2, 2, 1)  # 50 + 10 person-seconds
    second = by[(RollupKind.ZONE, "aisle", 60)]
    assert (second.person_s, second.peak, second.entries, second.exits) == (10.0, 1, 0, 1)
    assert (by[(RollupKind.LINE, "door", 0)].entries, by[(RollupKind.LINE, "door", 60)].exits) == (1, 1)
    path = by[(RollupKind.PATH, "aisle", 60)]
    assert (path.to_name, path.entries) == ("till", 1)
    assert (by[(RollupKind.PEOPLE, VIEW, 0)].entries, sum(r.entries for r in rows if r.kind is RollupKind.PEOPLE)) == (2, 2)


def test_rollup_rows_of_nothing() -> None:
    assert rollup_rows([], [], bucket_s=60, path_max_gap_s=60) == []


def test_hour_rollups_sum_to_the_minutes() -> None:
    rng = np.random.default_rng(3)
    starts = rng.uniform(0, 7200, 50)
    visits = [Visit("c", "z", f"p{i}", s, s + d) for i, (s, d) in enumerate(zip(starts, rng.uniform(0, 300, 50)))]
    minutes = rollup_rows(visits, [], bucket_s=60, path_max_gap_s=60)
    hours = rollup_rows(visits, [], bucket_s=3600, path_max_gap_s=60)
    assert sum(r.person_s for r in hours) == pytest.approx(sum(r.person_s for r in minutes))
    zone = RollupKind.ZONE
    assert sum(r.entries for r in hours if r.kind is zone) == sum(r.entries for r in minutes if r.kind is zone) == 50
    people = RollupKind.PEOPLE
    assert sum(r.entries for r in hours if r.kind is people) == sum(r.entries for r in minutes if r.kind is people) == 50
    hours = [r for r in hours if r.kind is zone]
    minutes = [r for r in minutes if r.kind is zone]
    for h in hours:
        assert h.peak == max(r.peak for r in minutes if h.t_bucket <= r.t_bucket < h.t_bucket + 3600)


# ------------------------------------------------------------------------------------- live events
@pytest.mark.parametrize(
    ("events", "visits", "crossings"),
    [
        ([], [], []),  # empty input
        ([EventRecord("zone_enter", "c", 1, "aisle", 100, 100), EventRecord("zone_exit", "c", 1, "aisle", 112, 112)],
         [("aisle", 12.0)], []),  # enter + exit = a 12 s visit
        ([EventRecord("zone_enter", "c", 1, "aisle", 100, 100)], [], []),  # still inside: no visit yet
        ([EventRecord("dwell", "c", 2, "aisle", 100, 130)], [("aisle", 30.0)], []),  # a dwell event is a visit
        ([EventRecord("zone_enter", "c", 1, "aisle", 100, 100), EventRecord("dwell", "c", 1, "aisle", 100, 112),
          EventRecord("zone_exit", "c", 1, "aisle", 112, 112)], [("aisle", 12.0)], []),  # counted once
        ([EventRecord("line_cross", "c", 3, "door", 50, 50, {"direction": "in"}),
          EventRecord("line_cross", "c", 3, "door", 60, 60, {"direction": "out"})], [], ["in", "out"]),
        ([EventRecord("occupancy", "c", None, "aisle", 50, 60)], [], []),  # no person: ignored
    ],
)
def test_visits_from_events(events, visits, crossings) -> None:
    v, c = visits_from_events(events, person_gap_s=600, max_visit_s=3600)
    assert [(x.zone, x.dwell_s) for x in v] == visits
    assert [x.direction for x in c] == crossings


def test_a_restarted_camera_reusing_a_track_id_is_another_person() -> None:
    events = [EventRecord("dwell", "c", 1, "aisle", 0, 10), EventRecord("dwell", "c", 1, "aisle", 5000, 5010)]
    visits, _ = visits_from_events(events, person_gap_s=600, max_visit_s=3600)
    assert len({v.person for v in visits}) == 2


# ---------------------------------------------------------------------------------- detection metrics
def test_detection_metrics() -> None:
    border = ([0.0, 1.0], [[0, 20, 10, 60], [0, 20, 10, 60]], [False, False])  # starts and ends at the border
    fragment = ([2.0, 3.0], [[40, 20, 50, 60], [40, 20, 50, 60]], [False, True])  # starts and ends mid-frame
    m = detection_metrics([border, fragment], frames_analysed=4, duration_s=10.0, resolution_wh=RES)
    assert m.tracks == 2 and m.analysed_fps == pytest.approx(0.4)
    assert m.mean_people_per_frame == pytest.approx(3 / 4)  # interpolated points are not detections
    assert m.fragmentation == pytest.approx(2 / 4)
    empty = detection_metrics([], frames_analysed=0, duration_s=0.0, resolution_wh=RES)
    assert (empty.tracks, empty.fragmentation, empty.analysed_fps) == (0, 0.0, 0.0)
