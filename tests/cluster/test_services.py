"""`witness up` / `down`'s Ray head: stopping it leaves every other Ray instance on the machine running."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cluster.services import _ray_cluster_processes, start_ray_head, stop_ray_head


def test_stopping_a_head_stops_only_that_head(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine.address", tmp_path / "other.address"
    env = {"RAY_AUTH_MODE": "disabled"}
    start_ray_head(num_cpus=1, env=env, marker=mine)
    try:
        start_ray_head(num_cpus=1, env=env, marker=other)
        try:
            mine_port = int(mine.read_text().strip().rsplit(":", 1)[1])
            other_port = int(other.read_text().strip().rsplit(":", 1)[1])
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
