"""LLMCFG_REDIS_URL against a real redis-server on loopback: shared cooldowns and a shared catalog cache.

Two app instances on one database and one Redis stand for two workers (or machines). A Redis
outage must never fail a chat or a catalog page; no key may ever be written to Redis.
"""

import logging
import time

import pytest
from redis import Redis

from llmcfg import cooldown, create_app
from llmcfg.catalog import catalog_cache
from llmcfg.cooldown import MemoryCooldowns, cooldowns
from llmcfg.cooldown_redis import OUTAGE_PAUSE_S, RedisCooldowns
from llmcfg.db import db
from llmcfg.providers import app_provider, credential_from_row
from llmcfg.shared_store import connect
from tests.catalog_helpers import fetch_concurrently
from tests.chat_helpers import MODELS, answer_text, make_chain, parse_sse
from tests.fakes.plugin import KEYS, Behavior, add_credential, bearer_headers
from tests.fixtures import login
from tests.redis_server import RedisServer

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")

HELLO = [{"role": "user", "content": "hello"}]
BACKUP_TEXT = "The backup model answers here."
# What a second worker shares with the first: the database, the secrets, the upstreams, the Redis.
SHARED_SETTINGS = (
    "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "LLMCFG_ENCRYPTION_KEY", "LLMCFG_BASE_URLS",
    "LLMCFG_ALLOW_PRIVATE_BASE_URLS", "LLMCFG_CONNECT_TIMEOUT", "LLMCFG_READ_TIMEOUT",
    "LLMCFG_REDIS_URL", "LLMCFG_REDIS_PREFIX",
)


def start_with_redis(app, url, prefix="llmcfg"):
    """Give an already created app LLMCFG_REDIS_URL, as if it had started with it."""
    app.config.update(LLMCFG_REDIS_URL=url, LLMCFG_REDIS_PREFIX=prefix)
    cooldown.init_app(app)
    return app


def close_shared(app):
    """Close the app's Redis and upstream clients (the app is done)."""
    for name in ("llmcfg_redis", "llmcfg_http"):
        client = app.extensions.pop(name, None)
        if client is not None:
            client.close()


@pytest.fixture
def redis_prefix():
    """LLMCFG_REDIS_PREFIX of the workers (a test may parametrize it)."""
    return "llmcfg"


@pytest.fixture
def worker(fake_app, redis_url, redis_prefix):
    """The test app (pointed at the fake upstream) using the Redis."""
    yield start_with_redis(fake_app, redis_url, redis_prefix)
    close_shared(fake_app)


@pytest.fixture
def cut_off_worker(fake_app, dead_redis_url):
    """The test app configured with a Redis that cannot be reached."""
    yield start_with_redis(fake_app, dead_redis_url)
    close_shared(fake_app)


@pytest.fixture
def second_worker(worker, tmp_path):
    """Another app instance on the same database and Redis, with its own memory and instance folder."""
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "worker2"),
                      **{name: worker.config[name] for name in SHARED_SETTINGS}})
    yield app
    close_shared(app)
    with app.app_context():
        db.engine.dispose()


def chat(app, config_id, headers):
    response = app.test_client().post(
        "/api/chat/stream", json={"config_id": config_id, "messages": HELLO}, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse_sse(response.get_data(as_text=True))


def fallback_reasons(events):
    return [data["reason"] for name, data in events if name == "fallback"]


def models_url(provider, credential_id):
    return f"/api/admin/llm-providers/{provider}/models?credential_id={credential_id}"


def everything_stored(client: Redis) -> bytes:
    """Every key in the Redis and every value under it, as bytes (KEYS * is fine at test sizes)."""
    parts = []
    for key in client.keys("*"):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key))
        elif kind == b"hash":
            parts.extend(b"%s=%s" % pair for pair in client.hgetall(key).items())
        else:
            parts.append(repr(client.dump(key)).encode())
    return b"\n".join(parts)


# --- the cooldown store ------------------------------------------------------------------------
def test_a_cooldown_is_seen_by_every_worker_and_redis_expires_it(redis_url, peek):
    first, second = RedisCooldowns(connect(redis_url)), RedisCooldowns(connect(redis_url))
    started = first.start(7, 0.5, "rate_limited", 429)
    seen = second.get(7)
    assert (seen.config_id, seen.reason, seen.status) == (7, "rate_limited", 429)
    assert seen.until == pytest.approx(started.until)
    assert [entry.config_id for entry in second.active()] == [7]
    assert 0 < peek.pttl("llmcfg:cooldown:7") <= 500  # Redis itself drops it: nothing to sweep
    deadline = time.monotonic() + 5
    while peek.exists("llmcfg:cooldown:7") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not peek.exists("llmcfg:cooldown:7")
    assert second.get(7) is None and second.active() == []


