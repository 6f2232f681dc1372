"""Capacity planning: detector replicas, GPUs, nodes and control-plane load for N cameras (pure arithmetic).

`plan_capacity` turns a camera count, a detection rate and an image size into the cluster that
carries them, from reference figures that each name where they come from (`Figure.source`):

- CPU figures were measured by this repository's benchmarks (the README's "Benchmarks" section).
- GPU figures are **published** figures (Ultralytics' YOLO11-pose table for a T4, NVIDIA's datasheets
  for the other GPUs' relative FP16 tensor throughput), labelled as such until a GPU run measures them.
- Per-camera control-plane rates come from the platform's behaviour on vtest.avi (a busy walkway):
  the camera publishes one tracking update per analysed frame and its health once a second; events
  and identity figures come from the README's bulk-job and identity measurements.

Inference cost is taken as proportional to pixels (`(imgsz / reference_imgsz) ** 2`), which holds
for the convolutional backbone that dominates YOLO's time.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Figure", "AcceleratorProfile", "ControlPlaneRates", "CapacityPlan", "ACCELERATORS", "CONTROL_PLANE_RATES",
           "plan_capacity"]

GpuKind = Literal["h100", "a10g", "l4", "cpu"]


class Figure(BaseModel):
    """A number with where it was measured (or published)."""

    model_config = ConfigDict(frozen=True)

    value: float
    source: str


class AcceleratorProfile(BaseModel):
    """What one detector replica does on one kind of node.

    Attributes:
        frames_per_s: detector frames/s of one *device* (one GPU, or one CPU replica) at `reference_imgsz`.
        reference_imgsz: the image size (px, long side) `frames_per_s` was measured / published at.
        replicas_per_device: Serve replicas sharing one device (fractional GPUs: 1 / this each).
        device_cpus: CPUs one device's replicas need (the CPU replica's threads; a GPU replica's pre / post).
        node_devices: devices per node of the usual instance type.
        node_cpus: CPUs per node of that instance type.
        node_type: the instance type meant.
        camera_core_s_per_frame: CPU core-seconds a camera actor spends per analysed frame (decode,
            sampling, tracking, rules, the ring buffer), without the model.
    """

    model_config = ConfigDict(frozen=True)

    frames_per_s: Figure
    reference_imgsz: int = Field(gt=0)
    replicas_per_device: int = Field(ge=1)
    device_cpus: float = Field(gt=0)
    node_devices: int = Field(ge=1)
    node_cpus: int = Field(ge=1)
    node_type: str
    camera_core_s_per_frame: Figure


_CAMERA_CPU = Figure(
    value=0.017,
    source="measured: benchmarks/data_plane.py on 2 CPU cores (README 'Data plane per node', 2026-12-01): production "
    "camera actors on vtest.avi (768×576, 10 fps) at 5 fps with a stand-in detector of the real backend's latency used "
    "0.018, 0.017 and 0.016 core-s per analysed frame with 1, 4 and 8 cameras (decode, sampling, tracking, rules, ring "
    "buffer, Redis messages; not the identity stage or event delivery); 1080p H.264 sources decode slower",
)
_T4_640_FPS = 1000 / 1.7  # Ultralytics' YOLO11n-pose: 1.7 ms on a T4, TensorRT 10 FP16, imgsz 640, batch 1


def _gpu(name: str, tflops: float, node_type: str, node_devices: int, node_cpus: int) -> AcceleratorProfile:
    return AcceleratorProfile(
        frames_per_s=Figure(
            value=round(_T4_640_FPS * tflops / 65.0, 1),
            source=f"published, unmeasured here: Ultralytics' YOLO11n-pose T4 TensorRT FP16 latency (1.7 ms at 640) "
            f"scaled by NVIDIA's datasheet dense FP16 tensor TFLOPS ({name} {tflops:g} vs T4 65); an upper bound "
            "(a nano model rarely fills a big GPU)",
        ),
        reference_imgsz=640, replicas_per_device=4, device_cpus=4.0, node_devices=node_devices, node_cpus=node_cpus,
        node_type=node_type, camera_core_s_per_frame=_CAMERA_CPU,
    )


ACCELERATORS: dict[str, AcceleratorProfile] = {
    "h100": _gpu("H100 SXM", 989.0, "p5.48xlarge (8× H100, 192 vCPU)", 8, 192),
    "a10g": _gpu("A10 (datasheet of the A10; AWS publishes none for the A10G)", 125.0,
                 "g5.12xlarge (4× A10G, 48 vCPU)", 4, 48),
    "l4": _gpu("L4", 121.0, "g6.12xlarge (4× L4, 48 vCPU)", 4, 48),
    "cpu": AcceleratorProfile(
        frames_per_s=Figure(value=28.0, source="measured: benchmarks/live_cameras.py, bare OpenVINO loop, yolo11n-pose "
                            "imgsz 960, 2 threads on a 2-core CPU (README 'Live cameras', 2026-12-01)"),
        reference_imgsz=960, replicas_per_device=1, device_cpus=2.0, node_devices=8, node_cpus=32,
        node_type="32-vCPU CPU node (e.g. c7i.8xlarge), 8 replicas of 2 threads", camera_core_s_per_frame=_CAMERA_CPU,
    ),
}


class ControlPlaneRates(BaseModel):
    """Per-camera control-plane rates (per second of one camera's stream), and what one event sink stores."""

    model_config = ConfigDict(frozen=True)

    events_per_s: Figure = Figure(
        value=round(65 / 60, 3),
        source="measured: bulk job on vtest.avi looped to 1 min with examples/site.yaml (README 'Bulk job'): 65 events",
    )
    tracks_per_s: Figure = Figure(
        value=0.8, source="measured: live identity stage on vtest.avi (README 'Cross-camera identity'): 8 tracks in 10 s")
    people_in_view: Figure = Figure(
        value=7.0, source="measured: the same run: 7 people placed on the floor plan at once")
    health_per_s: Figure = Figure(value=1.0, source="platform: CAMERA health callback every 1 s (actors/camera.py)")
    sink_events_per_s: Figure = Figure(  # one event-sink actor's sustained rate (not per camera)
        value=1593.0,
        source="measured: benchmarks/scale.py --events-only on 2 CPU cores (README 'Control plane', 2026-12-01): one "
        "event sink stored 1593 events/s of 600 cameras ×3 with RELIABILITY__SINK_LINGER_S=1 (851 with one call per "
        "event), the machine's CPU the limit")


CONTROL_PLANE_RATES = ControlPlaneRates()


class CapacityPlan(BaseModel):
    """What `plan_capacity` returns; every figure is per second unless named otherwise."""

    cameras: int
    fps: float
    imgsz: int
    gpu: str
    busy_factor: float
    frames_per_s: float
    replica_frames_per_s: Figure
    detector_replicas: int
    devices: int
    nodes: int
    node_type: str
    camera_cpus: float
    detector_cpus: float
    events_per_s: float
    identity_lookups_per_s: float
    db_writes_per_s: float
    redis_messages_per_s: float
    event_sinks: int
    headroom: float
    sources: dict[str, str]


def plan_capacity(
    cameras: int,
    fps: float,
    imgsz: int,
    gpu: str = "cpu",
    *,
    utilisation: float = 0.7,
    busy_factor: float = 1.0,
    identity_refresh_s: float = 1.0,
    event_batch: int = 200,
    rates: ControlPlaneRates = CONTROL_PLANE_RATES,
) -> CapacityPlan:
    """The cluster that carries `cameras` cameras detected at `fps`, and the control-plane load they make.

    Args:
        cameras: live cameras (> 0).
        fps: detection rate per camera, frames/s (> 0).
        imgsz: inference image size, px long side (> 0).
        gpu: one of `ACCELERATORS` (h100, a10g, l4, cpu).
        utilisation: share of a replica's measured throughput to plan for (0–1]; the rest is headroom for
            bursts and batching gaps. Higher: fewer replicas, more lag under a burst.
        busy_factor: multiplies the per-camera events, tracks and people (e.g. 3 for a busy store).
        identity_refresh_s: a live track's position / gallery update period (`IDENTITY__REFRESH_S`).
        event_batch: events per database transaction of the event sink at full load (`RELIABILITY__SINK_BATCH_MAX`).
        rates: the per-camera control-plane rates.

    Returns:
        A `CapacityPlan`; `sources` names where each reference figure comes from.

    Raises:
        ValueError: a non-positive count / rate / size, an unknown `gpu`, or `utilisation` outside (0, 1].

    Example:
        >>> p = plan_capacity(600, 5, 960, "cpu")
        >>> p.frames_per_s, p.detector_replicas
        (3000.0, 154)
    """
    if cameras <= 0 or fps <= 0 or imgsz <= 0:
        raise ValueError(f"cameras, fps and imgsz must be > 0, but got {cameras}, {fps}, {imgsz}")
    if gpu not in ACCELERATORS:
        raise ValueError(f"gpu must be one of {sorted(ACCELERATORS)}, but got {gpu!r}")
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], but got {utilisation}")
    if busy_factor <= 0 or identity_refresh_s <= 0 or event_batch < 1:
        raise ValueError(f"busy_factor, identity_refresh_s must be > 0 and event_batch >= 1, but got "
                         f"{busy_factor}, {identity_refresh_s}, {event_batch}")
    a = ACCELERATORS[gpu]
    frames = cameras * fps
    device_fps = a.frames_per_s.value * (a.reference_imgsz / imgsz) ** 2
    replica_fps = device_fps / a.replicas_per_device
    devices = math.ceil(frames / (device_fps * utilisation))
    replicas = math.ceil(frames / (replica_fps * utilisation))
    camera_cpus = frames * a.camera_core_s_per_frame.value / utilisation
    detector_cpus = devices * a.device_cpus
    nodes = max(math.ceil(devices / a.node_devices), math.ceil((camera_cpus + detector_cpus) / a.node_cpus))
    events = cameras * rates.events_per_s.value * busy_factor
    new_tracks = cameras * rates.tracks_per_s.value * busy_factor
    lookups = new_tracks + cameras * rates.people_in_view.value * busy_factor / identity_refresh_s
    health = cameras * rates.health_per_s.value
    # Database: each event row plus its batch's transaction; the registry checkpoints new people.
    db_writes = events + events / event_batch + new_tracks
    # Redis: a tracking update per analysed frame, the health hash per second, each event published once.
    redis = frames + health + events
    # Event-sink partitions (`RELIABILITY__SINK_PARTITIONS`): each stores one sink's measured rate, planned at `utilisation`.
    sinks = math.ceil(events / (rates.sink_events_per_s.value * utilisation))
    return CapacityPlan(
        cameras=cameras, fps=fps, imgsz=imgsz, gpu=gpu, busy_factor=busy_factor, frames_per_s=frames,
        replica_frames_per_s=Figure(value=round(replica_fps, 2), source=a.frames_per_s.source),
        detector_replicas=replicas, devices=devices, nodes=nodes, node_type=a.node_type,
        camera_cpus=round(camera_cpus, 1), detector_cpus=round(detector_cpus, 1), events_per_s=round(events, 1),
        identity_lookups_per_s=round(lookups, 1), db_writes_per_s=round(db_writes, 1),
        redis_messages_per_s=round(redis, 1), event_sinks=sinks, headroom=round(1 - utilisation, 3),
        sources={
            "detector frames/s": a.frames_per_s.source,
            "camera CPU per frame": a.camera_core_s_per_frame.source,
            "events per camera": rates.events_per_s.source,
            "new tracks per camera": rates.tracks_per_s.source,
            "people in view per camera": rates.people_in_view.source,
            "health per camera": rates.health_per_s.source,
            "events per event sink": rates.sink_events_per_s.source,
        },
    )
