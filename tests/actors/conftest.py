"""Fixtures for the live-camera tests: a raw H.264 clip of vtest.avi and a real RTSP server serving it.

The server is `tests/actors/rtsp_server.py` run with the SYSTEM python (`/usr/bin/python3`), which has
GStreamer's RTSP server bindings (Debian: gir1.2-gst-rtsp-server-1.0 python3-gst-1.0
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import pytest

from tests.conftest import stop_process_group

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = os.environ.get("RTSP_TEST_PYTHON", "/usr/bin/python3")
CLIP_FPS = 10


def write_h264(src: Path, dest: Path, *, seconds: float = 5.0, size_wh: tuple[int, int] = (640, 480)) -> Path:
    """Write the first `seconds` of `src` as a raw Annex B H.264 stream (1 s GOP, no B-frames)."""
    cap = cv2.VideoCapture(str(src))
    out = av.open(str(dest), "w", format="h264")
    stream = out.add_stream("libx264", rate=CLIP_FPS)
    stream.width, stream.height, stream.pix_fmt = *size_wh, "yuv420p"
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(CLIP_FPS), "bf": "0"}
    try:
        for _ in range(round(seconds * CLIP_FPS)):
            ok, frame = cap.read()
            if not ok:
                break
            frame = cv2.resize(frame, size_wh, interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
        cap.release()
    return dest


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """`rtsp_server.py` as a child process (own process group) that can be stopped and restarted."""

    def __init__(self, h264: Path, port: int, log_dir: Path, mount: str = "/cam") -> None:
        self.h264, self.port, self.mount, self.log_dir = h264, port, mount, log_dir
        self.url = f"rtsp://127.0.0.1:{port}{mount}"
        self.proc: subprocess.Popen | None = None
        self._starts = 0

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the server and wait until OpenCV reads a frame from it (fails the test otherwise)."""
        self._starts += 1
        log_path = self.log_dir / f"rtsp-{self.port}-{self._starts}.log"
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--file", str(self.h264), "--port", str(self.port),
                 "--mount", self.mount, "--fps", str(CLIP_FPS)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if "READY" in log_path.read_text(errors="replace"):
                cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 3000])
                ok = cap.isOpened() and cap.read()[0]
                cap.release()
                if ok:
                    return
            time.sleep(0.2)
        code = self.proc.poll()
        self.stop()
        pytest.fail(
            f"RTSP test server at {self.url} gave no frame within {timeout_s:.0f} s (exit code {code}). "
            f"Is {SYSTEM_PYTHON} with the GStreamer RTSP packages installed? Log:\n"
            + log_path.read_text(errors="replace")[-3000:],
            pytrace=False,
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL if it lingers)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process_group(proc, timeout_s)


@pytest.fixture(scope="session")
def h264_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of vtest.avi at 640×480, 10 fps, as a raw H.264 elementary stream."""
    return write_h264(vtest_path, tmp_path_factory.mktemp("rtsp") / "vtest.h264")


@pytest.fixture
def rtsp_server(h264_clip: Path, tmp_path: Path) -> Iterator[RtspServer]:
    """A running RTSP server looping `h264_clip` on a free port (`.url`; `.stop()` / `.start()` to drop it)."""
    server = RtspServer(h264_clip, free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
