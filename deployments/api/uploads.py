"""Streaming multipart uploads: files go straight to disk, with the size limit enforced while reading.

Starlette's `request.form()` spools every file to a temporary file first and cannot stop a client
that sends more than allowed; this parser writes each file part into a folder of its own and gives
up (deleting what it wrote) as soon as the body passes the limit.
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = ["UploadTooLargeError", "UploadError", "Upload", "receive_upload", "safe_filename"]

_FIELD_LIMIT = 1024 * 1024  # default bytes of one in-memory part (form fields, the site file)
_MAX_PARTS = 64  # default parts per body
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLargeError(ValueError):
    """The request body passed the upload limit."""


class UploadError(ValueError):
    """A malformed multipart body."""


@dataclass
class Upload:
    """A received multipart body.

    Attributes:
        folder: the folder holding this request's files (delete it with `discard`).
        files: `(field name, path)` of each file part written to disk, in order.
        fields: text fields and in-memory file parts, by field name (the last one wins).
        filenames: client file names of the in-memory file parts, by field name.
        content_types: declared content types of the in-memory file parts, by field name.
    """

    folder: Path
    files: list[tuple[str, Path]] = field(default_factory=list)
    fields: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    content_types: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Delete every file of this upload."""
        shutil.rmtree(self.folder, ignore_errors=True)


def safe_filename(name: str, fallback: str) -> str:
    """The base name of a client file name, reduced to `[A-Za-z0-9._-]` (`fallback` if nothing is left).

    Example:
        >>> safe_filename("C:\\\\clips\\\\cam 1.mp4", "upload-0")
        'cam_1.mp4'
    """
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")
    return base or fallback


class _Parts:
    """`MultipartParser` callbacks: route each part to a file on disk or to memory."""

    def __init__(self, upload: Upload, in_memory: frozenset[str], field_limit: int = _FIELD_LIMIT,
                 max_parts: int = _MAX_PARTS) -> None:  # fmt: skip
        self.upload = upload
        self.in_memory = in_memory
        self.field_limit = field_limit
        self.max_parts = max_parts
        self.parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._file: IO[bytes] | None = None
        self._buffer: bytearray | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin, "on_header_field": self._on_field, "on_header_value": self._on_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_part_end": self._end,
        }  # fmt: skip

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise UploadError(f"more than {self.max_parts} form parts")
        self._headers = {}

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None or self._name in self.in_memory:
            if filename is not None:
                self.upload.filenames[self._name] = filename.decode("utf-8", "replace")
                declared = self._headers.get(b"content-type")
                if declared:
                    self.upload.content_types[self._name] = declared.decode("latin-1").strip()
            self._buffer = bytearray()
            return
        files = self.upload.files
        name = safe_filename(filename.decode("utf-8", "replace"), f"upload-{len(files)}")
        if any(p.name == name for _, p in files):
            name = f"{len(files)}-{name}"
        path = self.upload.folder / name
        self._file = path.open("wb")
        files.append((self._name, path))

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
        elif self._buffer is not None:
            if len(self._buffer) + end - start > self.field_limit:
                raise UploadError(f"form field {self._name!r} is larger than {self.field_limit // 1024} KiB")
            self._buffer += data[start:end]

    def _end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._buffer is not None:
            self.upload.fields[self._name] = bytes(self._buffer)
            self._buffer = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive_upload(request: Request, *, upload_dir: Path, limit_bytes: int,
                         in_memory: frozenset[str] = frozenset(), field_limit_bytes: int = _FIELD_LIMIT,
                         max_parts: int = _MAX_PARTS) -> Upload:  # fmt: skip
    """Read a `multipart/form-data` body, writing file parts under a new folder of `upload_dir`.

    Args:
        request: the request (its body is consumed).
        upload_dir: parent of the per-request folder.
        limit_bytes: largest body accepted; the `Content-Length` is checked first, then the
            bytes actually read.
        in_memory: field names whose file parts are kept in memory (e.g. a small site file).
        field_limit_bytes: largest in-memory part (text fields and `in_memory` files).
        max_parts: most parts (fields and files) accepted in one body.

    Returns:
        The upload; call `discard()` if it is not used.

    Raises:
        UploadTooLargeError: if the body is larger than `limit_bytes` (nothing stays on disk).
        UploadError: if the body is not valid multipart, has more than `max_parts` parts or a part
            over `field_limit_bytes` (nothing stays on disk).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise UploadTooLargeError(f"body of {declared} bytes")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadError("expected multipart/form-data with a boundary")
    upload = Upload(upload_dir / uuid.uuid4().hex)
    upload.folder.mkdir(parents=True)
    parts = _Parts(upload, in_memory, field_limit_bytes, max_parts)
    parser = MultipartParser(boundary, parts.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit_bytes:
                raise UploadTooLargeError(f"more than {limit_bytes} bytes")
            if chunk:
                await anyio.to_thread.run_sync(parser.write, chunk)
        parser.finalize()
    except MultipartParseError as exc:
        parts.close()
        upload.discard()
        raise UploadError(f"malformed multipart body: {exc}") from None
    except BaseException:  # too large, a bad field, the client went away: nothing stays on disk
        parts.close()
        upload.discard()
        raise
    return upload
