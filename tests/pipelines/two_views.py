"""Two camera views cut from one video, calibrated to one floor plan: cross-camera truth known by construction.

View `a` is the left part of each frame, view `b` the right part; with `layout="overlap"` they share
a vertical strip, with `layout="gap"` a strip between them is seen by neither (a person leaves `a`
and enters `b` a moment later). The plan is the original frame in metres (`METRES_PER_PX` per
pixel), so a foot point seen in both views maps to the same plan point, and a box of a view maps
back to the original frame by adding its x offset.
"""

from __future__ import annotations

from pathlib import Path

import cv2

METRES_PER_PX = 0.02
LAYOUTS = {"overlap": ((0.0, 0.6), (0.4, 1.0)), "gap": ((0.0, 0.45), (0.55, 1.0))}


def cut_two_views(src: Path, out_dir: Path, *, seconds: float, layout: str = "overlap") -> dict[str, dict]:
    """Write `view-a.avi` and `view-b.avi` (MJPEG) of the first `seconds` of `src`.

    Returns:
        `{"a": {"path", "x0_px", "width_px", "height_px"}, "b": …}`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    views = {}
    writers = {}
    for name, (lo, hi) in zip("ab", LAYOUTS[layout]):
        x0, x1 = int(round(lo * w)), int(round(hi * w))
        path = out_dir / f"view-{name}.avi"
        views[name] = {"path": path, "x0_px": x0, "width_px": x1 - x0, "height_px": h}
        writers[name] = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (x1 - x0, h))
    for _ in range(int(round(seconds * fps))):
        ok, frame = cap.read()
        if not ok:
            break
        for name, v in views.items():
            writers[name].write(frame[:, v["x0_px"]:v["x0_px"] + v["width_px"]])
    for wr in writers.values():
        wr.release()
    cap.release()
    return views


def site_yaml(views: dict[str, dict], *, layout: str, name: str = "two-view") -> str:
    """A site file with cameras `a` and `b` (matching `view-a*` / `view-b*`), each calibrated to the plan."""
    lines = [f"site: {{name: {name}}}", "cameras:"]
    transit = "[0, 5]" if layout == "overlap" else "[0, 10]"
    for cam, other in (("a", "b"), ("b", "a")):
        v = views[cam]
        img = [[0.0, 1.0], [1.0, 1.0], [1.0, 0.3], [0.0, 0.3]]
        plan = [[round((v["x0_px"] + u * v["width_px"]) * METRES_PER_PX, 4), round(y * v["height_px"] * METRES_PER_PX, 4)]
                for u, y in img]
        lines += [f"  {cam}:", f"    match: view-{cam}*", "    calibration:",
                  f"      image_points: {img}", f"      map_points: {plan}",
                  f"    neighbours: {{{other}: {{transit_s: {transit}}}}}"]
    return "\n".join(lines) + "\n"
