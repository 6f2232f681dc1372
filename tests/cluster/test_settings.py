"""Process settings: environment variables, nested sections, derived values, and the README table."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise
from pathlib import Path

import pytest
from pydantic import ValidationError

from cluster.settings import Settings, settings_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("env", "check", "exception"),
    [
        ({}, lambda s: s.sqlalchemy_url.startswith("sqlite:///") and s.sqlalchemy_url.endswith("witness.db"),
         DoesNotRaise()),  # nothing set: SQLite under DATA_DIR
        ({"DATABASE_URL": "postgresql+psycopg://u@h/db"}, lambda s: s.sqlalchemy_url == "postgresql+psycopg://u@h/db",
         DoesNotRaise()),  # PostgreSQL when set
        ({"DATA_DIR": "/srv/w"}, lambda s: s.objects_dir == Path("/srv/w/objects"), DoesNotRaise()),  # derived folder
        ({"MODEL__IMGSZ": "960", "JOB__FPS": "5"}, lambda s: s.model.imgsz == 960 and s.job.fps == 5,
         DoesNotRaise()),  # nested sections with "__"
        ({"MODEL__IMGSZ": ""}, lambda s: s.model.imgsz == 1280, DoesNotRaise()),  # empty values are ignored
        ({"MODEL__IMGSZ": "100"}, None, pytest.raises(ValidationError)),  # below the 320 px floor
        ({"TRACKER__STITCH_MIN_SIMILARITY": "2"}, None, pytest.raises(ValidationError)),  # a cosine is <= 1
    ],
)
def test_settings_from_environment(monkeypatch, env, check, exception):
    for key in ("DATABASE_URL", "DATA_DIR", "MODEL__IMGSZ", "JOB__FPS", "TRACKER__STITCH_MIN_SIMILARITY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with exception:
        s = Settings(_env_file=None)
        assert check(s)


def test_readme_lists_every_setting_with_its_default():
    table = settings_table_markdown()
    assert "`TRACKER__STITCH_MAX_GAP_S` | `4.0`" in table
    assert table in README.read_text(), "README's configuration table is stale: paste settings_table_markdown()"
