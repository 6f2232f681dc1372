"""The evidence layer around any object store: encryption at rest and the chain of custody, transparently.

`EvidenceStore(inner, keyring=…, custody=…)` is an `ObjectStore`. For keys under its protected
prefixes (`clips/`, `cases/` by default) it:

- encrypts on write with AES-256-GCM (`cryptography`), a fresh 96-bit nonce per object and the
  object key as associated data (so a ciphertext moved to another key no longer opens), and
  decrypts on read; each object carries the id of the key that sealed it, so keys rotate (`rotate`
  re-seals everything with the active key) while older objects stay readable as long as their key
  is configured. A missing key or a failed authentication raises `DecryptionError` naming the
  object and the key id;
- records the SHA-256 of the plaintext, its size and key id in the custody log (`write`) and,
  on delete, a `delete` entry.

Everything else passes through untouched (inputs, models). Object format:
`b"DWENC1\\n" + len(key_id) (1 byte) + key_id (ASCII) + nonce (12 bytes) + ciphertext + GCM tag (16 bytes)`.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from domain.custody import CustodyAction, sha256_hex
from storage.objectstore import ObjectStore, ObjectStoreError

__all__ = ["Keyring", "DecryptionError", "EvidenceStore", "MAGIC", "PROTECTED_PREFIXES"]

MAGIC = b"DWENC1\n"
PROTECTED_PREFIXES = ("clips/", "cases/")
_NONCE = 12


class DecryptionError(ObjectStoreError):
    """An encrypted object could not be opened: its key is not configured, or authentication failed."""


class Keyring:
    """Encryption keys by id, and the one new objects are sealed with.

    Args:
        keys: key id → 32-byte AES-256 key.
        active_key_id: the id new objects are encrypted with.

    Raises:
        ValueError: no keys, a key that is not 32 bytes, an id that is not 1–64 ASCII characters,
            or an active id that is not among the keys.
    """

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for kid, key in keys.items():
            if not (1 <= len(kid) <= 64 and kid.isascii() and kid.isprintable()):
                raise ValueError(f"key id {kid!r} must be 1-64 printable ASCII characters")
            if len(key) != 32:
                raise ValueError(f"key {kid!r} must be 32 bytes (AES-256), but is {len(key)}")
        if active_key_id not in keys:
            raise ValueError(f"active key id {active_key_id!r} is not one of the keys ({', '.join(sorted(keys))})")
        self.keys, self.active_key_id = dict(keys), active_key_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (Keyring, (self.keys, self.active_key_id))

    @classmethod
    def from_config(cls, keys_b64: Mapping[str, str] | None = None, *, active_key_id: str | None = None,
                    key_file: str | Path | None = None) -> Keyring | None:  # fmt: skip
        """A keyring from settings: base64 keys by id and/or a JSON secret file `{"id": "base64", …}`.

        Returns:
            The keyring, or `None` when no key is configured (encryption off).

        Raises:
            ValueError: a key that is not valid base64 of 32 bytes, an unreadable or malformed key
                file, or no `active_key_id` with more than one key (one key is its own active id).
        """
        merged: dict[str, str] = {}
        if key_file:
            try:
                loaded = json.loads(Path(key_file).read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"key file {key_file}: {exc}") from None
            if not isinstance(loaded, dict):
                raise ValueError(f"key file {key_file}: expected a JSON object of key id -> base64 key")
            merged.update({str(k): str(v) for k, v in loaded.items()})
        merged.update(keys_b64 or {})
        if not merged:
            return None
        decoded = {}
        for kid, text in merged.items():
            try:
                decoded[kid] = base64.b64decode(text, validate=True)
            except ValueError:
                raise ValueError(f"key {kid!r} is not valid base64") from None
        if active_key_id is None:
            if len(decoded) > 1:
                raise ValueError("several encryption keys are configured: set the active key id")
            active_key_id = next(iter(decoded))
        return cls(decoded, active_key_id)

    @staticmethod
    def new_key_b64() -> str:
        """A fresh random 32-byte key, base64 (for `EVIDENCE__ENCRYPTION_KEYS` or a key file)."""
        return base64.b64encode(os.urandom(32)).decode()

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt with the active key (format in the module doc)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE)
        kid = self.active_key_id.encode()
        return MAGIC + bytes([len(kid)]) + kid + nonce + AESGCM(self.keys[self.active_key_id]).encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes, *, what: str) -> bytes:
        """Decrypt a sealed object. Raises DecryptionError (unknown key id, wrong key, changed bytes)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid = key_id_of(blob)
        if kid is None:
            raise DecryptionError(f"{what}: not an encrypted object (no {MAGIC!r} header)")
        if kid not in self.keys:
            raise DecryptionError(f"{what}: encrypted with key id {kid!r}, which is not configured "
                                  f"(configured: {', '.join(sorted(self.keys))})")  # fmt: skip
        start = len(MAGIC) + 1 + len(kid)
        nonce, body = blob[start : start + _NONCE], blob[start + _NONCE :]
        try:
            return AESGCM(self.keys[kid]).decrypt(nonce, body, aad)
        except InvalidTag:
            raise DecryptionError(f"{what}: authentication failed with key id {kid!r}: wrong key, or the "
                                  "object was changed") from None  # fmt: skip


