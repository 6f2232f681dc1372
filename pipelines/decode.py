"""Ray Data stage: decode the sampled frames of video chunks (stateless, a plain generator function)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

__all__ = ["decode_chunks"]


def _block(rows: list[tuple[str, int, int, float, np.ndarray]]) -> dict[str, np.ndarray]:
    return {
        "video_id": np.array([r[0] for r in rows]),
        "chunk_index": np.array([r[1] for r in rows], np.int64),
        "frame_index": np.array([r[2] for r in rows], np.int64),
        "t_s": np.array([r[3] for r in rows], np.float64),
        "image": np.stack([r[4] for r in rows]),
    }


def decode_chunks(batch: dict[str, np.ndarray], frames_per_block: int = 8) -> Iterator[dict[str, Any]]:
    """Decode each chunk row of `batch` and yield its sampled frames in blocks.

    Args:
        batch: chunk rows with columns `video_id`, `path`, `index`, `start`, `end`, `stride`, `fps`.
        frames_per_block: frames per yielded block (bounds the size of one Ray object).

    Yields:
        Blocks with `video_id`, `chunk_index`, `frame_index` (over every decoded frame), `t_s` and
        `image` `(B, H, W, 3)` uint8 BGR. A chunk whose video stops decoding early (truncated or
        corrupt) simply yields fewer frames; the job notices the shortfall.
    """
    for i in range(len(batch["path"])):
        video_id, path = str(batch["video_id"][i]), str(batch["path"][i])
        chunk, start, end = int(batch["index"][i]), int(batch["start"][i]), int(batch["end"][i])
        stride, fps = int(batch["stride"][i]), float(batch["fps"][i])
        cap = cv2.VideoCapture(path)
        rows: list[tuple[str, int, int, float, np.ndarray]] = []
        try:
            if start > 0:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            for f in range(start, end):
                if f % stride:
                    if not cap.grab():
                        break
                    continue
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                rows.append((video_id, chunk, f, f / fps, frame))
                if len(rows) == frames_per_block:
                    yield _block(rows)
                    rows = []
        except cv2.error:
            pass  # a corrupt stream: stop here; the missing frames mark the video as truncated
        finally:
            cap.release()
        if rows:
            yield _block(rows)