def test_a_whole_chain_is_read_in_one_round_trip(redis_url, peek):
    store = RedisCooldowns(connect(redis_url))
    store.start(2, 30, "overloaded", 529)
    peek.config_resetstat()
    running = store.get_many([1, 2, 3])
    assert list(running) == [2] and running[2].status == 529
    stats = peek.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 1 and "cmdstat_get" not in stats


def test_the_store_is_picked_at_start(tmp_path, redis_url):
    memory = MemoryCooldowns()
    settings = {"TESTING": True, "SECRET_KEY": "x", "LLMCFG_REDIS_URL": redis_url}
    shared = create_app({**settings, "INSTANCE_PATH": str(tmp_path / "one")})
    explicit = create_app({**settings, "INSTANCE_PATH": str(tmp_path / "two"), "LLMCFG_COOLDOWN_STORE": memory})
    assert isinstance(cooldowns(shared), RedisCooldowns) and cooldowns(explicit) is memory
    close_shared(shared)
    with pytest.raises(ValueError, match="LLMCFG_REDIS_PREFIX"):
        create_app({**settings, "INSTANCE_PATH": str(tmp_path / "three"), "LLMCFG_REDIS_PREFIX": "campus*"})


def test_two_deployments_sharing_one_redis_keep_their_cooldowns_apart(redis_url):
    campus_a = RedisCooldowns(connect(redis_url), prefix="campus-a")
    campus_b = RedisCooldowns(connect(redis_url), prefix="campus")  # a prefix of the other's prefix
    campus_a.start(1, 30, "rate_limited", 429)
    campus_b.start(2, 30, "overloaded", 503)
    assert campus_b.get(1) is None and campus_a.get(2) is None
    assert [e.config_id for e in campus_a.active()] == [1]
    assert [e.config_id for e in campus_b.active()] == [2]


def test_a_redis_outage_means_no_cooldown_and_never_an_error(dead_redis_url, caplog):
    store = RedisCooldowns(connect(dead_redis_url))
    with caplog.at_level(logging.WARNING, logger="llmcfg.cooldown_redis"):
        entry = store.start(1, 30, "rate_limited", 429)
        assert (entry.config_id, entry.reason) == (1, "rate_limited")
        assert store.get(1) is None and store.get_many([1, 2]) == {} and store.active() == []
    # One warning: after the first failure Redis is left alone for a while, not asked per request.
    assert len(caplog.records) == 1 and "without shared cooldowns" in caplog.text


def test_cooldowns_resume_once_redis_is_back(redis_server):
    server = RedisServer(redis_server.binary).start()
    now = [0.0]
    store = RedisCooldowns(connect(server.url), monotonic=lambda: now[0])
    try:
        store.start(1, 30, "rate_limited", 429)
        server.stop()
        assert store.get(1) is None  # down: no cooldown, no exception
        server.start(port=server.port)
        store.start(2, 30, "rate_limited", 429)  # still within the pause: dropped
        now[0] += OUTAGE_PAUSE_S + 1
        store.start(3, 30, "rate_limited", 429)
        assert set(store.get_many([1, 2, 3])) == {3}
    finally:
        store.client.close()
        server.remove()


# --- the chat endpoint -------------------------------------------------------------------------
def test_a_rate_limited_primary_is_skipped_by_every_worker(worker, second_worker, fake_upstream, orgs, peek):
    a, _ = orgs
    primary = make_chain(db.session.merge(a.org), fake_upstream, ["openrouter", "anthropic", "openai"])[0]
    headers = bearer_headers(db.session.merge(a.admin))
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429, retry_after="30"), times=1)
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))

    assert fallback_reasons(chat(worker, primary.id, headers)) == ["rate_limited"]
    peek.config_resetstat()
    for app in (worker, second_worker, second_worker):
        events = chat(app, primary.id, headers)
        assert fallback_reasons(events) == ["cooling_down"] and answer_text(events) == BACKUP_TEXT
    assert fake_upstream.count("openrouter", model=MODELS["openrouter"]) == 1  # none while cooling down
    assert peek.info("commandstats")["cmdstat_mget"]["calls"] == 3  # one read per chat for the chain
    assert 20_000 < peek.pttl(f"llmcfg:cooldown:{primary.id}") <= 30_000  # Retry-After became the PX
    admin = second_worker.test_client()
    login(admin, a.admin.email)
    page = admin.get("/").get_data(as_text=True)
    cooling = page[page.index("Cooling down now"):page.index("Recent fallbacks")]
    assert primary.name in cooling and "rate-limited (429)" in cooling  # the other worker's activity page
    stored = everything_stored(peek)
    assert b"rate_limited" in stored and not any(key.encode() in stored for key in KEYS.values())


