from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.decode import decode_chunks

FPS = 10.0
FRAMES = 20
SIZE_WH = (64, 48)


def write_video(path: Path, *, frames: int = FRAMES, size_wh: tuple[int, int] = SIZE_WH, fps: float = FPS,
                fourcc: str = "MJPG") -> Path:
    """A video whose frame `i` is solid grey level `10 * i`, so decoded frames can be identified."""
    w, h = size_wh
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size_wh)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((h, w, 3), 10 * i, np.uint8))
    writer.release()
    return path


def chunk_batch(path: str, chunks: list[tuple[int, int, int]], *, video_id: str = "vid") -> dict[str, np.ndarray]:
    """A Ray-style batch of chunk rows `(start, end, stride)` of one video, indexed 0, 1, ..."""
    n = len(chunks)
    return {
        "video_id": np.array([video_id] * n, dtype=object),
        "path": np.array([path] * n, dtype=object),
        "index": np.arange(n, dtype=np.int64),
        "start": np.array([c[0] for c in chunks], np.int64),
        "end": np.array([c[1] for c in chunks], np.int64),
        "stride": np.array([c[2] for c in chunks], np.int64),
        "fps": np.full(n, FPS),
    }


@pytest.mark.parametrize(
    ("chunks", "frames_per_block", "expected_frames", "expected_block_sizes", "exception"),
    [
        ([], 8, [], [], DoesNotRaise()),  # empty input: no chunk rows
        ([(0, 20, 1)], 8, list(range(20)), [8, 8, 4], DoesNotRaise()),  # every frame, blocks of at most 8
        ([(0, 20, 1)], 20, list(range(20)), [20], DoesNotRaise()),  # one full block
        ([(0, 20, 3)], 8, [0, 3, 6, 9, 12, 15, 18], [7], DoesNotRaise()),  # stride 3
        ([(0, 20, 3)], 3, [0, 3, 6, 9, 12, 15, 18], [3, 3, 1], DoesNotRaise()),  # stride 3, small blocks
        ([(7, 15, 1)], 8, list(range(7, 15)), [8], DoesNotRaise()),  # starts mid-video: seek lands on frame 7
        ([(7, 15, 3)], 8, [9, 12], [2], DoesNotRaise()),  # mid-video, off the stride grid: 9, 12
        ([(12, 30, 2)], 8, [12, 14, 16, 18], [4], DoesNotRaise()),  # end past the video: stops at its end
        ([(20, 30, 1)], 8, [], [], DoesNotRaise()),  # starts past the end: nothing
        ([(0, 6, 2), (4, 10, 2)], 8, [0, 2, 4, 4, 6, 8], [3, 3], DoesNotRaise()),  # two overlapping chunks
    ],
)
def test_decode_chunks(tmp_path, chunks, frames_per_block, expected_frames, expected_block_sizes, exception) -> None:
    path = write_video(tmp_path / "v.avi")
    with exception:
        blocks = list(decode_chunks(chunk_batch(str(path), chunks), frames_per_block=frames_per_block))
        assert [len(b["frame_index"]) for b in blocks] == expected_block_sizes
        if not blocks:
            return
        frame_index = np.concatenate([b["frame_index"] for b in blocks])
        np.testing.assert_array_equal(frame_index, expected_frames)
        np.testing.assert_allclose(np.concatenate([b["t_s"] for b in blocks]), frame_index / FPS)
        images = np.concatenate([b["image"] for b in blocks])
        assert images.shape == (len(expected_frames), SIZE_WH[1], SIZE_WH[0], 3) and images.dtype == np.uint8
        # Frame identity: frame i was written as grey level 10 * i (MJPG is lossy by a level or two).
        np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), 10 * frame_index, atol=3)
        for b in blocks:
            assert set(b) == {"video_id", "chunk_index", "frame_index", "t_s", "image"}
            assert (b["video_id"] == "vid").all()
            assert b["frame_index"].dtype == np.int64 and b["chunk_index"].dtype == np.int64
        assert len(frame_index) == sum(expected_block_sizes)


def test_decode_chunks_labels_each_chunk(tmp_path) -> None:
    path = write_video(tmp_path / "v.avi")
    blocks = list(decode_chunks(chunk_batch(str(path), [(0, 4, 1), (10, 14, 2)]), frames_per_block=8))
    assert [b["chunk_index"].tolist() for b in blocks] == [[0, 0, 0, 0], [1, 1]]
    assert [b["frame_index"].tolist() for b in blocks] == [[0, 1, 2, 3], [10, 12]]


@pytest.mark.parametrize(
    ("chunk", "expected_frames"),
    [
        ((0, 0, 1), []),  # empty chunk
        ((0, 4, 1), [0, 1, 2, 3]),  # from the start
        ((7, 15, 2), [8, 10, 12, 14]),  # seek to a P-frame in the middle of the GOP
        ((13, 20, 3), [15, 18]),  # seek off the stride grid, to the end
    ],
)
def test_decode_chunks_seeks_in_mp4(tmp_path, chunk, expected_frames) -> None:
    path = write_video(tmp_path / "v.mp4", fourcc="mp4v")  # MPEG-4 Part 2: inter-coded frames, unlike MJPG
    blocks = list(decode_chunks(chunk_batch(str(path), [chunk]), frames_per_block=64))
    frame_index = np.concatenate([b["frame_index"] for b in blocks]) if blocks else np.empty(0, np.int64)
    np.testing.assert_array_equal(frame_index, expected_frames)
    if blocks:  # grey levels drift by a few through YUV; frames are 10 levels apart
        np.testing.assert_allclose(blocks[0]["image"].mean(axis=(1, 2, 3)), 10 * frame_index, atol=4)


def _missing(tmp: Path) -> Path:
    return tmp / "missing.avi"


def _text(tmp: Path) -> Path:
    (tmp / "t.avi").write_text("not a video")
    return tmp / "t.avi"


@pytest.mark.parametrize(
    "make_path",
    [
        _missing,  # no such file
        lambda tmp: tmp,  # a directory
        _text,  # not a video
    ],
)
def test_decode_chunks_unreadable_input_yields_nothing(tmp_path, make_path) -> None:
    path = make_path(tmp_path)
    assert list(decode_chunks(chunk_batch(str(path), [(0, 20, 1)]))) == []
