"""`witness up` / `down`'s Ray head: stopping it stops every process of that head (found independently,
by its session folder, as `ps` shows them) and leaves every other Ray instance on the machine running."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from cluster.services import _ray_cluster_processes, head_address, ray_command, start_ray_head, stop_ray_head


def session_processes(session: str) -> dict[int, str]:
    """pid -> command line of every live (non-zombie) process naming the Ray `session` (e.g. `session_2026-…`)."""
    found = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if session in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found[proc.pid] = cmd
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_stopping_a_head_leaves_none_of_its_processes(tmp_path: Path) -> None:
    marker = tmp_path / "head.address"
    start_ray_head(num_cpus=1, env={"RAY_AUTH_MODE": "disabled"}, marker=marker)
    try:
        session = marker.read_text().splitlines()[1]
        assert session.startswith("session_")
        before = session_processes(session)
        kinds = {name for name in ("gcs_server", "raylet", "monitor.py", "log_monitor.py", "dashboard", "agent")
                 if any(name in cmd for cmd in before.values())}  # fmt: skip
        assert {"gcs_server", "raylet", "monitor.py", "log_monitor.py"} <= kinds, before
    finally:
        assert stop_ray_head(marker) is True
    left = session_processes(session)
    assert left == {}, f"processes of the stopped head still running: {left}"


def test_ray_runs_through_this_interpreter_without_ray_on_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": "/usr/bin:/bin"}
    cmd = ray_command("--version")
    assert cmd[0] == sys.executable
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and ", version 2." in done.stdout, done.stderr


def test_stopping_a_head_stops_only_that_head(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine.address", tmp_path / "other.address"
    env = {"RAY_AUTH_MODE": "disabled"}
    start_ray_head(num_cpus=1, env=env, marker=mine)
    try:
        start_ray_head(num_cpus=1, env=env, marker=other)
        try:
            mine_port = int(head_address(mine).rsplit(":", 1)[1])
            other_port = int(head_address(other).rsplit(":", 1)[1])
            assert _ray_cluster_processes(mine_port) and _ray_cluster_processes(other_port)
            assert stop_ray_head(mine) is True
            assert _ray_cluster_processes(mine_port) == []  # gone, GCS, raylet and agents
            assert not mine.exists()
            survivors = _ray_cluster_processes(other_port)
            assert survivors and all(p.is_running() for p in survivors)  # the other head is untouched
            assert stop_ray_head(mine) is False  # no marker: nothing to stop
        finally:
            stop_ray_head(other)
        assert _ray_cluster_processes(other_port) == []
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        assert not current.exists() or not current.read_text().strip().endswith(f":{other_port}")  # no stale pointer
    finally:
        stop_ray_head(mine)
