"""Object store for clips, thumbnails and exports: a local directory or S3 (MinIO, SeaweedFS).

Keys are '/'-separated relative paths such as `jobs/<job_id>/clips/<event_id>.mp4`. A key
may not be empty, start with '/', or contain empty, '.' or '..' segments (on every store, so
keys stay portable between the two).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

__all__ = [
    "ObjectStoreError",
    "ObjectNotFoundError",
    "ObjectStore",
    "LocalObjectStore",
    "S3ObjectStore",
    "parse_s3_uri",
    "local_copy_path",
    "open_object_store",
]

_TMP_PREFIX = ".tmp-"
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})


class ObjectStoreError(RuntimeError):
    """The store could not be reached or refused a request."""


class ObjectNotFoundError(KeyError):
    """No object under this key.

    Attributes:
        key: the missing key.
        store: description of the store (directory or `s3://bucket` at an endpoint).
    """

    def __init__(self, key: str, store: str) -> None:
        super().__init__(key)
        self.key = key
        self.store = store

    def __str__(self) -> str:
        return f"object {self.key!r} not found in {self.store}"


def _check_key(key: str, *, allow_empty: bool = False) -> str:
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, but got {type(key).__name__}")
    if key == "" and allow_empty:
        return key
    parts = key.split("/")
    if key == "" or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"invalid object key {key!r}: expected a relative '/'-separated path with no empty, '.' or '..' segments"
        )
    return key


def _check_prefix(prefix: str) -> str:
    """A prefix may end with '/' (or be empty); its complete segments must be valid."""
    if prefix == "":
        return prefix
    _check_key(prefix.rstrip("/") or "/")
    return prefix


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into `(bucket, key)`.

    Args:
        uri: the URI, e.g. `s3://footage/store-12/cam-3.mp4`.

    Returns:
        `(bucket, key)`.

    Raises:
        ValueError: if it is not `s3://` with a bucket and a non-empty key; the message names the URI.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"invalid S3 URI {uri!r}: expected s3://bucket/key")
    bucket, sep, key = uri[len("s3://") :].partition("/")
    if not bucket or not sep or not key:
        raise ValueError(f"invalid S3 URI {uri!r}: expected s3://bucket/key with a bucket and a key")
    return bucket, key


def local_copy_path(dest_dir: Path, uri: str) -> Path:
    """Where a downloaded `s3://bucket/key` is kept under `dest_dir`: `dest_dir/bucket/key`, never outside it.

    Args:
        dest_dir: the download folder (e.g. a job's cache).
        uri: the S3 URI.

    Returns:
        The local path.

    Raises:
        ValueError: the URI is not `s3://bucket/key`, or its key is absolute or has `..` segments
            (it would name a file outside `dest_dir`).

    Example:
        >>> local_copy_path(Path("/cache"), "s3://footage/store-1/cam.mp4")
        PosixPath('/cache/footage/store-1/cam.mp4')
    """
    bucket, key = parse_s3_uri(uri)
    parts = PurePosixPath(key).parts
    if key.startswith("/") or ".." in parts or "\\" in key or bucket in (".", ".."):
        raise ValueError(f"{uri}: an S3 key must be relative, without '..' segments")
    path = Path(dest_dir) / bucket / key
    if not path.resolve().is_relative_to(Path(dest_dir).resolve()):
        raise ValueError(f"{uri}: names a file outside the download folder")
    return path


@runtime_checkable
class ObjectStore(Protocol):
    """What the rest of the platform needs from an object store."""

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> int:
        """Upload a local file; returns its size in bytes."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> int:
        """Store bytes; returns their size."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's content."""
        ...

    def download(self, key: str, dest: Path) -> Path:
        """Copy the object to `dest`; returns `dest`."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object (no error if it is missing)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; returns how many."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with `prefix` (a string prefix, not only a folder)."""
        ...

    def uri(self, key: str) -> str:
        """Where the object lives: a file path or `s3://bucket/key`."""
        ...

    def presigned_url(self, key: str, expires_s: int = 3600) -> str:
        """A URL that reads the object without credentials (`file://` for local stores)."""
        ...


# ------------------------------------------------------------------------------------- local
class LocalObjectStore:
    """Objects as files under a root directory (the embedded default).

    Writes are atomic (a temporary file in the target directory, then `os.replace`); content
    types are not kept.

    Args:
        root: directory holding the objects; created if missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        _check_key(key)
        path = self.root.joinpath(*key.split("/"))
        if not path.resolve().is_relative_to(self.root):  # a symlink pointing out
            raise ValueError(f"invalid object key {key!r}: resolves outside {self.root}")
        return path

    def _missing(self, key: str) -> ObjectNotFoundError:
        return ObjectNotFoundError(key, f"local store {self.root}")

    @staticmethod
    @contextmanager
    def _atomic_target(path: Path) -> Iterator[Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        os.close(fd)
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> int:
        """Copy a local file in under `key`.

        Returns:
            Size in bytes.

        Raises:
            ValueError: for an invalid key.
            FileNotFoundError: if `path` does not exist.
        """
        target = self._path(key)
        with self._atomic_target(target) as tmp:
            shutil.copyfile(path, tmp)
        return target.stat().st_size

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> int:
        """Store `data` under `key`; returns its size. Raises ValueError for an invalid key."""
        target = self._path(key)
        with self._atomic_target(target) as tmp:
            tmp.write_bytes(data)
        return len(data)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes. Raises ObjectNotFoundError if missing."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(key) from None

    def download(self, key: str, dest: Path) -> Path:
        """Copy the object to `dest` (atomically). Raises ObjectNotFoundError if missing."""
        source = self._path(key)
        if not source.is_file():
            raise self._missing(key)
        dest = Path(dest)
        with self._atomic_target(dest) as tmp:
            shutil.copyfile(source, tmp)
        return dest

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Size in bytes. Raises ObjectNotFoundError if missing."""
        path = self._path(key)
        if not path.is_file():
            raise self._missing(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        """Delete the object; a missing one is not an error."""
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` and prune emptied folders; returns the count."""
        keys = self.list_keys(prefix)
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            parent = path.parent
            while parent != self.root:
                try:
                    parent.rmdir()
                except OSError:  # not empty
                    break
                parent = parent.parent
        return len(keys)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with `prefix`."""
        _check_prefix(prefix)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not start.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, key: str) -> str:
        """The object's absolute file path."""
        return str(self._path(key))

    def presigned_url(self, key: str, expires_s: int = 3600) -> str:
        """A `file://` URI of the object (`expires_s` is ignored)."""
        return self._path(key).as_uri()


# ---------------------------------------------------------------------------------------- S3
class S3ObjectStore:
    """Objects in one S3 bucket through the `minio` SDK (MinIO, SeaweedFS, AWS S3).

    The bucket is created if it does not exist. `download` and `download_uri` can also read
    from another bucket (a user's input `s3://other-bucket/video.mp4`).

    Args:
        endpoint: `host:port`, or a URL (`http://host:port` / `https://...`, which also sets `secure`).
        access_key: access key id.
        secret_key: secret key.
        bucket: bucket for this store's objects.
        secure: use HTTPS.
        region: bucket region, if the server needs one.
        timeout_s: connect timeout; reads wait up to 10 times longer.
        check_bucket: make sure the bucket exists (creating it) now.

    Raises:
        ObjectStoreError: if the server cannot be reached or refuses the credentials.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        timeout_s: float = 10.0,
        check_bucket: bool = True,
    ) -> None:
        if endpoint.startswith(("http://", "https://")):
            secure = endpoint.startswith("https://")
            endpoint = endpoint.split("://", 1)[1]
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.secure = secure
        # Kept so the store can be pickled (sent to Ray workers) and rebuilt there.
        self._init_kwargs = dict(
            endpoint=self.endpoint, access_key=access_key, secret_key=secret_key, bucket=bucket, secure=secure,
            region=region, timeout_s=timeout_s,
        )
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s * 10),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=16,
        )
        self._client = Minio(
            self.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        if not check_bucket:  # rebuilt from a pickle: checked when first made; S3 may be down right now
            return
        with self._errors(None):
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the constructor call (the HTTP client holds sockets that cannot travel)."""
        return (_rebuild_s3_store, (self._init_kwargs,))

    def _describe(self, bucket: str | None = None) -> str:
        scheme = "https" if self.secure else "http"
        return f"s3://{bucket or self.bucket} at {scheme}://{self.endpoint}"

    @contextmanager
    def _errors(self, key: str | None, bucket: str | None = None) -> Iterator[None]:
        try:
            yield
        except S3Error as exc:
            if key is not None and exc.code in _MISSING_CODES:
                raise ObjectNotFoundError(key, self._describe(bucket)) from None
            raise ObjectStoreError(f"{self._describe(bucket)}: {exc.code}: {exc.message}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ObjectStoreError(f"cannot reach S3 endpoint {self.endpoint}: {exc}") from exc

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> int:
        """Upload a local file; returns its size. Raises ValueError, FileNotFoundError, ObjectStoreError."""
        _check_key(key)
        size = os.path.getsize(path)
        with self._errors(None):
            self._client.fput_object(self.bucket, key, str(path), content_type=content_type)
        return size

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> int:
        """Store bytes; returns their size. Raises ValueError, ObjectStoreError."""
        _check_key(key)
        with self._errors(None):
            self._client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return len(data)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes. Raises ObjectNotFoundError, ObjectStoreError."""
        _check_key(key)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def download(self, key: str, dest: Path, *, bucket: str | None = None) -> Path:
        """Download to `dest` (written to a temporary name, then renamed).

        Args:
            key: object key.
            dest: local file path; its folder is created.
            bucket: read from this bucket instead of the store's own (for user inputs).

        Returns:
            `dest`.

        Raises:
            ObjectNotFoundError: if the object is missing.
            ObjectStoreError: if the server cannot be reached.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._errors(key, bucket):
            self._client.fget_object(bucket or self.bucket, key, str(dest))
        return dest

    def download_uri(self, uri: str, dest: Path) -> Path:
        """Download `s3://bucket/key` (any bucket this server holds) to `dest`.

        Raises:
            ValueError: if `uri` is not a valid S3 URI.
            ObjectNotFoundError: if the object is missing.
        """
        bucket, key = parse_s3_uri(uri)
        return self.download(key, dest, bucket=bucket)

    def _stat(self, key: str):  # noqa: ANN202
        _check_key(key)
        with self._errors(key):
            return self._client.stat_object(self.bucket, key)

    def exists(self, key: str) -> bool:
        """Whether the object exists. Raises ObjectStoreError if the server is unreachable."""
        try:
            self._stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """Size in bytes. Raises ObjectNotFoundError, ObjectStoreError."""
        return int(self._stat(key).size)

    def delete(self, key: str) -> None:
        """Delete the object; a missing one is not an error."""
        _check_key(key)
        with self._errors(None):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns the count. Raises ObjectStoreError."""
        keys = self.list_keys(prefix)
        if not keys:
            return 0
        with self._errors(None):
            errors = list(self._client.remove_objects(self.bucket, (DeleteObject(k) for k in keys)))
        if errors:
            raise ObjectStoreError(f"{self._describe()}: could not delete {len(errors)} objects: {errors[0]}")
        return len(keys)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with `prefix`."""
        _check_prefix(prefix)
        with self._errors(None):
            objects = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            return sorted(o.object_name for o in objects if not o.is_dir)

    def uri(self, key: str) -> str:
        """`s3://bucket/key`."""
        return f"s3://{self.bucket}/{_check_key(key)}"

    def presigned_url(self, key: str, expires_s: int = 3600) -> str:
        """A signed GET URL valid for `expires_s` seconds."""
        _check_key(key)
        with self._errors(None):
            return self._client.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_s))


def open_object_store(
    *,
    local_dir: Path,
    s3_endpoint: str | None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_bucket: str | None = None,
    s3_secure: bool = False,
    evidence: dict[str, Any] | None = None,
) -> ObjectStore:
    """The configured store: S3 when `s3_endpoint` is set, else a local directory.

    With `evidence`, the store is wrapped in `storage.evidence_store.EvidenceStore` (encryption at
    rest and the chain of custody for clips and case files).

    Args:
        local_dir: root of the local store (used when `s3_endpoint` is empty).
        s3_endpoint: `host:port` or URL of the S3 server, or `None`.
        s3_access_key: access key (required with an endpoint).
        s3_secret_key: secret key (required with an endpoint).
        s3_bucket: bucket (required with an endpoint).
        s3_secure: use HTTPS.
        evidence: `{"keys": {id: base64}, "active_key_id", "key_file", "custody_url", "actor",
            "prefixes"}` (`cluster.settings.EvidenceSettings.store_kwargs`); `None`: a plain store.

    Returns:
        An `ObjectStore`.

    Raises:
        ValueError: if an endpoint is given without credentials or bucket, or a bad encryption key.
        ObjectStoreError: if the S3 server cannot be reached.
    """
    store = _open_plain(local_dir=local_dir, s3_endpoint=s3_endpoint, s3_access_key=s3_access_key,
                        s3_secret_key=s3_secret_key, s3_bucket=s3_bucket, s3_secure=s3_secure)
    if not evidence:
        return store
    from storage.custody import CustodyLog
    from storage.evidence_store import PROTECTED_PREFIXES, EvidenceStore, Keyring

    keyring = Keyring.from_config(evidence.get("keys") or {}, active_key_id=evidence.get("active_key_id"),
                                  key_file=evidence.get("key_file"))
    custody = CustodyLog(evidence["custody_url"], evidence.get("actor", "platform")) if evidence.get("custody_url") else None
    return EvidenceStore(store, keyring=keyring, custody=custody, prefixes=evidence.get("prefixes") or PROTECTED_PREFIXES)


def _open_plain(*, local_dir: Path, s3_endpoint: str | None, s3_access_key: str | None, s3_secret_key: str | None,
                s3_bucket: str | None, s3_secure: bool) -> ObjectStore:  # fmt: skip
    if not s3_endpoint:
        return LocalObjectStore(local_dir)
    missing = [n for n, v in (("s3_access_key", s3_access_key), ("s3_secret_key", s3_secret_key), ("s3_bucket", s3_bucket)) if not v]
    if missing:
        raise ValueError(f"S3 endpoint {s3_endpoint!r} needs {', '.join(missing)}")
    return S3ObjectStore(
        endpoint=s3_endpoint,
        access_key=s3_access_key,  # type: ignore[arg-type]
        secret_key=s3_secret_key,  # type: ignore[arg-type]
        bucket=s3_bucket,  # type: ignore[arg-type]
        secure=s3_secure,
    )


def _rebuild_s3_store(kwargs: dict[str, Any]) -> S3ObjectStore:
    # No round trip on unpickling: a camera actor restarted while S3 is down must still start.
    return S3ObjectStore(**kwargs, check_bucket=False)
