"""Hot reload, measured: seconds from `witness models promote` returning until a camera's ModelWatch runs the new version.

Two behaviour models of production size (`BEHAVIOUR__N_ESTIMATORS` trees, default 300) are saved to
a temporary object store; production is promoted back and forth between them `--repeat` times per
poll interval, through the same `change_stage` the CLI and the API call (database row, Redis key,
pub/sub message), while a `ModelWatch` follows the stage as a camera actor's does. The bare
baseline, measured in the same run, is loading the model alone (`trajectory_classifier`): no
reload can be faster than that plus up to one poll interval.

    . .venv/bin/activate && python benchmarks/model_reload.py [--repeat 10] [--poll 0.5 --poll 2]

Needs Redis (`--redis`, default redis://127.0.0.1:6379/15); the database is a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _save(store, label: str, trees: int) -> str:
    from domain.behaviour_model import CLASSES, BehaviourModel
    from domain.pose_features import FEATURE_NAMES
    from storage.model_registry import save_model

    rng = np.random.default_rng(len(label))
    X = rng.normal(0, 1, (2000, len(FEATURE_NAMES))).astype(np.float32)
    y = np.asarray(CLASSES)[rng.integers(0, len(CLASSES), len(X))]
    model = BehaviourModel(n_estimators=trees, seed=0).fit(X, y)
    return save_model(store, model.to_bytes(), {"params": {"window": 30, "stride": 15}, "data": {"label": label}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="promotions per poll interval")
    parser.add_argument("--poll", type=float, action="append", help="ModelWatch poll interval(s), s (default 0.5 and 2)")
    parser.add_argument("--trees", type=int, default=300, help="trees per model")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    import redis

    from actors.behaviour_replica import trajectory_classifier
    from actors.model_watch import ModelWatch, StageVersionReader, change_stage
    from storage.db import make_engine, migrate, session_scope
    from storage.model_stages import current_version, stage_key
    from storage.objectstore import LocalObjectStore

    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        store = LocalObjectStore(Path(tmp) / "objects")
        versions = [_save(store, "a", args.trees), _save(store, "b", args.trees)]
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        migrate(engine)
        client = redis.Redis.from_url(args.redis)
        client.delete(stage_key("behaviour", "production"))
        load = lambda v: trajectory_classifier(store, v, min_confidence=0.6)  # noqa: E731
        loads = []
        for k in range(args.repeat):
            t0 = time.perf_counter()
            load(versions[k % 2])
            loads.append(time.perf_counter() - t0)
        print(f"baseline: load one {args.trees}-tree model: median {statistics.median(loads):.3f} s, max {max(loads):.3f} s")
        for poll in args.poll or [0.5, 2.0]:
            switched = threading.Event()
            watch = ModelWatch("bench", StageVersionReader(args.redis, url), load, lambda m: switched.set(), poll_s=poll)
            with session_scope(engine) as s:
                if current_version(s, "behaviour", "production") != versions[0]:
                    change_stage(s, store, client, action="promote", kind="behaviour", stage="production",
                                 version=versions[0], actor="bench")  # fmt: skip
            watch.start()
            lat = []
            for k in range(args.repeat):
                switched.clear()
                with session_scope(engine) as s:
                    change_stage(s, store, client, action="promote", kind="behaviour", stage="production",
                                 version=versions[(k + 1) % 2], actor="bench")  # fmt: skip
                t0 = time.perf_counter()
                if not switched.wait(poll + 30):
                    raise SystemExit(f"poll {poll}: no switch within {poll + 30} s")
                lat.append(time.perf_counter() - t0)
                time.sleep(poll * 0.37)  # de-phase the next promotion from the poll
            watch.stop()
            print(f"poll {poll:.1f} s: promote → new model in use: median {statistics.median(lat):.3f} s, "
                  f"max {max(lat):.3f} s over {len(lat)} promotions "
                  f"(× baseline median {statistics.median(lat) / statistics.median(loads):.1f})")
        client.delete(stage_key("behaviour", "production"))
        engine.dispose()


if __name__ == "__main__":
    main()
