from contextlib import ExitStack as DoesNotRaise
from dataclasses import replace

import pytest

from domain.behaviour import BehaviourClass, ZoneVisit, detect_bypass, detect_concealment
from domain.interactions import ShelfVisit, detect_shelf_visits
from domain.site import ZoneKind
from tests.domain.test_interactions import make_trajectory, make_zone

R, P, W = "rest", "reach", "waist"
PICKUP = [R] * 5 + [P] * 3 + [R] * 5  # pickup at the confectionery shelf, hand out at t = 0.8 s


def concealments(arms: list[str], *, track_id: int = 1, pickup_track_id: int = 1, **kwargs):
    traj = make_trajectory(arms, track_id=track_id)
    pickups = [replace(p, track_id=pickup_track_id) for p in detect_shelf_visits(traj, [make_zone()])]
    return detect_concealment(traj, pickups, **kwargs)


@pytest.mark.parametrize(
    ("arms", "pickup_track_id", "expected", "exception"),
    [
        ([], 1, [], DoesNotRaise()),  # empty input
        (PICKUP + [W] * 15 + [R] * 5, 1, [(1.3, 2.7)], DoesNotRaise()),  # held 15 frames after a pickup
        (PICKUP + [W] * 5 + [R] * 5, 1, [], DoesNotRaise()),  # held 5 frames < 8: a brush past the hip
        ([R] * 13 + [W] * 15 + [R] * 5, 1, [], DoesNotRaise()),  # at the waist, but no pickup
        ([W] * 15 + PICKUP, 1, [], DoesNotRaise()),  # held before the pickup, not after
        (PICKUP + [R] * 120 + [W] * 15, 1, [], DoesNotRaise()),  # 12 s after the pickup: too late
        (PICKUP + [W] * 15 + [R] * 5, 2, [], DoesNotRaise()),  # the pickup was someone else's
        (PICKUP + [W] * 10 + [R] * 3 + [W] * 10, 1, [(1.3, 2.2)], DoesNotRaise()),  # one event per pickup
    ],
)
def test_detect_concealment(arms, pickup_track_id, expected, exception) -> None:
    with exception:
        events = concealments(arms, pickup_track_id=pickup_track_id, min_hold_frames=8, max_after_pickup_s=10.0)
        assert [(round(e.t_start_s, 3), round(e.t_end_s, 3)) for e in events] == expected
        for e in events:
            assert e.class_ is BehaviourClass.CONCEALMENT
            assert 0.5 <= e.confidence <= 1.0
            assert e.probabilities["concealment"] == e.confidence
            assert sum(e.probabilities.values()) == pytest.approx(1.0)


def test_concealment_explanation_names_wrist_duration_and_shelf() -> None:
    (event,) = concealments(PICKUP + [W] * 15 + [R] * 5)
    assert event.explanation == (
        "right wrist held at the waist for 1.4 s, 0.5 s after a pickup at the confectionery shelf "
        "(candidate SKUs: CHOC001, CAND001)"
    )
    assert event.zone == "confectionery" and event.track_id == 1
    (labelled,) = concealments(PICKUP + [W] * 15, zone_labels={"confectionery": "Sweets aisle"})
    assert "after a pickup at the Sweets aisle shelf" in labelled.explanation


@pytest.mark.parametrize(
    ("min_hold_frames", "max_after_pickup_s", "exception"),
    [
        (1, 0.0, DoesNotRaise()),  # smallest valid values
        (0, 10.0, pytest.raises(ValueError)),  # zero hold
        (8, -1.0, pytest.raises(ValueError)),  # negative delay
    ],
)
def test_detect_concealment_validation(min_hold_frames, max_after_pickup_s, exception) -> None:
    with exception:
        concealments(PICKUP, min_hold_frames=min_hold_frames, max_after_pickup_s=max_after_pickup_s)


def visit(zone: str, kind: ZoneKind, t_enter_s: float) -> ZoneVisit:
    return ZoneVisit(zone, kind, t_enter_s, t_enter_s + 1.0)


SHELF, CHECKOUT, EXIT = ZoneKind.SHELF, ZoneKind.CHECKOUT, ZoneKind.EXIT
A_PICKUP = ShelfVisit(1, "snacks", ("CHOC001",), 1.0, 1.5, 10, 15, "right", 0.9)


@pytest.mark.parametrize(
    ("visits", "pickups", "expected", "exception"),
    [
        ([], [], [], DoesNotRaise()),  # empty input
        ([visit("snacks", SHELF, 1), visit("door", EXIT, 9)], [], [(1, 9, "door", 0.6)], DoesNotRaise()),  # shelf → exit
        # with a pickup at that shelf
        ([visit("snacks", SHELF, 1), visit("door", EXIT, 9)], [A_PICKUP], [(1, 9, "door", 0.9)], DoesNotRaise()),
        ([visit("snacks", SHELF, 1), visit("till", CHECKOUT, 5), visit("door", EXIT, 9)], [], [], DoesNotRaise()),  # paid
        ([visit("snacks", SHELF, 1), visit("till", CHECKOUT, 5), visit("drinks", SHELF, 7), visit("door", EXIT, 9)],
         [], [(7, 9, "door", 0.6)], DoesNotRaise()),  # shelf again after paying
        ([visit("door", EXIT, 0), visit("snacks", SHELF, 1)], [], [], DoesNotRaise()),  # came in, still shopping
        ([visit("door", EXIT, 9), visit("snacks", SHELF, 1)], [], [(1, 9, "door", 0.6)], DoesNotRaise()),  # unsorted input
        # fires once, not again at the next exit
        ([visit("snacks", SHELF, 1), visit("door", EXIT, 9), visit("door", EXIT, 12)], [], [(1, 9, "door", 0.6)],
         DoesNotRaise()),
        ([visit("snacks", SHELF, 1), visit("door", EXIT, 9)], [], None, pytest.raises(ValueError)),  # bad confidence
    ],
)
def test_detect_bypass(visits, pickups, expected, exception) -> None:
    with exception:
        base = 0.6 if expected is not None else 1.5
        events = detect_bypass(visits, track_id=1, pickups=pickups, base_confidence=base)
        assert [(e.t_start_s, e.t_end_s, e.zone, e.confidence) for e in events] == expected
        assert all(e.class_ is BehaviourClass.BYPASS and "without visiting a checkout" in e.explanation for e in events)


def test_behaviour_class_values() -> None:
    assert [c.value for c in BehaviourClass] == ["normal", "pickup", "concealment", "bypass"]
