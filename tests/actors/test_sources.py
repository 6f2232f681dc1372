"""Frame sources (files, a real RTSP server), the URI check, backoff and reconnects."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import numpy as np
import pytest

from actors.ring_buffer import encode_mp4
from actors.sources import Backoff, CaptureSource, FileSource, Reconnector, SourceError, open_source
from tests.actors.conftest import free_port


def tiny_video(path: Path, frames: int = 3, fps: float = 10.0) -> Path:
    """A `frames`-long 64×48 MP4 whose frame i is filled with the gray level 40·i."""
    encode_mp4((np.full((48, 64, 3), 40 * i, np.uint8) for i in range(frames)), fps, path, crf=0)
    return path


@pytest.mark.parametrize(
    ("uri", "expectation"),
    [
        ("ftp://cam/x", pytest.raises(ValueError, match=r"unsupported camera source scheme 'ftp' in 'ftp://cam/x'; use rtsp://")),  # unknown scheme
        ("smb://u:secret@nas/x", pytest.raises(ValueError, match=r"'smb://u:\*\*\*@nas/x'")),  # password redacted
        ("", pytest.raises(SourceError, match="not found")),  # empty: a missing file, retryable
        ("/no/such/file.mp4", pytest.raises(SourceError, match="not found")),  # missing file
        ("file:///no/such/file.mp4", pytest.raises(SourceError, match="not found")),  # file URI
        (f"rtsp://127.0.0.1:{free_port()}/cam", pytest.raises(SourceError, match="cannot open")),  # nobody listening
    ],
)
def test_open_source_errors(uri, expectation):
    with expectation:
        open_source(uri, open_timeout_ms=2000)


def test_file_source_loops_at_real_time(tmp_path):
    path = tiny_video(tmp_path / "t.mp4", frames=3, fps=10)
    source = open_source(f"file://{path}")
    start = time.monotonic()
    reads = [source.read() for _ in range(7)]
    elapsed = time.monotonic() - start
    source.close()
    assert source.fps == pytest.approx(10)
    assert [r[2] for r in reads] == list(range(7))  # the index keeps counting across loops
    levels = [int(r[0].mean()) for r in reads]
    assert [round(v / 40) for v in levels] == [0, 1, 2, 0, 1, 2, 0]
    assert 0.55 <= elapsed <= 1.5  # 7 frames at 10 fps: 0.6 s of pacing
    assert all(abs(r[1] - time.time()) < 5 for r in reads)  # epoch capture times


def test_file_source_without_loop_ends(tmp_path):
    source = FileSource(tiny_video(tmp_path / "t.mp4"), loop=False, realtime=False)
    assert [source.read() is None for _ in range(4)] == [False, False, False, True]
    source.close()
    with pytest.raises(SourceError, match="closed"):
        source.read()


@pytest.mark.parametrize(
    ("kwargs", "failures", "expected", "expectation"),
    [
        ({}, 0, [], DoesNotRaise()),  # no failures: no delays
        ({"jitter": 0.0}, 8, [0.5, 1, 2, 4, 8, 16, 30, 30], DoesNotRaise()),  # doubling, capped at 30 s
        ({"jitter": 0.0, "initial_s": 1, "factor": 3, "max_s": 10}, 4, [1, 3, 9, 10], DoesNotRaise()),  # custom
        ({"factor": 1.0}, 0, [], pytest.raises(ValueError, match="factor")),  # would never grow
        ({"initial_s": 0}, 0, [], pytest.raises(ValueError, match="initial_s")),  # no wait at all
        ({"jitter": 2}, 0, [], pytest.raises(ValueError, match="jitter")),  # negative delays possible
    ],
)
def test_backoff_delays(kwargs, failures, expected, expectation):
    with expectation:
        backoff = Backoff(**kwargs)
        assert [backoff.next_delay() for _ in range(failures)] == pytest.approx(expected)


def test_backoff_jitter_and_reset():
    backoff = Backoff(jitter=0.1, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    bases = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(0.9 * b <= d <= 1.1 * b for d, b in zip(delays, bases))
    assert len(set(delays[6:])) == 4  # capped delays still spread
    backoff.reset()
    assert 0.45 <= backoff.next_delay() <= 0.55


class ScriptedSource:
    """Test data: a source that yields `frames` frames, then fails."""

    fps = 10.0

    def __init__(self, frames: int) -> None:
        self.left, self.index = frames, 0

    def read(self):
        if self.left == 0:
            raise SourceError("stream lost")
        self.left -= 1
        self.index += 1
        return np.zeros((2, 2, 3), np.uint8), time.time(), self.index - 1

    def close(self) -> None:
        pass


def test_reconnector_backs_off_and_resets():
    script = [SourceError("refused"), ScriptedSource(2), SourceError("refused"), SourceError("refused"), ScriptedSource(1)]

    def opener():
        item = script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    sleeps: list[float] = []
    reader = Reconnector(opener, backoff=Backoff(jitter=0.0), sleep=sleeps.append)
    outcome = []
    for _ in range(8):
        try:
            outcome.append("frame" if reader.read() is not None else "none")
        except SourceError as exc:
            outcome.append(str(exc))
    assert outcome == ["refused", "frame", "frame", "stream lost", "refused", "refused", "frame", "stream lost"]
    # waits before each reopen: 0.5 after the first refusal; reset by the frames; then 0.5, 1, 2
    assert sleeps == [0.5, 0.5, 1.0, 2.0]


def test_reconnector_sleep_interrupt_skips_open():
    opened = []
    reader = Reconnector(lambda: opened.append(1) or ScriptedSource(0), sleep=lambda s: True)
    with pytest.raises(SourceError):
        reader.read()  # opens, read fails
    assert reader.read() is None and opened == [1]  # the wait was interrupted (a stop): no reopen


def test_rtsp_capture_reads_and_detects_loss(rtsp_server):
    source = CaptureSource(rtsp_server.url, open_timeout_ms=5000, read_timeout_ms=2000)
    frames = [source.read() for _ in range(5)]
    assert source.fps == pytest.approx(10, abs=0.5)
    assert [f[0].shape for f in frames] == [(480, 640, 3)] * 5
    assert [f[2] for f in frames] == list(range(5))
    rtsp_server.stop()
    start = time.monotonic()
    with pytest.raises(SourceError, match="lost rtsp://"):
        for _ in range(200):  # buffered frames first, then the failure
            source.read()
    assert time.monotonic() - start < 10
    source.close()
