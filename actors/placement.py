"""What the camera manager sees of the cluster, for `domain.placement`: alive nodes, the detector replicas
on each, the node each camera actor runs on; and the Ray scheduling strategy that puts a camera on a node.

Read from the GCS (Ray's node table and actor table: no dashboard needed, so `witness up`'s local head,
which runs without one, works too). The actor table is read through `ray._private.state.actors`, Ray's
own debugging accessor of the GCS actor table; it is the only private Ray call of the placement, kept
here so one place changes if Ray renames it (the multi-node test fails if it stops working).
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from domain.placement import NodeView

__all__ = ["cluster_view", "camera_nodes", "node_strategy", "replica_class_name", "CAMERA_ACTOR_PREFIX",
           "HEAD_NODE_OPTIONS"]

log = logging.getLogger(__name__)

CAMERA_ACTOR_PREFIX = "witness-camera-"  # + camera id: the camera actors' names
# Actor options that keep a CPU-less control actor (the camera manager) on the head node, as Serve keeps its
# controller: a worker node that dies then never takes the manager with it. `node:__internal_head__` is the
# resource Ray gives the head node only; the request is a sliver of it, so it never limits what runs there.
HEAD_NODE_OPTIONS: dict = {"resources": {"node:__internal_head__": 0.001}}


def replica_class_name(app_name: str, deployment: str) -> str:
    """The Ray actor class name of a Serve deployment's replicas (`ServeReplica:{app}:{deployment}`)."""
    return f"ServeReplica:{app_name}:{deployment}"


def _alive_actors() -> list[dict[str, Any]]:
    from ray._private import state

    return list(state.actors(actor_state_name="ALIVE").values())


def cluster_view(app_name: str, deployment: str) -> list[NodeView]:
    """Every node of the cluster with the number of live replicas of `deployment` of Serve app `app_name` on it.

    Returns:
        One `NodeView` per node Ray knows (dead ones with `alive=False`), sorted by node id.
    """
    replicas: dict[str, int] = {}
    wanted = replica_class_name(app_name, deployment)
    for actor in _alive_actors():
        if actor.get("ActorClassName") == wanted:
            node_id = actor["Address"]["NodeID"]
            replicas[node_id] = replicas.get(node_id, 0) + 1
    views = {}
    for node in ray.nodes():
        node_id = node["NodeID"]
        alive = bool(node.get("Alive"))
        if node_id not in views or alive:  # a restarted node id appears once per incarnation
            views[node_id] = NodeView(node_id, replicas.get(node_id, 0) if alive else 0, alive=alive)
    return [views[k] for k in sorted(views)]


def camera_nodes() -> dict[str, str]:
    """Camera id -> node id of every live camera actor (named `witness-camera-{camera_id}`)."""
    nodes = {}
    for actor in _alive_actors():
        name = actor.get("Name") or ""
        if name.startswith(CAMERA_ACTOR_PREFIX) and actor.get("ActorClassName") == "CameraActor":
            nodes[name.removeprefix(CAMERA_ACTOR_PREFIX)] = actor["Address"]["NodeID"]
    return nodes


def node_strategy(node_id: str | None) -> Any:
    """The scheduling strategy that starts an actor on `node_id` (`None`: Ray's default placement).

    The affinity is soft: when the node cannot take the actor (full, or gone), Ray places it elsewhere
    rather than leaving the camera pending; the manager's watch moves it back onto a node with a replica.
    """
    if node_id is None:
        return "DEFAULT"
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=True)
