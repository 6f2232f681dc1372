"""Reliability: dead-lettered live events, pending live visits, webhook retries, job heartbeats.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dead_event",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("camera_id", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_event_event_id", "dead_event", ["event_id"])
    op.create_index("ix_dead_event_created_at", "dead_event", ["created_at"])
    op.create_table(
        "pending_visit",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("camera_id", "due_at", "status"):
        op.create_index(f"ix_pending_visit_{column}", "pending_visit", [column])
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.add_column(sa.Column("next_attempt_at", _TS, nullable=True))
        batch.add_column(sa.Column("claimed_until", _TS, nullable=True))
        batch.create_index("ix_webhook_delivery_next_attempt_at", ["next_attempt_at"])
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("heartbeat_at", _TS, nullable=True))
        batch.add_column(sa.Column("deadline_at", _TS, nullable=True))
        batch.create_index("ix_job_heartbeat_at", ["heartbeat_at"])


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_index("ix_job_heartbeat_at")
        batch.drop_column("deadline_at")
        batch.drop_column("heartbeat_at")
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.drop_index("ix_webhook_delivery_next_attempt_at")
        batch.drop_column("claimed_until")
        batch.drop_column("next_attempt_at")
    op.drop_table("pending_visit")
    op.drop_table("dead_event")
