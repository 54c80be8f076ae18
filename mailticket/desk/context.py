"""The desk's working context: config, store, clock, templates, live rules and the
Message-ID secret, opened once and passed to every orchestration step.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field

from mailticket.completeness.rules import LiveRules
from mailticket.config import Config
from mailticket.desk import sla
from mailticket.errors import ConfigError
from mailticket.model import (
    Clock,
    system_clock,
)
from mailticket.outbound.compose import DeskIdentity, Templates
from mailticket.store import Store, open_store

log = logging.getLogger("mailticket")
EXCHANGE_HOSTS = ("outlook.office365.com", "outlook.office.com")


@dataclass
class Desk:
    """What every pipeline step needs: the configuration, the store and the clock."""

    config: Config
    store: Store
    clock: Clock = system_clock
    # Times each mail's `[limits] mail_seconds`: real time, apart from the desk's clock (which
    # a demo or test may move on by days between two mails).
    budget_clock: Clock = system_clock

    templates: Templates = field(default_factory=Templates)
    rules: LiveRules | None = None  # completeness rules; None: no scoring, plain receipts

    secret: bytes = b""  # signs our Message-IDs

    @classmethod
    def open(cls, config: Config, clock: Clock = system_clock) -> Desk:
        """Raises `RuleError` on broken rules: a desk does not start without its rules."""
        rules = LiveRules.open(config.rules_path) if config.rules_path else None
        for warning in rules.current.warnings if rules else ():
            log.warning("rules: %s", warning)
        store = open_store(config)
        _warn_about_agents(config)
        return cls(
            config=config,
            store=store,
            clock=clock,
            templates=Templates(config.templates_path),
            rules=rules,
            secret=_message_id_secret(config, store),
        )

    @property
    def sla_policy(self) -> sla.Policy:
        part = self.config.sla
        return sla.Policy(
            first_response_hours=part.first_response_hours,
            reminder_percents=tuple(part.reminder_percents),
            pause_while_pending=part.pause_while_pending,
            delay_extension_days=part.delay_extension_days,
            info_reminder_days=part.info_reminder_days,
            auto_close_days=part.auto_close_days,
            reopen_days=self.config.agents.reopen_days,
            priority_percent=(
                ("urgent", part.urgent_percent),
                ("high", part.high_percent),
                ("low", part.low_percent),
            ),
        )

    @property
    def identity(self) -> DeskIdentity:
        desk = self.config.desk
        return DeskIdentity(desk.address, desk.name, self.config.zone, self.secret)

    @property
    def own_addresses(self) -> set[str]:
        return {self.config.desk.address.lower()}


def _warn_about_agents(config: Config) -> None:
    """Said once when a desk opens: settings that let a forger act as an agent, that trust no
    agent at all, or that leave new tickets unannounced."""
    part = config.agents
    if not (part.addresses or part.domains):
        return
    if not part.require_authentication:
        log.warning(
            "[agents] require_authentication is off: anyone who puts an agent's address in "
            "From can run commands and write to customers from the desk"
        )
    elif not part.trusted_authserv_ids:
        log.warning(
            "[agents] trusted_authserv_ids is empty: no agent's mail can be authenticated, "
            "so all of it is treated as outsiders' mail"
        )
    if part.trust_exchange_internal and not config.imap.host.lower().endswith(EXCHANGE_HOSTS):
        log.warning(
            "[agents] trust_exchange_internal is on but [imap] host is not Exchange Online: "
            "X-MS-Exchange-Organization-AuthAs is only Exchange's word on mail read from it"
        )
    if not part.team_address and not part.teams:
        log.warning("no [agents] team_address: unassigned tickets are announced to no one")


def _message_id_secret(config: Config, store: Store) -> bytes:
    """`[desk] secret_env` names it; else one made for this store, once, and kept there."""
    if config.desk.secret_env:
        value = os.environ.get(config.desk.secret_env, "")
        if not value:
            raise ConfigError(
                f"environment variable {config.desk.secret_env} is not set",
                path=config.source,
                key="desk.secret_env",
            )
        return value.encode("utf-8")
    with store.transaction():
        secret = store.mark("message_id_secret")
        if not secret:
            secret = secrets.token_hex(32)
            store.set_mark("message_id_secret", secret)
    return secret.encode("ascii")
