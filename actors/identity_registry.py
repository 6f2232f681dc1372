"""The identity registry: global person ids across a site's cameras.

`IdentityRegistryCore` (no Ray) holds every known person of a site: a gallery of
quality-weighted appearance embeddings in a FAISS index (`actors.identity_index`), and where and
when each of their tracks was seen. A track is placed by `observe`: the appearance index and the
people seen recently give the candidates, `domain.identity.match_sighting` gates each by space
and time, the best accepted one wins, else the track is a new person with a fresh UUID. Bulk
jobs run the core directly over a recording session; live cameras call the `IdentityRegistry`
named actor (one per site), which wraps the core and checkpoints it to the database.

A live track first placed as a new person is *tentative* for `tentative_s`: while it is, each
update re-runs the matching, and when another person now matches (the other camera's positions
arrived later), the young identity is merged into that person.

Changes (new or updated people, gallery embeddings, track links, sampled positions, best crops,
deleted people) accumulate until `drain_changes()`, which the actor writes to storage.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.identity_index import GalleryIndex
from domain.identity import MatchDecision, MatchParams, Sighting, Topology, Verdict, choose_identity, gallery_similarity

__all__ = ["REGISTRY_PREFIX", "TrackObservation", "IdentityAnswer", "RegistryChanges", "IdentityRegistryCore", "registry_name",
           "IdentityRegistry", "registry_handle"]

log = logging.getLogger(__name__)


REGISTRY_PREFIX = "witness-identity-"


def registry_name(site: str) -> str:
    """Name of a site's registry actor."""
    return f"{REGISTRY_PREFIX}{site}"


@dataclass
class TrackObservation:
    """What a camera (or a bulk job) knows about one track since its last observation.

    Attributes:
        camera_id: the camera.
        track_key: unique key of the track (`live/{camera}/{session}/{track_id}`, `{job}/{video}/{track_id}`).
        track_id: the per-camera track id.
        t_s: `(T,)` float64 times (s, the site's shared clock), T >= 1, increasing.
        xyxy: `(T, 4)` float32 boxes in the camera's pixels.
        map_xy: `(T, 2)` float64 plan positions (m), NaN where unknown.
        embeddings: `(K, D)` float32 L2-normalised appearance embeddings of crops (K may be 0).
        qualities: `(K,)` float32 their `domain.identity.crop_quality`.
        crop_jpeg: the best crop of this observation as JPEG (or `None`).
        crop_quality: its quality.
        job_id: the bulk job (`None` live).
        video_id: the bulk video (`None` live).
        resolution_wh: `(width, height)` of the frames the boxes are in.
    """

    camera_id: str
    track_key: str
    track_id: int
    t_s: npt.NDArray[np.float64]
    xyxy: npt.NDArray[np.float32]
    map_xy: npt.NDArray[np.float64]
    embeddings: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    qualities: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    crop_jpeg: bytes | None = None
    crop_quality: float = 0.0
    job_id: str | None = None
    video_id: str | None = None
    resolution_wh: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.t_s = np.asarray(self.t_s, np.float64).reshape(-1)
        n = len(self.t_s)
        if n == 0:
            raise ValueError(f"observation of {self.track_key} has no times")
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(n, 4)
        self.map_xy = np.asarray(self.map_xy, np.float64).reshape(n, 2) if np.size(self.map_xy) else np.full((n, 2), np.nan)
        self.embeddings = np.asarray(self.embeddings, np.float32)
        if self.embeddings.size == 0:
            self.embeddings = np.zeros((0, 0), np.float32)
        self.qualities = np.asarray(self.qualities, np.float32).reshape(-1)
        if len(self.qualities) != len(self.embeddings):
            raise ValueError(f"{self.track_key}: {len(self.embeddings)} embeddings but {len(self.qualities)} qualities")


