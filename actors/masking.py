"""Face-masked copies of what leaves the platform: clips (MP4), frames and crops (JPEG).

The face regions come from `domain.privacy.face_boxes`; this module does the media I/O. Clips are
masked when they are written (bulk: `masked_clip` from the video's trajectories; live: the ring
buffer's `write_clip`, from the face boxes the camera loop attached to each buffered frame) and
stored beside the original under `domain.privacy.masked_key(key)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from domain.privacy import MaskMethod, apply_relative, face_boxes, mask_regions, relative_boxes
from domain.tracks import Trajectory, densify

__all__ = ["faces_by_frame", "mask_video_file", "mask_jpeg"]


def faces_by_frame(trajectories: Sequence[Trajectory], start: int, end: int, *, stride: int, scale: float = 1.0,
                   min_visibility: float = 0.3) -> list[npt.NDArray[np.float64]]:  # fmt: skip
    """Face boxes on every video frame `start <= f < end`, scaled by `scale` (a clip's downscale).

    Each person's face is measured on their analysed frames (keypoints) and carried, relative to
    their box, to the frames in between (boxes interpolated over gaps up to `stride` frames).

    Returns:
        One `(F_i, 4)` array per frame, `end - start` of them.
    """
    out: list[list[npt.NDArray[np.float64]]] = [[] for _ in range(max(0, end - start))]
    for traj in trajectories:
        if len(traj) == 0 or traj.frame_index[-1] < start or traj.frame_index[0] >= end:
            continue
        faces = face_boxes(traj.keypoints, traj.xyxy, min_visibility=min_visibility)
        detected = ~traj.interpolated if traj.keypoints is not None else np.ones(len(traj), bool)
        if not detected.any():
            detected = np.ones(len(traj), bool)
        rel = relative_boxes(faces[detected], traj.xyxy[detected])
        ref_frames = traj.frame_index[detected]
        frames, boxes, _ = densify(traj, max_gap_frames=stride)
        keep = (frames >= start) & (frames < end)
        for f, box in zip(frames[keep].tolist(), boxes[keep]):
            nearest = int(np.argmin(np.abs(ref_frames - f)))
            out[f - start].append(apply_relative(rel[nearest], box)[0] * scale)
    return [np.array(b).reshape(-1, 4) for b in out]


def mask_video_file(src: Path, dst: Path, faces: Sequence[npt.ArrayLike], *, crf: int = 26,
                    method: MaskMethod | str = MaskMethod.PIXELATE) -> int:  # fmt: skip
    """Write `dst`, a copy of the MP4 `src` with `faces[i]` masked on its frame `i` (H.264, same rate and size).

    Frames past `len(faces)` keep the last list of faces (a clip may hold a frame more than planned).

    Returns:
        Frames written.

    Raises:
        FileNotFoundError: `src` is missing. av.error.InvalidDataError: `src` is not a video.
    """
    import av

    if not Path(src).is_file():
        raise FileNotFoundError(src)
    written = 0
    with av.open(str(src)) as inp:
        stream_in = inp.streams.video[0]
        rate = stream_in.average_rate or Fraction(10)
        out = av.open(str(dst), mode="w", options={"movflags": "+faststart"})
        try:
            stream = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
            stream.width, stream.height = stream_in.codec_context.width, stream_in.codec_context.height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            last: npt.ArrayLike = np.zeros((0, 4))
            for i, frame in enumerate(inp.decode(stream_in)):
                bgr = frame.to_ndarray(format="bgr24")
                boxes = faces[i] if i < len(faces) else last
                last = boxes
                masked = mask_regions(bgr, boxes, method=method)
                for packet in stream.encode(av.VideoFrame.from_ndarray(masked, format="bgr24")):
                    out.mux(packet)
                written += 1
            for packet in stream.encode():
                out.mux(packet)
        finally:
            out.close()
    return written


def mask_jpeg(jpeg: bytes, boxes: npt.ArrayLike, *, quality: int = 85,
              method: MaskMethod | str = MaskMethod.PIXELATE) -> bytes:  # fmt: skip
    """The JPEG with `boxes` masked (re-encoded at `quality`); `b""` stays `b""`.

    Raises:
        ValueError: `jpeg` is not a decodable image.
    """
    if not jpeg:
        return jpeg
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable JPEG")
    ok, buf = cv2.imencode(".jpg", mask_regions(bgr, boxes, method=method), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""
