"""Global person ids for a bulk job: its videos are one recording session of the site's cameras.

After every video of a job is stored, each stored trajectory becomes one observation for the
same `IdentityRegistryCore` the live registry runs: its times on the session clock (each video
starts at t = 0, or at its offset from `JobOptions.video_offsets_s`), its foot points on the
floor plan (the camera's calibration, Kalman-smoothed), and the appearance embeddings of a few
of its best crops (re-decoded from the video and embedded by `EmbedderReplica` in a Ray Data
`map_batches` stage). Observations are placed in order of their start; the people found are
stored with the job (`identity.job_id`), and `global_id` is stamped on the job's tracks and
events.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from actors.identity_registry import IdentityRegistryCore, TrackObservation
from domain.floorplan import KalmanParams, smooth_map_track
from domain.identity import MatchParams, Topology, crop_quality
from domain.site import SiteConfig
from pipelines.export import trajectories_of_video
from storage import crud
from storage import identity as repo
from storage.db import session_scope

__all__ = ["IdentityOptions", "site_topology", "match_params", "link_job_identities"]

log = logging.getLogger(__name__)


@dataclass
class IdentityOptions:
    """What the bulk identity pass needs (`cluster.settings` sections).

    Attributes:
        identity: `IdentitySettings`.
        embedder: `EmbedderSettings`.
        crops_per_track: crops embedded per trajectory (the best of each equal time slice).
        video_offsets_s: video name → its start on the session clock (s); others start at 0.
    """

    identity: Any
    embedder: Any
    crops_per_track: int = 4
    video_offsets_s: dict[str, float] | None = None


def site_topology(site: SiteConfig) -> Topology:
    """The cameras' `neighbours` as a `Topology` (camera ids as in the site file)."""
    return Topology({cid: {n: tuple(cfg.transit_s) for n, cfg in cam.neighbours.items()}
                     for cid, cam in site.cameras.items() if cam.neighbours})


def match_params(identity: Any) -> MatchParams:
    """`MatchParams` from `IdentitySettings`."""
    return MatchParams(
        min_similarity=identity.min_similarity, colocated_min_similarity=identity.colocated_min_similarity,
        colocation_radius_m=identity.colocation_radius_m, two_places_m=identity.two_places_m,
        max_speed_mps=identity.max_speed_mps, max_gap_s=identity.max_gap_s, time_slack_s=identity.time_slack_s,
    )


def _pick_crops(traj: Any, resolution_wh: tuple[int, int], k: int) -> list[tuple[int, np.ndarray, float]]:
    """Up to `k` `(frame_index, xyxy, quality)`: the best detected point of each of `k` equal time slices."""
    det = np.flatnonzero(~traj.interpolated)
    if len(det) == 0:
        return []
    out = []
    for part in np.array_split(det, min(k, len(det))):
        q = [crop_quality(traj.xyxy[i], float(traj.confidence[i]), resolution_wh) for i in part]
        j = int(np.argmax(q))
        out.append((int(traj.frame_index[part[j]]), traj.xyxy[part[j]].astype(np.float32), float(q[j])))
    return out


