"""slack_sdk's OAuth stores (installations, bots, OAuth states) on awssec's own database.

Many-workspace mode (SLACK_CLIENT_ID/SLACK_CLIENT_SECRET) keeps one bot token per team, and
per Enterprise Grid organisation for org-wide installs, in the tables slack_sdk's
`SQLAlchemyInstallationStore` and `SQLAlchemyOAuthStateStore` define, on the same engine as
the Store: one `DATABASE_URL`, one migration, one backup. Nothing here reimplements those
stores; this module only builds them on our engine and creates their tables.

slack_sdk is imported lazily: the storage layer otherwise stays free of Slack libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, MetaData, inspect

if TYPE_CHECKING:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

# slack_sdk's default table names, spelled out: they are part of our schema now.
BOTS_TABLE = "slack_bots"
INSTALLATIONS_TABLE = "slack_installations"
OAUTH_STATES_TABLE = "slack_oauth_states"
# How long an install link (its OAuth state) stays valid: Slack's own default. Longer lets
# a slow installer finish; shorter bounds the rows anyone can create with GET /slack/install
# (expired states are purged with the other records, see Store.purge).
STATE_EXPIRATION_SECONDS = 600

__all__ = [
    "BOTS_TABLE",
    "INSTALLATIONS_TABLE",
    "OAUTH_STATES_TABLE",
    "STATE_EXPIRATION_SECONDS",
    "InstallationStores",
    "create_installation_tables",
    "open_installation_stores",
]


def create_installation_tables(conn: Connection) -> None:
    """Create slack_sdk's OAuth tables if missing (inside the start-up migration)."""
    # Importing slack_sdk's stores costs ~0.2 s; every start after the first finds the tables.
    if {BOTS_TABLE, INSTALLATIONS_TABLE, OAUTH_STATES_TABLE} <= set(
        inspect(conn).get_table_names()
    ):
        return
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    metadata = MetaData()
    SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, OAUTH_STATES_TABLE)
    metadata.create_all(conn)


@dataclass(frozen=True)
class InstallationStores:
    """The OAuth stores for one client id.

    `installations` saves (OAuth callback, token rotation) and deletes (uninstall, revoked
    tokens). `reader` is the same store on a read-only view of the engine, for the lookup
    made on every request before the ack: on SQLite a read-only connection begins a deferred
    transaction, so those lookups never queue for the write lock behind answer recording.
    """

    installations: SQLAlchemyInstallationStore
    reader: SQLAlchemyInstallationStore
    states: SQLAlchemyOAuthStateStore


def open_installation_stores(engine: Engine, client_id: str) -> InstallationStores:
    """slack_sdk's stores on `engine` (tables made by the migration, see schema.migrate)."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    def store(on: Engine) -> SQLAlchemyInstallationStore:
        return SQLAlchemyInstallationStore(
            client_id=client_id,
            engine=on,
            bots_table_name=BOTS_TABLE,
            installations_table_name=INSTALLATIONS_TABLE,
        )

    # Same pool, other default options (see bot/storage/engine.py `_sqlite_begin`).
    readonly = engine.execution_options(awssec_readonly=True)
    return InstallationStores(
        installations=store(engine),
        reader=store(readonly),
        states=SQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_EXPIRATION_SECONDS,
            engine=engine,
            table_name=OAUTH_STATES_TABLE,
        ),
    )
