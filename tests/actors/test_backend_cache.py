"""The export cache on real folders and real object stores (a local one and the S3 server), with small artefacts.

The artefacts are written by a plain build function here; the real exporter is exercised in
`test_backends_real.py`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from actors.backends import STORE_PREFIX, CorruptExportError, ExportCache, ExportKey


def key(**fields) -> ExportKey:
    return ExportKey(**({"weights_sha256": "ab" * 32, "task": "pose", "backend": "openvino",
                         "imgsz": 960, "precision": "fp32", "batch": 1, "dynamic": True,
                         "versions": "ultralytics=8.4,openvino=2026.4"} | fields))


class Builder:
    """Writes an OpenVINO-like artefact folder and counts its calls."""

    def __init__(self, payload: bytes = b"\x00" * 4096) -> None:
        self.calls = 0
        self.payload = payload

    def __call__(self, work_dir: Path) -> Path:
        self.calls += 1
        artefact = work_dir / "store-v3_openvino_model"
        artefact.mkdir()
        (artefact / "store-v3.xml").write_text("<net/>")
        (artefact / "store-v3.bin").write_bytes(self.payload)
        (artefact / "metadata.yaml").write_text("imgsz: [960, 960]\n")
        return artefact


def test_second_lookup_uses_the_cache_and_other_keys_build_again(tmp_path):
    cache, build = ExportCache(tmp_path / "exports"), Builder()
    first = cache.get_or_build(key(), build)
    assert (first.source, build.calls) == ("built", 1)
    assert (first.artefact / "store-v3.bin").read_bytes() == build.payload
    again = cache.get_or_build(key(), build)
    assert (again.source, again.artefact, build.calls) == ("local", first.artefact, 1)
    other = cache.get_or_build(key(imgsz=1280), build)  # another image size is another export
    assert (other.source, build.calls) == ("built", 2) and other.artefact != first.artefact
    assert cache.get_or_build(key(batch=4), build).source == "built"  # and another batch size
    assert cache.get_or_build(key(versions="ultralytics=8.5,openvino=2026.4"), build).source == "built"  # an upgrade
    assert build.calls == 4


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "store-v3_openvino_model" / "store-v3.bin").write_bytes(b"\x00" * 100),  # truncated
        lambda entry: (entry / "store-v3_openvino_model" / "store-v3.bin").write_bytes(b"\x01" * 4096),  # same size
        lambda entry: (entry / "store-v3_openvino_model" / "store-v3.xml").unlink(),  # file missing
        lambda entry: (entry / "manifest.json").write_text("{not json"),  # manifest garbled
    ],
)
def test_a_corrupt_entry_is_detected_and_rebuilt(tmp_path, damage):
    cache, build = ExportCache(tmp_path / "exports"), Builder()
    cache.get_or_build(key(), build)
    damage(cache.entry_dir(key()))
    with pytest.raises(CorruptExportError):
        cache.verify(key())
    rebuilt = cache.get_or_build(key(), build)
    assert (rebuilt.source, build.calls) == ("built", 2)
    assert cache.verify(key()) == rebuilt.artefact  # sound again


def test_an_entry_without_its_manifest_is_not_taken_for_complete(tmp_path):
    cache, build = ExportCache(tmp_path / "exports"), Builder()
    cache.get_or_build(key(), build)
    (cache.entry_dir(key()) / "manifest.json").unlink()  # e.g. a build killed before it finished
    assert cache.get_or_build(key(), build).source == "built" and build.calls == 2


def test_a_failed_build_caches_nothing(tmp_path):
    cache = ExportCache(tmp_path / "exports")

    def broken(work_dir: Path) -> Path:
        (work_dir / "half.bin").write_bytes(b"\x00")
        raise RuntimeError("unsupported op: Einsum")

    with pytest.raises(RuntimeError, match="Einsum"):
        cache.get_or_build(key(), broken)
    assert not cache.entry_dir(key()).exists()
    assert [p.name for p in (tmp_path / "exports").iterdir() if not p.name.endswith(".lock")] == []  # no leftovers
    assert cache.get_or_build(key(), Builder()).source == "built"


def test_a_build_that_returns_nothing_usable_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="no artefact"):
        ExportCache(tmp_path / "exports").get_or_build(key(), lambda work_dir: work_dir / "missing.onnx")


def test_other_nodes_reuse_the_export_through_s3(tmp_path, s3_store):
    build = Builder()
    node_a = ExportCache(tmp_path / "node-a", s3_store)
    node_b = ExportCache(tmp_path / "node-b", s3_store)  # another machine: empty disk, same object store
    built = node_a.get_or_build(key(), build)
    manifest = json.loads(s3_store.get_bytes(f"{STORE_PREFIX}/{key().slug}/manifest.json"))
    assert set(manifest["files"]) == {f"store-v3_openvino_model/{n}" for n in ("store-v3.xml", "store-v3.bin",
                                                                                "metadata.yaml")}
    fetched = node_b.get_or_build(key(), build)
    assert (built.source, fetched.source, build.calls) == ("built", "store", 1)
    assert (fetched.artefact / "store-v3.bin").read_bytes() == build.payload
    assert fetched.artefact.is_relative_to(tmp_path / "node-b")


def test_a_corrupt_copy_in_the_store_is_replaced(tmp_path, local_store):
    build = Builder()
    ExportCache(tmp_path / "node-a", local_store).get_or_build(key(), build)
    local_store.put_bytes(f"{STORE_PREFIX}/{key().slug}/store-v3_openvino_model/store-v3.bin", b"bad")
    node_b = ExportCache(tmp_path / "node-b", local_store)
    assert node_b.get_or_build(key(), build).source == "built" and build.calls == 2
    stored = local_store.get_bytes(f"{STORE_PREFIX}/{key().slug}/store-v3_openvino_model/store-v3.bin")
    assert stored == build.payload  # the rebuilt export replaced the bad copy


def test_concurrent_starts_on_one_node_export_once(tmp_path):
    build, results = Builder(), []
    caches = [ExportCache(tmp_path / "exports") for _ in range(4)]  # e.g. four replicas starting together
    threads = [threading.Thread(target=lambda c=c: results.append(c.get_or_build(key(), build).source)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert build.calls == 1 and sorted(results) == ["built", "local", "local", "local"]
