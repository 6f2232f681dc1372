"""The camera's disk spool: whole records only, kept in order across restarts, bounded, failing softly."""

from __future__ import annotations

import os
from pathlib import Path

from actors.spool import DiskSpool, spool_key


def test_records_survive_a_new_spool_in_order_and_interrupted_writes_vanish(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool")
    keys = [spool_key("event", f"e{i}") for i in range(3)]
    for i, key in enumerate(keys):
        assert spool.put(key, {"n": i})
    (tmp_path / "spool" / ".crashed.tmp").write_bytes(b"half a record")  # a write the crash interrupted
    spool.remove(keys[1])
    again = DiskSpool(tmp_path / "spool")  # a restarted actor
    assert again.keys() == [keys[0], keys[2]] and [again.get(k)["n"] for k in again.keys()] == [0, 2]
    assert not (tmp_path / "spool" / ".crashed.tmp").exists()
    assert again.put(keys[0], {"n": 10}) and again.get(keys[0]) == {"n": 10}  # replaced in place, same position


def test_full_or_unwritable_spool_refuses_without_leftovers(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", max_bytes=200)
    assert spool.put(spool_key("event", "a"), b"x" * 50)
    assert not spool.put(spool_key("event", "b"), b"x" * 500)  # over the bound
    blocked = DiskSpool(tmp_path / "file-not-dir" / "spool")
    (tmp_path / "file-not-dir").write_text("a file where the folder should be")
    assert not blocked.put(spool_key("event", "c"), {"n": 1})
    assert blocked.write_errors == 1 and spool.write_errors == 1
    assert len(os.listdir(tmp_path / "spool")) == 1