@dataclass(frozen=True)
class IdentityAnswer:
    """Where a track was placed.

    Attributes:
        track_key: the track.
        global_id: the person (a UUID string).
        verdict: how (`Verdict.value`, or `"new"` for a new person, `"known"` for an already placed track).
        score: the decision's score (`None` for new / known).
        merged_from: the tentative identity this track had before a merge (else `None`).
    """

    track_key: str
    global_id: str
    verdict: str
    score: float | None = None
    merged_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"track_key": self.track_key, "global_id": self.global_id, "verdict": self.verdict,
                "score": self.score, "merged_from": self.merged_from}


@dataclass
class _Trace:
    camera_id: str
    track_id: int
    t: list[float]
    xy: list[tuple[float, float]]
    first_s: float
    verdict: str
    score: float | None
    job_id: str | None
    video_id: str | None
    last_position_s: float = -np.inf

    def sighting(self) -> Sighting:
        return Sighting(self.camera_id, np.asarray(self.t), np.asarray(self.xy, np.float64).reshape(-1, 2))


@dataclass
class _Person:
    global_id: str
    first_seen_s: float
    last_seen_s: float
    first_camera_id: str
    last_camera_id: str
    created_wall_s: float
    entry_ids: list[int] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    vectors: list[npt.NDArray[np.float32]] = field(default_factory=list)
    traces: dict[str, _Trace] = field(default_factory=dict)
    crop_quality: float = 0.0
    crop_key: str | None = None
    expires_at: float = 0.0
    job_id: str | None = None


@dataclass
class RegistryChanges:
    """What changed since the last `drain_changes()` (rows for `storage.identity.save_changes`)."""

    persons: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    removed_embeddings: list[int] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    crops: dict[str, bytes] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)  # young global_id -> the person it was merged into

    def __bool__(self) -> bool:
        return bool(self.persons or self.embeddings or self.removed_embeddings or self.links or self.positions
                    or self.crops or self.deleted)


