"""`witness report`, `witness export video` and `witness analytics rollup` against a SQLite DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from typer.testing import CliRunner

from cluster.cli import app
from storage.db import make_engine, migrate
from tests.analytics_factories import store_shop_job, store_shop_site, write_shop_video

runner = CliRunner()
RANGE = ["--from", "2026-03-02T09:00:00Z", "--to", "2026-03-02T12:00:00"]


@pytest.fixture
def shop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for key in ("DATABASE_URL", "S3_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'witness.db'}")
    migrate(engine)
    video = tmp_path / "shop-cam.mp4"
    write_shop_video(video, seconds=5)
    with Session(engine, expire_on_commit=False) as s:
        store_shop_site(s)
        job_id, _ = store_shop_job(s, uri=str(video), duration_s=5)
    engine.dispose()
    return tmp_path, job_id


def test_report_writes_the_excel_file_with_a_progress_bar(shop_dir) -> None:
    data_dir, _ = shop_dir
    out = data_dir / "out" / "monday.xlsx"
    result = runner.invoke(app, ["report", "--site", "shop", *RANGE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report shop" in result.output and "100.0%" in result.output  # the progress bar, finished
    wb = load_workbook(out)
    assert wb["about"]["B1"].value == "Corner shop"
    assert [r for r in wb["paths"].iter_rows(min_row=2, values_only=True)] == [("aisle", "till", 1)]
    assert not list(out.parent.glob(".*.part"))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--site", "mall", *RANGE], 1, "site 'mall' not found; known sites: shop"),
        (["--site", "shop", "--from", "2026-03-03T00:00:00Z", "--to", "2026-03-02T00:00:00Z"], 2, "inverted"),
        (["--site", "shop", "--to", "2026-03-02T00:00:00Z"], 2, "--from"),
        (["--site", "shop", "--from", "monday", "--to", "2026-03-02T00:00:00Z"], 2, "not an ISO 8601 time"),
        (["--site", "shop", *RANGE, "--format", "docx"], 2, "--format"),
        (["--site", "shop", *RANGE, "--camera", "shop.nope"], 1, "camera shop.nope not found in site 'shop'"),
    ],
)
def test_report_refuses_bad_options_by_name(shop_dir, args, code, message) -> None:
    data_dir, _ = shop_dir
    out = data_dir / "r.pdf"
    result = runner.invoke(app, ["report", *args, "--out", str(out)])
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_export_video_writes_an_h264_file_of_the_whole_video(shop_dir) -> None:
    data_dir, job_id = shop_dir
    out = data_dir / "overlays.mp4"
    result = runner.invoke(app, ["export", "video", "--job", job_id, "--video", "shop-cam.mp4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 50 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 100
    cap.release()
    missing = runner.invoke(app, ["export", "video", "--job", job_id, "--video", "nope.mp4", "--out", str(out)])
    assert missing.exit_code == 1 and "video 'nope.mp4' not found" in missing.output


def test_analytics_rollup_reports_what_it_did(shop_dir) -> None:
    first = runner.invoke(app, ["analytics", "rollup"])
    assert first.exit_code == 0 and "videos 1" in first.output
    again = runner.invoke(app, ["analytics", "rollup"])
    assert again.exit_code == 0 and "videos 0" in again.output
