"""Cooldowns: a config that answered 429/503/529 is skipped until its Retry-After has passed.

The store is an interface; `MemoryCooldowns` serves one process (tests, benchmarks),
`FileCooldowns` (cooldown_file.py, the default) the workers of one machine, and `RedisCooldowns`
(cooldown_redis.py, picked when LLMCFG_REDIS_URL is set) every worker and machine.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_COOLDOWN_S = 30.0
MAX_COOLDOWN_S = 600.0


@dataclass(frozen=True)
class Cooldown:
    config_id: int
    until: float  # wall-clock seconds (time.time() scale of the store's clock)
    reason: str
    status: int | None

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


def cooldown_seconds(retry_after: float | None) -> float:
    """Clamp what the upstream asked for: a default when absent, never more than the cap."""
    if retry_after is None or retry_after <= 0:
        return DEFAULT_COOLDOWN_S
    return min(float(retry_after), MAX_COOLDOWN_S)


class CooldownStore:
    clock: Callable[[], float]

    def start(self, config_id: int, seconds: float, reason: str, status: int | None) -> Cooldown:
        raise NotImplementedError

    def get(self, config_id: int) -> Cooldown | None:
        """Return the config's cooldown if it is still running, else None."""
        raise NotImplementedError

    def get_many(self, config_ids: list[int]) -> dict[int, Cooldown]:
        """Return the running cooldowns among config_ids (a shared store answers in one round trip)."""
        found = {config_id: self.get(config_id) for config_id in config_ids}
        return {config_id: entry for config_id, entry in found.items() if entry is not None}

    def active(self) -> list[Cooldown]:
        """Return every running cooldown (for the admin's activity page)."""
        raise NotImplementedError


class MemoryCooldowns(CooldownStore):
    """In-process store; the clock is injectable so tests never sleep."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, Cooldown] = {}

    def start(self, config_id, seconds, reason, status):
        entry = Cooldown(config_id, self.clock() + seconds, reason, status)
        with self._lock:
            self._entries[config_id] = entry
        return entry

    def get(self, config_id):
        with self._lock:
            entry = self._entries.get(config_id)
            if entry is not None and entry.until <= self.clock():
                del self._entries[config_id]
                return None
            return entry

    def active(self):
        now = self.clock()
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.until <= now]:
                del self._entries[key]
            return sorted(self._entries.values(), key=lambda e: e.until)


def init_app(app):
    """Pick the store: an explicit LLMCFG_COOLDOWN_STORE, else Redis when configured, else a file
    in the instance folder (shared by the workers of this machine)."""
    store = app.config.get("LLMCFG_COOLDOWN_STORE")
    if store is None and app.config.get("LLMCFG_REDIS_URL"):
        from .cooldown_redis import RedisCooldowns
        from .shared_store import key_prefix, redis_for

        store = RedisCooldowns(redis_for(app), key_prefix(app))
    if store is None:
        from pathlib import Path

        from .cooldown_file import FILE_NAME, FileCooldowns

        store = FileCooldowns(Path(app.instance_path) / FILE_NAME)
    app.extensions["llmcfg_cooldowns"] = store


def cooldowns(app=None) -> CooldownStore:
    from flask import current_app

    return (app or current_app).extensions["llmcfg_cooldowns"]
