"""Local services for the embedded defaults: a Redis server and a Ray head that outlive the CLI."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["redis_alive", "ensure_redis", "stop_redis", "ray_command", "start_ray_head", "stop_ray_head", "head_address",
           "ray_head_processes", "ServiceError"]


class ServiceError(RuntimeError):
    """A service the platform needs is unreachable and could not be started; the message says which."""


def redis_alive(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis server answers PING at `url`."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping())
    except (redis.RedisError, OSError):
        return False


def ensure_redis(url: str, data_dir: Path) -> bool:
    """Make sure Redis answers at `url`; start a local `redis-server` for a loopback URL if needed.

    Returns:
        True when this call started a server (its pid file is `data_dir/redis/redis.pid`).

    Raises:
        ServiceError: Redis is unreachable and cannot be started here (not loopback, or no
            `redis-server` installed).
    """
    if redis_alive(url):
        return False
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    server = shutil.which("redis-server")
    if host not in ("127.0.0.1", "localhost") or server is None:
        raise ServiceError(f"Redis is not reachable at {url}" + ("" if server else " and redis-server is not installed"))
    folder = data_dir.resolve() / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder),
         "--daemonize", "yes", "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log")],
        check=True,
    )
    for _ in range(50):
        if redis_alive(url):
            return True
        time.sleep(0.1)
    raise ServiceError(f"started redis-server on port {port} but it does not answer; see {folder / 'redis.log'}")


def stop_redis(data_dir: Path) -> bool:
    """Stop a Redis server that `ensure_redis` started (by its pid file). Returns True if one was stopped."""
    pid_file = data_dir.resolve() / "redis" / "redis.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip()), 15)
    except (ProcessLookupError, ValueError):
        pass
    pid_file.unlink(missing_ok=True)
    return True


def ray_command(*args: str) -> list[str]:
    """The `ray` command line run by the interpreter running this code (`python -m ray.scripts.scripts …`),
    so it works from `.venv/bin/witness` without an activated venv and never picks another `ray` on PATH."""
    return [sys.executable, "-m", "ray.scripts.scripts", *args]


def start_ray_head(*, num_cpus: int | None, env: dict[str, str], marker: Path) -> str:
    """Start a detached local Ray head (`ray start --head`) that outlives this process.

    Args:
        num_cpus: CPUs to offer (None: all).
        env: extra environment for the Ray processes (offline Ultralytics etc.).
        marker: file recording that this project started the head (for `stop_ray_head`): its
            address on the first line, its session name on the second.

    Returns:
        The address to connect to.

    Raises:
        ServiceError: `ray start` failed (its output is in the message).
    """
    import socket

    with socket.socket() as sock:  # Ray's default GCS port is Redis's 6379: take a free one
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = ray_command("start", "--head", "--disable-usage-stats", "--include-dashboard=false", f"--port={port}",
                      "--node-ip-address=127.0.0.1")  # fmt: skip
    if num_cpus:
        cmd.append(f"--num-cpus={num_cpus}")
    proc = subprocess.run(cmd, env=os.environ | env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"ray start failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{port}"
    marker.write_text(f"{address}\n{_session_of(port) or ''}\n")
    return address


def head_address(marker: Path) -> str:
    """The address recorded in a `start_ray_head` marker (`""` when there is none)."""
    if not marker.exists():
        return ""
    lines = marker.read_text().splitlines()
    return lines[0].strip() if lines else ""


def stop_ray_head(marker: Path, *, timeout_s: float = 15.0) -> bool:
    """Stop the head `start_ray_head` started (its marker exists), and only it. Returns True if stopped.

    The head's processes are found by its session (`/tmp/ray/session_…`, named on every one of
    their command lines: GCS server, raylet, dashboard, autoscaler monitor, log monitor, client
    server, agents) and by its GCS port, with all their descendants (workers, actors). They get
    SIGTERM, then SIGKILL after `timeout_s`. Other Ray instances on the machine (another project's
    head, a `witness analyze` run) are left alone, unlike `ray stop`. A marker without an address
    falls back to `ray stop --force`.
    """
    if not marker.exists():
        return False
    lines = marker.read_text().splitlines()
    address = lines[0].strip() if lines else ""
    session = lines[1].strip() if len(lines) > 1 else ""
    port = address.rsplit(":", 1)[-1]
    if not port.isdigit():
        subprocess.run(ray_command("stop", "--force"), capture_output=True, text=True)
    else:
        _stop_processes(ray_head_processes(int(port), session or _session_of(int(port))), timeout_s)
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.exists() and current.read_text().strip().rsplit(":", 1)[-1] == port:
            current.unlink(missing_ok=True)  # `ray.init()` must not try to join the stopped head
    marker.unlink(missing_ok=True)
    return True


def _session_of(port: int) -> str | None:
    """The session name (`session_…`) of the Ray head whose GCS listens on `port`, from its GCS server's command line."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = proc.info["cmdline"] or []
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if f"--gcs_server_port={port}" in cmd:
            match = _SESSION.search(" ".join(cmd))
            return match.group(0) if match else None
    return None


def ray_head_processes(port: int, session: str | None = None) -> list:
    """The processes of the Ray head whose GCS listens on `port` (and of its `session`), with descendants."""
    import psutil

    needles = [f"--gcs_server_port={port}"]
    if session:
        needles.append(session)
    address = re.compile(rf"(^|[\s=/])[\w.\-]+:{port}(\s|$)")  # --address=192.0.2.2:PORT, --gcs-address=…
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.pid != os.getpid() and (any(n in cmd for n in needles) or address.search(cmd)):
                for p in (proc, *proc.children(recursive=True)):
                    found.setdefault(p.pid, p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    found.pop(os.getpid(), None)
    return list(found.values())


_ray_cluster_processes = ray_head_processes  # the name the tests knew
_SESSION = re.compile(r"session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+")


def _stop_processes(procs: list, timeout_s: float) -> None:
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
