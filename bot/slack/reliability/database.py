"""Opening the store for the servers: one-line start-up errors naming the setting."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bot.config import SettingsError

if TYPE_CHECKING:
    from bot.storage import Store


def open_store() -> Store:
    """The store at `DATABASE_URL` (else the SQLite default), tables created or upgraded.

    Raises `SettingsError` with one line naming the variable; passwords are never shown.
    """
    from bot.storage import StorageError, Store, retention_days_from_env

    try:
        retention_days = retention_days_from_env()
    except StorageError as exc:
        raise SettingsError(str(exc)) from None
    try:
        return Store.from_url(retention_days=retention_days)
    except StorageError as exc:
        if os.environ.get("DATABASE_URL", "").strip():
            raise SettingsError(f"DATABASE_URL: {exc}") from None
        raise SettingsError(
            f"DATABASE_URL is not set and the default SQLite database failed: {exc}"
        ) from None
