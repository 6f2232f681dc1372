"""Encryption at rest and the chain of custody: round trips on a local folder and a real S3 server, wrong keys,
rotation, and `verify` (library and `witness verify`) on an untouched store and after one changed byte."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from domain.custody import sha256_hex
from storage import crud
from storage.casefile import export_case_file
from storage.custody import CustodyLog, verify
from storage.db import make_engine, migrate
from storage.evidence_store import MAGIC, DecryptionError, EvidenceStore, Keyring
from storage.objectstore import LocalObjectStore
from tests.conftest import fresh_pg_schema

REPO = Path(__file__).resolve().parents[2]
K1, K2 = os.urandom(32), os.urandom(32)
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


@pytest.fixture(params=["local", "s3"])
def inner(request, local_store, s3_store):
    return local_store if request.param == "local" else s3_store


def test_round_trip_is_transparent_and_sealed_at_rest(inner, tmp_path) -> None:
    store = EvidenceStore(inner, keyring=Keyring({"k1": K1}, "k1"))
    assert store.put_bytes("clips/j/v/e1.mp4", CLIP, "video/mp4") == len(CLIP)
    src = tmp_path / "e2.mp4"
    src.write_bytes(CLIP[::-1])
    assert store.put_file("clips/j/v/e2.mp4", src, "video/mp4") == len(CLIP)
    store.put_bytes("models/behaviour/v0001/model.joblib", b"plain model")
    at_rest = inner.get_bytes("clips/j/v/e1.mp4")
    assert at_rest.startswith(MAGIC) and CLIP not in at_rest and len(at_rest) == len(CLIP) + len(MAGIC) + 1 + 2 + 12 + 16
    assert store.get_bytes("clips/j/v/e1.mp4") == CLIP and store.size("clips/j/v/e1.mp4") == len(CLIP)
    assert store.download("clips/j/v/e2.mp4", tmp_path / "out.mp4").read_bytes() == CLIP[::-1]
    assert inner.get_bytes("models/behaviour/v0001/model.joblib") == b"plain model"  # not evidence: untouched
    assert store.key_id("clips/j/v/e1.mp4") == "k1" and store.presigned_url("clips/j/v/e1.mp4").startswith("encrypted:")
    # A ciphertext moved to another key does not open (the key is authenticated with it).
    inner.put_bytes("clips/j/v/moved.mp4", at_rest)
    with pytest.raises(DecryptionError, match="authentication failed with key id 'k1'"):
        store.get_bytes("clips/j/v/moved.mp4")


def test_wrong_or_missing_key_fails_clearly(local_store) -> None:
    EvidenceStore(local_store, keyring=Keyring({"k1": K1}, "k1")).put_bytes("clips/a.mp4", CLIP)
    with pytest.raises(DecryptionError, match=r"object 'clips/a.mp4': authentication failed with key id 'k1': wrong key"):
        EvidenceStore(local_store, keyring=Keyring({"k1": K2}, "k1")).get_bytes("clips/a.mp4")
    with pytest.raises(DecryptionError, match=r"encrypted with key id 'k1', which is not configured \(configured: k2\)"):
        EvidenceStore(local_store, keyring=Keyring({"k2": K2}, "k2")).get_bytes("clips/a.mp4")
    with pytest.raises(DecryptionError, match="is encrypted .* but no encryption key is configured"):
        EvidenceStore(local_store).get_bytes("clips/a.mp4")


def test_rotation_reseals_with_the_active_key(inner) -> None:
    EvidenceStore(inner, keyring=Keyring({"k1": K1}, "k1")).put_bytes("clips/r.mp4", CLIP)
    EvidenceStore(inner).put_bytes("clips/plain.mp4", CLIP)  # stored before encryption was on
    both = EvidenceStore(inner, keyring=Keyring({"k1": K1, "k2": K2}, "k2"))
    assert both.rotate() == 2 and both.rotate() == 0
    only_new = EvidenceStore(inner, keyring=Keyring({"k2": K2}, "k2"))
    assert only_new.get_bytes("clips/r.mp4") == CLIP == only_new.get_bytes("clips/plain.mp4")


@pytest.mark.parametrize(
    ("keys", "active", "key_file", "message"),
    [
        ({}, None, None, None),  # nothing configured: encryption off
        ({"k1": "not base64!"}, None, None, "key 'k1' is not valid base64"),
        ({"k1": base64.b64encode(b"short").decode()}, None, None, "must be 32 bytes"),
        ({"k1": base64.b64encode(K1).decode(), "k2": base64.b64encode(K2).decode()}, None, None, "set the active key id"),
        ({"k1": base64.b64encode(K1).decode()}, "k9", None, "active key id 'k9' is not one of the keys"),
        ({}, None, "missing.json", "key file"),
    ],
)
def test_keyring_config_errors(keys, active, key_file, message, tmp_path) -> None:
    path = tmp_path / key_file if key_file else None
    if message is None:
        assert Keyring.from_config(keys, active_key_id=active, key_file=path) is None
        return
    with pytest.raises(ValueError, match=message):
        Keyring.from_config(keys, active_key_id=active, key_file=path)


def test_key_file_merges_with_settings(tmp_path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"k1": base64.b64encode(K1).decode()}))
    ring = Keyring.from_config({"k2": base64.b64encode(K2).decode()}, active_key_id="k2", key_file=path)
    assert sorted(ring.keys) == ["k1", "k2"] and ring.keys["k1"] == K1


# --------------------------------------------------------------------------------- custody
@pytest.fixture
def custody_db() -> Iterator[str]:
    """A private PostgreSQL schema: the custody chain of this test only."""
    with fresh_pg_schema() as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


def test_verify_passes_untouched_and_names_the_changed_clip(custody_db, local_store) -> None:
    engine = make_engine(custody_db)
    store = EvidenceStore(local_store, keyring=Keyring({"k1": K1}, "k1"), custody=CustodyLog(custody_db, "job"))
    keys = [f"clips/j/v/e{i}.mp4" for i in range(3)]
    for i, key in enumerate(keys):
        store.put_bytes(key, CLIP + bytes([i]), "video/mp4")
    with Session(engine) as s:
        alert = crud.create_alert(s, score=0.9, severity="high", event_ids=[], clip_keys=keys[:2])
    report = verify(engine, store)
    assert report.passed and report.objects == 3 and report.ok == 3 and report.entries == 3

    # The case file carries its clips' hashes and the chain's head, and its own export is logged.
    import io
    import zipfile

    buf = io.BytesIO()
    with Session(engine) as s:
        case = export_case_file(s, alert.id, store, buf, actor="ann", masked=False)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        inside = json.loads(zf.read("case.json"))
    assert inside["custody"]["head_seq"] == 4  # three writes and the verify entry before it
    assert [c["sha256"] for c in inside["clips"]] == [sha256_hex(CLIP + bytes([i])) for i in range(2)]
    assert all(c["sha256"] == c["sha256_recorded"] for c in inside["clips"])
    assert case["sha256"] == sha256_hex(buf.getvalue()) and store.get_bytes(case["key"]) == buf.getvalue()

    raw = bytearray(local_store.get_bytes(keys[1]))  # one byte of the sealed object changes at rest
    raw[-20] ^= 0x01
    local_store.put_bytes(keys[1], bytes(raw))
    local_store.delete(keys[2])  # and one disappears (outside the platform: no custody entry)
    report = verify(engine, store)
    assert not report.passed
    assert [k for k, _ in report.changed] == [keys[1]] and "authentication failed" in report.changed[0][1]
    assert report.missing == [keys[2]] and report.chain == []
    only_alert = verify(engine, store, alert_id=alert.id)
    assert [k for k, _ in only_alert.changed] == [keys[1]] and only_alert.missing == []  # e2 is not its clip

    with engine.begin() as conn:  # someone edits the log itself
        conn.execute(sa.text("UPDATE custody_log SET actor = 'mallory' WHERE seq = 2"))
    broken = verify(engine, store, record=False)
    assert [s for s, _ in broken.chain] == [2] and "content changed" in broken.chain[0][1]
    engine.dispose()
    store.custody.engine.dispose()


def test_witness_verify_command(custody_db, tmp_path) -> None:
    objects = tmp_path / "objects"
    store = EvidenceStore(LocalObjectStore(objects), custody=CustodyLog(custody_db, "job"))  # custody without encryption
    store.put_bytes("clips/j/v/e1.mp4", CLIP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "EVIDENCE__"))} | {
        "DATABASE_URL": custody_db, "OBJECT_STORE_DIR": str(objects), "DATA_DIR": str(tmp_path)}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cluster.cli", "verify"], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=120)

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "objects re-hashed: 1, unchanged: 1" in ok.stdout and "verified" in ok.stdout
    path = objects / "clips" / "j" / "v" / "e1.mp4"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = run()
    assert bad.returncode == 1 and "CHANGED clips/j/v/e1.mp4: SHA-256" in bad.stdout, bad.stdout + bad.stderr
    store.custody.engine.dispose()


def test_retention_on_the_embedded_defaults_logs_deletions_and_verify_still_passes(tmp_path) -> None:
    """SQLite + a local folder: a purged clip leaves a `delete` custody entry, and verify does not call it missing."""
    from datetime import timedelta

    from sqlmodel import select

    from domain.events import Event as DomainEvent, EventType
    from domain.retention import RetentionPolicy
    from storage.models import Clip, Event, utcnow
    from storage.retention import purge

    url = f"sqlite:///{tmp_path / 'witness.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = EvidenceStore(LocalObjectStore(tmp_path / "objects"), keyring=Keyring({"k1": K1}, "k1"),
                          custody=CustodyLog(url, "camera"))
    with Session(engine) as s:
        crud.save_live_events(s, events=[("e1", DomainEvent(EventType.FALL, "f", "shop.cam", 1, None, 0, 1, 0, 1, 0.9))],
                              clips=[{"event_id": "e1", "key": "clips/live/shop.cam/e1.mp4", "t_start_s": 0, "t_end_s": 1,
                                      "frame_count": 1, "fps": 1.0, "width": 2, "height": 2}])
        for row in (*s.exec(select(Clip)).all(), *s.exec(select(Event)).all()):
            row.created_at = utcnow() - timedelta(days=40)
            s.add(row)
        s.commit()
    store.put_bytes("clips/live/shop.cam/e1.mp4", CLIP)
    assert verify(engine, store, record=False).ok == 1
    report = purge(engine, store, default=RetentionPolicy(events_days=30), actor="retention")
    assert report.errors == [] and report.objects["clips"] == 1 and not store.exists("clips/live/shop.cam/e1.mp4")
    after = verify(engine, store, record=False)
    assert after.passed and after.missing == [] and after.objects == 0
    engine.dispose()
    store.custody.engine.dispose()
