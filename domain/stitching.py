"""Offline tracklet stitching, gap interpolation and short-track pruning (bulk jobs).

An online tracker (BoT-SORT) fragments a person's track when they are occluded for longer than its
buffer or briefly undetected. With the whole video available, fragments can be joined after the
fact: a tracklet that ends is linked to one that starts shortly after, near where the first one was
heading, with a similar size and appearance. This is the "AFLink"-style association of StrongSORT
(Du et al., 2023, "StrongSORT: Make DeepSORT Great Again", sec. 3.3) done with hand-set gates instead
of a learned model, followed by linear interpolation of short gaps (their "GSI" without smoothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from domain.tracks import Trajectory

__all__ = [
    "StitchParams",
    "stitch_tracklets",
    "interpolate_gaps",
    "prune_short",
    "concat_trajectories",
    "renumber",
    "select",
    "join_chunks",
]


@dataclass(frozen=True)
class StitchParams:
    """Gates for joining tracklet A (earlier) to tracklet B (later).

    Attributes:
        max_gap_s: longest gap between A's last and B's first point. Longer bridges longer occlusions
            but lets unrelated people be joined.
        max_residual_h_s: how far the junction may miss the constant-velocity extrapolation, in
            body heights per second of gap (plus half a body height for box jitter). Larger
            forgives turns and stops; smaller refuses more wrong joins across busy areas.
        min_similarity: minimum cosine similarity of the mean appearance vectors (ignored when either
            tracklet has none). Raising it prevents identity swaps but joins fewer fragments.
        max_height_ratio: box heights at the junction may differ by at most this factor.
        velocity_window_s: the last seconds of A used to estimate its velocity.
    """

    max_gap_s: float = 4.0
    max_residual_h_s: float = 0.75
    min_similarity: float = 0.75
    max_height_ratio: float = 1.6
    velocity_window_s: float = 1.0


def _velocity(traj: Trajectory, window_s: float, *, at_end: bool) -> npt.NDArray[np.float64]:
    """Foot-point velocity `(2,)` in px/s over the first or last `window_s` of detected points."""
    det = ~traj.interpolated
    t, foot = traj.t_s[det], traj.foot_xy[det].astype(np.float64)
    if len(t) < 2:
        return np.zeros(2)
    sel = t >= t[-1] - window_s if at_end else t <= t[0] + window_s
    t, foot = t[sel], foot[sel]
    if len(t) < 2 or t[-1] - t[0] <= 0:
        return np.zeros(2)
    return (foot[-1] - foot[0]) / (t[-1] - t[0])


def _cosine(a: npt.NDArray[np.float32] | None, b: npt.NDArray[np.float32] | None) -> float | None:
    if a is None or b is None or a.size == 0 or b.size == 0:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return None
    return float(a @ b / (na * nb))


def _link_cost(a: Trajectory, b: Trajectory, p: StitchParams) -> float | None:
    """Cost of A → B (lower is better) or `None` when a gate fails."""
    gap = float(b.t_s[0] - a.t_s[-1])
    if gap <= 0 or gap > p.max_gap_s:
        return None
    h_a = float(a.xyxy[-1, 3] - a.xyxy[-1, 1])
    h_b = float(b.xyxy[0, 3] - b.xyxy[0, 1])
    if min(h_a, h_b) <= 0 or max(h_a, h_b) / min(h_a, h_b) > p.max_height_ratio:
        return None
    # Meet in the middle: A extrapolated forward and B backward over half the gap each.
    end_a = a.foot_xy[-1] + _velocity(a, p.velocity_window_s, at_end=True) * gap / 2
    start_b = b.foot_xy[0] - _velocity(b, p.velocity_window_s, at_end=False) * gap / 2
    distance = float(np.linalg.norm(end_a - start_b))
    reach = max(h_a, h_b) * (0.5 + p.max_residual_h_s * gap)
    if distance > reach:
        return None
    similarity = _cosine(a.embedding, b.embedding)
    if similarity is not None and similarity < p.min_similarity:
        return None
    appearance = 0.5 if similarity is None else 1.0 - similarity
    return appearance + distance / reach + gap / p.max_gap_s


def concat_trajectories(parts: list[Trajectory], track_id: int) -> Trajectory:
    """Join time-ordered, non-overlapping trajectories into one with id `track_id`.

    The appearance vector becomes the detected-point-weighted mean of the parts'.
    """
    keypoints = None
    if all(t.keypoints is not None for t in parts):
        keypoints = np.concatenate([t.keypoints for t in parts])  # type: ignore[misc]
    landmarks = None
    if all(t.landmarks is not None for t in parts):
        landmarks = np.concatenate([t.landmarks for t in parts])  # type: ignore[misc]
    embs = [(t.embedding, t.detected_count) for t in parts if t.embedding is not None and t.embedding.size]
    embedding = None
    if embs:
        weights = np.array([max(w, 1) for _, w in embs], np.float32)
        embedding = (np.stack([e for e, _ in embs]) * weights[:, None]).sum(0) / weights.sum()
    return Trajectory(
        track_id=track_id,
        frame_index=np.concatenate([t.frame_index for t in parts]),
        t_s=np.concatenate([t.t_s for t in parts]),
        xyxy=np.concatenate([t.xyxy for t in parts]),
        confidence=np.concatenate([t.confidence for t in parts]),
        interpolated=np.concatenate([t.interpolated for t in parts]),
        keypoints=keypoints,
        embedding=embedding,
        landmarks=landmarks,
    )


def stitch_tracklets(tracklets: list[Trajectory], params: StitchParams) -> list[Trajectory]:
    """Join fragments of the same person into one trajectory.

    Every feasible link A → B (B starts after A ends, within the gates of `params`) is scored; links
    are accepted greedily from the cheapest while each tracklet keeps at most one successor and one
    predecessor, so chains A → B → C form. Each chain keeps the id of its first tracklet.

    Args:
        tracklets: trajectories of one video with unique `track_id`s.
        params: gates, see `StitchParams`.

    Returns:
        The stitched trajectories, ordered by first frame.

    Example:
        >>> a = Trajectory(1, np.array([0, 1]), np.array([0.0, 0.1]), np.array([[0, 0, 10, 40], [2, 0, 12, 40]], np.float32),
        ...                np.ones(2, np.float32), np.zeros(2, bool))
        >>> b = Trajectory(2, np.array([5, 6]), np.array([0.5, 0.6]), np.array([[10, 0, 20, 40], [12, 0, 22, 40]], np.float32),
        ...                np.ones(2, np.float32), np.zeros(2, bool))
        >>> [t.track_id for t in stitch_tracklets([a, b], StitchParams())]
        [1]
    """
    order = sorted((t for t in tracklets if len(t)), key=lambda t: (int(t.frame_index[0]), t.track_id))
    links: list[tuple[float, int, int]] = []
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            if i != j and b.frame_index[0] > a.frame_index[-1]:
                cost = _link_cost(a, b, params)
                if cost is not None:
                    links.append((cost, i, j))
    successor: dict[int, int] = {}
    predecessor: dict[int, int] = {}
    for _, i, j in sorted(links):
        if i not in successor and j not in predecessor:
            successor[i], predecessor[j] = j, i
    stitched = []
    for i in range(len(order)):
        if i in predecessor:
            continue
        chain = [i]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        parts = [order[k] for k in chain]
        stitched.append(parts[0] if len(parts) == 1 else concat_trajectories(parts, parts[0].track_id))
    return sorted(stitched, key=lambda t: int(t.frame_index[0]))


def interpolate_gaps(traj: Trajectory, *, step_frames: int, fps: float, max_gap_s: float) -> Trajectory:
    """Fill gaps of up to `max_gap_s` with linearly interpolated boxes every `step_frames` frames.

    Args:
        traj: one trajectory.
        step_frames: spacing of analysed frames (1 when every frame was analysed).
        fps: the video's frame rate, to turn frame indices into seconds.
        max_gap_s: longer gaps are left empty (the person may really have left).

    Returns:
        A new trajectory; filled points have `interpolated=True` and confidence 0.
    """
    if len(traj) < 2:
        return traj
    fi = traj.frame_index
    new_frames: list[int] = []
    for k in np.flatnonzero(np.diff(fi) > step_frames):
        if (fi[k + 1] - fi[k]) / fps <= max_gap_s:
            new_frames.extend(range(int(fi[k]) + step_frames, int(fi[k + 1]), step_frames))
    if not new_frames:
        return traj
    nf = np.array(new_frames, np.int64)
    xyxy = np.stack([np.interp(nf, fi, traj.xyxy[:, c]) for c in range(4)], axis=1).astype(np.float32)
    frames = np.concatenate([fi, nf])
    order = np.argsort(frames, kind="stable")
    keypoints = None
    if traj.keypoints is not None:
        keypoints = np.concatenate([traj.keypoints, np.zeros((len(nf), 17, 3), np.float32)])[order]
    landmarks = None
    if traj.landmarks is not None:
        landmarks = np.concatenate([traj.landmarks, np.zeros((len(nf), 33, 3), np.float32)])[order]
    return replace(
        traj,
        frame_index=frames[order],
        t_s=np.concatenate([traj.t_s, nf / fps])[order],
        xyxy=np.concatenate([traj.xyxy, xyxy])[order],
        confidence=np.concatenate([traj.confidence, np.zeros(len(nf), np.float32)])[order],
        interpolated=np.concatenate([traj.interpolated, np.ones(len(nf), bool)])[order],
        keypoints=keypoints,
        landmarks=landmarks,
    )


def prune_short(trajectories: list[Trajectory], *, min_detected_s: float, step_s: float) -> list[Trajectory]:
    """Drop trajectories whose detected points span less than `min_detected_s` (flicker, false positives).

    Args:
        trajectories: candidates.
        min_detected_s: minimum number of detected points times `step_s`.
        step_s: seconds between analysed frames.
    """
    return [t for t in trajectories if t.detected_count * step_s >= min_detected_s]


def renumber(trajectories: list[Trajectory]) -> list[Trajectory]:
    """Give ids 1, 2, … in order of first appearance (stable, human-friendly ids); empty ones are dropped."""
    ordered = sorted((t for t in trajectories if len(t)), key=lambda t: (int(t.frame_index[0]), t.track_id))
    return [replace(t, track_id=i) for i, t in enumerate(ordered, start=1)]


def select(traj: Trajectory, mask: npt.NDArray[np.bool_]) -> Trajectory:
    """The points of `traj` where `mask` `(T,)` is True, as a new trajectory."""
    return replace(
        traj,
        frame_index=traj.frame_index[mask],
        t_s=traj.t_s[mask],
        xyxy=traj.xyxy[mask],
        confidence=traj.confidence[mask],
        interpolated=traj.interpolated[mask],
        keypoints=None if traj.keypoints is None else traj.keypoints[mask],
        landmarks=None if traj.landmarks is None else traj.landmarks[mask],
    )


def _overlap_iou(a: Trajectory, b: Trajectory, lo: int, hi: int) -> float:
    """Mean IoU of `a` and `b` over their common frames in `[lo, hi)` (0 if fewer than 2 in common)."""
    common, ia, ib = np.intersect1d(a.frame_index, b.frame_index, return_indices=True)
    keep = (common >= lo) & (common < hi)
    if keep.sum() < 2:
        return 0.0
    ba, bb = a.xyxy[ia[keep]], b.xyxy[ib[keep]]
    x1, y1 = np.maximum(ba[:, 0], bb[:, 0]), np.maximum(ba[:, 1], bb[:, 1])
    x2, y2 = np.minimum(ba[:, 2], bb[:, 2]), np.minimum(ba[:, 3], bb[:, 3])
    inter = (x2 - x1).clip(min=0) * (y2 - y1).clip(min=0)
    area = lambda b_: (b_[:, 2] - b_[:, 0]) * (b_[:, 3] - b_[:, 1])  # noqa: E731
    return float((inter / (area(ba) + area(bb) - inter).clip(min=1e-6)).mean())


def join_chunks(
    chunks: list[list[Trajectory]], overlaps: list[tuple[int, int]], *, min_iou: float = 0.5
) -> list[Trajectory]:
    """Join the tracklets of consecutive, overlapping chunks of one video into whole-video tracks.

    In each overlap `[lo, hi)` the tracks of chunk `k` and chunk `k+1` saw the same frames; pairs
    whose boxes agree (mean IoU ≥ `min_iou`, Hungarian assignment) are the same person. Each side
    keeps its points on its half of the overlap (cut at the middle), so no frame is counted twice;
    a tracklet with no partner keeps all its points.

    Args:
        chunks: per chunk, its tracklets (ids unique across all chunks).
        overlaps: `len(chunks) - 1` frame ranges `(lo, hi)`: chunk `k+1` starts at `lo`, chunk `k` ends at `hi`.
        min_iou: agreement needed to call two tracklets the same person.

    Returns:
        Whole-video tracklets; a joined one keeps the id of its earliest part.

    Raises:
        ValueError: if `overlaps` does not have one entry per chunk boundary.
    """
    from scipy.optimize import linear_sum_assignment

    if not chunks:
        return []
    if len(overlaps) != len(chunks) - 1:
        raise ValueError(f"need {len(chunks) - 1} overlaps for {len(chunks)} chunks, got {len(overlaps)}")
    closed: list[Trajectory] = []
    current = list(chunks[0])
    for nxt, (lo, hi) in zip(chunks[1:], overlaps):
        cut = (lo + hi) // 2
        iou = np.array([[_overlap_iou(a, b, lo, hi) for b in nxt] for a in current]).reshape(len(current), len(nxt))
        pairs = {}
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            pairs = {r: c for r, c in zip(rows, cols) if iou[r, c] >= min_iou}
        new_current: list[Trajectory] = []
        for i, a in enumerate(current):
            j = pairs.get(i)
            if j is None:  # nobody in the next chunk is this person: keep every point it has
                (new_current if a.frame_index[-1] >= lo else closed).append(a)
                continue
            b = nxt[j]
            parts = [p for p in (select(a, a.frame_index < cut), select(b, b.frame_index >= cut)) if len(p)]
            new_current.append(concat_trajectories(parts, a.track_id))
        matched = set(pairs.values())
        new_current.extend(b for j, b in enumerate(nxt) if j not in matched and len(b))
        current = new_current
    return closed + current
