"""Which server paths and buckets a bulk job submitted through the API may read.

A job named by paths (`POST /jobs` with JSON `inputs`) reads files on the cluster, so an API user
could otherwise name any file the workers can open (`/etc/shadow`, another job's uploads, the
database). Only these are accepted:

- files under the upload folder (what `POST /jobs` multipart writes) or under one of
  `JOB__INPUT_ROOTS` (symbolic links resolved first, so a link cannot point out of a root);
- `s3://bucket/key` in the platform's bucket (`S3_BUCKET`) or one of `JOB__INPUT_BUCKETS`, with
  a key that has no `..` segment and does not start with `/` (downloads are named after the key).

Anything else is refused with a message naming the input and the allowed roots.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

__all__ = ["InputPolicy", "InputNotAllowedError"]


class InputNotAllowedError(ValueError):
    """A job input outside the allowed roots and buckets (the message says which are allowed)."""


@dataclass(frozen=True)
class InputPolicy:
    """Allowed job inputs.

    Attributes:
        roots: folders whose files may be read (resolved, absolute).
        buckets: S3 buckets whose objects may be read.
    """

    roots: tuple[Path, ...] = ()
    buckets: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *, roots: Iterable[str | Path] = (), buckets: Iterable[str] = ()) -> InputPolicy:
        """A policy from folder names (resolved now) and bucket names (empty ones are skipped)."""
        resolved = tuple(dict.fromkeys(Path(os.path.realpath(Path(r).expanduser())) for r in roots if str(r)))
        return cls(roots=resolved, buckets=frozenset(b for b in buckets if b))

    def allowed(self) -> str:
        """The allowed roots and buckets, in words (for error messages)."""
        parts = [str(r) for r in self.roots] + [f"s3://{b}/" for b in sorted(self.buckets)]
        return ", ".join(parts) or "(none: upload the videos instead)"

    def check(self, uri: str) -> str:
        """The input as the job will read it, if allowed.

        Args:
            uri: a path, `file://` URL or `s3://bucket/key`.

        Returns:
            `uri` itself (S3) or the resolved absolute path (files).

        Raises:
            InputNotAllowedError: outside the roots and buckets, or a malformed S3 key.
        """
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://") :].partition("/")
            if bucket not in self.buckets:
                raise InputNotAllowedError(f"{uri}: bucket {bucket!r} is not allowed; allowed: {self.allowed()}")
            if not key or key.startswith("/") or ".." in PurePosixPath(key).parts or "\\" in key:
                raise InputNotAllowedError(f"{uri}: an S3 key must be relative, without '..' segments")
            return uri
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            path_text = unquote(parsed.path)
        elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
            path_text = uri
        else:
            raise InputNotAllowedError(f"{uri}: unsupported input scheme {parsed.scheme!r}; use a path or s3://")
        if "\x00" in path_text:
            raise InputNotAllowedError(f"{uri!r}: a path must not contain NUL")
        resolved = Path(os.path.realpath(Path(path_text).expanduser()))
        if not any(resolved == root or resolved.is_relative_to(root) for root in self.roots):
            raise InputNotAllowedError(f"{uri}: not under an allowed input folder; allowed: {self.allowed()}")
        return str(resolved)

    def check_folder(self, uri: str) -> str:
        """Like `check`, for a folder (training data): `s3://bucket` and `s3://bucket/prefix/` included.

        Raises:
            InputNotAllowedError: outside the roots and buckets.
        """
        if not uri.startswith("s3://"):
            return self.check(uri)
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if bucket not in self.buckets:
            raise InputNotAllowedError(f"{uri}: bucket {bucket!r} is not allowed; allowed: {self.allowed()}")
        if prefix.startswith("/") or ".." in PurePosixPath(prefix).parts or "\\" in prefix:
            raise InputNotAllowedError(f"{uri}: an S3 prefix must be relative, without '..' segments")
        return uri
