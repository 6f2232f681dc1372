from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest
import supervision as sv

from tests.domain.domain_helpers import make_detections, make_engine, run_frames, summary

# 100x100 frame. Zone A: left half; zone B: right half, top; zone C (checkout): right half, bottom.
ZONES = """
zones:
  A: {kind: shelf, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], inertia_frames: %d}
  B: {kind: exit, polygon: [[0.5, 0], [1, 0], [1, 0.5], [0.5, 0.5]]}
  C: {kind: checkout, polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]]}
lines:
  L: {start: [0, 0.5], end: [1, 0.5]}
rules:
"""
IN_A, OUT = (20, 20), (80, 20)  # foot points: inside A; inside B (outside A)
IN_B, IN_C = (80, 20), (80, 80)


def engine_with(rule: str, inertia: int = 1):
    return make_engine(ZONES % inertia + "  " + rule)


def walk(track: int, *points, conf: float = 0.9) -> list[list[tuple]]:
    """One track's foot point per frame (None = not observed that frame)."""
    return [[] if p is None else [(track, *p, conf)] for p in points]


@pytest.mark.parametrize(
    ("rule", "inertia", "frames", "expected"),
    [
        ("r: {type: zone_enter, zone: A}", 1, [], []),  # empty input
        ("r: {type: zone_enter, zone: A}", 1, walk(1, OUT, IN_A, IN_A), [("zone_enter", "r", 1, "A", 1.0, 1.0)]),  # enter
        ("r: {type: zone_enter, zone: A}", 1, walk(1, IN_A), [("zone_enter", "r", 1, "A", 0.0, 0.0)]),  # first seen inside
        ("r: {type: zone_exit, zone: A}", 1, walk(1, IN_A, OUT), [("zone_exit", "r", 1, "A", 1.0, 1.0)]),  # exit
        ("r: {type: zone_enter, zone: A}", 3, walk(1, OUT, IN_A, IN_A, OUT, IN_A), []),  # inertia 3: too brief
        ("r: {type: zone_enter, zone: A}", 3, walk(1, IN_A, IN_A, IN_A), [("zone_enter", "r", 1, "A", 2.0, 2.0)]),  # inertia 3 met
        ("r: {type: zone_enter, zone: A}", 2, walk(1, IN_A, None, IN_A), [("zone_enter", "r", 1, "A", 2.0, 2.0)]),  # gap does not break streak
        ("r: {type: zone_exit, zone: A}", 2, walk(1, IN_A, IN_A, OUT, IN_A, OUT), []),  # jitter out is ignored
        ("r: {type: zone_enter, zone: A}", 1, walk(1, IN_A, OUT, IN_A, OUT, IN_A), [  # re-entries, no cool-down
            ("zone_enter", "r", 1, "A", 0.0, 0.0), ("zone_enter", "r", 1, "A", 2.0, 2.0),
            ("zone_enter", "r", 1, "A", 4.0, 4.0)]),
        ("r: {type: zone_enter, zone: A, cooldown_s: 3}", 1, walk(1, IN_A, OUT, IN_A, OUT, IN_A), [  # cool-down
            ("zone_enter", "r", 1, "A", 0.0, 0.0), ("zone_enter", "r", 1, "A", 4.0, 4.0)]),
        ("r: {type: zone_enter, zone: A, min_confidence: 0.5}", 1, walk(1, IN_A, IN_A, conf=0.4), []),  # low confidence
        ("r: {type: zone_enter, zone: A, enabled: false}", 1, walk(1, IN_A), []),  # disabled rule
        ("r: {type: zone_exit, zone: A}", 1, walk(1, IN_A, None, None, None, None), [  # lost inside: exit at last sighting
            ("zone_exit", "r", 1, "A", 0.0, 0.0)]),
    ],
)
def test_zone_enter_exit(rule, inertia, frames, expected) -> None:
    assert summary(run_frames(engine_with(rule, inertia), frames)) == expected


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        ("r: {type: dwell, zone: A, dwell_s: 2}", [], []),  # empty input
        ("r: {type: dwell, zone: A, dwell_s: 2}", walk(1, IN_A, IN_A, IN_A, OUT), [  # 3 s visit
            ("dwell", "r", 1, "A", 0.0, 3.0)]),
        ("r: {type: dwell, zone: A, dwell_s: 5}", walk(1, IN_A, IN_A, IN_A, OUT), []),  # under threshold
        ("r: {type: dwell, zone: A, dwell_s: 2}", walk(1, OUT, IN_A, IN_A, IN_A, IN_A), [  # open at finish: real t_end
            ("dwell", "r", 1, "A", 1.0, 4.0)]),
        ("r: {type: dwell, zone: A, dwell_s: 5}", walk(1, OUT, IN_A, IN_A), []),  # open at finish, too short
        ("r: {type: dwell, zone: A, dwell_s: 1}", walk(1, IN_A, IN_A, OUT, IN_A, IN_A, OUT), [  # two visits
            ("dwell", "r", 1, "A", 0.0, 2.0), ("dwell", "r", 1, "A", 3.0, 5.0)]),
        ("r: {type: dwell, zone: A, dwell_s: 1, cooldown_s: 10}", walk(1, IN_A, IN_A, OUT, IN_A, IN_A, OUT), [
            ("dwell", "r", 1, "A", 0.0, 2.0)]),  # cool-down suppresses the second visit
        ("r: {type: dwell, zone: A, dwell_s: 1, min_confidence: 0.95}", walk(1, IN_A, IN_A, OUT), []),  # low conf
    ],
)
def test_dwell(rule, frames, expected) -> None:
    events = run_frames(engine_with(rule), frames)
    assert summary(events) == expected
    for event in events:
        assert event.payload["dwell_s"] == pytest.approx(event.duration_s)


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        ("r: {type: line_cross, line: L}", [], []),  # empty input
        ("r: {type: line_cross, line: L}", walk(1, (50, 40), (50, 60)), [("in", 1.0)]),  # downwards = in
        ("r: {type: line_cross, line: L}", walk(1, (50, 60), (50, 40)), [("out", 1.0)]),  # upwards = out
        ("r: {type: line_cross, line: L, direction: in}", walk(1, (50, 60), (50, 40)), []),  # filtered direction
        ("r: {type: line_cross, line: L, direction: out}", walk(1, (50, 40), (50, 60), (50, 40)), [("out", 2.0)]),
        ("r: {type: line_cross, line: L}", walk(1, (50, 40), (50, 60), (50, 40)), [("in", 1.0), ("out", 2.0)]),
        ("r: {type: line_cross, line: L, cooldown_s: 5}", walk(1, (50, 40), (50, 60), (50, 40)), [("in", 1.0)]),
        ("r: {type: line_cross, line: L, min_confidence: 0.95}", walk(1, (50, 40), (50, 60)), []),  # low conf
        ("r: {type: line_cross, line: L}", walk(1, (50, 40), None, None, None, None, (50, 60)), []),  # stale: lost
    ],
)
def test_line_cross(rule, frames, expected) -> None:
    events = run_frames(engine_with(rule), frames)
    assert [(e.payload["direction"], e.t_start_s) for e in events] == expected
    assert all(e.zone == "L" and e.type.value == "line_cross" for e in events)


