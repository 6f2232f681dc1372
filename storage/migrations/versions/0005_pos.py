"""Point of sale: pos_product (seeded with the ten default products), pos_terminal, pos_session, pos_transaction.

Revision ID: 0005
Revises: 0004
Create Date: 2025-03-08
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_MONEY = sa.Numeric(10, 2)

# `domain.pos.Catalog.default()` as of this revision, copied so the migration never changes with the code.
_DEFAULT_PRODUCTS = [
    ("CHOC001", "Chocolate Bar", "2.99"), ("ENRG001", "Energy Drink", "3.49"),
    ("CHIP001", "Potato Chips", "2.49"), ("SODA001", "Soda Can", "1.99"),
    ("CAND001", "Candy Pack", "1.49"), ("JRKY001", "Beef Jerky", "5.99"),
    ("WTRL001", "Water Bottle", "1.29"), ("COOK001", "Cookies", "3.99"),
    ("NUTS001", "Mixed Nuts", "4.49"), ("SAND001", "Sandwich", "5.99"),
]  # fmt: skip


def upgrade() -> None:
    product = op.create_table(
        "pos_product",
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("price", _MONEY, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(product, [{"sku": sku, "name": name, "price": Decimal(price), "created_at": now,
                              "updated_at": now} for sku, name, price in _DEFAULT_PRODUCTS])  # fmt: skip

    op.create_table(
        "pos_terminal",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=True),
        sa.Column("zone", sa.String(length=128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "pos_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("t_start_s", sa.Float(), nullable=False),
        sa.Column("t_end_s", sa.Float(), nullable=True),
        sa.Column("camera_id", sa.String(length=128), nullable=True),
        sa.Column("zone", sa.String(length=128), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pos_session_terminal_id", "pos_session", ["terminal_id"])
    op.create_index("ix_pos_session_status", "pos_session", ["status"])
    # At most one open session per terminal, enforced by the database (concurrent starts get a 409).
    op.create_index("ux_pos_session_open_terminal", "pos_session", ["terminal_id"], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))  # fmt: skip

    op.create_table(
        "pos_transaction",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=63), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total", _MONEY, nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("t_start_s", sa.Float(), nullable=False),
        sa.Column("t_end_s", sa.Float(), nullable=False),
        sa.Column("camera_id", sa.String(length=128), nullable=True),
        sa.Column("zone", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("terminal_id", "t_start_s", "t_end_s", "camera_id", "zone"):
        op.create_index(f"ix_pos_transaction_{column}", "pos_transaction", [column])


def downgrade() -> None:
    for table in ("pos_transaction", "pos_session", "pos_terminal", "pos_product"):
        op.drop_table(table)