def _read_crops(path: str, wanted: dict[int, list[tuple[Any, np.ndarray]]]) -> list[tuple[Any, np.ndarray]]:
    """Crops `(key, bgr)` of the wanted frames, decoding the video once in order."""
    out = []
    if not wanted:
        return out
    cap = cv2.VideoCapture(path)
    last = max(wanted)
    i = 0
    try:
        while i <= last:
            ok, frame = cap.read()
            if not ok:
                break
            for key, box in wanted.get(i, []):
                h, w = frame.shape[:2]
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                crop = frame[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
                if crop.size:
                    out.append((key, crop.copy()))
            i += 1
    finally:
        cap.release()
    return out


def _embed(crops: list[np.ndarray], embedder: Any, cache_dir: Path, fetch: Any) -> np.ndarray:
    """Embed crops with `EmbedderReplica` as a Ray Data actor-pool stage (the same class Serve runs live)."""
    import ray.data

    from actors.embedder_replica import EmbedderReplica

    if not crops:
        return np.zeros((0, 0), np.float32)
    rows = [{"i": i, "crop": c} for i, c in enumerate(crops)]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(8, len(rows) // 32)))
    ds = ds.map_batches(
        EmbedderReplica,
        fn_constructor_kwargs=dict(kind=embedder.kind, weights=embedder.weights, arch=embedder.arch,
                                   color_weight=embedder.color_weight, device=embedder.device,
                                   batch_size=embedder.batch_size, torch_threads=embedder.torch_threads,
                                   cache_dir=str(cache_dir), fetch=fetch),
        batch_size=embedder.batch_size, compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=max(embedder.num_cpus, 0.25), num_gpus=embedder.num_gpus, batch_format="numpy",
    )
    out: dict[int, np.ndarray] = {}
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for i, e in zip(batch["i"].tolist(), batch["embedding"]):
            out[int(i)] = np.asarray(e, np.float32)
    return np.stack([out[i] for i in range(len(crops))])


def link_job_identities(job_id: str, *, site: SiteConfig, engine: Any, store: Any, options: IdentityOptions,
                        cache_dir: Path, video_paths: dict[str, str]) -> dict[str, dict[int, str]]:
    """Give every track of a job's completed videos a `global_id` (see the module docstring).

    Args:
        job_id: the job (its videos already stored).
        site: the site file (cameras' calibrations and neighbours).
        engine: database engine.
        store: object store (for the best crop of each person).
        options: identity and embedder settings.
        cache_dir: model download cache.
        video_paths: video id → local path of the video (to re-decode crops).

    Returns:
        `video_id → {track_id: global_id}`.
    """
    started = time.perf_counter()
    ident = options.identity
    with session_scope(engine) as s:  # people of earlier jobs past their retention go first
        for _, key in repo.delete_expired(s, now_s=time.time()):
            if key:
                try:
                    store.delete(key)
                except Exception:  # noqa: BLE001  (a leftover crop must not fail the job)
                    log.warning("crop %s of an expired person not deleted", key)
    with session_scope(engine) as s:
        job = crud.get_job(s, job_id)
        videos = [v for v in crud.list_videos(s, job_id) if str(getattr(v.status, "value", v.status)) == "done"]
        base_s = job.created_at.timestamp() if job is not None else time.time()
        per_video = {v.id: trajectories_of_video(s, v.id)[0] for v in videos}
    offsets = options.video_offsets_s or {}
    kalman = KalmanParams(accel_noise_mps2=ident.accel_noise_mps2, measurement_noise_m=ident.measurement_noise_m)
    pending: list[tuple[TrackObservation, list[int]]] = []
    crops: list[np.ndarray] = []
    crop_q: list[float] = []
    for v in videos:
        path = video_paths.get(v.id)
        camera_id = v.camera_id or "default"
        camera = site.cameras.get(camera_id)
        wh = (int(v.width or 1), int(v.height or 1))
        fitted = camera.calibration.fitted if camera is not None and camera.calibration is not None else None
        offset = float(offsets.get(v.name, 0.0))
        wanted: dict[int, list] = {}
        trajs = per_video[v.id]
        for traj in trajs:
            if len(traj) == 0:
                continue
            for f, box, q in _pick_crops(traj, wh, options.crops_per_track):
                wanted.setdefault(f, []).append(((traj.track_id, q), box))
        got = _read_crops(path, wanted) if path else []
        by_track: dict[int, list[int]] = {}
        for (tid, q), crop in got:
            by_track.setdefault(tid, []).append(len(crops))
            crops.append(crop)
            crop_q.append(q)
        for traj in trajs:
            if len(traj) == 0:
                continue
            t = base_s + offset + traj.t_s
            if fitted is not None:
                xy = smooth_map_track(t, fitted.boxes_to_map(traj.xyxy, wh), kalman)
            else:
                xy = np.full((len(traj), 2), np.nan)
            o = TrackObservation(camera_id, f"{job_id}/{v.id}/{traj.track_id}", int(traj.track_id), t, traj.xyxy, xy,
                                 job_id=job_id, video_id=v.id, resolution_wh=wh)
            pending.append((o, by_track.get(traj.track_id, [])))
    fetch = getattr(store, "download_uri", None)
    embeddings = _embed(crops, options.embedder, cache_dir, fetch) if ident.enabled else np.zeros((0, 0), np.float32)
    core = IdentityRegistryCore(
        site.site.name, params=match_params(ident), topology=site_topology(site), gallery_size=ident.gallery_size,
        top_k=ident.top_k, index=ident.index, hnsw_from=ident.hnsw_from, retention_s=ident.retention_s,
        history_s=float("inf"), job_id=job_id, tentative_s=0.0,
        crop_key=lambda s_, g: f"persons/{s_}/{g}.jpg",
    )
    result: dict[str, dict[int, str]] = {}
    for o, idx in sorted(pending, key=lambda p: (p[0].t_s[0], p[0].track_key)):
        if idx:
            o.embeddings = embeddings[idx]
            o.qualities = np.asarray([crop_q[i] for i in idx], np.float32)
            best = idx[int(np.argmax(o.qualities))]
            ok, jpeg = cv2.imencode(".jpg", crops[best], [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                o.crop_jpeg, o.crop_quality = jpeg.tobytes(), float(max(crop_q[i] for i in idx))
        answer = core.observe(o)
        result.setdefault(o.video_id, {})[o.track_id] = answer.global_id
    changes = core.drain_changes()
    for gid, jpeg in changes.crops.items():
        store.put_bytes(core.crop_key(core.site, gid), jpeg, "image/jpeg")
    with session_scope(engine) as s:
        repo.save_changes(s, changes)
        for vid, ids in result.items():
            repo.set_track_global_ids(s, video_id=vid, global_ids=ids)
    log.info("job %s: %d tracks of %d videos → %d people (%.1f s)", job_id, len(pending), len(videos),
             core.stats()["persons"], time.perf_counter() - started)
    return result
