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
    # The Enterprise Grid organisation of team_id (None outside Grid); see the Teams contract.
    Column("enterprise_id", String(64)),
    # Misses only: the guarded question as the report groups it ("<version>:<tidied text>",
    # bot/storage/report.py stored_tidy), so reports need not tidy every question again.
    # NULL for answered questions and rows from before the column (tidied at report time).
    Column("question_tidied", Text()),
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
    Column("enterprise_id", String(64)),
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
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
)

events = Table(
    "events",
    metadata,
    # The primary key is what makes claim_event exactly-once across processes.
    Column("key", String(255), primary_key=True),
    Column("expires_at", DateTime(), nullable=False, index=True),
)

# Conversations (bot/storage/conversations.py). A thread the bot answered in, and the topic
# it answered: follow-ups there are answered without a mention until expires_at.
threads = Table(
    "threads",
    metadata,
    # sha256 of (team, channel, thread ts): one row per thread whatever the team is (a
    # plain UNIQUE over nullable team_id would let NULL teams repeat).
    Column("thread_key", String(64), primary_key=True),
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    Column("channel_id", String(64), nullable=False),
    Column("thread_ts", String(32), nullable=False),
    Column("topic_id", String(64)),  # NULL: the bot answered, but no topic ("I don't know")
    Column("expires_at", DateTime(), nullable=False, index=True),
)

# Channels where an admin turned auto-answer on (`/awssec autoanswer on`); a row per channel.
autoanswer_channels = Table(
    "autoanswer_channels",
    metadata,
    Column("channel_key", String(64), primary_key=True),  # sha256 of (team, channel)
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    Column("channel_id", String(64), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("set_by", String(64)),
    Column("updated_at", DateTime(), nullable=False),
)

# Learned questions (bot/storage/learned.py): wordings taught to a topic, used by the matcher
# as if they were example questions in the knowledge. Never purged by retention.
learned_questions = Table(
    "learned_questions",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("question", Text(), nullable=False),
    # sha256 of (team, topic, normalised wording): the unique key that makes teaching
    # idempotent (a plain UNIQUE over nullable team_id would let NULL teams repeat).
    Column("learned_key", String(64), nullable=False, unique=True),
    # sha256 of (team, normalised wording): finds the same wording taught to another topic.
    Column("wording_key", String(64), nullable=False, index=True),
    Column("topic_id", String(64), nullable=False),
    Column("taught_by", String(64)),
    Column("source", String(16), nullable=False),
    Column("group_key", String(255)),
    Column("team_id", String(64), index=True),
    Column("enterprise_id", String(64)),
    Column("created_at", DateTime(), nullable=False),
)

# An expert's written answer to a handed-over question: reviewed into knowledge by export,
# never served as a bot answer.
drafts = Table(
    "drafts",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("question", Text(), nullable=False),
    Column("answer_text", Text(), nullable=False),
    Column("expert_id", String(64), nullable=False),
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    # One draft per hand-off whatever the retries (NULLs are distinct: no key, no dedup).
    Column("handoff_key", String(255), unique=True),
    Column("created_at", DateTime(), nullable=False),
)

# One row (id 1): bumped in the same transaction as every learned add/remove, so a process
# notices any change, removals included, with one primary-key read.
learned_state = Table(
    "learned_state",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("version", BigInteger(), nullable=False),
)

# Teaching from Slack (bot/storage/teaching.py). A missed-question group as an admin saw it
# in the report: what "Answer with…" teaches, whatever the report shows by the time of the
# click. Rewritten on every showing of the report.
teach_groups = Table(
    "teach_groups",
    metadata,
    Column("group_key", String(64), primary_key=True),
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    Column("example", Text(), nullable=False),
    Column("wordings", JSON(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
)

# Exactly-once markers of teaching's side effects ("dm:<group>:<user>": that asker was told
# once). The primary key is what makes a double click or a retry do nothing.
teach_claims = Table(
    "teach_claims",
    metadata,
    Column("claim_key", String(255), primary_key=True),
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    Column("created_at", DateTime(), nullable=False),
)

# A question handed to the security team: one row per handed-over question (handoff_key),
# where it came from, where it was posted, and who answered it how.
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("handoff_key", String(255), nullable=False, unique=True),
    Column("answer_id", BigInteger()),
    Column("team_id", String(64)),
    Column("enterprise_id", String(64)),
    Column("asker_id", String(64)),
    Column("clicked_by", String(64)),
    # Guarded (bot/guard.py) before it is stored, like every question.
    Column("question", Text(), nullable=False),
    Column("channel_id", String(64)),
    Column("thread_ts", String(32)),
    Column("permalink", Text()),
    Column("experts_channel", String(64)),
    Column("experts_ts", String(32)),
    Column("created_at", DateTime(), nullable=False),
    Column("answered_by", String(64)),
    Column("answered_at", DateTime()),
    Column("answer_topic", String(64)),
)

# Acknowledged events not answered yet (bot/storage/claims.py): written before the ack,
# deleted once the reply is posted, taken over by another process when the owner's lease
# lapses (it died). The one table holding a question as typed (the reply must answer the
# real question): short-lived, never logged, never in a report.
pending_events = Table(
    "pending_events",
    metadata,
    # The de-duplication key of the event (as in `events`): one pending row per message.
    Column("key", String(255), primary_key=True),
    # The event callback body as JSON (without Slack's verification token).
    Column("body", Text(), nullable=False),
    Column("owner", String(128), nullable=False, index=True),
    Column("lease_until", DateTime(), nullable=False, index=True),
    Column("claimed_at", DateTime(), nullable=False),
    Column("attempts", Integer(), nullable=False),
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
        # slack_sdk's OAuth tables (installations, bots, OAuth states), on the same database
        # and under the same lock; created whether or not OAuth is on, so turning it on later
        # needs no migration.
        from bot.storage.installations import create_installation_tables

        create_installation_tables(conn)
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
