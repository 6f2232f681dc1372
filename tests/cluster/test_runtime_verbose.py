"""`init_ray(verbose=...)`: where Ray's and the libraries' logs go (a real local Ray in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, logging, sys, warnings
from cluster.runtime import init_ray, library_log_path
from cluster.settings import Settings
settings = Settings(_env_file=None, data_dir=sys.argv[1], ray_num_cpus=1)
init_ray(settings, verbose=sys.argv[2] == "1")
warnings.warn("probe warning from a library")
logging.getLogger("ray.data").warning("probe line from ray.data")
for h in logging.getLogger("ray.data").handlers:
    h.flush()
import ray
print(json.dumps({"log": str(library_log_path(settings)),
                  "routed": any(getattr(h, "_witness_file", False) for h in logging.getLogger("ray.data").handlers)}))
ray.shutdown()
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_library_logs_go_to_the_file_unless_verbose(tmp_path: Path, verbose: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), "1" if verbose else "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    log = Path(info["log"])
    if verbose:  # on the terminal, and no log file made
        assert not info["routed"] and "probe line from ray.data" in proc.stderr and "probe warning" in proc.stderr
        assert not log.exists()
    else:  # in the file, off the terminal
        assert info["routed"] and "probe line from ray.data" not in proc.stderr and "probe warning" not in proc.stderr
        text = log.read_text()
        assert "probe line from ray.data" in text and "probe warning from a library" in text
