"""The suite leaves no process behind: what a test run starts is found by its run id and stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import TEST_RUN_ENV, run_processes, stop_run_processes


def test_processes_of_a_run_are_found_and_stopped(tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex
    env = os.environ | {TEST_RUN_ENV: run_id}
    # A "test" that starts a server (it detaches, as `ray start` and `redis-server --daemonize` do) and forgets it.
    script = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)
    assert len(run_processes(run_id)) == 1
    assert os.environ[TEST_RUN_ENV] != run_id  # this run's own processes are not touched
    stopped = stop_run_processes(run_id, grace_s=0.5)
    assert len(stopped) == 1 and "time.sleep(600)" in stopped[0]
    assert run_processes(run_id) == []


def test_this_run_has_left_no_server_running_so_far() -> None:
    """Earlier tests of this run stopped what they started (Ray heads, S3, Redis) — except the session's
    own S3 fixture, which lives until the end."""
    left = [p for p in run_processes(os.environ[TEST_RUN_ENV]) if "weed" not in " ".join(p.cmdline())]
    assert left == [], [" ".join(p.cmdline())[:200] for p in left]
