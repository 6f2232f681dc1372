"""Learning loop: training_label (operators' labels), model_stage_change (promotions), alert.model_version.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("model_version", sa.String(length=16), nullable=True))

    op.create_table(
        "training_label",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("camera_id", sa.String(length=128), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("video_id", sa.String(length=32), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("t_start_s", sa.Float(), nullable=True),
        sa.Column("t_end_s", sa.Float(), nullable=True),
        sa.Column("given_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("source", "label", "alert_id", "event_id", "camera_id", "job_id", "created_at"):
        op.create_index(f"ix_training_label_{column}", "training_label", [column])

    op.create_table(
        "model_stage_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=True),
        sa.Column("previous_version", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("kind", "stage", "at"):
        op.create_index(f"ix_model_stage_change_{column}", "model_stage_change", [column])


def downgrade() -> None:
    op.drop_table("model_stage_change")
    op.drop_table("training_label")
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("model_version")
