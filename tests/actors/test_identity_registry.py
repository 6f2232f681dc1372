"""The identity registry: the core's placement of tracks, its gallery and expiry; the Ray actor's checkpoint and rebuild."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from actors.identity_index import GalleryIndex
from actors.identity_registry import IdentityRegistryCore, TrackObservation, registry_name
from domain.identity import Topology
from storage import identity as repo
from storage.db import session_scope


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


RED, BLUE, GREEN = unit([1, 0.05, 0, 0]), unit([0, 1, 0.05, 0]), unit([0.05, 0, 1, 0])
REDDISH = unit([0.7, 0.5, 0.5, 0])  # the red person from another angle: similarity 0.73, below the 0.8 gate


def obs(key: str, camera: str, t0: float, t1: float, xy0, xy1=None, emb=None, n: int = 5, quality: float = 0.8,
        crop: bytes | None = None) -> TrackObservation:
    t = np.linspace(t0, t1, n)
    a = np.asarray(xy0, float)
    b = np.asarray(xy1 if xy1 is not None else xy0, float)
    xy = a + (b - a) * np.linspace(0, 1, n)[:, None]
    embs = np.zeros((0, 0), np.float32) if emb is None else np.asarray(emb, np.float32)[None, :]
    return TrackObservation(camera, key, int(key.split("/")[-1]), t, np.tile([10, 10, 50, 150], (n, 1)), xy, embs,
                            np.full(len(embs), quality, np.float32), crop, quality if crop else 0.0)


def test_core_places_tracks_by_space_time_and_appearance() -> None:
    core = IdentityRegistryCore("shop", topology=Topology({"a": {"b": (0, 10)}}))
    first = core.observe(obs("a/1", "a", 0, 5, [5, 5], [6, 5], RED))
    other = core.observe(obs("a/2", "a", 0, 5, [1, 1], None, BLUE))
    assert first.verdict == "new" and other.verdict == "new" and first.global_id != other.global_id
    # camera b sees the person of a/1 at the same floor point at the same time: same person despite a
    # different-looking crop (another angle)
    same_place = core.observe(obs("b/7", "b", 2, 4, [5.4, 5], [5.8, 5], REDDISH))
    assert same_place.global_id == first.global_id and same_place.verdict == "same_place"
    # someone in red far away at the same time: two places at once, a new person
    twin = core.observe(obs("b/8", "b", 3, 4, [30, 5], None, RED))
    assert twin.verdict == "new" and twin.global_id not in (first.global_id, other.global_id)
    # later, someone in blue in camera b within the transit window: the person of a/2
    later = core.observe(obs("b/9", "b", 9, 12, [2, 1], None, BLUE))
    assert later.global_id == other.global_id and later.verdict == "appearance"
    # an update of a placed track keeps its person
    assert core.observe(obs("a/1", "a", 5.2, 6, [6, 5], None, RED)).verdict == "known"
    assert core.stats()["persons"] == 3


def test_core_merges_a_tentative_identity_when_the_other_camera_catches_up() -> None:
    core = IdentityRegistryCore("shop")
    a = core.observe(obs("a/1", "a", 0, 2, [5, 5], [5.5, 5], RED))
    # b's first second arrives before a has reported that second: no overlap yet, a new person
    b = core.observe(obs("b/1", "b", 2.8, 3.0, [5.9, 5], None, REDDISH))
    assert b.verdict == "new"
    core.observe(obs("a/1", "a", 2.2, 4, [5.6, 5], [6.2, 5], RED))  # a catches up
    again = core.observe(obs("b/1", "b", 3.2, 4, [6.0, 5], [6.2, 5], REDDISH))
    assert again.global_id == a.global_id and again.merged_from == b.global_id
    changes = core.drain_changes()
    assert changes.merged == {b.global_id: a.global_id} and b.global_id in changes.deleted


def test_gallery_keeps_the_best_crops_and_expiry_forgets() -> None:
    now = [1000.0]
    core = IdentityRegistryCore("shop", gallery_size=2, retention_s=60, clock=lambda: now[0])
    gid = core.observe(obs("a/1", "a", 0, 1, [0, 0], None, RED, quality=0.2)).global_id
    for q, t in ((0.9, 2), (0.5, 3), (0.1, 4)):
        core.observe(obs("a/1", "a", t, t + 0.5, [0, 0], None, RED, quality=q))
    assert sorted(core.persons[gid].qualities) == pytest.approx([0.5, 0.9])
    assert len(core.index) == 2
    now[0] += 61
    assert core.expire() == [gid]
    assert core.stats()["persons"] == 0 and len(core.index) == 0
    assert core.drain_changes().deleted == [gid]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_gallery_index_search_and_remove(kind: str) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = GalleryIndex(kind)
    assert index.search(vecs[0], 5) == []  # empty input
    index.add(np.arange(500), vecs)
    assert index.active_kind == kind
    assert index.search(vecs[42], 3)[0][0] == 42
    index.remove([42])
    assert 42 not in [i for i, _ in index.search(vecs[42], 3)]
    with pytest.raises(ValueError, match="dimension 32"):
        index.add([900], np.ones((1, 8), np.float32))


def test_changes_round_trip_through_storage(db_engine) -> None:
    core = IdentityRegistryCore("shop")
    a = core.observe(obs("a/1", "a", 0, 5, [5, 5], [6, 5], RED, crop=b"jpeg"))
    core.observe(obs("b/1", "b", 2, 4, [5.4, 5], [5.8, 5], REDDISH))
    with session_scope(db_engine) as s:
        repo.save_changes(s, core.drain_changes())
    with session_scope(db_engine) as s:
        state = repo.load_registry_state(s, site="shop", now_s=time.time())
        links = repo.person_links(s, a.global_id)
    assert [p["global_id"] for p in state["persons"]] == [a.global_id]
    assert {row["track_key"] for row in state["links"]} == {"a/1", "b/1"}
    assert [link.camera_id for link in links] == ["a", "b"]
    rebuilt = IdentityRegistryCore("shop")
    rebuilt.restore(**state)
    # the rebuilt registry knows the person by appearance and by the track keys
    assert rebuilt.observe(obs("a/1", "a", 5.5, 6, [6, 5], None, RED)).global_id == a.global_id
    assert rebuilt.observe(obs("a/9", "a", 20, 21, [6, 5], None, RED)).global_id == a.global_id


# ------------------------------------------------------------------------------ Ray actor
@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import ray

    from cluster.runtime import init_ray
    from cluster.settings import Settings

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


def test_registry_actor_checkpoints_and_rebuilds_after_a_restart(ray_local, pg_url, pg_engine, local_store) -> None:
    import ray

    from actors.identity_registry import registry_handle

    kwargs = dict(database_url=pg_url, store=local_store, options={"checkpoint_interval_s": 0.0})
    reg = registry_handle("restart-shop", namespace="test-identity", **kwargs)
    first = ray.get(reg.observe.remote([obs("a/1", "a", 0, 5, [5, 5], [6, 5], RED, crop=b"\xff\xd8jpeg").__dict__]))[0]
    gid = first["global_id"]
    assert first["verdict"] == "new"
    assert local_store.get_bytes(f"persons/restart-shop/{gid}.jpg") == b"\xff\xd8jpeg"
    ray.kill(reg, no_restart=False)  # a crash: Ray restarts it and __init__ rebuilds from the database
    deadline = time.monotonic() + 60
    while True:
        try:
            reg = ray.get_actor(registry_name("restart-shop"), namespace="test-identity")
            assert ray.get(reg.ping.remote(), timeout=10)
            break
        except (ray.exceptions.RayError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    stats = ray.get(reg.stats.remote())
    assert stats["persons"] == 1 and stats["embeddings"] == 1
    again = ray.get(reg.observe.remote([obs("c/3", "c", 30, 31, [1, 1], None, RED).__dict__]))[0]
    assert again["global_id"] == gid and again["verdict"] == "appearance"
    ray.kill(reg, no_restart=True)


def test_stored_people_past_their_retention_are_deleted(db_engine) -> None:
    now = [time.time() - 7200]  # two hours ago, with a one-hour retention
    core = IdentityRegistryCore("shop", retention_s=3600, clock=lambda: now[0])
    old = core.observe(obs("a/1", "a", 0, 5, [5, 5], None, RED, crop=b"jpeg"))
    now[0] = time.time()
    fresh = core.observe(obs("a/2", "a", 100, 105, [1, 1], None, BLUE))
    with session_scope(db_engine) as s:
        repo.save_changes(s, core.drain_changes())
    with session_scope(db_engine) as s:
        gone = repo.delete_expired(s, now_s=time.time())
    assert gone == [(old.global_id, f"persons/shop/{old.global_id}.jpg")]
    with session_scope(db_engine) as s:
        assert repo.get_person(s, old.global_id) is None and repo.person_links(s, old.global_id) == []
        assert repo.get_person(s, fresh.global_id) is not None
        assert repo.delete_expired(s, now_s=time.time()) == []  # nothing left to delete


def test_a_merged_tentative_id_stays_findable(db_engine) -> None:
    core = IdentityRegistryCore("shop")
    a = core.observe(obs("a/1", "a", 0, 2, [5, 5], [5.5, 5], RED))
    b = core.observe(obs("b/1", "b", 2.8, 3.0, [5.9, 5], None, REDDISH))
    with session_scope(db_engine) as s:
        repo.save_changes(s, core.drain_changes())  # the young id is stored (a camera may show it)
    core.observe(obs("a/1", "a", 2.2, 4, [5.6, 5], [6.2, 5], RED))
    assert core.observe(obs("b/1", "b", 3.2, 4, [6.0, 5], [6.2, 5], REDDISH)).merged_from == b.global_id
    with session_scope(db_engine) as s:
        repo.save_changes(s, core.drain_changes())
    with session_scope(db_engine) as s:
        assert repo.get_person(s, b.global_id).global_id == a.global_id  # the alias leads to the person
        assert [p.global_id for p in repo.list_persons(s, site="shop")[0]] == [a.global_id]
        assert {link.track_key for link in repo.person_links(s, a.global_id)} == {"a/1", "b/1"}
