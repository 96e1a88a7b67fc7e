"""The Redis behind LLMCFG_REDIS_URL: one client per app, its key prefix, and a lock shared by workers.

Several workers or machines serving one database share cooldowns and catalogs through it. Every
key starts with LLMCFG_REDIS_PREFIX (default "llmcfg") so two deployments can share one Redis.
Nothing secret is ever written here: cooldowns hold a reason and a time, catalogs hold model lists.
"""

import fcntl
import logging
import os
import re
import threading
import uuid
from pathlib import Path

from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "llmcfg"
# Key listings (SCAN MATCH) read * ? [ ] as wildcards: a prefix holding them would list other keys.
_PREFIX_SHAPE = re.compile(r"[A-Za-z0-9._-]+")
# A cooldown read sits on the chat path: a hung Redis must cost about a second, not a minute.
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_clients_guard = threading.Lock()


def connect(url: str) -> Redis:
    """A client with short timeouts and one immediate retry (a pooled connection may be stale)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
    )


def redis_for(app) -> Redis | None:
    """Return the app's Redis client (one connection pool per app), or None without LLMCFG_REDIS_URL."""
    url = app.config.get("LLMCFG_REDIS_URL")
    if not url:
        return None
    with _clients_guard:
        client = app.extensions.get("llmcfg_redis")
        if client is None:
            client = app.extensions["llmcfg_redis"] = connect(url)
    return client


def key_prefix(app) -> str:
    """Return the deployment's key prefix (LLMCFG_REDIS_PREFIX); refuse one Redis would read as a pattern."""
    prefix = app.config.get("LLMCFG_REDIS_PREFIX") or DEFAULT_PREFIX
    if not _PREFIX_SHAPE.fullmatch(prefix):
        raise ValueError(f"LLMCFG_REDIS_PREFIX {prefix!r}: use letters, digits, '.', '_' and '-' only")
    return prefix


class SharedLock:
    """A lock every worker sees: SET NX PX, so a holder that dies frees it when the PX runs out."""

    def __init__(self, client: Redis, name: str, ttl_s: float):
        self.client = client
        self.name = name
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._token = uuid.uuid4().hex
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        return bool(self.client.set(self.name, self._token, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        """Free the lock, unless it expired meanwhile and another worker now holds it."""
        try:
            self._release(keys=[self.name], args=[self._token])
        except RedisError as exc:
            # The work under the lock is done; others wait at most until the PX runs out.
            log.warning("cannot release %s in Redis (%s: %s)", self.name, type(exc).__name__, exc)


class FileLock:
    """The same never-waiting lock for workers on one machine without Redis: flock on a file.

    Non-blocking on purpose: a blocking flock would freeze every chat of a gevent worker.
    The kernel frees the lock when its holder's process dies.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
