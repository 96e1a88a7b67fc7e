"""Cooldowns in a small SQLite file in the instance folder: shared by the workers of one machine.

The default store when no Redis is configured, so a rate-limited config is skipped by every
worker, not only by the one that saw the 429. One connection per process, behind a lock (a
connection per thread or greenlet would mean hundreds of them). A broken file never fails a chat:
the store then behaves as "no cooldown" and logs a warning.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .cooldown import Cooldown, CooldownStore

log = logging.getLogger(__name__)

FILE_NAME = "cooldowns.sqlite"
_SCHEMA = "CREATE TABLE IF NOT EXISTS cooldowns (config_id INTEGER PRIMARY KEY, until REAL, reason TEXT, status INTEGER)"


class FileCooldowns(CooldownStore):
    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _run(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            if self._conn is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                self._conn = conn
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _safely(self, what: str, sql: str, params: Iterable = ()) -> list[tuple] | None:
        try:
            return self._run(sql, params)
        except sqlite3.Error as exc:
            log.warning("cooldown store %s: cannot %s (%s); going on without cooldowns", self.path, what, exc)
            with self._lock:
                self._conn = None  # reconnect next time
            return None

    def start(self, config_id, seconds, reason, status):
        entry = Cooldown(config_id, self.clock() + seconds, reason, status)
        self._safely("record a cooldown", "INSERT OR REPLACE INTO cooldowns VALUES (?, ?, ?, ?)",
                     (config_id, entry.until, reason, status))
        return entry

    def get_many(self, config_ids):
        ids = [int(i) for i in config_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._safely("read cooldowns", f"SELECT config_id, until, reason, status FROM cooldowns "
                            f"WHERE until > ? AND config_id IN ({marks})", (self.clock(), *ids)) or []
        return {row[0]: Cooldown(*row) for row in rows}

    def get(self, config_id):
        return self.get_many([config_id]).get(config_id)

    def active(self):
        now = self.clock()
        self._safely("forget old cooldowns", "DELETE FROM cooldowns WHERE until <= ?", (now,))
        rows = self._safely("list cooldowns", "SELECT config_id, until, reason, status FROM cooldowns "
                            "WHERE until > ? ORDER BY until", (now,)) or []
        return [Cooldown(*row) for row in rows]
