"""What the node this process runs on offers: a GPU, and which runtimes import."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import cache

from actors.backends.selection import Backend, NodeInfo

__all__ = ["probe_node", "runtime_version"]


@cache
def probe_node() -> NodeInfo:
    """Probe this process's node once (a visible NVIDIA GPU; installed runtime packages).

    Returns:
        The `NodeInfo` that `select_backend` decides on. Ray hides GPUs from actors that were not
        given any (`CUDA_VISIBLE_DEVICES`), so a CPU replica on a GPU node sees a CPU node.
    """
    import torch

    cuda = bool(torch.cuda.is_available())
    runtimes = {Backend.TORCH} | {b for b in Backend if b is not Backend.TORCH and importlib.util.find_spec(b.package)}
    return NodeInfo(cuda=cuda, gpu_name=torch.cuda.get_device_name(0) if cuda else None, runtimes=frozenset(runtimes))


def runtime_version(backend: Backend) -> str:
    """Installed version of `backend`'s package (`"missing"` when not installed), part of an export's cache key."""
    try:
        return importlib.metadata.version(backend.package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"
