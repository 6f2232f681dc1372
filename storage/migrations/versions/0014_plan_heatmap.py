"""Floor-plan heatmaps: the cell size of plan grids in `analytics_heat`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_heat") as batch:
        batch.add_column(sa.Column("cell_m", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_heat") as batch:
        batch.drop_column("cell_m")
