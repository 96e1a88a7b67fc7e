"""Cooldowns in Redis, so every worker and machine skips a rate-limited config at once.

One key per config, `<prefix>:cooldown:<config_id>`, holding JSON {until, reason, status} and set
with PX so Redis drops it when the cooldown ends. A chat reads its whole chain with one MGET.

A Redis outage never fails a chat: a failed read means "no cooldown", a failed write is dropped,
and after a failure Redis is left alone for OUTAGE_PAUSE_S so each request does not wait on it.
"""

import json
import logging
import re
import time
from collections.abc import Callable, Iterable

from redis import Redis, RedisError

from .cooldown import Cooldown, CooldownStore
from .shared_store import DEFAULT_PREFIX

log = logging.getLogger(__name__)

OUTAGE_PAUSE_S = 5.0
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


class RedisCooldowns(CooldownStore):
    """The shared store; `clock` is wall-clock seconds (machines agree on it), `monotonic` paces retries."""

    def __init__(
        self,
        client: Redis,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.clock = clock
        self.key_prefix = f"{prefix}:cooldown:"
        self._monotonic = monotonic
        self._paused_until = float("-inf")

    def key(self, config_id: int) -> str:
        return f"{self.key_prefix}{config_id}"

    def start(self, config_id, seconds, reason, status):
        entry = Cooldown(config_id, self.clock() + seconds, reason, status)
        value = json.dumps({"until": entry.until, "reason": reason, "status": status})
        self._call("record a cooldown", lambda: self.client.set(self.key(config_id), value, px=_millis(seconds)), None)
        return entry

    def get(self, config_id):
        return self.get_many([config_id]).get(config_id)

    def get_many(self, config_ids: Iterable[int]) -> dict[int, Cooldown]:
        ids = list(dict.fromkeys(config_ids))
        if not ids:
            return {}
        values = self._call("read cooldowns", lambda: self.client.mget([self.key(i) for i in ids]), [])
        return self._running(zip(ids, values))

    def active(self):
        def scan():
            pattern = _GLOB_SPECIALS.sub(r"\\\1", self.key_prefix) + "*"
            keys = list(self.client.scan_iter(match=pattern, count=500))
            return keys, self.client.mget(keys) if keys else []

        keys, values = self._call("list cooldowns", scan, ([], []))
        ids = [_config_id(key, self.key_prefix) for key in keys]
        found = self._running((i, v) for i, v in zip(ids, values) if i is not None)
        return sorted(found.values(), key=lambda entry: entry.until)

    def _running(self, pairs) -> dict[int, Cooldown]:
        """Decode stored values, keeping those still running on this store's clock."""
        now, found = self.clock(), {}
        for config_id, raw in pairs:
            entry = _decode(config_id, raw)
            if entry is not None and entry.until > now:
                found[config_id] = entry
        return found

    def _call(self, what: str, action, fallback):
        """Run one Redis exchange; during an outage answer `fallback` instead (a cooldown is optional)."""
        if self._monotonic() < self._paused_until:
            return fallback
        try:
            return action()
        except RedisError as exc:
            # Concurrent failures may each log once; after that Redis is left alone for a while.
            self._paused_until = self._monotonic() + OUTAGE_PAUSE_S
            log.warning(
                "cannot %s in Redis (%s: %s); going on without shared cooldowns for %.0f s",
                what, type(exc).__name__, exc, OUTAGE_PAUSE_S,
            )
            return fallback


def _millis(seconds: float) -> int:
    return max(1, int(round(seconds * 1000)))


def _config_id(key: bytes | str, prefix: str) -> int | None:
    suffix = (key.decode() if isinstance(key, bytes) else key)[len(prefix):]
    return int(suffix) if suffix.isdigit() else None


def _decode(config_id: int, raw: bytes | str | None) -> Cooldown | None:
    """Read one stored value; anything unreadable counts as no cooldown."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        status = data.get("status")
        return Cooldown(config_id, float(data["until"]), str(data["reason"]), int(status) if status else None)
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("ignoring an unreadable cooldown for config %s", config_id)
        return None
