"""`NodeLocalRouter`: the detector's Serve request router, which keeps a camera's frames on its own node.

Serve's default router (power of two choices) prefers a replica on the caller's node only for a
first try: when that replica's queue-length probe is slow (a busy node) the request goes to any
replica, so frames would cross the network. This router (Serve's public request-router API,
`ray.serve.request_router`) offers only the replicas on the caller's node while there is one: a busy
local replica makes the frame wait for it (the camera's own detect timeout bounds the wait, and the
autoscaler's view of queued frames grows) instead of sending it to another node. A caller on a node
without a replica (the ingress, a test driver) gets the default two random choices.
"""

from __future__ import annotations

import random

from ray.serve.request_router import LocalityMixin, PendingRequest, RequestRouter, RunningReplica

__all__ = ["NodeLocalRouter"]


class NodeLocalRouter(LocalityMixin, RequestRouter):
    """Routes to replicas on the caller's node when there are any, else to two random replicas."""

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        """One routing round: the caller node's replicas (rank 0), else up to two random ones."""
        local = [r for r in candidate_replicas if self._self_node_id is not None and r.node_id == self._self_node_id]
        if local:
            return [local]
        return [random.sample(candidate_replicas, min(2, len(candidate_replicas)))] if candidate_replicas else []
