"""What the node this process runs on offers: a GPU, and which runtimes import."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from functools import cache
from pathlib import Path

from actors.backends.selection import Backend, NodeInfo

log = logging.getLogger(__name__)

__all__ = ["probe_node", "runtime_version", "decline_vendor_telemetry"]


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


@cache
def decline_vendor_telemetry() -> None:
    """Decline OpenVINO's and NNCF's anonymous usage telemetry before either is used (once per process).

    Both send usage events to an analytics service unless a consent file says otherwise: the
    model converter and NNCF count a missing file as consent. The platform runs offline, so it
    writes the file `opt_in_out --opt_out` would (`~/intel/openvino_telemetry` = `0`) without that
    tool's farewell event, and never overwrites a choice the user already made.
    """
    consent = Path.home() / "intel" / "openvino_telemetry"
    if consent.exists():
        return
    try:
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text("0")
    except OSError as exc:  # a read-only home: nothing to do but say so
        log.warning("could not decline OpenVINO telemetry at %s: %s", consent, exc)