BYPASS = "r: {type: zone_sequence, sequence: [A, B], absent: [C], within_s: 10}"


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        (BYPASS, [], []),  # empty input
        (BYPASS, walk(1, IN_A, IN_A, IN_B), [(1, 0.0, 2.0, ["A", "B"])]),  # shelf -> exit: bypass
        (BYPASS, walk(1, IN_A, IN_C, IN_B), []),  # via checkout: no bypass
        (BYPASS, walk(1, IN_B, IN_A), []),  # wrong order
        (BYPASS, walk(1, IN_A, *[IN_A] * 11, IN_B), []),  # 12 s > within_s
        (BYPASS, walk(1, IN_A, IN_C, IN_A, IN_B), [(1, 2.0, 3.0, ["A", "B"])]),  # back to shelf after checkout
        ("r: {type: zone_sequence, sequence: [A, B]}", walk(1, IN_A, IN_B, IN_A, IN_B), [  # repeats
            (1, 0.0, 1.0, ["A", "B"]), (1, 2.0, 3.0, ["A", "B"])]),
        ("r: {type: zone_sequence, sequence: [A, B], cooldown_s: 60}", walk(1, IN_A, IN_B, IN_A, IN_B), [
            (1, 0.0, 1.0, ["A", "B"])]),  # cool-down
        ("r: {type: zone_sequence, sequence: [A, C, B]}", walk(1, IN_A, IN_C, IN_B), [  # three zones
            (1, 0.0, 2.0, ["A", "C", "B"])]),
        (BYPASS.replace("within_s: 10", "min_confidence: 0.95"), walk(1, IN_A, IN_B), []),  # low confidence
    ],
)
def test_zone_sequence(rule, frames, expected) -> None:
    events = run_frames(engine_with(rule), frames)
    assert [(e.track_id, e.t_start_s, e.t_end_s, e.payload["zones"]) for e in events] == expected


def crowd(n: int, x: float = 20) -> list[tuple]:
    return [(track, x, 10 + 10 * track, 0.8) for track in range(n)]


def leave() -> list[tuple]:
    """Track 0 stays in A; tracks 1 and 2 step out (an unobserved track would still count)."""
    return [(0, 20, 10, 0.8), (1, 80, 20, 0.8), (2, 80, 30, 0.8)]


