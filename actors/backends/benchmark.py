"""Frames per second of each backend on this node, on real frames: what `witness models benchmark` prints.

Every backend is loaded through `load_model` (so exports are made once and cached, as a replica
would), warmed up, then timed in interleaved rounds (torch, openvino, onnx, torch, …): a burst of
load from another process then slows every backend alike instead of one of them. Each backend's
detections are compared with PyTorch's on the same frames.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.backends.agreement import Agreement, box_agreement
from actors.backends.loader import BackendHealth, LoadedModel, ModelSpec, load_model
from actors.backends.selection import BackendChoice, select_backend
from actors.backends.node import probe_node

__all__ = ["BackendRun", "BenchmarkReport", "benchmark_backends"]


@dataclass
class BackendRun:
    """One backend's figures.

    Attributes:
        requested: the `MODEL__BACKEND` value benchmarked.
        health: what actually ran (a failed export shows as a PyTorch fallback).
        load_s: seconds to load (export included when it was built now).
        fps_rounds: frames/s of each timed round.
        agreement: its boxes vs PyTorch's on the same frames (`None` for PyTorch itself).
    """

    requested: str
    health: BackendHealth
    load_s: float
    fps_rounds: list[float] = field(default_factory=list)
    agreement: Agreement | None = None

    @property
    def fps(self) -> float:
        """Median frames/s over the rounds."""
        return statistics.median(self.fps_rounds) if self.fps_rounds else 0.0


@dataclass
class BenchmarkReport:
    """Every backend's run, and what `auto` picks on this node."""

    runs: list[BackendRun]
    auto: BackendChoice
    imgsz: int
    batch: int
    frames: int

    def run(self, backend: str) -> BackendRun | None:
        """The run of `backend`, if benchmarked."""
        return next((r for r in self.runs if r.requested == backend), None)

    def fastest(self) -> BackendRun | None:
        """The run with the most frames/s among those that ran what was asked (no fallback)."""
        ok = [r for r in self.runs if not r.health.fallback]
        return max(ok, key=lambda r: r.fps) if ok else None


def benchmark_backends(
    frames: Sequence[npt.NDArray[np.uint8]], backends: Sequence[str], *, spec: ModelSpec, rounds: int = 3,
    predict_args: dict[str, Any] | None = None, store: Any | None = None, fetch: Any | None = None,
    on_step: Callable[[str], None] | None = None,
) -> BenchmarkReport:
    """Time `backends` on `frames` and compare their detections with PyTorch's.

    Args:
        frames: BGR images `(H, W, 3)` uint8 (e.g. a video's first frames).
        backends: `MODEL__BACKEND` values to run (`torch` is added: it is the reference).
        spec: the model (weights, imgsz, batch, threads, …); its `backend` is replaced per run.
        rounds: timed passes over `frames` per backend, interleaved across backends.
        predict_args: `conf`, `iou` for `predict`.
        store: object store sharing exports (see `load_model`).
        fetch: `s3://` weights downloader.
        on_step: called with a line of progress (e.g. "exporting openvino").

    Returns:
        The report: frames/s per backend (median of rounds) and `auto`'s choice for this node.

    Raises:
        ValueError: no frames.
    """
    if not frames:
        raise ValueError("benchmark needs at least one frame")
    names = ["torch", *[b for b in dict.fromkeys(backends) if b != "torch"]]
    args = {"conf": 0.1, "iou": 0.7} | (predict_args or {})
    loaded: dict[str, LoadedModel] = {}
    runs: dict[str, BackendRun] = {}
    for name in names:
        if on_step:
            on_step(f"loading {name} (exported once, then cached)")
        started = time.perf_counter()
        model = load_model(replace(spec, backend=name), store=store, fetch=fetch)
        loaded[name] = model
        runs[name] = BackendRun(name, model.health, time.perf_counter() - started)
    reference = _predict(loaded["torch"], frames, spec, args)
    for name in names[1:]:
        runs[name].agreement = _agreement(reference, _predict(loaded[name], frames, spec, args))
    for r in range(rounds):
        for name in names:
            if on_step:
                on_step(f"round {r + 1}/{rounds}: {name}")
            started = time.perf_counter()
            _predict(loaded[name], frames, spec, args)
            runs[name].fps_rounds.append(len(frames) / (time.perf_counter() - started))
    auto = select_backend("auto", precision=spec.precision, device=spec.device, weights=spec.weights,
                          half=spec.half, node=probe_node())
    return BenchmarkReport([runs[n] for n in names], auto, spec.imgsz, spec.batch, len(frames))


def _predict(model: LoadedModel, frames: Sequence[np.ndarray], spec: ModelSpec, args: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    step = max(1, spec.batch)
    for start in range(0, len(frames), step):
        out.extend(model.model.predict(list(frames[start:start + step]), imgsz=spec.imgsz, verbose=False,
                                       **args, **model.predict_args))
    return out


def _agreement(reference: list[Any], candidate: list[Any]) -> Agreement:
    total = Agreement(0, 0, 0, 1.0)
    for ref, cand in zip(reference, candidate):
        total = total + box_agreement(ref.boxes.xyxy.cpu().numpy(), cand.boxes.xyxy.cpu().numpy())
    return total
