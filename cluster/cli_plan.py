"""`witness plan`: the cluster N cameras need (replicas, GPUs, nodes) and the control-plane load they make."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cluster.settings import Settings

__all__ = ["plan_cmd"]

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def plan_cmd(
    cameras: Annotated[int, typer.Option(min=1, max=100_000, help="Live cameras.")] = 600,
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Detection rate per camera (frames/s).")] = 5.0,
    imgsz: Annotated[int, typer.Option(min=320, max=3840, help="Inference image size (px, long side).")] = 960,
    gpu: Annotated[str, typer.Option(help="Accelerator of the worker nodes: h100, a10g, l4 or cpu.")] = "cpu",
    utilisation: Annotated[float, typer.Option(min=0.05, max=1.0, help="Share of a replica's throughput to plan "
                                               "for; the rest is headroom.")] = 0.7,
    busy: Annotated[float, typer.Option(min=0.1, max=100, help="Multiplier of per-camera events, tracks and people "
                                        "(3: a busy store).")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object.")] = False,
) -> None:
    """Plan capacity: detector replicas, GPUs, nodes and control-plane load, each figure with its source."""
    from domain.capacity import ACCELERATORS, plan_capacity

    if gpu not in ACCELERATORS:
        err.print(f"[red]error:[/] --gpu must be one of {', '.join(sorted(ACCELERATORS))}, got {gpu!r}")
        raise typer.Exit(2)
    s = Settings()
    plan = plan_capacity(cameras, fps, imgsz, gpu, utilisation=utilisation, busy_factor=busy,
                         identity_refresh_s=s.identity.refresh_s, event_batch=s.reliability.sink_batch_max)
    if as_json:
        out.print_json(json.dumps(plan.model_dump()))
        return
    device = "GPUs" if gpu != "cpu" else "CPU replicas (2 threads each)"
    table = Table(title=f"{cameras} cameras at {fps:g} fps, imgsz {imgsz}, {gpu}", show_lines=False)
    table.add_column("what")
    table.add_column("figure", justify="right")
    for what, figure in [
        ("analysed frames/s", f"{plan.frames_per_s:g}"),
        ("frames/s per detector replica", f"{plan.replica_frames_per_s.value:g}"),
        ("detector replicas", str(plan.detector_replicas)),
        (device, str(plan.devices)),
        ("CPUs for camera actors", f"{plan.camera_cpus:g}"),
        ("CPUs for detector replicas", f"{plan.detector_cpus:g}"),
        (f"worker nodes ({plan.node_type})", str(plan.nodes)),
        ("events/s", f"{plan.events_per_s:g}"),
        ("identity lookups/s", f"{plan.identity_lookups_per_s:g}"),
        ("database writes/s", f"{plan.db_writes_per_s:g}"),
        ("Redis messages/s", f"{plan.redis_messages_per_s:g}"),
        ("event sinks (RELIABILITY__SINK_PARTITIONS)", str(plan.event_sinks)),
        ("planned headroom", f"{plan.headroom:.0%}"),
    ]:
        table.add_row(what, figure)
    out.print(table)
    out.print("Sources:")
    for what, source in plan.sources.items():
        out.print(f"  {what}: {source}")
