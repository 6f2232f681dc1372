from contextlib import ExitStack as DoesNotRaise

import numpy as np
import pytest

from domain.crosscheck import ProductInteraction
from domain.interactions import ShelfVisit, detect_pickups, detect_shelf_visits
from domain.pose_features import R_WRIST
from domain.site import ZoneConfig
from domain.tracks import Trajectory
from domain.zones import PolygonZone
from tests.domain.test_pose_features import pose_sequence

RESOLUTION_WH = (640, 480)
# Shelf at pixels x 400–500, y 150–300: where the "reach" pose puts the right wrist (430, 220).
SHELF = [[400 / 640, 150 / 480], [500 / 640, 150 / 480], [500 / 640, 300 / 480], [400 / 640, 300 / 480]]
# A "shelf" drawn around the person's feet (y ≈ 395): only a hand in it may count.
FLOOR = [[250 / 640, 380 / 480], [350 / 640, 380 / 480], [350 / 640, 420 / 480], [250 / 640, 420 / 480]]


def make_zone(name: str = "confectionery", polygon=SHELF, skus=("CHOC001", "CAND001"), kind: str = "shelf") -> PolygonZone:
    return PolygonZone(name, ZoneConfig(kind=kind, polygon=polygon, skus=list(skus)), RESOLUTION_WH)


def make_trajectory(arms: list[str], track_id: int = 1, hidden: tuple[int, ...] = (), fps: float = 10.0) -> Trajectory:
    """A standing person's trajectory, one right-arm pose per frame; `hidden` frames hide the right wrist."""
    kp, t_s, xyxy = pose_sequence(arms, fps=fps)
    kp[list(hidden), R_WRIST, 2] = 0.0
    n = len(arms)
    return Trajectory(track_id, np.arange(n, dtype=np.int64), t_s, xyxy.astype(np.float32),
                      np.full(n, 0.9, np.float32), np.zeros(n, bool), kp)


R, P = "rest", "reach"


@pytest.mark.parametrize(
    ("arms", "hidden", "zones", "expected", "exception"),
    [
        ([], (), [make_zone()], [], DoesNotRaise()),  # empty input
        ([R] * 5 + [P] * 3 + [R] * 5, (), [make_zone()], [(0.8, 0.5, "right", None)], DoesNotRaise()),  # reach in and out
        # one SKU: named
        ([R] * 5 + [P] * 3 + [R] * 5, (), [make_zone(skus=["CHOC001"])], [(0.8, 0.5, "right", "CHOC001")], DoesNotRaise()),
        ([R] * 5 + [P] * 1 + [R] * 5, (), [make_zone()], [], DoesNotRaise()),  # one frame inside < min dwell
        ([R] * 5 + [P] * 5, (), [make_zone()], [], DoesNotRaise()),  # still inside when the track ends
        ([R] * 13, (), [make_zone()], [], DoesNotRaise()),  # never reaches
        ([R] * 13, (), [make_zone("floor", FLOOR)], [], DoesNotRaise()),  # feet in the zone, hands not
        ([R] * 5 + [P] * 3 + [R] * 5, (), [make_zone(kind="checkout", skus=[])], [], DoesNotRaise()),  # not a shelf
        # second reach 0.3 s later: inside the cool-down
        ([R] * 5 + [P] * 2 + [R] * 3 + [P] * 2 + [R] * 5, (), [make_zone()], [(0.7, 0.5, "right", None)], DoesNotRaise()),
        ([R] * 5 + [P] * 2 + [R] * 25 + [P] * 2 + [R] * 5, (), [make_zone()],
         [(0.7, 0.5, "right", None), (3.4, 3.2, "right", None)], DoesNotRaise()),  # 2nd reach after cool-down
        # wrist hidden by the shelf for 2 frames: still inside
        ([R] * 5 + [P] * 4 + [R] * 5, (6, 7), [make_zone()], [(0.9, 0.5, "right", None)], DoesNotRaise()),
        ([R] * 5 + [P] * 3 + [R] * 5, (5, 6, 7), [make_zone()], [], DoesNotRaise()),  # never seen inside
    ],
)
def test_detect_shelf_visits(arms, hidden, zones, expected, exception) -> None:
    with exception:
        traj = make_trajectory(arms, hidden=hidden)
        visits = detect_shelf_visits(traj, zones, min_dwell_frames=2, cooldown_s=2.0)
        got = [(round(v.t_end_s, 3), round(v.t_start_s, 3), v.hand, v.as_interaction().sku) for v in visits]
        assert got == expected
        pickups = detect_pickups(traj, zones, min_dwell_frames=2, cooldown_s=2.0)
        assert [(round(p.t_s, 3), p.sku) for p in pickups] == [(t, sku) for t, _, _, sku in expected]


def test_shelf_visit_names_every_candidate_sku() -> None:
    (visit,) = detect_shelf_visits(make_trajectory([R] * 5 + [P] * 3 + [R] * 5, track_id=7), [make_zone()])
    assert visit == ShelfVisit(
        track_id=7, zone="confectionery", candidate_skus=("CHOC001", "CAND001"), t_start_s=0.5,
        t_end_s=pytest.approx(0.8), frame_start=5, frame_end=8, hand="right", confidence=pytest.approx(0.9),
    )


@pytest.mark.parametrize(
    ("skus", "expected", "exception"),
    [
        ([], [], DoesNotRaise()),  # shelf without SKUs: a visit, but nothing to cross-check
        (["CHOC001"], ["CHOC001"], DoesNotRaise()),  # one SKU: attributed
        (["CHOC001", "CAND001"], [None], DoesNotRaise()),  # several: one unattributed unit, not two
    ],
)
def test_detect_pickups_attribution(skus, expected, exception) -> None:
    with exception:
        pickups = detect_pickups(make_trajectory([R] * 5 + [P] * 3 + [R] * 5, track_id=7), [make_zone(skus=skus)])
        assert [p.sku for p in pickups] == expected
        assert all(isinstance(p, ProductInteraction) and p.zone == "confectionery" and p.track_id == 7
                   for p in pickups)


@pytest.mark.parametrize(
    ("min_dwell_frames", "cooldown_s", "exception"),
    [
        (1, 0.0, DoesNotRaise()),  # smallest valid values
        (0, 2.0, pytest.raises(ValueError)),  # zero dwell
        (2, -1.0, pytest.raises(ValueError)),  # negative cool-down
    ],
)
def test_detect_pickups_validation(min_dwell_frames, cooldown_s, exception) -> None:
    with exception:
        detect_pickups(make_trajectory([R] * 3), [make_zone()], min_dwell_frames=min_dwell_frames, cooldown_s=cooldown_s)


def test_no_keypoints_no_pickups() -> None:
    traj = make_trajectory([R] * 3)
    traj.keypoints = None
    assert detect_pickups(traj, [make_zone()]) == []
