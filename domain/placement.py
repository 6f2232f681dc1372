"""Camera placement across the nodes of a cluster: which node each camera's actor runs on.

Pure policy (no Ray): the camera manager feeds it what it sees of the cluster (alive nodes, the
detector replicas on each, the cameras already placed) and turns the answer into Ray scheduling
strategies. The rules, in order:

1. A camera runs only on a node that hosts a detector replica, so its frames are detected on the
   node that decoded them (prefer-local routing): only boxes, keypoints and events cross the network.
2. A placed camera stays where it is while its node is alive and still hosts a replica (moving a
   camera costs its tracker state and a reconnect); cameras are not rebalanced when nodes join.
3. New cameras, and cameras of a node that died or lost its replicas, go to the eligible node with
   the least load per replica (load = the cameras' weights, e.g. their detection fps), ties broken by
   node id, so a node that just joined takes the new cameras until it is as loaded as the others.
4. With `max_load_per_replica`, a node never takes more; a camera that fits nowhere is left
   unplaced (the caller starts it without a node, so it waits for the autoscaler to add one).

The control plane is partitioned the same way: `sink_partition` says which of the event-sink actors
stores a camera's events (a stable hash, so a camera's events always go to the same writer).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["NodeView", "Placement", "place_cameras", "sink_partition"]


def sink_partition(camera_id: str, partitions: int) -> int:
    """The event-sink partition (0 .. `partitions` - 1) that stores `camera_id`'s events.

    CRC-32 of the id's UTF-8 bytes modulo `partitions`: stable across processes and restarts (unlike
    Python's salted `hash`), so a camera's retries after a crash reach the writer that may already
    hold its batch, and one camera's events keep their order.

    Raises:
        ValueError: `partitions` < 1.
    """
    if partitions < 1:
        raise ValueError(f"sink partitions must be >= 1, got {partitions}")
    return zlib.crc32(camera_id.encode("utf-8")) % partitions


@dataclass(frozen=True)
class NodeView:
    """One node as the placement sees it.

    Args:
        node_id: the node's id (Ray's hex node id).
        detector_replicas: running detector replicas on the node (0: cameras may not run here).
        alive: whether the node is up.
    """

    node_id: str
    detector_replicas: int = 0
    alive: bool = True

    def __post_init__(self) -> None:
        if not self.node_id:
            raise ValueError("node_id must be a non-empty string")
        if self.detector_replicas < 0:
            raise ValueError(f"detector_replicas must be >= 0, but got {self.detector_replicas} for node {self.node_id}")

    @property
    def eligible(self) -> bool:
        """Cameras may be placed here: alive with at least one detector replica."""
        return self.alive and self.detector_replicas > 0


@dataclass(frozen=True)
class Placement:
    """The answer of `place_cameras`.

    Attributes:
        assignments: camera id -> node id, for every placed camera.
        moved: cameras whose node changed (their old node died or lost its replicas), sorted.
        placed: cameras that had no node before and have one now, sorted.
        unplaced: cameras no eligible node could take, sorted.
        load: node id -> load per detector replica after placement, for every eligible node.
    """

    assignments: dict[str, str] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)

    def cameras_on(self, node_id: str) -> list[str]:
        """The cameras placed on `node_id`, sorted."""
        return sorted(c for c, n in self.assignments.items() if n == node_id)


def place_cameras(
    cameras: Sequence[str],
    nodes: Sequence[NodeView],
    *,
    current: Mapping[str, str] | None = None,
    weights: Mapping[str, float] | None = None,
    max_load_per_replica: float | None = None,
) -> Placement:
    """Place cameras on nodes (see the module docstring for the rules).

    Args:
        cameras: ids of every camera that should run (duplicates are ignored).
        nodes: every node known, alive or not.
        current: camera id -> the node it runs on now (cameras not in `cameras` are ignored).
        weights: camera id -> its load (e.g. detection fps × streams); default 1.0 each. Must be > 0.
        max_load_per_replica: most load a node takes per detector replica; `None`: no limit.

    Returns:
        A `Placement`. Cameras whose current node is eligible keep it even over the limit.

    Raises:
        ValueError: two nodes share an id, a weight is not > 0, or `max_load_per_replica` is not > 0.

    Example:
        >>> p = place_cameras(["a", "b", "c"], [NodeView("n1", 1), NodeView("n2", 2), NodeView("cpu", 0)])
        >>> p.assignments
        {'a': 'n2', 'b': 'n1', 'c': 'n2'}
    """
    current = dict(current or {})
    weights = dict(weights or {})
    ids = [n.node_id for n in nodes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"nodes must have distinct node_id values, but got {sorted(ids)}")
    if max_load_per_replica is not None and max_load_per_replica <= 0:
        raise ValueError(f"max_load_per_replica must be > 0, but got {max_load_per_replica}")
    for camera_id, w in weights.items():
        if not w > 0:
            raise ValueError(f"weights[{camera_id!r}] must be > 0, but got {w}")
    eligible = {n.node_id: n for n in nodes if n.eligible}
    load = {node_id: 0.0 for node_id in eligible}
    wanted = list(dict.fromkeys(cameras))
    assignments: dict[str, str] = {}
    to_place: list[str] = []
    for camera_id in wanted:
        node_id = current.get(camera_id)
        if node_id in eligible:
            assignments[camera_id] = node_id
            load[node_id] += weights.get(camera_id, 1.0)
        else:
            to_place.append(camera_id)
    # Heaviest first, so the greedy fill stays even with unequal weights; then by id (deterministic).
    to_place.sort(key=lambda c: (-weights.get(c, 1.0), c))
    moved, placed, unplaced = [], [], []
    for camera_id in to_place:
        w = weights.get(camera_id, 1.0)
        best: tuple[float, str] | None = None
        for node_id, node in eligible.items():
            after = (load[node_id] + w) / node.detector_replicas
            if max_load_per_replica is not None and after > max_load_per_replica + 1e-9:
                continue
            if best is None or (after, node_id) < best:
                best = (after, node_id)
        if best is None:
            unplaced.append(camera_id)
            continue
        assignments[camera_id] = best[1]
        load[best[1]] += w
        (moved if camera_id in current else placed).append(camera_id)
    per_replica = {node_id: load[node_id] / eligible[node_id].detector_replicas for node_id in eligible}
    return Placement(assignments=assignments, moved=sorted(moved), placed=sorted(placed), unplaced=sorted(unplaced),
                     load=per_replica)
