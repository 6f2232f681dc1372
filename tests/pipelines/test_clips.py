from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipelines.clips import ClipWindow, clip_window, cut_clips
from tests.factories import make_trajectory

FPS = 10.0
FRAMES = 60
SIZE_WH = (320, 240)


def write_video(path: Path, *, frames: int = FRAMES, size_wh: tuple[int, int] = SIZE_WH, fps: float = FPS) -> Path:
    """An MJPG AVI whose frame `i` is solid grey level `4 * i`, so clip frames can be traced to the source."""
    w, h = size_wh
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((h, w, 3), 4 * i, np.uint8))
    writer.release()
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of `path` decoded with OpenCV."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def walker(track_id: int = 1, frames: list[int] | None = None):  # noqa: ANN201
    """A person in the right half of the frame (away from the top-left corner), analysed every 2nd frame."""
    frames = list(range(0, FRAMES, 2)) if frames is None else frames
    return make_trajectory(track_id, frames, [[200 + f / 2, 100, 240 + f / 2, 200] for f in frames], fps=FPS)


# ---------------------------------------------------------------------------------------- clip_window
@pytest.mark.parametrize(
    ("frame_start", "frame_end", "frame_count", "track_id", "expected", "exception"),
    [
        (50, 60, 100, None, (20, 91), DoesNotRaise()),  # 3 s before to 3 s after, end inclusive
        (10, 12, 100, None, (0, 43), DoesNotRaise()),  # clamped at 0
        (80, 95, 100, None, (50, 100), DoesNotRaise()),  # clamped at frame_count
        (5, 98, 100, None, (0, 100), DoesNotRaise()),  # clamped at both ends
        (50, 50, 100, 7, (20, 81), DoesNotRaise()),  # instantaneous event, highlighted track
        (0, 0, 1, None, (0, 1), DoesNotRaise()),  # one-frame video
    ],
)
def test_clip_window(frame_start, frame_end, frame_count, track_id, expected, exception) -> None:
    with exception:
        w = clip_window("e1", frame_start, frame_end, fps=FPS, frame_count=frame_count, pre_s=3, post_s=3,
                        track_id=track_id)
        assert (w.event_id, w.start, w.end, w.track_id) == ("e1", *expected, track_id)


# ------------------------------------------------------------------------------------------- cut_clips
def _h264_stream(path: Path) -> tuple[str, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, stream.codec_context.width, stream.codec_context.height


@pytest.mark.parametrize(
    ("windows", "max_width", "expected", "exception"),
    [
        ([], 960, [], DoesNotRaise()),  # empty input: no windows, no clips
        (  # two overlapping windows, one highlighting a track: each gets all its frames
            [ClipWindow("a", 0, 30), ClipWindow("b", 20, 50, track_id=1)], 960,
            [("a", 0, 30, (320, 240)), ("b", 20, 50, (320, 240))], DoesNotRaise(),
        ),
        (  # returned in the order given, not by start
            [ClipWindow("late", 40, 45), ClipWindow("early", 5, 8)], 960,
            [("late", 40, 45, (320, 240)), ("early", 5, 8, (320, 240))], DoesNotRaise(),
        ),
        (  # a window past the end of the video is truncated to the frames there are
            [ClipWindow("tail", 50, 80)], 960, [("tail", 50, 60, (320, 240))], DoesNotRaise(),
        ),
        (  # a window wholly past the end gives no clip
            [ClipWindow("a", 10, 20), ClipWindow("gone", 70, 90)], 960, [("a", 10, 20, (320, 240))], DoesNotRaise(),
        ),
        (  # scaled down to max_width, odd sizes rounded down to even (250 x 187.5 -> 250 x 186)
            [ClipWindow("small", 0, 5)], 250, [("small", 0, 5, (250, 186))], DoesNotRaise(),
        ),
    ],
)
def test_cut_clips(tmp_path, windows, max_width, expected, exception) -> None:
    video = write_video(tmp_path / "src.avi")
    out_dir = tmp_path / "clips"
    with exception:
        clips = cut_clips(str(video), windows, [walker()], out_dir, fps=FPS, stride=2, max_width=max_width)
        assert [(c.event_id, c.start, c.end, (c.width, c.height)) for c in clips] == expected
        for clip, (event_id, start, end, (width, height)) in zip(clips, expected):
            assert clip.path == out_dir / f"{event_id}.mp4" and clip.path.is_file()
            assert clip.frame_count == end - start and clip.fps == FPS
            assert width % 2 == 0 and height % 2 == 0
            assert _h264_stream(clip.path) == ("h264", width, height)
            frames = read_frames(clip.path)
            assert len(frames) == end - start
            assert frames[0].shape == (height, width, 3)
            # The top-left corner has no drawing: its grey level tells which source frame this is.
            corner = np.array([f[:20, :20].mean() for f in frames])
            np.testing.assert_allclose(corner, 4 * np.arange(start, end), atol=4)


def test_cut_clips_draws_tracks_and_highlight(tmp_path) -> None:
    video = write_video(tmp_path / "src.avi")
    windows = [ClipWindow("plain", 10, 14), ClipWindow("hi", 10, 14, track_id=1)]
    clips = cut_clips(str(video), windows, [walker()], tmp_path / "clips", fps=FPS, stride=2)
    plain, highlighted = (read_frames(c.path) for c in clips)
    source = 4 * 11  # frame 11 was not analysed: its box is interpolated between frames 10 and 12
    box = plain[1][100:201, 200:251].astype(int)
    assert np.abs(box - source).max() > 60  # a coloured box is drawn around the person
    assert np.abs(plain[1][:20, :20].astype(int) - source).max() < 10  # the background is untouched
    red = highlighted[1][..., 2].astype(int) - highlighted[1][..., 0].astype(int)
    assert (red > 100).sum() > (plain[1][..., 2].astype(int) - plain[1][..., 0].astype(int) > 100).sum()


def test_cut_clips_unreadable_video_gives_no_clips(tmp_path) -> None:
    clips = cut_clips(str(tmp_path / "missing.avi"), [ClipWindow("a", 0, 5)], [], tmp_path / "clips", fps=FPS, stride=1)
    assert clips == []
