"""Debounced per-track zone membership (inertia) and lost-track handling."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = ["ExitReason", "Transition", "TrackState", "ZoneMembership"]


class ExitReason(str, Enum):
    """Why a track stopped being inside a zone."""

    LEFT = "left"  # seen outside for `inertia_frames` frames
    LOST = "lost"  # not seen for longer than `lost_track_s` while inside


@dataclass(frozen=True)
class Transition:
    """A debounced entry into or exit from a zone.

    Attributes:
        track_id: the track.
        entered: True for an entry, False for an exit.
        frame_index: frame of the transition (for `LOST` exits: last frame seen).
        t_s: time of the transition in seconds.
        confidence: mean detector confidence of the supporting observations (the inertia
            streak for an entry or a left-exit; the whole visit for a lost-exit).
        reason: for exits, why.
        entered_frame: for exits, frame of the visit's entry.
        entered_t_s: for exits, time of the visit's entry.
        visit_confidence: for exits, mean confidence over the whole visit.
    """

    track_id: int
    entered: bool
    frame_index: int
    t_s: float
    confidence: float
    reason: ExitReason | None = None
    entered_frame: int = 0
    entered_t_s: float = 0.0
    visit_confidence: float = 0.0


@dataclass
class TrackState:
    """What the membership tracker knows about one track."""

    inside: bool = False
    streak: int = 0  # consecutive observations disagreeing with `inside`
    streak_conf: float = 0.0  # summed confidence of that streak
    last_frame: int = 0
    last_t_s: float = 0.0
    entered_frame: int = 0
    entered_t_s: float = 0.0
    visit_conf: float = 0.0  # summed confidence of observations since entry
    visit_n: int = 0

    @property
    def visit_confidence(self) -> float:
        """Mean confidence of the observations during the current visit."""
        return self.visit_conf / self.visit_n if self.visit_n else 0.0


class ZoneMembership:
    """Tracks which tracks are inside one zone, with inertia.

    A track counts as entered after `inertia_frames` consecutive observations inside, and as
    exited after as many outside. Frames where the track is not observed neither advance nor
    break a streak. A track not observed for more than `lost_track_s` is dropped; if it was
    inside, that is an exit (`ExitReason.LOST`) at its last observation.

    Args:
        inertia_frames: consecutive observations needed to change state (>= 1).
        lost_track_s: seconds without an observation before a track is dropped.
    """

    def __init__(self, inertia_frames: int, lost_track_s: float) -> None:
        if inertia_frames < 1:
            raise ValueError(f"inertia_frames must be >= 1, but got {inertia_frames}")
        self.inertia_frames = inertia_frames
        self.lost_track_s = lost_track_s
        self.tracks: dict[int, TrackState] = {}

    def update(
        self,
        tracker_id: npt.NDArray[np.int64],
        inside: npt.NDArray[np.bool_],
        confidence: npt.NDArray[np.float64],
        frame_index: int,
        t_s: float,
    ) -> list[Transition]:
        """Feed one frame's observations.

        Args:
            tracker_id: `(N,)` track ids observed in this frame.
            inside: `(N,)` whether each is inside the zone.
            confidence: `(N,)` detector confidence of each.
            frame_index: the frame's index.
            t_s: the frame's time in seconds.

        Returns:
            The transitions this frame caused (lost exits first).
        """
        seen = set(tracker_id.tolist())
        transitions = self._drop_lost(seen, t_s)
        for track, is_in, conf in zip(tracker_id.tolist(), inside.tolist(), confidence.tolist()):
            state = self.tracks.setdefault(track, TrackState())
            state.last_frame, state.last_t_s = frame_index, t_s
            if state.inside:
                state.visit_conf += conf
                state.visit_n += 1
            if is_in == state.inside:
                state.streak, state.streak_conf = 0, 0.0
                continue
            state.streak += 1
            state.streak_conf += conf
            if state.streak < self.inertia_frames:
                continue
            mean_conf = state.streak_conf / state.streak
            state.inside, state.streak, state.streak_conf = is_in, 0, 0.0
            if is_in:
                state.entered_frame, state.entered_t_s = frame_index, t_s
                state.visit_conf, state.visit_n = conf, 1
                transitions.append(Transition(track, True, frame_index, t_s, mean_conf))
            else:
                transitions.append(
                    Transition(
                        track, False, frame_index, t_s, mean_conf, ExitReason.LEFT,
                        state.entered_frame, state.entered_t_s, state.visit_confidence,
                    )
                )
        return transitions

    def _drop_lost(self, seen: set[int], t_s: float) -> list[Transition]:
        transitions = []
        for track in [k for k, s in self.tracks.items() if k not in seen and t_s - s.last_t_s > self.lost_track_s]:
            state = self.tracks.pop(track)
            if state.inside:
                transitions.append(
                    Transition(
                        track, False, state.last_frame, state.last_t_s, state.visit_confidence, ExitReason.LOST,
                        state.entered_frame, state.entered_t_s, state.visit_confidence,
                    )
                )
        return transitions

    def inside_tracks(self) -> dict[int, TrackState]:
        """Tracks currently counted as inside, by id."""
        return {k: s for k, s in self.tracks.items() if s.inside}

    def reset(self) -> None:
        """Forget every track."""
        self.tracks.clear()
