"""Safety and evidence: alert origin and rule, track_point landmarks, legal_hold, retention_policy, custody_log.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="intent"))
        batch.add_column(sa.Column("rule", sa.String(length=128), nullable=True))
        batch.create_index("ix_alert_origin", ["origin"])
    with op.batch_alter_table("track_point") as batch:
        batch.add_column(sa.Column("landmarks", sa.JSON(), nullable=True))

    op.create_table(
        "legal_hold",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        sa.Column("placed_at", _TS, nullable=False),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", _TS, nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_legal_hold_alert_id", "legal_hold", ["alert_id"])
    op.create_index("ix_legal_hold_released_at", "legal_hold", ["released_at"])

    op.create_table(
        "retention_policy",
        sa.Column("site", sa.String(length=63), nullable=False),
        *(sa.Column(f"{kind}_days", sa.Integer(), nullable=True)
          for kind in ("uploads", "track_points", "events", "clips", "embeddings", "audit")),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )

    op.create_table(
        "custody_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("alert_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    for column in ("at", "action", "object_key", "alert_id"):
        op.create_index(f"ix_custody_log_{column}", "custody_log", [column])
    op.create_index("ix_custody_log_entry_hash", "custody_log", ["entry_hash"], unique=True)


def downgrade() -> None:
    for table in ("custody_log", "retention_policy", "legal_hold"):
        op.drop_table(table)
    with op.batch_alter_table("track_point") as batch:
        batch.drop_column("landmarks")
    with op.batch_alter_table("alert") as batch:
        batch.drop_index("ix_alert_origin")
        batch.drop_column("rule")
        batch.drop_column("origin")