def test_chats_still_work_while_redis_is_down(cut_off_worker, fake_upstream, orgs, caplog):
    app = cut_off_worker
    a, _ = orgs
    primary = make_chain(db.session.merge(a.org), fake_upstream, ["openai", "anthropic"])[0]
    headers = bearer_headers(db.session.merge(a.admin))
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(429, retry_after="30"), times=1)
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    with caplog.at_level(logging.WARNING, logger="llmcfg.cooldown_redis"):
        first = chat(app, primary.id, headers)
        second = chat(app, primary.id, headers)
    assert fallback_reasons(first) == ["rate_limited"] and answer_text(first) == BACKUP_TEXT
    assert first[-1][0] == "done" and second[-1][0] == "done"
    assert fallback_reasons(second) == []  # no cooldown was remembered, so the primary is tried again
    assert fake_upstream.count("openai", model=MODELS["openai"]) == 2
    assert "without shared cooldowns" in caplog.text


# --- the catalog cache -------------------------------------------------------------------------
@pytest.mark.parametrize("redis_prefix", ["campus-a"])
def test_a_catalog_fetched_by_one_worker_is_served_to_another_from_redis(
    worker, second_worker, fake_upstream, orgs, peek
):
    a, _ = orgs
    credential = add_credential(a.org, "openrouter")
    headers = bearer_headers(db.session.merge(a.admin))
    bodies = [app.test_client().get(models_url("openrouter", credential.id), headers=headers).get_json()
              for app in (worker, worker, second_worker)]
    assert [body["from_cache"] for body in bodies] == [False, True, True]
    assert bodies[2]["models"] == bodies[0]["models"] and bodies[2]["fetched_at"] == bodies[0]["fetched_at"]
    assert fake_upstream.count("openrouter", "/models") == 1
    assert all(key.startswith(b"campus-a:") for key in peek.keys("*"))
    stored = everything_stored(peek)
    assert b"openai/gpt-4o-mini" in stored  # the catalog is there...
    secrets = [*KEYS.values(), "sk-alpha-secret-key-1111aaaa", "sk-beta-secret-key-2222bbbb"]
    assert not any(secret.encode() in stored for secret in secrets)  # ...and no key, in any spelling


def test_the_last_good_copy_in_redis_is_served_when_the_upstream_fails(worker, fake_upstream, orgs):
    a, _ = orgs
    credential = add_credential(a.org, "openai_compatible", fake=fake_upstream)
    headers = bearer_headers(db.session.merge(a.admin))
    client = worker.test_client()
    fresh = client.get(models_url("openai_compatible", credential.id), headers=headers).get_json()
    catalog_cache(worker).session.cache.reset_expiration(0)
    fake_upstream.script_path("openai_compatible", "/models", Behavior.http(503))
    stale = client.get(models_url("openai_compatible", credential.id), headers=headers).get_json()
    assert stale["stale"] is True and stale["models"] == fresh["models"]
    assert fake_upstream.count("openai_compatible", "/models") == 2


def test_twenty_cold_requests_on_two_workers_make_one_upstream_call(worker, second_worker, fake_upstream, orgs):
    a, _ = orgs
    credential = credential_from_row(add_credential(a.org, "openrouter"))
    adapter = app_provider(credential)
    caches = [catalog_cache(worker), catalog_cache(second_worker)]
    fake_upstream.script_path("openrouter", "/models", Behavior.slow(0.3))  # everyone arrives while it is cold
    results = fetch_concurrently(caches, adapter, credential, 20)
    assert len(results) == 20 and all(len(result.models) == 350 for result in results)
    assert fake_upstream.count("openrouter", "/models") == 1


def test_the_catalog_page_still_works_while_redis_is_down(cut_off_worker, fake_upstream, orgs, caplog):
    app = cut_off_worker
    a, _ = orgs
    credential = add_credential(a.org, "openrouter")
    headers = bearer_headers(db.session.merge(a.admin))
    with caplog.at_level(logging.WARNING, logger="llmcfg.catalog"):
        responses = [app.test_client().get(models_url("openrouter", credential.id), headers=headers)
                     for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert [r.get_json()["from_cache"] for r in responses] == [False, False]
    assert responses[0].get_json()["total"] == 350
    assert fake_upstream.count("openrouter", "/models") == 2  # uncached, but answered
    assert "fetching the OpenRouter catalog uncached" in caplog.text
