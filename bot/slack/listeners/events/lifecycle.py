"""`app_uninstalled` and `tokens_revoked`: forget a team's tokens (many-workspace mode).

Slack sends these when a workspace (or an Enterprise Grid organisation, for an org-wide
install) removes the app or revokes its tokens. With OAuth the team's rows go from
slack_sdk's installation store, through its own `delete_all` / `delete_bot` /
`delete_installation`: from then on Bolt's authorize finds nothing for that team and its
events are not answered. The deletes run before the ack and are idempotent, so a failure
(500) makes Slack retry and a retry of a done delete changes nothing. Bolt does not run its
authorize for these events (the token may already be dead), so the ids come from the payload.

In single-workspace mode there is nothing stored to forget: the event is acknowledged and
logged (SLACK_BOT_TOKEN stops working; the operator has to know).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.oauth import InstallationStore

log = logging.getLogger(__name__)


def register(app: App) -> None:
    store = app.installation_store
    if store is None:
        app.event("app_uninstalled")(_single_workspace_notice("the app was uninstalled"))
        app.event("tokens_revoked")(_single_workspace_notice("tokens were revoked"))
        return
    app.event("app_uninstalled")(_uninstalled(store))
    app.event("tokens_revoked")(_revoked(store))


def _ids(context: BoltContext) -> tuple[str | None, str | None]:
    """(enterprise_id, team_id) of the installation the event is about.

    An org-wide install is stored under its enterprise id with no team id, whichever
    workspace of the organisation the event names.
    """
    if context.is_enterprise_install:
        return context.enterprise_id, None
    return context.enterprise_id, context.team_id


def _uninstalled(store: InstallationStore) -> Callable[..., None]:
    def handle_app_uninstalled(ack: Ack, context: BoltContext) -> None:
        enterprise_id, team_id = _ids(context)
        store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        log.info(
            "app uninstalled: forgot the installation of team %s (enterprise %s)",
            team_id,
            enterprise_id,
        )
        ack()

    return handle_app_uninstalled


def _revoked(store: InstallationStore) -> Callable[..., None]:
    def handle_tokens_revoked(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
        enterprise_id, team_id = _ids(context)
        tokens = found if isinstance(found := event.get("tokens"), dict) else {}
        bots = found if isinstance(found := tokens.get("bot"), list) else []
        users = found if isinstance(found := tokens.get("oauth"), list) else []
        if bots:
            # The installation rows hold the same (now dead) bot token as the bot rows: this
            # app asks for bot scopes only, so nothing of the installation stays useful.
            store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            store.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        for user_id in users:
            if isinstance(user_id, str) and user_id:
                store.delete_installation(
                    enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
                )
        log.info(
            "tokens revoked for team %s (enterprise %s): %d bot, %d user token(s) forgotten",
            team_id,
            enterprise_id,
            len(bots),
            len(users),
        )
        ack()

    return handle_tokens_revoked


def _single_workspace_notice(what: str) -> Callable[..., None]:
    def handle_lifecycle_event(ack: Ack, context: BoltContext) -> None:
        ack()
        log.warning(
            "%s in team %s: SLACK_BOT_TOKEN no longer works there until the app is reinstalled",
            what,
            context.team_id,
        )

    return handle_lifecycle_event
