from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.video import Chunk, VideoError, VideoInfo, plan_chunks, probe_video, sampling_stride


def write_video(path: Path, *, frames: int = 20, size_wh: tuple[int, int] = (64, 48), fps: float = 10.0,
                fourcc: str = "MJPG") -> Path:
    """A small video whose frame `i` is solid grey level `10 * i` (mod 256)."""
    w, h = size_wh
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size_wh)
    assert writer.isOpened(), f"this OpenCV build cannot write {fourcc} to {path.suffix}"
    for i in range(frames):
        writer.write(np.full((h, w, 3), (10 * i) % 256, np.uint8))
    writer.release()
    return path


# ---------------------------------------------------------------------------------------- probe_video
@pytest.mark.parametrize(
    ("frames", "size_wh", "fps", "expected", "exception"),
    [
        (20, (64, 48), 10.0, (10.0, 20, (64, 48), "MJPG"), DoesNotRaise()),  # the usual small video
        (1, (64, 48), 10.0, (10.0, 1, (64, 48), "MJPG"), DoesNotRaise()),  # a single frame
        (5, (48, 64), 25.0, (25.0, 5, (48, 64), "MJPG"), DoesNotRaise()),  # portrait, another rate
    ],
)
def test_probe_video(tmp_path, frames, size_wh, fps, expected, exception) -> None:
    path = write_video(tmp_path / "v.avi", frames=frames, size_wh=size_wh, fps=fps)
    with exception:
        info = probe_video(path)
        assert (info.fps, info.frame_count, info.resolution_wh, info.codec) == expected
        assert info.path == str(path)
        assert info.size_bytes == path.stat().st_size
        assert info.duration_s == pytest.approx(frames / fps)


def _missing(tmp: Path) -> Path:
    return tmp / "nope.mp4"


def _directory(tmp: Path) -> Path:
    (tmp / "folder.mp4").mkdir()
    return tmp / "folder.mp4"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.mp4").touch()
    return tmp / "empty.mp4"


def _text(tmp: Path) -> Path:
    (tmp / "notes.mp4").write_text("this is not a video\n" * 50)
    return tmp / "notes.mp4"


def _truncated(tmp: Path) -> Path:
    data = write_video(tmp / "full.mp4", frames=20, fourcc="mp4v").read_bytes()
    (tmp / "cut.mp4").write_bytes(data[: int(len(data) * 0.3)])  # the moov atom is at the end: now gone
    return tmp / "cut.mp4"


@pytest.mark.parametrize(
    ("make_input", "expected_message"),
    [
        (_missing, "no such file"),  # missing path
        (_directory, "not a file"),  # a directory
        (_empty, "empty"),  # an empty file
        (_text, "not a video"),  # a text file named .mp4
        (_truncated, "not a video"),  # the first 30 % of an MP4
    ],
)
def test_probe_video_errors(tmp_path, make_input, expected_message) -> None:
    path = make_input(tmp_path)
    with pytest.raises(VideoError, match=expected_message) as exc_info:
        probe_video(path)
    assert str(path) in str(exc_info.value)
    assert isinstance(exc_info.value, ValueError)  # callers may catch ValueError
    with pytest.raises(VideoError, match="s3://bucket/cam.mp4"):  # `name` replaces the path in messages
        probe_video(path, name="s3://bucket/cam.mp4")


# ------------------------------------------------------------------------------------- sampling_stride
@pytest.mark.parametrize(
    ("video_fps", "target_fps", "expected", "exception"),
    [
        (25.0, 5.0, 5, DoesNotRaise()),  # exact division
        (10.0, 10.0, 1, DoesNotRaise()),  # same rate: every frame
        (10.0, 30.0, 1, DoesNotRaise()),  # above the video's rate: every frame
        (30.0, 7.0, 4, DoesNotRaise()),  # 4.29 rounds to 4
        (29.97, 10.0, 3, DoesNotRaise()),  # NTSC rate
        (30.0, 0.5, 60, DoesNotRaise()),  # one frame every 2 s
        (0.0, 5.0, 1, DoesNotRaise()),  # unknown video rate: at least 1
        (25.0, 0.0, None, pytest.raises(ValueError, match="target fps")),  # zero target
        (25.0, -1.0, None, pytest.raises(ValueError, match="target fps")),  # negative target
    ],
)
def test_sampling_stride(video_fps, target_fps, expected, exception) -> None:
    with exception:
        assert sampling_stride(video_fps, target_fps) == expected


# ----------------------------------------------------------------------------------------- plan_chunks
def _info(frame_count: int, fps: float = 10.0) -> VideoInfo:
    return VideoInfo("v.avi", fps, frame_count, (64, 48), "MJPG", 1)


@pytest.mark.parametrize(
    ("frame_count", "stride", "chunk_s", "overlap_s", "expected"),
    [
        (0, 1, 10, 2, []),  # empty input: no frames, no chunks
        (250, 1, 10, 2, [(0, 120), (100, 220), (200, 250)]),  # the documented example
        (50, 1, 10, 2, [(0, 50)]),  # shorter than one chunk: a single chunk
        (120, 1, 10, 2, [(0, 120)]),  # exactly one chunk plus its overlap: no sliver chunk
        (121, 1, 10, 2, [(0, 120), (100, 121)]),  # one frame more: a second chunk
        (250, 3, 10, 2, [(0, 117), (99, 216), (198, 250)]),  # stride 3: 99-frame steps, 18-frame overlap
        (250, 4, 10, 0, [(0, 100), (100, 200), (200, 250)]),  # no overlap
        (30, 5, 0.1, 0, [(0, 5), (5, 10), (10, 15), (15, 20), (20, 25), (25, 30)]),  # chunk shorter than stride
    ],
)
def test_plan_chunks(frame_count, stride, chunk_s, overlap_s, expected) -> None:
    info = _info(frame_count)
    chunks = plan_chunks("vid", info, stride=stride, chunk_s=chunk_s, overlap_s=overlap_s)
    assert [(c.start, c.end) for c in chunks] == expected
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all((c.video_id, c.path, c.stride, c.fps) == ("vid", "v.avi", stride, 10.0) for c in chunks)
    # Every frame is covered, chunks start on the stride grid, consecutive chunks overlap by the same amount.
    covered = sorted(set().union(*(range(c.start, c.end) for c in chunks))) if chunks else []
    assert covered == list(range(frame_count))
    assert all(c.start % stride == 0 for c in chunks)
    analysed = sorted(set().union(*(c.frame_indices for c in chunks))) if chunks else []
    assert analysed == list(range(0, frame_count, stride))
    overlap = round(overlap_s * info.fps) // stride * stride
    assert all(a.end - b.start == overlap for a, b in zip(chunks, chunks[1:]))


@pytest.mark.parametrize(
    ("start", "end", "stride", "expected"),
    [
        (0, 0, 1, []),  # empty chunk
        (0, 5, 1, [0, 1, 2, 3, 4]),  # every frame
        (0, 10, 3, [0, 3, 6, 9]),  # from 0
        (10, 20, 3, [12, 15, 18]),  # start off the grid: first analysed frame is the next multiple
        (12, 13, 3, [12]),  # one frame
        (13, 15, 3, []),  # no multiple of the stride inside
    ],
)
def test_chunk_frame_indices(start, end, stride, expected) -> None:
    chunk = Chunk("vid", "v.avi", 0, start, end, stride, 10.0)
    assert list(chunk.frame_indices) == expected
