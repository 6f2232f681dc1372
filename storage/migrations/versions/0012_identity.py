"""Cross-camera identity: identity, identity_embedding, identity_track, identity_position, focus_session;
global_id on track and event; floor_plan on site.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _person_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["global_id"], ["identity.global_id"], ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("track") as batch:
        batch.add_column(sa.Column("global_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_track_global_id", ["global_id"])
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("global_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_event_global_id", ["global_id"])
    with op.batch_alter_table("site") as batch:
        batch.add_column(sa.Column("floor_plan", sa.JSON(), nullable=True))

    op.create_table(
        "identity",
        sa.Column("global_id", sa.String(length=36), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("first_seen_s", sa.Float(), nullable=False),
        sa.Column("last_seen_s", sa.Float(), nullable=False),
        sa.Column("first_camera_id", sa.String(length=128), nullable=False),
        sa.Column("last_camera_id", sa.String(length=128), nullable=False),
        sa.Column("crop_key", sa.String(length=1024), nullable=True),
        sa.Column("crop_quality", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("merged_into", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("global_id"),
    )
    for column in ("site", "job_id", "last_seen_s", "expires_at"):
        op.create_index(f"ix_identity_{column}", "identity", [column])

    op.create_table(
        "identity_embedding",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("global_id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("t_s", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        _person_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identity_embedding_global_id", "identity_embedding", ["global_id"])

    op.create_table(
        "identity_track",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("global_id", sa.String(length=36), nullable=False),
        sa.Column("track_key", sa.String(length=160), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("video_id", sa.String(length=32), nullable=True),
        sa.Column("first_seen_s", sa.Float(), nullable=False),
        sa.Column("last_seen_s", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        _person_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_key", name="uq_identity_track_track_key"),
    )
    for column in ("global_id", "camera_id", "job_id"):
        op.create_index(f"ix_identity_track_{column}", "identity_track", [column])

    op.create_table(
        "identity_position",
        sa.Column("id", _BIG_PK, nullable=False),
        sa.Column("global_id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("t_s", sa.Float(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("map_x", sa.Float(), nullable=True),
        sa.Column("map_y", sa.Float(), nullable=True),
        sa.Column("frame_w", sa.Integer(), nullable=True),
        sa.Column("frame_h", sa.Integer(), nullable=True),
        _person_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identity_position_global_id", "identity_position", ["global_id"])
    op.create_index("ix_identity_position_t_s", "identity_position", ["t_s"])

    op.create_table(
        "focus_session",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("global_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_focus_session_global_id", "focus_session", ["global_id"])


def downgrade() -> None:
    for table in ("focus_session", "identity_position", "identity_track", "identity_embedding", "identity"):
        op.drop_table(table)
    with op.batch_alter_table("site") as batch:
        batch.drop_column("floor_plan")
    for table in ("event", "track"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_global_id")
            batch.drop_column("global_id")
