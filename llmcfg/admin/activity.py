"""Fallback activity for admins: recent fallback events and the configs cooling down now."""

from dataclasses import dataclass
from datetime import datetime, timezone

from ..cooldown import Cooldown, cooldowns
from ..db import db
from ..models import FallbackEvent, LLMConfig
from ..providers.base import PLAIN_WORDS
from ..scoping import scoped_all, scoped_select

RECENT_EVENTS = 25


@dataclass(frozen=True)
class CoolingConfig:
    config: LLMConfig
    cooldown: Cooldown
    seconds_left: int

    @property
    def until_text(self) -> str:
        return datetime.fromtimestamp(self.cooldown.until, timezone.utc).strftime("%H:%M:%S UTC")


def reason_words(reason: str | None) -> str:
    """Return a reason code in plain words ("rate_limited" → "rate-limited")."""
    if not reason:
        return ""
    return PLAIN_WORDS.get(reason, reason.replace("_", " "))


def recent_events(config_ids: set[int] | None = None, limit: int = RECENT_EVENTS) -> list[FallbackEvent]:
    """Return the organization's latest fallback events, optionally only those leaving config_ids."""
    stmt = scoped_select(FallbackEvent)
    if config_ids is not None:
        stmt = stmt.where(FallbackEvent.from_config_id.in_(config_ids or {-1}))
    stmt = stmt.order_by(FallbackEvent.at.desc(), FallbackEvent.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def cooling_configs(config_ids: set[int] | None = None) -> list[CoolingConfig]:
    """Return the organization's configs in cooldown now (optionally only config_ids), soonest end first."""
    store = cooldowns()
    now = store.clock()
    mine = {c.id: c for c in scoped_all(LLMConfig)}  # another organization's cooldowns stay invisible
    rows = []
    for entry in store.active():
        config = mine.get(entry.config_id)
        if config is not None and (config_ids is None or config.id in config_ids):
            rows.append(CoolingConfig(config, entry, int(round(entry.remaining(now)))))
    return rows
