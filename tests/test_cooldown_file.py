"""The default cooldown store: a file in the instance folder that every worker of a machine shares."""

import sqlite3
from pathlib import Path

from llmcfg import create_app
from llmcfg.cooldown import cooldowns
from llmcfg.cooldown_file import FILE_NAME, FileCooldowns
from llmcfg.db import db
from tests.chat_helpers import MODELS, make_chain, parse_sse
from tests.fakes.plugin import Behavior, bearer_headers


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_start_get_expire_and_list(tmp_path):
    clock = Clock()
    store = FileCooldowns(tmp_path / FILE_NAME, clock=clock)
    store.start(1, 30, "rate_limited", 429)
    store.start(2, 10, "overloaded", 529)
    assert store.get(1).until == 1030 and store.get(1).status == 429
    assert set(store.get_many([1, 2, 3])) == {1, 2}
    assert [c.config_id for c in store.active()] == [2, 1]
    clock.now += 15
    assert store.get(2) is None and [c.config_id for c in store.active()] == [1]


def test_two_workers_share_one_file(tmp_path):
    clock = Clock()
    first, second = (FileCooldowns(tmp_path / FILE_NAME, clock=clock) for _ in range(2))
    first.start(7, 30, "rate_limited", 429)
    assert second.get(7).reason == "rate_limited"


def test_a_broken_file_never_fails_a_chat(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"this is not a database" * 100)
    store = FileCooldowns(path)
    assert store.start(1, 30, "rate_limited", 429).config_id == 1  # nothing raised
    assert store.get(1) is None and store.active() == []


def test_the_app_uses_it_by_default(app):
    assert isinstance(cooldowns(app), FileCooldowns)
    assert cooldowns(app).path == Path(app.instance_path) / FILE_NAME


def test_a_429_seen_by_one_worker_is_skipped_by_the_other(fake_app, fake_upstream, orgs):
    """Two app instances on one instance folder (two gunicorn workers): zero calls to the cooling primary."""
    second = create_app({**fake_app.config, "INSTANCE_PATH": fake_app.instance_path})
    with fake_app.app_context():
        chain = make_chain(db.session.merge(orgs[0].org), fake_upstream, ["openrouter", "anthropic"])
        primary_id = chain[0].id
        headers = bearer_headers(db.session.merge(orgs[0].admin))
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429, retry_after="30"), times=1)
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok("Backup."))
    payload = {"config_id": primary_id, "messages": [{"role": "user", "content": "Hi"}]}

    fake_app.test_client().post("/api/chat/stream", json=payload, headers=headers).get_data()
    for _ in range(3):
        events = parse_sse(second.test_client().post("/api/chat/stream", json=payload, headers=headers).get_data(as_text=True))
        assert next(d for n, d in events if n == "fallback")["reason"] == "cooling_down"
    assert fake_upstream.count("openrouter", model=MODELS["openrouter"]) == 1
    rows = sqlite3.connect(cooldowns(fake_app).path).execute("SELECT config_id, status FROM cooldowns").fetchall()
    assert rows == [(primary_id, 429)]
