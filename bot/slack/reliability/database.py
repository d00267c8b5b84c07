"""Opening the store for the servers: one-line start-up errors naming the setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import config
from bot.config import SettingsError

if TYPE_CHECKING:
    from bot.storage import Store


def open_store() -> Store:
    """The store at `DATABASE_URL` (else the SQLite default), tables created or upgraded.

    Raises `SettingsError` with one line naming the variable; passwords are never shown.
    """
    from bot.storage import StorageError, Store

    retention_days = config.retention_days()
    try:
        return Store.from_url(retention_days=retention_days)
    except StorageError as exc:
        if config.database_url():
            raise SettingsError(f"DATABASE_URL: {exc}") from None
        raise SettingsError(
            f"DATABASE_URL is not set and the default SQLite database failed: {exc}"
        ) from None
