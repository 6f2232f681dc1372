"""A test RTSP server: serves a raw H.264 (Annex B) file, looped, with GStreamer's RTSP server.

Run with the SYSTEM python (the GStreamer bindings are Debian packages, not in the venv):

    /usr/bin/python3 tests/actors/rtsp_server.py --file clip.h264 --port 8554 --mount /cam

Needs: gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav.
Prints `READY rtsp://127.0.0.1:PORT/MOUNT` once listening; stops on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True, help="raw H.264 Annex B elementary stream")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--fps", type=int, default=10, help="frame rate the stream is paced at")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # `identity sync=true` paces the looped file at its frame rate (a live-like source).
    factory.set_launch(
        f"( multifilesrc location={args.file} loop=true "
        f"caps=video/x-h264,stream-format=byte-stream,framerate={args.fps}/1 "
        "! h264parse ! identity sync=true ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
