"""The chain-of-custody log as a hash chain: each entry's hash covers its content and the previous hash.

Pure: the canonical form of an entry, its SHA-256, and the walk that finds a break. Changing,
removing or re-ordering any stored entry changes a hash the next entry (or the chain head held
elsewhere, e.g. in a case file) has recorded, so the walk reports where.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS_HASH", "CustodyAction", "entry_hash", "sha256_hex", "ChainProblem", "walk_chain"]

GENESIS_HASH = "0" * 64  # the `prev_hash` of the first entry

_FIELDS = ("seq", "at", "actor", "action", "object_key", "sha256", "size_bytes", "key_id", "alert_id", "detail")


class CustodyAction:
    """What an entry records (plain strings, stored as such)."""

    WRITE = "write"  # an evidence object (clip, case file) was stored; `sha256` is its content's hash
    ACCESS = "access"  # someone read it through the API
    EXPORT = "export"  # someone exported it (a case file)
    DELETE = "delete"  # retention deleted it
    VERIFY = "verify"  # `witness verify` ran; `detail` holds its result


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`.

    Example:
        >>> sha256_hex(b"")[:16]
        'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 of `prev_hash` and the entry's fields in a canonical JSON form (sorted keys, no spaces).

    Args:
        prev_hash: the previous entry's hash (`GENESIS_HASH` for the first).
        entry: a mapping with the custody fields (`seq`, `at` as ISO 8601 text, `actor`, `action`,
            `object_key`, `sha256`, `size_bytes`, `key_id`, `alert_id`, `detail`); others are ignored.

    Example:
        >>> h = entry_hash(GENESIS_HASH, {"seq": 1, "action": "write"})
        >>> h == entry_hash(GENESIS_HASH, {"action": "write", "seq": 1}) != entry_hash(GENESIS_HASH, {"seq": 2})
        True
    """
    body = {k: entry.get(k) for k in _FIELDS}
    canonical = json.dumps({"prev": prev_hash, **body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """A break found walking the chain: at entry `seq`, `problem` in words."""

    seq: int
    problem: str


def walk_chain(entries: Iterable[Mapping[str, Any]]) -> tuple[list[ChainProblem], str, int]:
    """Check every link of the chain, oldest first.

    Args:
        entries: stored entries in `seq` order, each with the fields of `entry_hash` plus
            `prev_hash` and `entry_hash`.

    Returns:
        `(problems, head_hash, count)`: every break (a gap in `seq`, a `prev_hash` that is not the
        previous entry's hash, an `entry_hash` that does not match the content), the last entry's
        hash (`GENESIS_HASH` for an empty log) and the number of entries.

    Example:
        >>> e1 = {"seq": 1, "action": "write", "prev_hash": GENESIS_HASH}
        >>> e1["entry_hash"] = entry_hash(GENESIS_HASH, e1)
        >>> walk_chain([e1])[0], walk_chain([{**e1, "action": "read"}])[0][0].problem.split(":")[0]
        ([], 'content changed')
    """
    problems: list[ChainProblem] = []
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    for e in entries:
        count += 1
        seq = int(e["seq"])
        if seq != expected_seq:
            problems.append(ChainProblem(seq, f"sequence gap: expected entry {expected_seq}, found {seq}"))
        if e["prev_hash"] != prev:
            problems.append(ChainProblem(seq, "broken link: prev_hash is not the previous entry's hash"))
        if entry_hash(e["prev_hash"], e) != e["entry_hash"]:
            problems.append(ChainProblem(seq, f"content changed: entry {seq}'s hash does not match its fields"))
        prev, expected_seq = e["entry_hash"], seq + 1
    return problems, prev, count