@pytest.mark.parametrize(
    ("rule", "frames", "expected"),
    [
        ("r: {type: occupancy, zone: A, max_count: 2}", [], []),  # empty input
        ("r: {type: occupancy, zone: A, max_count: 2, for_s: 2}",  # 3 people for 3 s, then 1
         [crowd(3), crowd(3), crowd(3), crowd(1)], [(0.0, 3.0, 3)]),
        ("r: {type: occupancy, zone: A, max_count: 2, for_s: 5}", [crowd(3), crowd(3), crowd(1)], []),  # too short
        ("r: {type: occupancy, zone: A, max_count: 2, for_s: 1}", [crowd(1), crowd(3), crowd(4), crowd(4)],
         [(1.0, 3.0, 4)]),  # still open at finish; peak 4
        ("r: {type: occupancy, zone: A, max_count: 2}", [crowd(3), leave(), crowd(3), leave()],
         [(0.0, 1.0, 3), (2.0, 3.0, 3)]),  # two episodes
        ("r: {type: occupancy, zone: A, max_count: 2, cooldown_s: 10}", [crowd(3), leave(), crowd(3), leave()],
         [(0.0, 1.0, 3)]),  # cool-down on (rule, zone)
        ("r: {type: occupancy, zone: A, max_count: 2, min_confidence: 0.9}", [crowd(3), crowd(3)], []),  # low conf
        ("r: {type: occupancy, zone: A, max_count: 2}", [crowd(3, x=80), crowd(3, x=80)], []),  # outside the zone
    ],
)
def test_occupancy(rule, frames, expected) -> None:
    events = run_frames(engine_with(rule), frames)
    assert [(e.t_start_s, e.t_end_s, e.payload["max_count"]) for e in events] == expected
    assert all(e.track_id is None and e.confidence == pytest.approx(0.8) for e in events)


@pytest.mark.parametrize(
    ("detections", "exception"),
    [
        (make_detections(xyxy=[], tracker_id=[]), DoesNotRaise()),  # empty input
        (make_detections(xyxy=[[0, 0, 10, 10]]), pytest.raises(ValueError)),  # no tracker_id
        (sv.Detections(xyxy=np.array([[10, 0, 20, 20]], float), tracker_id=np.array([1])), DoesNotRaise()),  # no conf
    ],
)
def test_update_validates_detections(detections, exception) -> None:
    engine = engine_with("r: {type: zone_enter, zone: A}")
    with exception:
        events = engine.update(detections, frame_index=0, t_s=0.0)
        assert all(e.confidence == 1.0 for e in events)


def test_event_fields_and_confidence() -> None:
    engine = engine_with("r: {type: zone_enter, zone: A, clip: false}", inertia=2)
    frames = [[(7, *IN_A, 0.6)], [(7, *IN_A, 0.8)]]
    (event,) = run_frames(engine, frames, fps=10)
    assert (event.camera_id, event.frame_start, event.frame_end, event.clip) == ("cam", 1, 1, False)
    assert event.t_start_s == pytest.approx(0.1)
    assert event.confidence == pytest.approx(0.7)  # mean over the inertia streak


def test_rules_with_different_min_confidence_are_independent() -> None:
    engine = engine_with("lo: {type: zone_enter, zone: A}\n  hi: {type: zone_enter, zone: A, min_confidence: 0.7}")
    events = run_frames(engine, [[(1, *IN_A, 0.5)], [(1, *IN_A, 0.9)]])
    assert [(e.rule, e.t_start_s) for e in events] == [("lo", 0.0), ("hi", 1.0)]


def test_no_duplicate_events_and_reset() -> None:
    engine = engine_with("r: {type: zone_enter, zone: A}")
    dets = make_detections(xyxy=[[15, 0, 25, 20]], tracker_id=[1], confidence=[0.9])
    first = engine.update(dets, frame_index=0, t_s=0.0)
    engine.reset()  # state forgotten: the same frame fires again, once
    again = engine.update(dets, frame_index=0, t_s=0.0)
    assert len(first) == len(again) == 1
    # the gate itself never lets an identical event through twice
    evaluator = engine.evaluators[0]
    assert evaluator.gate.admit(again[0], key="other", now_s=99.0) is False


def test_event_gate_memory_is_bounded_in_time() -> None:
    from domain.events import Event, EventType
    from domain.rules.base import EventGate

    gate = EventGate(cooldown_s=5.0, dedup_s=60.0)
    for i in range(20_000):  # one new person a second for 5.5 hours
        t = float(i)
        event = Event(EventType.ZONE_ENTER, "r", "cam", i, "z", t, t, i * 10, i * 10, 0.9)
        assert gate.admit(event, key=(i, "z"), now_s=t)
        assert not gate.admit(event, key=(i, "z"), now_s=t + 0.1)  # still de-duplicated and cooled down
    assert len(gate) <= 70  # about the last minute of firings, not 20 000