class IdentityRegistryCore:
    """Every known person of one site, and the matching of new tracks to them.

    Args:
        site: site name (stored with each person).
        params: the matching gates (`domain.identity.MatchParams`).
        topology: camera neighbours and transit windows.
        gallery_size: embeddings kept per person; a better-quality crop replaces the worst.
        top_k: gallery neighbours fetched from the index per lookup.
        index: `auto`, `flat` or `hnsw` (see `GalleryIndex`).
        hnsw_from: with `auto`, the gallery size from which HNSW is used.
        retention_s: a person is forgotten (and deleted from storage) this long after their last update (wall clock).
        history_s: seconds of each track's positions kept in memory for the space-time gates.
        position_interval_s: one stored position per track per this many seconds.
        tentative_s: a track placed as a new person is re-matched on its updates for this long (s of its own time).
        crop_key: `(site, global_id) -> object-store key` of a person's best crop.
        job_id: the bulk job whose session this is (`None` live).
        clock: wall clock (epoch s).
    """

    def __init__(
        self,
        site: str,
        *,
        params: MatchParams | None = None,
        topology: Topology | None = None,
        gallery_size: int = 8,
        top_k: int = 32,
        index: str = "auto",
        hnsw_from: int = 20000,
        retention_s: float = 4 * 3600.0,
        history_s: float = 300.0,
        position_interval_s: float = 0.5,
        tentative_s: float = 3.0,
        crop_key: Callable[[str, str], str] | None = None,
        job_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.params, self.topology = params or MatchParams(), topology or Topology()
        self.gallery_size, self.top_k = gallery_size, top_k
        self.retention_s, self.history_s = retention_s, history_s
        self.position_interval_s, self.tentative_s = position_interval_s, tentative_s
        self.crop_key = crop_key or (lambda s, g: f"persons/{s}/{g}.jpg")
        self.job_id, self.clock = job_id, clock
        self.index = GalleryIndex(index, hnsw_from=hnsw_from)
        self.persons: dict[str, _Person] = {}
        self.bindings: dict[str, str] = {}  # track_key -> global_id
        self._entry_owner: dict[int, str] = {}
        # People seen lately (the candidates of a same-place match): global_id -> last_seen_s, and a heap of
        # (last_seen_s, global_id) to drop the ones left behind in O(log n) (stale heap entries are skipped).
        self._recent: dict[str, float] = {}
        self._recent_heap: list[tuple[float, str]] = []
        self.recent_margin_s = 10.0
        self._next_entry = 1
        self._changes = RegistryChanges()
        self._dirty: set[str] = set()

    # --------------------------------------------------------------------------- observe
    def observe(self, obs: TrackObservation) -> IdentityAnswer:
        """Place a track (or update an already placed one) and return its person.

        Raises:
            ValueError: an embedding of another dimension than the gallery's.
        """
        gid = self.bindings.get(obs.track_key)
        if gid is not None and gid in self.persons:
            person = self.persons[gid]
            trace = person.traces[obs.track_key]
            merged = self._maybe_merge(person, trace, obs)
            if merged is not None:
                return merged
            self._extend(person, obs)
            return IdentityAnswer(obs.track_key, gid, "known")
        new = Sighting(obs.camera_id, obs.t_s, obs.map_xy)
        query = self._query(obs)
        decisions = self._decide(new, query, exclude=None)
        best = choose_identity(decisions)
        if best is None:
            person = self._create(obs)
            self._bind(person, obs, "new", None)
            self._extend(person, obs)
            return IdentityAnswer(obs.track_key, person.global_id, "new")
        person = self.persons[best]
        d = decisions[best]
        self._bind(person, obs, d.verdict.value, d.score)
        self._extend(person, obs)
        return IdentityAnswer(obs.track_key, best, d.verdict.value, d.score)

    def lookup(self, obs: TrackObservation) -> tuple[str | None, MatchDecision | None]:
        """Who an unplaced track would be matched to, without placing it (no state changes).

        Returns:
            `(global_id, decision)` of the best accepted candidate, or `(None, None)` for a new person.
        """
        decisions = self._decide(Sighting(obs.camera_id, obs.t_s, obs.map_xy), self._query(obs), exclude=None)
        best = choose_identity(decisions)
        return (best, decisions[best]) if best is not None else (None, None)

    def _query(self, obs: TrackObservation) -> npt.NDArray[np.float32] | None:
        if len(obs.embeddings) == 0:
            return None
        w = np.clip(obs.qualities.astype(np.float64), 1e-3, None)
        q = (obs.embeddings * w[:, None]).sum(axis=0)
        n = float(np.linalg.norm(q))
        return (q / n).astype(np.float32) if n > 0 else None

    def _touch(self, gid: str, last_seen_s: float) -> None:
        if self._recent.get(gid) != last_seen_s:
            self._recent[gid] = last_seen_s
            heapq.heappush(self._recent_heap, (last_seen_s, gid))

    def _candidates(self, new: Sighting, query: npt.NDArray[np.float32] | None) -> set[str]:
        horizon = new.t_first_s - self.params.time_slack_s
        cut = horizon - self.recent_margin_s  # tracks arrive about in order of their start: keep a margin
        heap = self._recent_heap
        while heap and heap[0][0] < cut:
            last, gid = heapq.heappop(heap)
            if self._recent.get(gid) == last:
                del self._recent[gid]
        out = {gid for gid, last in self._recent.items() if last >= horizon}
        if query is not None and len(self.index):
            for entry, _ in self.index.search(query, self.top_k):
                owner = self._entry_owner.get(entry)
                if owner is not None:
                    out.add(owner)
        return out

    def _decide(self, new: Sighting, query: npt.NDArray[np.float32] | None, exclude: str | None) -> dict[str, MatchDecision]:
        decisions = {}
        p = self.params
        horizon = new.t_first_s - p.time_slack_s
        for gid in self._candidates(new, query):
            if gid == exclude or gid not in self.persons:
                continue
            person = self.persons[gid]
            sim = None
            if query is not None and person.vectors:
                if len(person.vectors) == 1:
                    sim = float(person.vectors[0] @ query)
                else:
                    sim = gallery_similarity(np.stack(person.vectors) @ query, person.qualities)
            # Skip what the policy is bound to refuse (the same answers, sooner): too unlike for any
            # match, or unlike for an appearance match and not seen at the same time (no same-place match).
            if sim is not None and (sim < p.colocated_min_similarity
                                    or (sim < p.min_similarity and person.last_seen_s < horizon)):
                continue
            known = [t.sighting() for key, t in person.traces.items() if t.t]
            decisions[gid] = self._policy(new, known, sim)
        return decisions

    def _policy(self, new: Sighting, known: list[Sighting], sim: float | None) -> MatchDecision:
        from domain.identity import match_sighting

        return match_sighting(new, known, sim, params=self.params, topology=self.topology)

    def _maybe_merge(self, person: _Person, trace: _Trace, obs: TrackObservation) -> IdentityAnswer | None:
        """Re-match a tentative track (a new person, young, alone in its identity); merge on a match."""
        if trace.verdict != "new" or len(person.traces) != 1 or obs.t_s[-1] - trace.first_s > self.tentative_s:
            return None
        t = np.r_[np.asarray(trace.t), obs.t_s]
        xy = np.r_[np.asarray(trace.xy, np.float64).reshape(-1, 2), obs.map_xy]
        order = np.argsort(t, kind="stable")
        new = Sighting(obs.camera_id, t[order], xy[order])
        vectors = person.vectors + list(obs.embeddings)
        qualities = person.qualities + list(obs.qualities)
        query = self._query(TrackObservation(obs.camera_id, obs.track_key, obs.track_id, obs.t_s[-1:],
                                             obs.xyxy[-1:], obs.map_xy[-1:], np.asarray(vectors, np.float32)
                                             if vectors else np.zeros((0, 0), np.float32),
                                             np.asarray(qualities, np.float32)))
        decisions = self._decide(new, query, exclude=person.global_id)
        best = choose_identity(decisions)
        if best is None:
            return None
        target, young = self.persons[best], person.global_id
        d = decisions[best]
        log.info("identity %s merged into %s (%s)", young, best, d.detail)
        self._merge(person, target, d)
        self._extend(target, obs)
        return IdentityAnswer(obs.track_key, best, d.verdict.value, d.score, merged_from=young)

    def _merge(self, young: _Person, target: _Person, d: MatchDecision) -> None:
        for key, trace in young.traces.items():
            trace.verdict, trace.score = d.verdict.value, d.score
            target.traces[key] = trace
            self.bindings[key] = target.global_id
            self._changes.links.append(self._link_row(target.global_id, key, trace))
        for entry, q, v in zip(young.entry_ids, young.qualities, young.vectors):
            self._entry_owner.pop(entry, None)
            self.index.remove([entry])
        self._changes.removed_embeddings.extend(young.entry_ids)
        young.traces = {}
        for q, v in zip(young.qualities, young.vectors):
            self._add_embedding(target, v, q, young.last_camera_id, young.last_seen_s)
        target.first_seen_s = min(target.first_seen_s, young.first_seen_s)
        target.last_seen_s = max(target.last_seen_s, young.last_seen_s)
        self._changes.persons.append(self._person_row(young))  # stored as an alias of the target
        self._forget(young.global_id)
        self._changes.merged[young.global_id] = target.global_id
        self._dirty.add(target.global_id)

    # --------------------------------------------------------------------------- state
    def _create(self, obs: TrackObservation) -> _Person:
        gid = str(uuid.uuid4())
        now = self.clock()
        t0 = float(obs.t_s[0])
        person = _Person(gid, t0, t0, obs.camera_id, obs.camera_id, now, expires_at=now + self.retention_s,
                         job_id=obs.job_id or self.job_id)
        self.persons[gid] = person
        return person

    def _bind(self, person: _Person, obs: TrackObservation, verdict: str, score: float | None) -> None:
        trace = _Trace(obs.camera_id, obs.track_id, [], [], float(obs.t_s[0]), verdict, score, obs.job_id, obs.video_id)
        person.traces[obs.track_key] = trace
        self.bindings[obs.track_key] = person.global_id

    def _link_row(self, gid: str, key: str, trace: _Trace) -> dict[str, Any]:
        return {"global_id": gid, "track_key": key, "camera_id": trace.camera_id, "track_id": trace.track_id,
                "job_id": trace.job_id, "video_id": trace.video_id, "first_seen_s": trace.first_s,
                "last_seen_s": trace.t[-1] if trace.t else trace.first_s, "verdict": trace.verdict, "score": trace.score}

    def _extend(self, person: _Person, obs: TrackObservation) -> None:
        trace = person.traces[obs.track_key]
        for t, xy, box in zip(obs.t_s.tolist(), obs.map_xy.tolist(), obs.xyxy.tolist()):
            if trace.t and t <= trace.t[-1]:
                continue
            trace.t.append(t)
            trace.xy.append((xy[0], xy[1]))
            if t - trace.last_position_s >= self.position_interval_s:
                trace.last_position_s = t
                finite = np.isfinite(xy).all()
                self._changes.positions.append({
                    "global_id": person.global_id, "camera_id": obs.camera_id, "track_id": obs.track_id, "t_s": t,
                    "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3],
                    "map_x": xy[0] if finite else None, "map_y": xy[1] if finite else None,
                    "frame_w": obs.resolution_wh[0] if obs.resolution_wh else None,
                    "frame_h": obs.resolution_wh[1] if obs.resolution_wh else None})
        cut = trace.t[-1] - self.history_s if trace.t else -np.inf
        if trace.t and trace.t[0] < cut:
            keep = next(i for i, t in enumerate(trace.t) if t >= cut)
            del trace.t[:keep], trace.xy[:keep]
        last = float(obs.t_s[-1])
        if last >= person.last_seen_s:
            person.last_seen_s, person.last_camera_id = last, obs.camera_id
        person.first_seen_s = min(person.first_seen_s, float(obs.t_s[0]))
        person.expires_at = self.clock() + self.retention_s
        self._touch(person.global_id, person.last_seen_s)
        for v, q in zip(obs.embeddings, obs.qualities.tolist()):
            self._add_embedding(person, v, q, obs.camera_id, last)
        if obs.crop_jpeg and obs.crop_quality > person.crop_quality:
            person.crop_quality = obs.crop_quality
            person.crop_key = self.crop_key(self.site, person.global_id)
            self._changes.crops[person.global_id] = obs.crop_jpeg
        self._changes.links.append(self._link_row(person.global_id, obs.track_key, trace))
        self._dirty.add(person.global_id)

    def _add_embedding(self, person: _Person, vector: npt.NDArray[np.float32], quality: float, camera_id: str,
                       t_s: float) -> None:
        if len(person.vectors) >= self.gallery_size:
            worst = int(np.argmin(person.qualities))
            if quality <= person.qualities[worst]:
                return
            entry = person.entry_ids.pop(worst)
            person.qualities.pop(worst)
            person.vectors.pop(worst)
            self.index.remove([entry])
            self._entry_owner.pop(entry, None)
            self._changes.removed_embeddings.append(entry)
        entry = self._next_entry
        self._next_entry += 1
        vec = np.asarray(vector, np.float32).reshape(-1)
        self.index.add([entry], vec[None, :])
        self._entry_owner[entry] = person.global_id
        person.entry_ids.append(entry)
        person.qualities.append(float(quality))
        person.vectors.append(vec)
        self._changes.embeddings.append({"id": entry, "global_id": person.global_id, "camera_id": camera_id,
                                         "t_s": t_s, "quality": float(quality), "vector": vec.tobytes()})

    def _forget(self, gid: str) -> None:
        person = self.persons.pop(gid, None)
        self._recent.pop(gid, None)
        self._dirty.discard(gid)
        if person is None:
            return
        self.index.remove(person.entry_ids)
        for entry in person.entry_ids:
            self._entry_owner.pop(entry, None)
        for key in person.traces:
            self.bindings.pop(key, None)
        self._changes.deleted.append(gid)

    def _person_row(self, p: _Person) -> dict[str, Any]:
        return {"global_id": p.global_id, "site": self.site, "job_id": p.job_id, "first_seen_s": p.first_seen_s,
                "last_seen_s": p.last_seen_s, "first_camera_id": p.first_camera_id, "last_camera_id": p.last_camera_id,
                "crop_key": p.crop_key, "crop_quality": p.crop_quality, "expires_at": p.expires_at}

    # --------------------------------------------------------------------------- lifecycle
    def expire(self, now_s: float | None = None) -> list[str]:
        """Forget every person whose retention ran out; returns their ids (deleted from storage at the next drain)."""
        now = self.clock() if now_s is None else now_s
        gone = [gid for gid, p in self.persons.items() if p.expires_at < now]
        for gid in gone:
            self._forget(gid)
        return gone

    def drain_changes(self) -> RegistryChanges:
        """The changes since the last call (and forget them). Links are de-duplicated by track key."""
        ch, self._changes = self._changes, RegistryChanges()
        ch.persons = ch.persons + [self._person_row(self.persons[g]) for g in sorted(self._dirty) if g in self.persons]
        self._dirty.clear()
        links: dict[str, dict[str, Any]] = {}
        for row in ch.links:
            if row["global_id"] in self.persons:
                links[row["track_key"]] = row
        ch.links = list(links.values())
        alive = set(self.persons)
        ch.positions = [r for r in ch.positions if r["global_id"] in alive]
        ch.embeddings = [r for r in ch.embeddings if r["global_id"] in alive and r["id"] not in set(ch.removed_embeddings)]
        ch.crops = {g: b for g, b in ch.crops.items() if g in alive}
        return ch

    def restore(self, persons: list[dict[str, Any]], embeddings: list[dict[str, Any]], links: list[dict[str, Any]],
                positions: list[dict[str, Any]]) -> None:
        """Rebuild the state from stored rows (what `drain_changes` produced earlier); nothing is re-reported as a change.

        Args:
            persons: `identity` rows (dicts).
            embeddings: `identity_embedding` rows (`vector` as float32 bytes).
            links: `identity_track` rows.
            positions: recent `identity_position` rows (for the space-time gates).
        """
        for row in persons:
            p = _Person(row["global_id"], row["first_seen_s"], row["last_seen_s"], row["first_camera_id"],
                        row["last_camera_id"], self.clock(), crop_quality=row.get("crop_quality") or 0.0,
                        crop_key=row.get("crop_key"), expires_at=row["expires_at"], job_id=row.get("job_id"))
            self.persons[p.global_id] = p
            self._touch(p.global_id, p.last_seen_s)
        for row in sorted(embeddings, key=lambda r: r["id"]):
            p = self.persons.get(row["global_id"])
            if p is None:
                continue
            vec = np.frombuffer(row["vector"], np.float32).copy()
            if self.index.dim is not None and len(vec) != self.index.dim:
                continue  # an embedding of another embedder: skipped
            self.index.add([row["id"]], vec[None, :])
            self._entry_owner[row["id"]] = p.global_id
            p.entry_ids.append(row["id"])
            p.qualities.append(float(row["quality"]))
            p.vectors.append(vec)
            self._next_entry = max(self._next_entry, int(row["id"]) + 1)
        for row in links:
            p = self.persons.get(row["global_id"])
            if p is None:
                continue
            p.traces[row["track_key"]] = _Trace(row["camera_id"], row["track_id"], [], [], row["first_seen_s"],
                                                row["verdict"], row.get("score"), row.get("job_id"), row.get("video_id"))
            self.bindings[row["track_key"]] = p.global_id
        by_track = {(t.camera_id, t.track_id, gid): t for gid, p in self.persons.items() for t in p.traces.values()}
        for row in sorted(positions, key=lambda r: r["t_s"]):
            trace = by_track.get((row["camera_id"], row["track_id"], row["global_id"]))
            if trace is not None:
                trace.t.append(row["t_s"])
                trace.xy.append((np.nan if row["map_x"] is None else row["map_x"],
                                 np.nan if row["map_y"] is None else row["map_y"]))
                trace.last_position_s = row["t_s"]

    def stats(self) -> dict[str, Any]:
        """Counts for health and benchmarks."""
        return {"site": self.site, "persons": len(self.persons), "embeddings": len(self.index),
                "index": self.index.active_kind, "tracks": len(self.bindings)}


# ------------------------------------------------------------------------------- Ray actor
def _observation(d: dict[str, Any] | TrackObservation) -> TrackObservation:
    return d if isinstance(d, TrackObservation) else TrackObservation(**d)


def _registry_actor_cls():
    import ray

    @ray.remote(num_cpus=0.25, max_restarts=-1, max_task_retries=-1)
    class IdentityRegistry:
        """A site's registry as a named Ray actor, checkpointed to the database (see the module docstring).

        Args:
            site: site name.
            database_url: where people are stored (and rebuilt from on restart).
            store: object store for the best crops (picklable).
            params: `domain.identity.MatchParams` fields.
            topology: `{camera_id: {neighbour_id: [min_s, max_s]}}`.
            options: `IdentityRegistryCore` keyword arguments (gallery_size, top_k, index, hnsw_from,
                retention_s, …) plus `checkpoint_interval_s`.
        """

        def __init__(self, site: str, *, database_url: str, store: Any = None, params: dict[str, Any] | None = None,
                     topology: dict[str, dict[str, Any]] | None = None, options: dict[str, Any] | None = None) -> None:
            from storage import identity as repo
            from storage.db import make_engine, migrate, session_scope

            opts = dict(options or {})
            self.checkpoint_interval_s = float(opts.pop("checkpoint_interval_s", 2.0))
            self.engine = make_engine(database_url)
            migrate(self.engine)
            self.store = store
            self.core = IdentityRegistryCore(
                site, params=MatchParams(**(params or {})),
                topology=Topology({a: {b: tuple(w) for b, w in n.items()} for a, n in (topology or {}).items()}),
                **opts)
            with session_scope(self.engine) as s:
                state = repo.load_registry_state(s, site=site, now_s=time.time(), history_s=self.core.history_s)
            self.core.restore(**state)
            self._last_flush = time.monotonic()
            self._last_expire = 0.0
            self._lock = threading.RLock()  # the flusher thread and the actor's calls share the core
            threading.Thread(target=self._flusher, name="identity-checkpoint", daemon=True).start()
            log.info("identity registry %s rebuilt: %s", site, self.core.stats())

        def _flusher(self) -> None:
            """Checkpoint pending changes (and expire people) even while no camera calls."""
            while True:
                time.sleep(self.checkpoint_interval_s or 1.0)
                try:
                    self.flush()
                except Exception:  # noqa: BLE001  (logged by flush; the next round retries)
                    log.exception("identity checkpoint round failed")

        def observe(self, observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Place tracks (see `IdentityRegistryCore.observe`); a bad observation answers `{"error": …}`."""
            with self._lock:
                return self._observe(observations)

        def _observe(self, observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for d in observations:
                try:
                    out.append(self.core.observe(_observation(d)).as_dict())
                except ValueError as exc:
                    out.append({"track_key": d.get("track_key") if isinstance(d, dict) else None, "error": str(exc)})
            fresh = any(a.get("verdict") == "new" or a.get("merged_from") for a in out)
            if fresh or time.monotonic() - self._last_flush >= self.checkpoint_interval_s:
                self._flush()  # new ids are stored before a camera shows them (the person API finds them)
            return out

        def set_topology(self, topology: dict[str, dict[str, Any]]) -> None:
            """Replace the camera topology (a camera's neighbours changed)."""
            with self._lock:
                self.core.topology = Topology({a: {b: tuple(w) for b, w in n.items()} for a, n in topology.items()})

        def flush(self) -> int:
            """Expire people past their retention and write the changes to storage now; returns rows written."""
            with self._lock:
                return self._flush()

        def _flush(self) -> int:
            from storage import identity as repo
            from storage.db import session_scope

            if time.monotonic() - self._last_expire > 30.0:
                self.core.expire()
                self._last_expire = time.monotonic()
                self._purge_stored()
            changes = self.core.drain_changes()
            self._last_flush = time.monotonic()
            if not changes:
                return 0
            crops = {}
            if self.store is not None:
                for gid, jpeg in changes.crops.items():
                    key = self.core.crop_key(self.core.site, gid)
                    try:
                        self.store.put_bytes(key, jpeg, "image/jpeg")
                        crops[gid] = key
                    except Exception as exc:  # noqa: BLE001  (a crop upload failure must not lose the identity rows)
                        log.warning("crop of %s not stored: %s", gid, exc)
            try:
                with session_scope(self.engine) as s:
                    n = repo.save_changes(s, changes)
            except Exception:
                log.exception("identity checkpoint failed; keeping the changes for the next one")
                self.core._changes = _merge_changes(changes, self.core._changes)
                self.core._dirty.update(r["global_id"] for r in changes.persons)
                return 0
            if self.store is not None:
                for gid in changes.deleted:
                    try:
                        self.store.delete(self.core.crop_key(self.core.site, gid))
                    except Exception:  # noqa: BLE001
                        log.warning("crop of expired %s not deleted", gid)
            return n

        def _purge_stored(self) -> None:
            """Delete stored people past their retention that this registry does not hold (bulk jobs' people)."""
            from storage import identity as repo
            from storage.db import session_scope

            try:
                with session_scope(self.engine) as s:
                    gone = repo.delete_expired(s, now_s=time.time())
            except Exception:  # noqa: BLE001  (the next round retries)
                log.exception("purging expired people failed")
                return
            for _, key in gone:
                if key and self.store is not None:
                    try:
                        self.store.delete(key)
                    except Exception:  # noqa: BLE001
                        log.warning("crop %s of an expired person not deleted", key)

        def stats(self) -> dict[str, Any]:
            """Counts (people, embeddings, index kind, tracks)."""
            with self._lock:
                return self.core.stats()

        def ping(self) -> bool:
            return True

    return IdentityRegistry


def _merge_changes(a: RegistryChanges, b: RegistryChanges) -> RegistryChanges:
    return RegistryChanges(a.persons + b.persons, a.embeddings + b.embeddings, a.removed_embeddings + b.removed_embeddings,
                           a.links + b.links, a.positions + b.positions, {**a.crops, **b.crops}, a.deleted + b.deleted,
                           {**a.merged, **b.merged})


IdentityRegistry = _registry_actor_cls()


def registry_handle(site: str, *, namespace: str, **kwargs: Any) -> Any:
    """The site's named registry actor, created (detached) when it does not exist yet.

    Args:
        site: site name.
        namespace: Ray namespace of the platform.
        **kwargs: `IdentityRegistry` constructor arguments (used only when creating it); `num_cpus` optional.
    """
    num_cpus = kwargs.pop("num_cpus", 0.25)
    return IdentityRegistry.options(name=registry_name(site), namespace=namespace, get_if_exists=True,
                                    lifetime="detached", num_cpus=num_cpus).remote(site, **kwargs)
