import zlib
from contextlib import ExitStack as DoesNotRaise

import pytest

from domain.placement import NodeView, place_cameras, sink_partition


def cams(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


@pytest.mark.parametrize(
    ("cameras", "nodes", "current", "expected", "exception"),
    [
        ([], [NodeView("a", 1)], None, {}, DoesNotRaise()),  # empty input
        (["x"], [], None, {}, DoesNotRaise()),  # no node: unplaced, not an error
        (["x", "y"], [NodeView("a", 1), NodeView("b", 1)], None, {"x": "a", "y": "b"}, DoesNotRaise()),  # spread
        (["x", "y"], [NodeView("a", 1), NodeView("cpu", 0)], None, {"x": "a", "y": "a"}, DoesNotRaise()),  # no replica
        (["x"], [NodeView("a", 1, alive=False), NodeView("b", 1)], None, {"x": "b"}, DoesNotRaise()),  # dead node
        (["x"], [NodeView("a", 1), NodeView("b", 1)], {"x": "b"}, {"x": "b"}, DoesNotRaise()),  # stays where it runs
        (["x"], [NodeView("a", 1), NodeView("b", 1)], {"x": "gone"}, {"x": "a"}, DoesNotRaise()),  # unknown node
        (["x", "x"], [NodeView("a", 1)], None, {"x": "a"}, DoesNotRaise()),  # duplicate camera ids
        (["x"], [NodeView("a", 1), NodeView("a", 2)], None, None, pytest.raises(ValueError)),  # duplicate node ids
    ],
)
def test_place_cameras(cameras, nodes, current, expected, exception) -> None:
    with exception:
        assert place_cameras(cameras, nodes, current=current).assignments == expected


@pytest.mark.parametrize(
    ("kwargs", "exception"),
    [
        ({}, DoesNotRaise()),  # defaults
        ({"weights": {"x": 0.0}}, pytest.raises(ValueError, match=r"weights\['x'\]")),  # zero weight
        ({"max_load_per_replica": 0}, pytest.raises(ValueError, match="max_load_per_replica")),  # no capacity
    ],
)
def test_place_cameras_rejects_bad_input(kwargs, exception) -> None:
    with exception:
        place_cameras(["x"], [NodeView("a", 1)], **kwargs)


def test_node_view_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="detector_replicas"):
        NodeView("a", -1)
    with pytest.raises(ValueError, match="node_id"):
        NodeView("", 1)


def test_spread_by_load_per_replica() -> None:
    # 600 cameras over 3 GPU nodes with 2, 2 and 4 replicas and a CPU-only head: load per replica equal.
    nodes = [NodeView("head", 0), NodeView("g1", 2), NodeView("g2", 2), NodeView("g3", 4)]
    p = place_cameras(cams(600), nodes)
    counts = {n: len(p.cameras_on(n)) for n in ("head", "g1", "g2", "g3")}
    assert counts == {"head": 0, "g1": 150, "g2": 150, "g3": 300}
    assert p.load == {"g1": 75.0, "g2": 75.0, "g3": 75.0}
    assert p.placed == sorted(cams(600)) and p.moved == [] and p.unplaced == []


def test_weights_spread_the_load_not_the_count() -> None:
    # Two 10-fps cameras weigh as much as four 5-fps ones.
    weights = {"fast1": 10, "fast2": 10} | {c: 5 for c in cams(4)}
    p = place_cameras(["fast1", "fast2", *cams(4)], [NodeView("a", 1), NodeView("b", 1)], weights=weights)
    assert p.load == {"a": 20.0, "b": 20.0}
    assert p.assignments["fast1"] != p.assignments["fast2"]


def test_new_node_takes_new_cameras_and_running_ones_stay() -> None:
    first = place_cameras(cams(10), [NodeView("a", 1), NodeView("b", 1)])
    # A third node joins; ten more cameras arrive.
    nodes = [NodeView("a", 1), NodeView("b", 1), NodeView("c", 1)]
    p = place_cameras(cams(20), nodes, current=first.assignments)
    assert all(p.assignments[c] == first.assignments[c] for c in cams(10))  # nobody moved
    new_on = {n: sum(1 for c in cams(20)[10:] if p.assignments[c] == n) for n in "abc"}
    assert new_on == {"a": 2, "b": 2, "c": 6}  # the new node takes most of the new cameras
    assert {n: len(p.cameras_on(n)) for n in "abc"} == {"a": 7, "b": 7, "c": 6}
    assert p.moved == []


def test_dead_node_cameras_are_replaced_on_the_survivors() -> None:
    first = place_cameras(cams(9), [NodeView("a", 1), NodeView("b", 1), NodeView("c", 1)])
    on_b = first.cameras_on("b")
    p = place_cameras(cams(9), [NodeView("a", 1), NodeView("b", 1, alive=False), NodeView("c", 1)],
                      current=first.assignments)
    assert p.moved == on_b and p.placed == []
    assert p.cameras_on("b") == []
    assert {n: len(p.cameras_on(n)) for n in "ac"} == {"a": 5, "c": 4}  # 3 + 3 spread over the survivors
    assert all(p.assignments[c] == first.assignments[c] for c in cams(9) if c not in on_b)


def test_node_that_loses_its_replicas_hands_over_its_cameras() -> None:
    first = place_cameras(cams(4), [NodeView("a", 1), NodeView("b", 1)])
    p = place_cameras(cams(4), [NodeView("a", 1), NodeView("b", 0)], current=first.assignments)
    assert p.cameras_on("a") == cams(4) and p.moved == first.cameras_on("b")


def test_capacity_leaves_the_rest_unplaced() -> None:
    p = place_cameras(cams(7), [NodeView("a", 1), NodeView("b", 2)], max_load_per_replica=2)
    assert len(p.assignments) == 6 and len(p.unplaced) == 1
    assert {n: len(p.cameras_on(n)) for n in "ab"} == {"a": 2, "b": 4}
    # Running cameras keep their node even when the capacity is now lower.
    kept = place_cameras(cams(6), [NodeView("a", 1), NodeView("b", 2)], current=p.assignments, max_load_per_replica=1)
    assert kept.assignments == {c: p.assignments[c] for c in cams(6) if c in p.assignments}


def test_sink_partition_is_stable_in_range_and_spreads_cameras() -> None:
    cameras = [f"store-7.cam{i:03d}" for i in range(600)]
    parts = [sink_partition(c, 4) for c in cameras]
    assert set(parts) == {0, 1, 2, 3}
    assert max(parts.count(k) for k in range(4)) < 1.3 * 150  # no partition takes far more than its share
    assert sink_partition("store-7.cam001", 4) == sink_partition("store-7.cam001", 4)
    assert sink_partition("store-7.cam001", 4) == zlib.crc32(b"store-7.cam001") % 4  # the documented formula
    assert {sink_partition(c, 1) for c in cameras} == {0}
    with pytest.raises(ValueError, match="partitions"):
        sink_partition("c", 0)
