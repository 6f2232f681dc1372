"""Camera health: the state machine, counters and rolling rates (table-driven)."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.health import CameraHealth, CameraState, HealthTracker

S = CameraState


def apply(tracker: HealthTracker, ops: list[tuple]) -> list[tuple[S, S]]:
    """Run `(method, *args)` operations; return the `(previous, state)` transitions reported."""
    changes = []
    for name, *args in ops:
        change = getattr(tracker, name)(*args)
        if change is not None:
            changes.append((change.previous, change.state))
    return changes


@pytest.mark.parametrize(
    ("ops", "state", "transitions", "reconnects", "error"),
    [
        ([], S.STARTING, [], 0, None),  # empty: nothing happened yet
        ([("frame_decoded", 1.0)], S.STREAMING, [(S.STARTING, S.STREAMING)], 0, None),  # first frame
        (
            [("frame_decoded", 1.0), ("frame_decoded", 1.1)],
            S.STREAMING, [(S.STARTING, S.STREAMING)], 0, None,
        ),  # more frames: no further change
        (
            [("frame_decoded", 1.0), ("source_lost", 2.0, "timeout")],
            S.RECONNECTING, [(S.STARTING, S.STREAMING), (S.STREAMING, S.RECONNECTING)], 1, "timeout",
        ),  # lost after streaming: one reconnect
        (
            [("frame_decoded", 1.0), ("source_lost", 2.0, "x"), ("source_lost", 2.5, "x"), ("frame_decoded", 3.0)],
            S.STREAMING,
            [(S.STARTING, S.STREAMING), (S.STREAMING, S.RECONNECTING), (S.RECONNECTING, S.STREAMING)],
            1, None,
        ),  # failed attempts while reconnecting do not count as reconnects; error clears on a frame
        (
            [("source_lost", 1.0, "refused")],
            S.RECONNECTING, [(S.STARTING, S.RECONNECTING)], 0, "refused",
        ),  # never streamed: reconnecting, no reconnect counted
        (
            [("source_lost", 1.0, "x"), ("source_lost", 2.0, "x"), ("source_lost", 3.0, "down")],
            S.ERROR, [(S.STARTING, S.RECONNECTING), (S.RECONNECTING, S.ERROR)], 0, "down",
        ),  # error_after_failures=3 failures in a row
        (
            [("source_lost", t, "x") for t in (1.0, 2.0, 3.0, 4.0)] + [("frame_decoded", 5.0)],
            S.STREAMING,
            [(S.STARTING, S.RECONNECTING), (S.RECONNECTING, S.ERROR), (S.ERROR, S.STREAMING)],
            0, None,
        ),  # a failing camera that comes back leaves error
        (
            [("source_broken", 0.0, "bad scheme"), ("frame_decoded", 1.0), ("source_lost", 2.0, "y")],
            S.ERROR, [(S.STARTING, S.ERROR)], 0, "bad scheme",
        ),  # permanent error sticks
        (
            [("frame_decoded", 1.0), ("stopped", 2.0), ("frame_decoded", 3.0), ("source_lost", 3.0, "z")],
            S.STOPPED, [(S.STARTING, S.STREAMING), (S.STREAMING, S.STOPPED)], 0, None,
        ),  # stopped is final
    ],
)
def test_state_machine(ops, state, transitions, reconnects, error):
    tracker = HealthTracker("cam", error_after_failures=3)
    assert apply(tracker, ops) == transitions
    health = tracker.snapshot(10.0)
    assert (health.state, health.reconnects, health.error) == (state, reconnects, error)


@pytest.mark.parametrize(
    ("decoded", "analysed", "now", "fps_in", "fps_out"),
    [
        ([], [], 10.0, 0.0, 0.0),  # empty: no frames, no rate
        ([i / 10 for i in range(100)], [i / 5 for i in range(50)], 10.0, 10.0, 5.0),  # 10 fps in, 5 out
        ([i / 10 for i in range(100)], [], 30.0, 0.0, 0.0),  # frames stopped 20 s ago: rates decay to 0
        ([0.5, 1.0], [1.0], 2.0, 2 / 1.5, 1 / 1.5),  # shorter than the window: counted from the first frame
    ],
)
def test_rates(decoded, analysed, now, fps_in, fps_out):
    tracker = HealthTracker("cam", window_s=5.0)
    for t in decoded:
        tracker.frame_decoded(t)
    for t in analysed:
        tracker.frame_analysed(t, t - 0.05)
    health = tracker.snapshot(now)
    assert health.fps_in == pytest.approx(fps_in, abs=0.21)
    assert health.fps_out == pytest.approx(fps_out, abs=0.21)


def test_lag_drops_and_dict():
    tracker = HealthTracker("cam")
    tracker.frame_decoded(100.1)
    tracker.frame_dropped()
    tracker.frame_dropped()
    tracker.frame_analysed(100.4, captured_s=100.1)
    data = tracker.snapshot(101.0).as_dict()
    assert data["state"] == "streaming" and data["dropped_frames"] == 2
    assert data["lag_s"] == pytest.approx(0.3) and data["last_frame_at"] == 100.1
    assert CameraHealth("c", S.STARTING).as_dict()["lag_s"] is None


@pytest.mark.parametrize(
    ("kwargs", "expectation"),
    [
        ({}, DoesNotRaise()),  # defaults
        ({"window_s": 0.0}, pytest.raises(ValueError, match="window_s")),  # empty window
        ({"error_after_failures": 0}, pytest.raises(ValueError, match="error_after_failures")),  # never errors
    ],
)
def test_arguments(kwargs, expectation):
    with expectation:
        HealthTracker("cam", **kwargs)
