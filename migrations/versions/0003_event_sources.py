"""events and transcript segments carry the writer's source: unique on (call_id, source, seq);
legs are written, keyed by the event that opened them

Carrier status events used to borrow the call's numbering above 10^9; they move to
``source = 'carrier'`` with the carrier's own number. ``legs`` was never written
before this revision, so its new ``seq`` needs no default.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bridge.store import search

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CARRIER_OFFSET = 1_000_000_000  # where carrier events were numbered before this revision
TABLES = ("events", "transcript_segments")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        search.drop(bind)  # SQLite rebuilds the table: its search triggers go with it
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("source", sa.String(16), server_default="call", nullable=False)
            )
            batch.drop_constraint(op.f(f"uq_{table}_call_id_seq"), type_="unique")
            batch.create_unique_constraint(
                op.f(f"uq_{table}_call_id_source_seq"), ["call_id", "source", "seq"]
            )
    with op.batch_alter_table("legs") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=False))
        batch.create_unique_constraint(op.f("uq_legs_call_id_seq"), ["call_id", "seq"])
    op.execute(
        "UPDATE events SET source = 'carrier', seq = seq - "
        f"{CARRIER_OFFSET} WHERE type = 'call.carrier_status' AND seq >= {CARRIER_OFFSET}"
    )
    if bind.dialect.name == "sqlite":
        search.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("legs") as batch:
        batch.drop_constraint(op.f("uq_legs_call_id_seq"), type_="unique")
        batch.drop_column("seq")
    op.execute(f"UPDATE events SET seq = seq + {CARRIER_OFFSET} WHERE source = 'carrier'")
    # Other writers had no numbering of their own before: their events cannot go back.
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE source NOT IN ('call', 'carrier')")
    if bind.dialect.name == "sqlite":
        search.drop(bind)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"uq_{table}_call_id_source_seq"), type_="unique")
            batch.create_unique_constraint(op.f(f"uq_{table}_call_id_seq"), ["call_id", "seq"])
            batch.drop_column("source")
    if bind.dialect.name == "sqlite":
        search.create(bind)
