"""`witness alerts` / `witness alert ID ...` against a SQLite DATA_DIR."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from storage import crud
from storage.db import make_engine, migrate, session_scope

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def create_alerts(data_dir: Path, severities: list[str]) -> list[str]:
    """Test data: pending alerts in the DATA_DIR database; returns their ids."""
    engine = make_engine(f"sqlite:///{data_dir / 'witness.db'}")
    migrate(engine)
    with session_scope(engine) as s:
        ids = [crud.create_alert(s, score=0.6, severity=sev, camera_id="shop.door", explanation="not billed").id
               for sev in severities]  # fmt: skip
    engine.dispose()
    return ids


def test_alerts_list_and_filter(data_dir: Path) -> None:
    first, second = create_alerts(data_dir, ["medium", "high"])
    assert runner.invoke(app, ["alert", first, "--ack", "--as", "ann"]).exit_code == 0
    result = runner.invoke(app, ["alerts", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 2 and {a["id"] for a in data["data"]} == {first, second}
    pending = json.loads(runner.invoke(app, ["alerts", "--status", "pending", "--json"]).output)
    assert [a["id"] for a in pending["data"]] == [second]
    table = runner.invoke(app, ["alerts"])
    assert table.exit_code == 0 and "alerts (2)" in table.output
    assert runner.invoke(app, ["alerts", "--status", "bogus"]).exit_code == 2


def test_alert_workflow(data_dir: Path) -> None:
    (alert_id,) = create_alerts(data_dir, ["high"])
    result = runner.invoke(app, ["alert", alert_id, "--note", "checking the clip", "--as", "ann"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["alert", alert_id, "--dismiss", "staff restocking", "--as", "bob", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["status"], data["reason"], data["closed_by"]) == ("dismissed", "staff restocking", "bob")
    assert [n["text"] for n in data["notes"]] == ["checking the clip"]
    assert [h["action"] for h in data["history"]] == ["note", "dismiss"]

    refused = runner.invoke(app, ["alert", alert_id, "--ack"])
    assert refused.exit_code == 1
    assert "alert is dismissed: cannot acknowledge" in refused.output
    shown = runner.invoke(app, ["alert", alert_id])
    assert shown.exit_code == 0 and "dismissed" in shown.output and "staff restocking" in shown.output


def test_alert_bad_input(data_dir: Path) -> None:
    (alert_id,) = create_alerts(data_dir, ["low"])
    unknown = runner.invoke(app, ["alert", "nope", "--ack"])
    assert unknown.exit_code == 1 and "no alert 'nope'" in unknown.output
    assert runner.invoke(app, ["alert", alert_id, "--escalate", "  "]).exit_code == 2  # blank reason
    assert runner.invoke(app, ["alert", alert_id, "--ack", "--note", "x"]).exit_code == 2  # two actions
    data = json.loads(runner.invoke(app, ["alert", alert_id, "--json"]).output)
    assert data["status"] == "pending" and data["history"] == []


def test_alert_case_file_export(data_dir: Path) -> None:
    engine = make_engine(f"sqlite:///{data_dir / 'witness.db'}")
    migrate(engine)
    with session_scope(engine) as s:
        alert_id = crud.create_alert(s, score=0.6, severity="medium", camera_id="shop.door", explanation="not billed",
                                     clip_keys=["clips/live/shop.door/e1.mp4"]).id
    engine.dispose()
    clip = data_dir / "objects" / "clips" / "live" / "shop.door" / "e1.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"clip-bytes")
    clip.with_name("e1.masked.mp4").write_bytes(b"masked-bytes")
    out = data_dir / "case.zip"
    result = runner.invoke(app, ["alert", alert_id, "--case-file", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert zf.read("clips/e1.mp4") == b"masked-bytes"  # faces masked by default
        assert json.loads(zf.read("case.json"))["alert"]["id"] == alert_id
    assert runner.invoke(app, ["alert", alert_id, "--case-file", str(out), "--unmasked"]).exit_code == 0
    with zipfile.ZipFile(out) as zf:
        assert zf.read("clips/e1.mp4") == b"clip-bytes"
    assert not list(data_dir.glob(".case.zip.*"))  # no partial file left behind
    bad = runner.invoke(app, ["alert", alert_id, "--case-file", str(data_dir / "no" / "such" / "case.zip")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
