"""Object stores: the same behaviour on a local directory and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import time
from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import pytest

from storage import LocalObjectStore, ObjectNotFoundError, ObjectStoreError, S3ObjectStore, parse_s3_uri
from storage.objectstore import ObjectStore, local_copy_path, open_object_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


def test_put_get_exists_size(store: ObjectStore, tmp_path: Path) -> None:
    assert isinstance(store, ObjectStore)
    assert store.put_bytes("jobs/j1/a.bin", b"hello", "application/octet-stream") == 5
    assert store.get_bytes("jobs/j1/a.bin") == b"hello"
    assert store.exists("jobs/j1/a.bin") and not store.exists("jobs/j1/b.bin")
    assert store.size("jobs/j1/a.bin") == 5
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"x" * 1000)
    assert store.put_file("jobs/j1/clip.mp4", src, "video/mp4") == 1000
    dest = store.download("jobs/j1/clip.mp4", tmp_path / "out" / "clip.mp4")
    assert dest.read_bytes() == b"x" * 1000
    store.put_bytes("jobs/j1/a.bin", b"replaced")
    assert store.get_bytes("jobs/j1/a.bin") == b"replaced"


def test_list_delete_and_prefix(store: ObjectStore) -> None:
    for key in ("jobs/j1/a", "jobs/j1/sub/b", "jobs/j10/c", "other/d"):
        store.put_bytes(key, b"1")
    assert store.list_keys("jobs/j1/") == ["jobs/j1/a", "jobs/j1/sub/b"]
    assert store.list_keys("jobs/j1") == ["jobs/j1/a", "jobs/j1/sub/b", "jobs/j10/c"]  # a string prefix
    assert store.list_keys("") == ["jobs/j1/a", "jobs/j1/sub/b", "jobs/j10/c", "other/d"]
    assert store.list_keys("nothing/") == []
    store.delete("other/d")
    store.delete("other/d")  # missing: no error
    assert not store.exists("other/d")
    assert store.delete_prefix("jobs/j1/") == 2
    assert store.list_keys("") == ["jobs/j10/c"]
    assert store.delete_prefix("jobs/none/") == 0


@pytest.mark.parametrize("method", ["get_bytes", "size", "download"])
def test_missing_key_error_names_key(store: ObjectStore, method: str, tmp_path: Path) -> None:
    args = (tmp_path / "x",) if method == "download" else ()
    with pytest.raises(ObjectNotFoundError, match="missing/key.bin") as info:
        getattr(store, method)("missing/key.bin", *args)
    assert isinstance(info.value, KeyError) and info.value.key == "missing/key.bin"


@pytest.mark.parametrize(
    "key",
    ["../x", "a/../../x", "/etc/passwd", "", "a//b", "./a", "a/"],  # escapes, absolute, empty, odd segments
)
def test_bad_keys_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.put_bytes(key, b"x")


def test_uri_and_presigned_url(local_store: LocalObjectStore, s3_store: S3ObjectStore) -> None:
    local_store.put_bytes("a/b.txt", b"hi")
    assert local_store.uri("a/b.txt") == str(local_store.root / "a" / "b.txt")
    assert local_store.presigned_url("a/b.txt").startswith("file://")
    s3_store.put_bytes("a/b.txt", b"hi", "text/plain")
    assert s3_store.uri("a/b.txt") == f"s3://{s3_store.bucket}/a/b.txt"
    url = s3_store.presigned_url("a/b.txt", expires_s=60)
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback test server)
        assert response.read() == b"hi"


def test_local_symlink_escape_rejected(local_store: LocalObjectStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (local_store.root / "link").symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        local_store.put_bytes("link/x", b"x")


def test_s3_download_from_other_bucket(s3_server, s3_store: S3ObjectStore, tmp_path: Path) -> None:  # noqa: ANN001
    inputs = S3ObjectStore(endpoint=f"http://{s3_server.endpoint}", access_key=s3_server.access_key,
                           secret_key=s3_server.secret_key, bucket="user-footage")  # fmt: skip
    inputs.put_bytes("store-1/cam-3.mp4", b"video")
    path = s3_store.download_uri("s3://user-footage/store-1/cam-3.mp4", tmp_path / "v.mp4")
    assert path.read_bytes() == b"video"
    with pytest.raises(ObjectNotFoundError, match="user-footage"):
        s3_store.download("nope.mp4", tmp_path / "n.mp4", bucket="user-footage")


def test_s3_unreachable_names_endpoint() -> None:
    start = time.monotonic()
    with pytest.raises(ObjectStoreError, match="127.0.0.1:9"):
        S3ObjectStore(endpoint="127.0.0.1:9", access_key="a", secret_key="b" * 8, bucket="bucket", timeout_s=1)
    assert time.monotonic() - start < 30


def test_s3_bad_credentials(s3_server) -> None:  # noqa: ANN001
    with pytest.raises(ObjectStoreError, match=s3_server.endpoint):
        S3ObjectStore(endpoint=s3_server.endpoint, access_key="wrong", secret_key="wrongwrong", bucket="bucket-x")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key.mp4", ("bucket", "key.mp4")),  # simple
        ("s3://bucket/a/b/c.mp4", ("bucket", "a/b/c.mp4")),  # nested key
        ("", None),  # empty
        ("bucket/key", None),  # no scheme
        ("http://bucket/key", None),  # wrong scheme
        ("s3://bucket", None),  # no key
        ("s3://bucket/", None),  # empty key
        ("s3:///key", None),  # no bucket
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="invalid S3 URI"):
            parse_s3_uri(uri)
    else:
        assert parse_s3_uri(uri) == expected


def test_open_object_store(tmp_path: Path, s3_server) -> None:  # noqa: ANN001
    local = open_object_store(local_dir=tmp_path / "o", s3_endpoint=None)
    assert isinstance(local, LocalObjectStore)
    with pytest.raises(ValueError, match="s3_bucket"):
        open_object_store(local_dir=tmp_path, s3_endpoint="h:1", s3_access_key="a", s3_secret_key="b", s3_bucket=None)
    s3 = open_object_store(local_dir=tmp_path, s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                           s3_secret_key=s3_server.secret_key, s3_bucket="factory-bucket")  # fmt: skip
    assert isinstance(s3, S3ObjectStore) and s3.bucket == "factory-bucket"


def test_s3_store_survives_pickling(s3_store):
    """Ray ships the store to workers by pickling: the copy must reach the same bucket."""
    import pickle

    s3_store.put_bytes("pickled/a.txt", b"hello", "text/plain")
    clone = pickle.loads(pickle.dumps(s3_store))
    assert clone.bucket == s3_store.bucket
    assert clone.get_bytes("pickled/a.txt") == b"hello"


@pytest.mark.parametrize(
    ("uri", "expectation"),
    [
        ("s3://footage/store-1/cam.mp4", DoesNotRaise()),  # a normal key
        ("s3://footage/../../etc/cron.d/x", pytest.raises(ValueError, match="'..'")),  # escapes the cache
        ("s3://footage//etc/passwd", pytest.raises(ValueError, match="relative")),  # absolute key
        ("s3://../x/y", pytest.raises(ValueError)),  # a bucket named ..
        ("s3://footage/", pytest.raises(ValueError)),  # no key
    ],
)
def test_downloads_stay_in_their_folder(tmp_path: Path, uri: str, expectation) -> None:
    with expectation:
        assert local_copy_path(tmp_path, uri).resolve().is_relative_to(tmp_path.resolve())