def key_id_of(blob: bytes) -> str | None:
    """The key id an object was sealed with, `None` for a plain object."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
        return None
    n = blob[len(MAGIC)]
    return blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii", errors="replace")


class EvidenceStore:
    """An `ObjectStore` that encrypts and custody-logs the objects under `prefixes` (see the module doc).

    Args:
        inner: the store holding the bytes (local folder or S3).
        keyring: encryption keys; `None` stores plaintext (custody still recorded).
        custody: a `storage.custody.CustodyLog` (or anything with `record(**fields)`); `None`: no log.
        prefixes: key prefixes treated as evidence.
    """

    def __init__(self, inner: ObjectStore, *, keyring: Keyring | None = None, custody: Any = None,
                 prefixes: Sequence[str] = PROTECTED_PREFIXES) -> None:  # fmt: skip
        self.inner, self.keyring, self.custody, self.prefixes = inner, keyring, custody, tuple(prefixes)

    def __repr__(self) -> str:
        return f"EvidenceStore({self.inner!r}, encrypted={self.keyring is not None}, custody={self.custody is not None})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EvidenceStore, (self.inner,), {"keyring": self.keyring, "custody": self.custody,
                                               "prefixes": self.prefixes})  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.keyring, self.custody, self.prefixes = state["keyring"], state["custody"], state["prefixes"]

    def __getattr__(self, name: str) -> Any:  # download_uri and anything else a store offers
        return getattr(self.inner, name)

    def protected(self, key: str) -> bool:
        """Whether `key` is evidence (encrypted, custody-logged)."""
        return key.startswith(self.prefixes)

    # -------------------------------------------------------------------------------- writes
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
                  actor: str | None = None, alert_id: str | None = None) -> int:  # fmt: skip
        """Store `data`; returns its (plaintext) size. Evidence is sealed and its hash logged."""
        if not self.protected(key):
            return self.inner.put_bytes(key, data, content_type)
        blob = self.keyring.seal(data, key.encode()) if self.keyring else data
        self.inner.put_bytes(key, blob, content_type)
        if self.custody is not None:
            fields: dict[str, Any] = dict(action=CustodyAction.WRITE, object_key=key, sha256=sha256_hex(data),
                                          size_bytes=len(data), alert_id=alert_id,
                                          key_id=self.keyring.active_key_id if self.keyring else None)  # fmt: skip
            if actor:
                fields["actor"] = actor
            self.custody.record(**fields)
        return len(data)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> int:
        """Upload a local file (evidence: read, sealed and logged like `put_bytes`)."""
        if not self.protected(key):
            return self.inner.put_file(key, path, content_type)
        return self.put_bytes(key, Path(path).read_bytes(), content_type)

    def delete(self, key: str) -> None:
        """Delete the object; evidence deletions are logged."""
        existed = self.protected(key) and self.custody is not None and self.inner.exists(key)
        self.inner.delete(key)
        if existed:
            self.custody.record(action=CustodyAction.DELETE, object_key=key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (evidence deletions logged one by one)."""
        keys = self.inner.list_keys(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    # --------------------------------------------------------------------------------- reads
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes, decrypted. Raises ObjectNotFoundError, DecryptionError, ObjectStoreError."""
        blob = self.inner.get_bytes(key)
        if key_id_of(blob) is None:
            return blob
        if self.keyring is None:
            raise DecryptionError(f"object {key!r} is encrypted (key id {key_id_of(blob)!r}) but no encryption "
                                  "key is configured")  # fmt: skip
        return self.keyring.open(blob, key.encode(), what=f"object {key!r}")

    def download(self, key: str, dest: Path) -> Path:
        """Write the object's (decrypted) bytes to `dest` atomically."""
        if not self.protected(key):
            return self.inner.download(key, dest)
        data = self.get_bytes(key)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        return dest

    def size(self, key: str) -> int:
        """The plaintext size."""
        return len(self.get_bytes(key)) if self.protected(key) and self.keyring else self.inner.size(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        return self.inner.list_keys(prefix)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def presigned_url(self, key: str, expires_s: int = 3600) -> str:
        """The inner store's URL, except for encrypted evidence (it would serve ciphertext): `encrypted:<key>`."""
        if self.protected(key) and self.keyring is not None:
            return f"encrypted:{key}"
        return self.inner.presigned_url(key, expires_s)

    def key_id(self, key: str) -> str | None:
        """The key id the stored object was sealed with (`None`: plaintext)."""
        return key_id_of(self.inner.get_bytes(key))

    def rotate(self, prefix: str = "") -> int:
        """Re-seal every evidence object under `prefix` not sealed with the active key; returns how many.

        The plaintext (and so its recorded hash) is unchanged; no custody entry is added.

        Raises:
            ValueError: encryption is off. DecryptionError: an object whose key is not configured.
        """
        if self.keyring is None:
            raise ValueError("encryption is off: no key to rotate to")
        n = 0
        for key in self.inner.list_keys(prefix):
            if not self.protected(key):
                continue
            blob = self.inner.get_bytes(key)
            if key_id_of(blob) == self.keyring.active_key_id:
                continue
            plain = self.keyring.open(blob, key.encode(), what=f"object {key!r}") if key_id_of(blob) else blob
            self.inner.put_bytes(key, self.keyring.seal(plain, key.encode()))
            n += 1
        return n
