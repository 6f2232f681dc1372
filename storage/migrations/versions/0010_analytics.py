"""Store analytics: rollup sources, visits, per-minute / per-hour rollups, heatmaps; export jobs; report schedules.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _source_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["source_id"], ["analytics_source.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "analytics_source",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("video_id", sa.String(length=32), nullable=True),
        sa.Column("t_start", sa.Float(), nullable=False),
        sa.Column("t_end", sa.Float(), nullable=False),
        sa.Column("version", _TS, nullable=True),
        sa.Column("rolled_at", _TS, nullable=False),
        sa.Column("zones_from", sa.String(length=16), nullable=False),
        sa.Column("resolution_w", sa.Integer(), nullable=True),
        sa.Column("resolution_h", sa.Integer(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("global_ids", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_source_camera_id", "analytics_source", ["camera_id"])
    op.create_index("ix_analytics_source_video_id", "analytics_source", ["video_id"])
    op.create_index("ix_analytics_source_site_t", "analytics_source", ["site", "t_start"])

    op.create_table(
        "analytics_visit",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("source_id", sa.String(length=160), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("zone", sa.String(length=128), nullable=False),
        sa.Column("person", sa.String(length=160), nullable=False),
        sa.Column("global_id", sa.String(length=64), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("t_enter", sa.Float(), nullable=False),
        sa.Column("t_exit", sa.Float(), nullable=False),
        sa.Column("dwell_s", sa.Float(), nullable=False),
        _source_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_visit_source_id", "analytics_visit", ["source_id"])
    op.create_index("ix_analytics_visit_site_zone_t", "analytics_visit", ["site", "zone", "t_enter"])
    op.create_index("ix_analytics_visit_camera_zone_t", "analytics_visit", ["camera_id", "zone", "t_enter"])

    op.create_table(
        "analytics_rollup",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("source_id", sa.String(length=160), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("to_name", sa.String(length=128), nullable=False),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        sa.Column("t_bucket", sa.BigInteger(), nullable=False),
        sa.Column("person_s", sa.Float(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        _source_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_rollup_source_id", "analytics_rollup", ["source_id"])
    op.create_index("ix_analytics_rollup_camera_t", "analytics_rollup", ["camera_id", "bucket_s", "t_bucket"])
    op.create_index("ix_analytics_rollup_camera_series_t", "analytics_rollup",
                    ["camera_id", "kind", "name", "bucket_s", "t_bucket"])  # fmt: skip

    op.create_table(
        "analytics_heat",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("source_id", sa.String(length=160), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("space", sa.String(length=8), nullable=False),
        sa.Column("t_bucket", sa.BigInteger(), nullable=False),
        sa.Column("grid_w", sa.Integer(), nullable=False),
        sa.Column("grid_h", sa.Integer(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.Column("person_s", sa.Float(), nullable=False),
        _source_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_heat_source_id", "analytics_heat", ["source_id"])
    op.create_index("ix_analytics_heat_site_camera_t", "analytics_heat", ["site", "camera_id", "t_bucket"])

    op.create_table(
        "export_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=128), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("schedule_id", sa.String(length=32), nullable=True),
        sa.Column("key", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_export_job_status", "export_job", ["status"])
    op.create_index("ix_export_job_created_at", "export_job", ["created_at"])

    op.create_table(
        "report_schedule",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", _TS, nullable=True),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_export_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site", "name", name="uq_report_schedule_site_name"),
    )
    op.create_index("ix_report_schedule_site", "report_schedule", ["site"])
    op.create_index("ix_report_schedule_next_run_at", "report_schedule", ["next_run_at"])


def downgrade() -> None:
    for table in ("report_schedule", "export_job", "analytics_heat", "analytics_rollup", "analytics_visit",
                  "analytics_source"):  # fmt: skip
        op.drop_table(table)
