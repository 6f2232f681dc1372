"""Generate the serve config with `serve build` and embed it in the KubeRay RayService manifest.

    python deploy/render.py            # writes deploy/serve-config.yaml and deploy/rayservice.yaml
    python deploy/render.py --check    # exit 1 when either file differs from what it would write

`serve build cluster.serve_app:app` runs with the settings in `deploy/cluster.env` (deployment options
only; a throw-away JWT secret so nothing is written to DATA_DIR). The application is renamed `witness`
(the name the camera manager looks the detector up by), and its `applications` list replaces the
`__SERVE_APPLICATIONS__` line of `deploy/rayservice.template.yaml`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "__SERVE_APPLICATIONS__"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DETECTOR__", "EMBEDDER__", "API__", "MODEL__"))}
    for line in (HERE / "cluster.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    env["API__JWT_SECRET"] = secrets.token_urlsafe(48)
    env["DATA_DIR"] = tempfile.mkdtemp(prefix="witness-render-")
    return env


def render() -> tuple[str, str]:
    """The serve config and the RayService manifest, as text.

    Raises:
        subprocess.CalledProcessError: `serve build` failed (its output is printed).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "serve-config.yaml"
        serve = Path(sys.executable).with_name("serve")  # the CLI of the same environment
        try:
            subprocess.run([str(serve), "build", "cluster.serve_app:app", "-o", str(out)], check=True, env=_env(),
                           cwd=HERE.parent, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            print(exc.stdout, exc.stderr, sep="\n", file=sys.stderr)
            raise
        text = out.read_text()
    text = text.replace("- name: app1\n", "- name: witness\n", 1)
    config = yaml.safe_load(text)
    apps = yaml.safe_dump(config["applications"], sort_keys=False, width=100)
    template = (HERE / "rayservice.template.yaml").read_text()
    line = next(ln for ln in template.splitlines() if ln.strip() == PLACEHOLDER)
    indent = line[: len(line) - len(line.lstrip())]
    block = "\n".join(indent + ln if ln else ln for ln in apps.rstrip("\n").splitlines())
    return text, template.replace(line, block)


def main(argv: list[str]) -> int:
    serve_config, manifest = render()
    targets = {HERE / "serve-config.yaml": serve_config, HERE / "rayservice.yaml": manifest}
    if "--check" in argv:
        stale = [p.name for p, text in targets.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)} (run python deploy/render.py)", file=sys.stderr)
            return 1
        return 0
    for path, text in targets.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
