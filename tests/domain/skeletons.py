"""Synthetic people for the pose rules: a 2-D stick figure in COCO-17 posed by a few angles, and scripted motions.

A figure of standing height `H` pixels stands (or sits, lies…) with its feet at `floor_y`. Its
proportions are round numbers close to adult anthropometry (hip at 0.5 H, shoulders 0.3 H above
the hip, upper arm 0.18 H, forearm 0.16 H, thigh and shin 0.25 H each). Angles are in degrees:
the torso's from vertical (positive leans towards +x), an arm segment's from straight down
(positive swings towards +x). Legs are placed by two-link inverse kinematics between the hip and
the ankle, knees bending towards +x. Every keypoint is visible (1.0) unless hidden.

A scene is a list of frames, each a list of `(track_id, xyxy (4,), keypoints (17, 3))`, fed to the
rules engine at a fixed fps by `run_scene`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import supervision as sv

from domain import Event, RulesEngine

FPS = 10.0
H = 100.0  # standing height, px
FLOOR_Y = 400.0
THIGH = SHIN = 0.25 * H
TORSO, HEAD = 0.30 * H, 0.12 * H
UPPER_ARM, FOREARM = 0.18 * H, 0.16 * H


@dataclass(frozen=True)
class Pose:
    """What a figure looks like at one instant (see the module doc for conventions)."""

    x: float = 200.0  # hip x (px)
    hip_h: float = 0.5  # hip height above the floor, fraction of H
    torso_deg: float = 0.0
    ankle_dx: tuple[float, float] = (-0.05, 0.05)  # left, right ankle x offset from the hip, fraction of H
    ankle_h: tuple[float, float] = (0.0, 0.0)  # ankle heights above the floor, fraction of H
    l_arm: tuple[float, float] = (5.0, 5.0)  # left upper arm, forearm angles
    r_arm: tuple[float, float] = (-5.0, -5.0)


def _dir(deg: float) -> np.ndarray:
    """Unit vector at `deg` from straight down (image y down)."""
    r = np.radians(deg)
    return np.array([np.sin(r), np.cos(r)])


def _knee(hip: np.ndarray, ankle: np.ndarray) -> np.ndarray:
    d = ankle - hip
    dist = float(np.linalg.norm(d))
    if dist >= THIGH + SHIN - 1e-6:
        return hip + d / 2
    along = dist / 2
    out = np.sqrt(max(THIGH**2 - along**2, 0.0))
    unit = d / dist
    normal = np.array([unit[1], -unit[0]])  # towards +x for a leg pointing down
    if normal[0] < 0:
        normal = -normal
    return hip + unit * along + normal * out


def keypoints(p: Pose) -> np.ndarray:
    """`(17, 3)` COCO-17 keypoints of pose `p`."""
    kp = np.zeros((17, 3))
    hip = np.array([p.x, FLOOR_Y - p.hip_h * H])
    up = _dir(p.torso_deg) * np.array([1.0, -1.0])  # from the hip towards the shoulders
    side = np.array([-up[1], up[0]])
    shoulder = hip + up * TORSO
    head = shoulder + up * HEAD
    kp[0, :2] = head  # nose
    for i, (s, e) in enumerate(((1, 0.03), (2, -0.03), (3, 0.06), (4, -0.06))):  # eyes, ears
        kp[s, :2] = head + side * e * H - up * 0.01 * H
    for j, sign, arm in ((5, 1, p.l_arm), (6, -1, p.r_arm)):
        sh = shoulder + side * sign * 0.1 * H
        elbow = sh + _dir(arm[0]) * UPPER_ARM
        kp[j, :2], kp[j + 2, :2], kp[j + 4, :2] = sh, elbow, elbow + _dir(arm[1]) * FOREARM
    for j, sign, dx, ah in ((11, 1, p.ankle_dx[0], p.ankle_h[0]), (12, -1, p.ankle_dx[1], p.ankle_h[1])):
        h = hip + side * sign * 0.05 * H
        ankle = np.array([p.x + dx * H, FLOOR_Y - ah * H])
        kp[j, :2], kp[j + 2, :2], kp[j + 4, :2] = h, _knee(h, ankle), ankle
    kp[:, 2] = 1.0
    return kp


def box(kp: np.ndarray) -> np.ndarray:
    """`(4,)` xyxy around the keypoints with a margin of 0.04 H (the head's top above the nose)."""
    xy = kp[:, :2]
    m = 0.04 * H
    return np.array([xy[:, 0].min() - m, xy[:, 1].min() - 0.06 * H, xy[:, 0].max() + m, xy[:, 1].max() + m / 2])


def lerp(a: Pose, b: Pose, f: float) -> Pose:
    """Pose between `a` and `b` (`f` in 0–1, smooth-stepped)."""
    f = f * f * (3 - 2 * f)

    def mix(u, v):
        return tuple(x + (y - x) * f for x, y in zip(u, v)) if isinstance(u, tuple) else u + (v - u) * f

    return Pose(**{k: mix(getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__})


STAND = Pose()
LYING = Pose(hip_h=0.08, torso_deg=88.0, ankle_dx=(-0.5, -0.5), ankle_h=(0.06, 0.06), l_arm=(60, 80), r_arm=(60, 90))
SITTING = Pose(hip_h=0.27, torso_deg=8.0, ankle_dx=(0.3, 0.32))  # on a chair: thighs forward, shins down
CROUCH = Pose(hip_h=0.22, torso_deg=28.0, ankle_dx=(0.08, 0.1), l_arm=(30, 20), r_arm=(25, 15))
BENT = Pose(x=190.0, hip_h=0.47, torso_deg=82.0, ankle_dx=(0.05, 0.1), l_arm=(0, 0), r_arm=(0, 0))  # picking something up


Script = list[tuple[float, Pose]]  # (seconds to reach this pose from the previous one, pose); first entry: hold time


def motion(script: Script, *, track: int = 1, dx: Callable[[float], float] | None = None,
           wobble: Callable[[float, Pose], Pose] | None = None) -> list[list[tuple]]:  # fmt: skip
    """Frames of one person following `script` at `FPS`.

    Args:
        script: `[(hold_s, first_pose), (s_to_next, next_pose), …]`; a repeated pose holds it.
        track: the track id.
        dx: extra x offset (px) as a function of time (walking, jogging).
        wobble: per-frame change of the pose as a function of time (punching, swinging arms).
    """
    frames: list[list[tuple]] = []
    t = 0.0
    prev = script[0][1]
    segments = [(script[0][0], prev, prev)] + [(d, a, b) for (_, a), (d, b) in zip(script, script[1:])]
    for dur, a, b in segments:
        n = max(1, round(dur * FPS))
        for i in range(n):
            p = lerp(a, b, (i + 1) / n)
            if dx is not None:
                p = replace(p, x=p.x + dx(t))
            if wobble is not None:
                p = wobble(t, p)
            kp = keypoints(p)
            frames.append([(track, box(kp), kp)])
            t += 1 / FPS
    return frames


def together(*scenes: list[list[tuple]]) -> list[list[tuple]]:
    """Merge scenes of different people frame by frame (the shorter ones end early)."""
    n = max(len(s) for s in scenes)
    return [[row for s in scenes if i < len(s) for row in s[i]] for i in range(n)]


def run_scene(engine: RulesEngine, frames: list[list[tuple]], *, fps: float = FPS,
              hide: tuple[int, ...] = ()) -> list[Event]:  # fmt: skip
    """Feed `frames` to `engine` (keypoints in `data["keypoints"]`), then `finish()`.

    Args:
        hide: keypoint indices given visibility 0 (e.g. the torso, to test box-only cues).
    """
    events: list[Event] = []
    for i, rows in enumerate(frames):
        kp = np.array([r[2] for r in rows]).reshape(-1, 17, 3).copy()
        kp[:, list(hide), 2] = 0.0
        dets = sv.Detections(
            xyxy=np.array([r[1] for r in rows], np.float32).reshape(-1, 4),
            confidence=np.full(len(rows), 0.9, np.float32),
            class_id=np.zeros(len(rows), int),
            tracker_id=np.array([r[0] for r in rows], int),
            data={"keypoints": kp} if rows else {},
        )
        events += engine.update(dets, frame_index=i, t_s=i / fps)
    last = max(len(frames) - 1, 0)
    return events + engine.finish(frame_index=last, t_s=last / fps)
