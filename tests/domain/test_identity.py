import numpy as np
import pytest

from domain.identity import (
    MatchDecision,
    MatchParams,
    Sighting,
    Topology,
    Verdict,
    choose_identity,
    crop_quality,
    gallery_similarity,
    match_sighting,
)


def seen(camera: str, t0: float, t1: float, xy0=None, xy1=None, n: int = 5) -> Sighting:
    """A sighting from t0 to t1 walking in a straight line xy0 → xy1 (NaN positions when None)."""
    t = np.linspace(t0, t1, n)
    if xy0 is None:
        return Sighting(camera, t, np.full((n, 2), np.nan))
    a, b = np.asarray(xy0, float), np.asarray(xy1 if xy1 is not None else xy0, float)
    return Sighting(camera, t, a + (b - a) * np.linspace(0, 1, n)[:, None])


TOPO = Topology({"entrance": {"checkout": (0.0, 20.0)}, "checkout": {"entrance": (0.0, 20.0)}})


@pytest.mark.parametrize(
    ("new", "known", "similarity", "topology", "verdict"),
    [
        # no sightings yet, appearance decides
        (seen("a", 0, 1), [], 0.9, None, Verdict.APPEARANCE),
        (seen("a", 0, 1), [], 0.5, None, Verdict.UNLIKE),
        (seen("a", 0, 1), [], None, None, Verdict.UNLIKE),  # no embedding: nothing to compare
        # same place, same time in two cameras -> same person, even with a weak appearance match
        (seen("b", 2, 4, [5, 5], [6, 5]), [seen("a", 0, 5, [4.5, 5], [6.5, 5])], 0.6, None, Verdict.SAME_PLACE),
        # same place, same time, but clearly different clothes: refused
        (seen("b", 2, 4, [5, 5], [6, 5]), [seen("a", 0, 5, [4.5, 5], [6.5, 5])], 0.2, None, Verdict.UNLIKE),
        # two places at once: refused even with identical appearance
        (seen("b", 2, 4, [15, 5], [16, 5]), [seen("a", 0, 5, [4.5, 5], [6.5, 5])], 0.99, None, Verdict.TWO_PLACES),
        # two tracks at the same time in one camera are two people
        (seen("a", 2, 4, [5, 5]), [seen("a", 0, 5, [5, 5])], 0.99, None, Verdict.SAME_CAMERA_OVERLAP),
        # same camera, after the first track ended: a re-entry decided by appearance
        (seen("a", 10, 12, [5, 5]), [seen("a", 0, 5, [5, 5])], 0.9, None, Verdict.APPEARANCE),
        # transit within the neighbours' window
        (seen("checkout", 15, 20, [20, 5]), [seen("entrance", 0, 5, [10, 5])], 0.9, TOPO, Verdict.APPEARANCE),
        # transit slower than the window allows
        (seen("checkout", 40, 45, [20, 5]), [seen("entrance", 0, 5, [10, 5])], 0.9, TOPO, Verdict.OUT_OF_WINDOW),
        # a camera that is not a neighbour
        (seen("office", 10, 12), [seen("entrance", 0, 5)], 0.95, TOPO, Verdict.NOT_NEIGHBOURS),
        # no topology: any move within max_gap_s (60 s)
        (seen("office", 30, 32), [seen("entrance", 0, 5)], 0.95, None, Verdict.APPEARANCE),
        (seen("office", 100, 102), [seen("entrance", 0, 5)], 0.95, None, Verdict.OUT_OF_WINDOW),
        # 50 m in 2 s: faster than anyone walks
        (seen("checkout", 7, 9, [60, 5]), [seen("entrance", 0, 5, [10, 5])], 0.95, TOPO, Verdict.TWO_PLACES),
        # the new track is the earlier one (bulk order): the check runs the other way round
        (seen("entrance", 0, 5, [10, 5]), [seen("checkout", 15, 20, [20, 5])], 0.9, TOPO, Verdict.APPEARANCE),
        # uncalibrated cameras seen at the same time: appearance only
        (seen("b", 2, 4), [seen("a", 0, 5)], 0.9, None, Verdict.APPEARANCE),
    ],
)
def test_matching_policy(new, known, similarity, topology, verdict) -> None:
    decision = match_sighting(new, known, similarity, params=MatchParams(), topology=topology)
    assert decision.verdict is verdict, decision.detail
    assert (decision.score is not None) == verdict.accepted


def test_same_place_beats_any_appearance_match() -> None:
    new = seen("b", 2, 4, [5, 5], [6, 5])
    by_place = match_sighting(new, [seen("a", 0, 5, [4.6, 5], [6.4, 5])], 0.55)
    by_look = match_sighting(new, [seen("c", -30, -20, [5, 5])], 0.99)
    assert by_place.verdict is Verdict.SAME_PLACE and by_look.verdict is Verdict.APPEARANCE
    assert choose_identity({"place": by_place, "look": by_look}) == "place"
    assert choose_identity({}) is None  # empty input: a new person


def test_gallery_similarity_and_quality() -> None:
    assert gallery_similarity([], []) is None
    # a high-quality good match outweighs a low-quality poor one
    assert gallery_similarity([0.9, 0.3], [1.0, 0.1], top_k=2) > 0.8
    with pytest.raises(ValueError, match="shape"):
        gallery_similarity([0.9], [1.0, 1.0])
    assert crop_quality([100, 100, 140, 180], 1.0, (768, 576)) == pytest.approx(0.5)  # 80 px of 160


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="colocated_min_similarity"):
        MatchParams(min_similarity=0.4, colocated_min_similarity=0.5)
    with pytest.raises(ValueError, match="shape"):
        Sighting("a", np.array([0.0, 1.0]), np.zeros((3, 2)))
    assert isinstance(match_sighting(seen("a", 0, 1), [], 0.9), MatchDecision)
