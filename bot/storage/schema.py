"""Tables, and the idempotent start-up migration that creates or upgrades them."""

from __future__ import annotations

import logging

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# An arbitrary constant: the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK_ID = 0x61777373_6563  # "awssec"

# SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
_Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

# Timestamps are naive UTC everywhere (SQLite has no time zones; keeping one convention
# avoids mixing aware and naive values in comparisons).
answers = Table(
    "answers",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(), nullable=False, index=True),
    Column("question", Text(), nullable=False),
    Column("topic_ids", JSON(), nullable=False),
    Column("suggestion_ids", JSON(), nullable=False),
    Column("confidence", Float(), nullable=False),
    Column("is_miss", Boolean(), nullable=False),
    Column("team_id", String(64)),
    Column("user_id", String(64)),
    Column("channel_id", String(64)),
    Column("surface", String(32), nullable=False),
)

votes = Table(
    "votes",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("answer_id", _Id, ForeignKey("answers.id", ondelete="CASCADE"), nullable=False),
    Column("team_id", String(64)),
    Column("user_id", String(64), nullable=False),
    Column("channel_id", String(64)),
    Column("helpful", Boolean(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    # One vote per user per answer: the upsert in record_vote targets this constraint.
    UniqueConstraint("answer_id", "user_id", name="uq_votes_answer_user"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column(
        "answer_id",
        _Id,
        ForeignKey("answers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("user_id", String(64), nullable=False),
    Column("comment", Text(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    # The primary key is what makes claim_event exactly-once across processes.
    Column("key", String(255), primary_key=True),
    Column("expires_at", DateTime(), nullable=False, index=True),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer(), primary_key=True),
)


def _add_missing_columns(conn: Connection) -> None:
    """Add columns that a newer release declares but an older database lacks.

    New columns must therefore be nullable (or carry a server default): existing rows get NULL.
    """
    inspector = inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            ddl = (
                f"ALTER TABLE {preparer.format_table(table)} "
                f"ADD COLUMN {preparer.format_column(column)} "
                f"{column.type.compile(dialect=conn.dialect)}"
            )
            log.info("storage: adding column %s.%s", table.name, column.name)
            conn.exec_driver_sql(ddl)


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema; safe when several processes start at once.

    PostgreSQL: a transaction-scoped advisory lock serialises migrators and DDL is
    transactional. SQLite: the engine begins every transaction with BEGIN IMMEDIATE, so the
    second process waits for the first to commit and then finds the tables in place.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
        metadata.create_all(conn)
        _add_missing_columns(conn)
        current = conn.execute(select(schema_version.c.version)).scalars().all()
        found = max(current, default=0)
        if found > SCHEMA_VERSION:
            log.warning(
                "storage: database schema version %s is newer than this release (%s)",
                found,
                SCHEMA_VERSION,
            )
        elif found < SCHEMA_VERSION:
            conn.execute(schema_version.delete())
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
