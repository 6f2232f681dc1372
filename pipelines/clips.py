"""Evidence clips: H.264 MP4 cuts around events, with every tracked person's box and id drawn.

All clips of one video are cut in one sequential decoding pass per cluster of nearby windows, so a
frame is decoded once however many clips it appears in.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from domain.tracks import Trajectory, densify

__all__ = ["ClipWindow", "ClipFile", "cut_clips", "clip_window"]

_SEEK_GAP_FRAMES = 300  # windows further apart than this are reached by seeking, not by decoding through


@dataclass(frozen=True)
class ClipWindow:
    """Frames `start <= f < end` of the video make the clip for event `event_id` (its track highlighted)."""

    event_id: str
    start: int
    end: int
    track_id: int | None = None


@dataclass(frozen=True)
class ClipFile:
    """A written clip on local disk, ready to upload."""

    event_id: str
    path: Path
    start: int
    end: int
    frame_count: int
    fps: float
    width: int
    height: int


def clip_window(
    event_id: str, frame_start: int, frame_end: int, *, fps: float, frame_count: int, pre_s: float, post_s: float,
    track_id: int | None = None,
) -> ClipWindow:
    """The frames of an event's clip: `pre_s` before its start to `post_s` after its end, clipped to the video.

    Example:
        >>> clip_window("e", 50, 60, fps=10, frame_count=100, pre_s=3, post_s=3)
        ClipWindow(event_id='e', start=20, end=91, track_id=None)
    """
    start = max(0, frame_start - round(pre_s * fps))
    end = min(frame_count, frame_end + round(post_s * fps) + 1)
    return ClipWindow(event_id, start, end, track_id)


class _Writer:
    """One H.264 MP4 being written with PyAV (browser-playable: yuv420p, faststart)."""

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int], crf: int) -> None:
        import av

        self.container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = size_wh
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _boxes_by_frame(trajectories: list[Trajectory], max_gap_frames: int) -> dict[int, list[tuple[int, np.ndarray]]]:
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = {}
    for traj in trajectories:
        frames, xyxy, _ = densify(traj, max_gap_frames=max_gap_frames)
        for f, box in zip(frames.tolist(), xyxy):
            by_frame.setdefault(f, []).append((traj.track_id, box))
    return by_frame


def cut_clips(
    video_path: str,
    windows: list[ClipWindow],
    trajectories: list[Trajectory],
    out_dir: Path,
    *,
    fps: float,
    stride: int,
    max_width: int = 960,
    crf: int = 26,
) -> list[ClipFile]:
    """Write one annotated MP4 per window.

    Args:
        video_path: the source video.
        windows: frame ranges to cut (may overlap).
        trajectories: tracks to draw (boxes interpolated between analysed frames).
        out_dir: where the MP4 files go (`{event_id}.mp4`).
        fps: the video's frame rate (clips keep it).
        stride: analysis stride, to interpolate boxes between analysed frames.
        max_width: wider videos are scaled down to this width.
        crf: x264 quality.

    Returns:
        The written clips, in the order of `windows`. A window the video could not supply frames for
        (e.g. past a truncation) yields a clip with the frames that could be decoded, or none at all.
    """
    if not windows:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = _boxes_by_frame(trajectories, stride)
    box_annotator = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.TRACK)
    label_annotator = sv.LabelAnnotator(text_scale=0.5, text_padding=3, color_lookup=sv.ColorLookup.TRACK)
    highlight = sv.BoxAnnotator(color=sv.Color.RED, thickness=3, color_lookup=sv.ColorLookup.INDEX)
    cap = cv2.VideoCapture(video_path)
    writers: dict[str, _Writer] = {}
    done: dict[str, ClipFile] = {}
    size_wh: tuple[int, int] | None = None
    scale = 1.0
    pending = sorted(windows, key=lambda w: w.start)
    active: list[ClipWindow] = []
    position = -1  # index of the frame the next read returns
    try:
        while pending or active:
            if not active:
                nxt = pending[0].start
                if position < 0 or nxt - position > _SEEK_GAP_FRAMES or nxt < position:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, nxt)
                    position = nxt
            ok, frame = cap.read()
            if not ok:
                break
            f = position
            position += 1
            while pending and pending[0].start <= f:
                w = pending.pop(0)
                if w.end > f:
                    active.append(w)
            if not active:
                continue
            if size_wh is None:
                h, w0 = frame.shape[:2]
                scale = min(1.0, max_width / w0)
                size_wh = (int(w0 * scale) // 2 * 2, int(h * scale) // 2 * 2)
            annotated = frame
            tracks = boxes.get(f, [])
            if tracks:
                dets = sv.Detections(
                    xyxy=np.stack([b for _, b in tracks]).astype(np.float32),
                    tracker_id=np.array([t for t, _ in tracks]),
                    class_id=np.zeros(len(tracks), int),
                )
                annotated = box_annotator.annotate(frame.copy(), dets)
                annotated = label_annotator.annotate(annotated, dets, labels=[f"#{t}" for t in dets.tracker_id])
            annotated = cv2.resize(annotated, size_wh, interpolation=cv2.INTER_AREA)
            for win in list(active):
                img = annotated
                if win.track_id is not None and tracks:
                    sel = [b for t, b in tracks if t == win.track_id]
                    if sel:
                        d = sv.Detections(xyxy=np.stack(sel).astype(np.float32) * scale, class_id=np.zeros(len(sel), int))
                        img = highlight.annotate(annotated.copy(), d)
                if win.event_id not in writers:
                    writers[win.event_id] = _Writer(out_dir / f"{win.event_id}.mp4", fps, size_wh, crf)
                writers[win.event_id].write(img)
                if f + 1 >= win.end:
                    active.remove(win)
                    _close(writers.pop(win.event_id), win, out_dir, fps, size_wh, done)
    finally:
        cap.release()
        for wid, writer in list(writers.items()):
            win = next(w for w in windows if w.event_id == wid)
            _close(writer, win, out_dir, fps, size_wh, done)
    return [done[w.event_id] for w in windows if w.event_id in done]


def _close(writer: _Writer, win: ClipWindow, out_dir: Path, fps: float, size_wh, done: dict[str, ClipFile]) -> None:
    writer.close()
    if writer.frames:
        done[win.event_id] = ClipFile(
            win.event_id, out_dir / f"{win.event_id}.mp4", win.start, win.start + writer.frames, writer.frames,
            fps, size_wh[0], size_wh[1],
        )
