"""`witness models benchmark`: frames/s of each inference backend on this machine, and what `auto` chose and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from cluster.settings import Settings

__all__ = ["models_benchmark"]

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SAMPLE_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # Debian opencv-doc, as in the README


def _frames(source: Path, count: int) -> list[Any]:
    import cv2

    cap = cv2.VideoCapture(str(source))
    frames = []
    try:
        while len(frames) < count:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames


def models_benchmark(
    backend: Annotated[Optional[list[str]], typer.Option(
        "--backend", help="Backend to measure (repeat for several): torch, openvino, onnx, tensorrt. "
        "Default: every one this machine can run.")] = None,
    imgsz: Annotated[Optional[int], typer.Option(min=320, max=3840, help="Inference size (px). Default: MODEL__IMGSZ.")] = None,
    frames: Annotated[int, typer.Option(min=1, max=2000, help="Frames per timed round.")] = 30,
    rounds: Annotated[int, typer.Option(min=1, max=20, help="Timed rounds, interleaved across backends (median).")] = 3,
    batch: Annotated[Optional[int], typer.Option(min=1, max=256, help="Frames per forward pass. Default: MODEL__BATCH_SIZE.")] = None,
    threads: Annotated[Optional[int], typer.Option(min=0, help="Inference threads (0: every core). Default: MODEL__TORCH_THREADS.")] = None,
    source: Annotated[Optional[Path], typer.Option(help="Video to take the frames from (default: the sample footage).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Measure frames/s per inference backend on this machine (same frames, same weights) and show what `auto` picks."""
    settings = _settings()
    from actors.backends import BACKEND_REQUESTS, ModelSpec, benchmark_backends, probe_node

    node = probe_node()
    wanted = backend or [b.value for b in sorted(node.runtimes, key=lambda b: b.value)
                         if b.value != "tensorrt" or node.cuda]
    bad = [b for b in wanted if b not in BACKEND_REQUESTS or b == "auto"]
    if bad:
        err.print(f"[red]error:[/] --backend {bad[0]!r}: expected torch, openvino, onnx or tensorrt")
        raise typer.Exit(2)
    video = source or SAMPLE_VIDEO
    if not video.is_file():
        err.print(f"[red]error:[/] --source {video}: no such video file")
        raise typer.Exit(2)
    sample = _frames(video, frames)
    if not sample:
        err.print(f"[red]error:[/] --source {video}: no frame could be decoded")
        raise typer.Exit(2)
    m = settings.model
    spec = ModelSpec(
        weights=m.weights, task="pose", precision=m.precision, device=m.device, half=m.half, imgsz=imgsz or m.imgsz,
        batch=batch or m.batch_size, threads=m.torch_threads if threads is None else threads,
        cache_dir=settings.data_dir.resolve() / "cache",
        export_dir=Path(m.export_dir) if m.export_dir else settings.data_dir.resolve() / "cache" / "exports",
        calibration=m.calibration, calibration_frames=m.calibration_frames, cpu_precision_hint=m.cpu_precision_hint,
    )
    if spec.threads > 0:
        import torch

        torch.set_num_threads(spec.threads)
    store = _store(settings)
    with err.status("benchmarking") as status:
        try:
            report = benchmark_backends(sample, wanted, spec=spec, rounds=rounds, predict_args={"conf": m.conf, "iou": m.iou},
                                        store=store, fetch=getattr(store, "download_uri", None),
                                        on_step=lambda line: status.update(line))
        except (FileNotFoundError, ValueError) as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
    _print(report, video, as_json)


def _settings() -> Settings:
    from pydantic import ValidationError

    from cluster.runtime import prepare_environment

    try:
        s = Settings()
    except ValidationError as exc:
        err.print(f"[red]error:[/] invalid settings\n{exc}")
        raise typer.Exit(2) from None
    prepare_environment(s)
    return s


def _store(settings: Settings) -> Any:
    from cluster.runtime import open_store
    from storage.objectstore import ObjectStoreError

    try:
        return open_store(settings)
    except (ValueError, ObjectStoreError) as exc:  # exports are then shared by nothing but this machine's disk
        err.print(f"[yellow]warning:[/] object store unavailable ({exc}); exports stay on this machine")
        return None


def _print(report: Any, video: Path, as_json: bool) -> None:
    torch_fps = report.run("torch").fps
    rows = []
    for r in report.runs:
        a = r.agreement
        rows.append({
            "backend": r.requested, "ran": r.health.backend, "precision": r.health.precision,
            "compute": r.health.compute or r.health.precision, "device": r.health.device,
            "fallback": r.health.fallback, "reason": r.health.reason, "export": r.health.export,
            "load_s": round(r.load_s, 2), "fps": round(r.fps, 2), "fps_rounds": [round(x, 2) for x in r.fps_rounds],
            "vs_torch": round(r.fps / torch_fps, 2) if torch_fps else None,
            "boxes_torch": a.reference if a else None, "boxes": a.candidate if a else None,
            "box_recall_vs_torch": round(a.recall, 3) if a else None, "mean_iou_vs_torch": round(a.mean_iou, 3) if a else None,
        })  # fmt: skip
    fastest = report.fastest()
    auto = report.auto
    summary = {
        "imgsz": report.imgsz, "batch": report.batch, "frames": report.frames, "source": str(video), "runs": rows,
        "auto": {"backend": auto.backend.value, "precision": auto.precision.value, "device": auto.device,
                 "reason": auto.reason, "fallback": auto.fallback},
        "fastest": fastest.requested if fastest else None,
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table(title=f"inference backends on this machine: imgsz {report.imgsz}, batch {report.batch}, "
                        f"{report.frames} frames of {video.name}")
    for col in ("backend", "precision", "export", "load s", "frames/s", "× torch", "boxes (torch)", "box recall", "mean IoU"):
        table.add_column(col, justify="left" if col in ("backend", "precision", "export") else "right")
    for row, r in zip(rows, report.runs):
        name = row["backend"] + (f" → torch (fallback: {r.health.reason})" if r.health.fallback else "")
        table.add_row(
            name, row["precision"] + (f" ({r.health.compute} compute)" if r.health.compute else ""), row["export"], f"{row['load_s']:.1f}", f"{row['fps']:.2f}",
            f"{row['vs_torch']:.2f}" if row["vs_torch"] else "-",
            f"{row['boxes']} ({row['boxes_torch']})" if row["boxes"] is not None else "-",
            f"{row['box_recall_vs_torch']:.3f}" if row["box_recall_vs_torch"] is not None else "-",
            f"{row['mean_iou_vs_torch']:.3f}" if row["mean_iou_vs_torch"] is not None else "-",
        )  # fmt: skip
    out.print(table)
    out.print(f"auto chose [bold]{auto.backend.value} {auto.precision.value}[/] on {auto.device}: {auto.reason}")
    if report.run(auto.backend.value) is None:
        out.print(f"({auto.backend.value} was not measured: add --backend {auto.backend.value})")
    elif fastest is not None:
        verdict = "the fastest measured" if fastest.requested == auto.backend.value else (
            f"the fastest measured here was {fastest.requested} ({fastest.fps:.2f} frames/s); "
            f"set MODEL__BACKEND={fastest.requested} to use it")
        out.print(f"auto's choice is {verdict}")
