"""The appearance embedder as a Ray Serve deployment, batching person crops across cameras.

It wraps the same `EmbedderReplica` that bulk jobs run in Ray Data. A checkpoint that cannot be
loaded does not crash-loop the replica: the error is kept, `status()` reports it and `embed`
raises `EmbedderUnavailable`, so cameras run on without global ids and say why in their health.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from ray import serve

from actors.embedder_replica import EmbedderLoadError, EmbedderReplica

__all__ = ["PersonEmbedder", "EmbedderUnavailable", "EMBEDDER_DEPLOYMENT"]

log = logging.getLogger(__name__)
EMBEDDER_DEPLOYMENT = "PersonEmbedder"


class EmbedderUnavailable(RuntimeError):
    """The embedder's model could not be loaded (the message says why)."""


@serve.deployment(name=EMBEDDER_DEPLOYMENT, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25})
class PersonEmbedder:
    """Serve deployment: `await handle.embed.remote(crops)` → `(N, D)` float32 embeddings.

    Each call (a camera's crops of one frame) is one element of the cross-camera batch, so a batch
    of `max_batch_size` calls is one forward pass over all their crops.

    Args:
        replica_kwargs: `EmbedderReplica` keyword arguments (kind, weights, arch, device, …).
    """

    def __init__(self, replica_kwargs: dict[str, Any]) -> None:
        self.error: str | None = None
        self.replica: EmbedderReplica | None = None
        try:
            self.replica = EmbedderReplica(**replica_kwargs)
        except (EmbedderLoadError, ValueError) as exc:
            self.error = str(exc)
            log.error("embedder not loaded: %s; cameras run without global person ids", exc)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply `max_batch_size` / `batch_wait_timeout_s` from the serve config's `user_config`."""
        if "max_batch_size" in user_config:
            self.embed_batch.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self.embed_batch.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    def status(self) -> dict[str, Any]:
        """`{"ok", "error", "name", "dim"}`."""
        if self.replica is None:
            return {"ok": False, "error": self.error, "name": None, "dim": 0}
        return {"ok": True, "error": None, "name": self.replica.name, "dim": self.replica.dim}

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def embed_batch(self, requests: list[list[np.ndarray]]) -> list[np.ndarray]:
        """The crops of the calls waiting from every camera, embedded in one pass (one array per call)."""
        assert self.replica is not None
        crops = [c for r in requests for c in r]
        out = await asyncio.to_thread(self.replica.embed, crops)
        bounds = np.cumsum([0] + [len(r) for r in requests])
        return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    async def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embed BGR person crops `(h, w, 3)`; `(N, D)` out. Raises `EmbedderUnavailable` when the model is not loaded."""
        if self.replica is None:
            raise EmbedderUnavailable(self.error or "embedder not loaded")
        if not crops:
            return np.zeros((0, self.replica.dim), np.float32)
        return await self.embed_batch(list(crops))
