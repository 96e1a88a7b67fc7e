"""The chat stream end to end: real HTTP to the fake upstreams, every failure kind, every provider.

Never a stream without exactly one terminal event; the backup's tokens after a `fallback` event.
"""

import pytest

from llmcfg.cooldown import MemoryCooldowns
from llmcfg.db import db
from llmcfg.models import FallbackEvent, LLMConfig
from tests.chat_helpers import MODELS, answer_text, make_chain, parse_sse
from tests.fakes.plugin import Behavior, bearer_headers

BACKUP_TEXT = "The backup model answers here."
PROVIDERS = ["openrouter", "openai", "anthropic", "openai_compatible"]

# failure kind → (behavior, expected reason, expected status, restart?)
FAILURES = {
    "429": (Behavior.http(429, retry_after="30"), "rate_limited", 429, False),
    "500": (Behavior.http(500), "server_error", 500, False),
    "502": (Behavior.http(502), "server_error", 502, False),
    "503": (Behavior.http(503), "overloaded", 503, False),
    "529": (Behavior.http(529), "overloaded", 529, False),
    "stall": (Behavior.stall(), "timeout", None, False),
    "zero-events": (Behavior.zero_events(), "empty_response", None, False),
    "keepalive-only": (Behavior.keepalive_only(), "empty_response", None, False),
    "no-content": (Behavior.no_content(), "empty_response", None, False),
    "error-event": (Behavior.error_event(after=1, code=429), "stream_error", 429, True),
    "cut": (Behavior.cut(after=2), "truncated_stream", None, True),
    "truncated": (Behavior.truncated(after=2), "truncated_stream", None, True),
    "malformed": (Behavior.malformed(after=1), "malformed_stream", None, True),
    "json-error": (Behavior.json_error(code=429), "rate_limited", 429, False),
    "401": (Behavior.http(401), "auth_failed", 401, False),
    "404": (Behavior.http(404), "model_not_found", 404, False),
}


@pytest.fixture
def chat(fake_app, fake_upstream, orgs):
    """Post a chat as org A's admin (bearer token) and return the parsed events."""
    a, _ = orgs
    fake_app.config["LLMCFG_READ_TIMEOUT"] = 0.5  # stalls become timeouts quickly
    client = fake_app.test_client()
    with fake_app.app_context():
        headers = bearer_headers(db.session.merge(a.admin))

    def post(**payload):
        payload.setdefault("messages", [{"role": "user", "content": "Explain inertia."}])
        response = client.post("/api/chat/stream", json=payload, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        body = response.get_data(as_text=True)
        assert body.startswith(":")  # a comment at once, before any upstream answer
        events = parse_sse(body)
        assert sum(name in ("done", "error") for name, _ in events) == 1
        assert events[-1][0] in ("done", "error")
        return events

    return post


def chain_of(app, orgs, fake, providers):
    with app.app_context():
        configs = make_chain(db.session.merge(orgs[0].org), fake, providers)
        return [(c.id, c.provider, c.model) for c in configs]


def backup_for(provider):
    return "anthropic" if provider != "anthropic" else "openai"


@pytest.mark.parametrize("primary", PROVIDERS)
@pytest.mark.parametrize("kind", list(FAILURES))
def test_every_failure_of_every_primary_switches_to_the_backup(fake_app, fake_upstream, orgs, chat, primary, kind):
    behavior, reason, status, restart = FAILURES[kind]
    backup = backup_for(primary)
    chain = chain_of(fake_app, orgs, fake_upstream, [primary, backup])
    fake_upstream.script(primary, MODELS[primary], behavior)
    fake_upstream.script(backup, MODELS[backup], Behavior.ok(BACKUP_TEXT))

    events = chat(config_id=chain[0][0])

    names = [name for name, _ in events]
    assert names[0] == "start" and events[0][1] == {"config_id": chain[0][0], "provider": primary, "model": MODELS[primary]}
    fallback = next(data for name, data in events if name == "fallback")
    assert (fallback["reason"], fallback["status"], fallback["restart"]) == (reason, status, restart)
    assert fallback["to"] == {"config_id": chain[1][0], "provider": backup, "model": MODELS[backup]}
    assert fallback["message"] == f"Switched to backup model ({backup}/{MODELS[backup]})"
    assert names[-1] == "done" and events[-1][1]["config_id"] == chain[1][0]
    assert answer_text(events) == BACKUP_TEXT
    assert fake_upstream.count(primary, model=MODELS[primary]) == 1  # no retry loop on the primary
    with fake_app.app_context():
        rows = db.session.scalars(db.select(FallbackEvent)).all()
        assert [(r.from_config_id, r.to_config_id, r.reason, r.status_code) for r in rows] == [
            (chain[0][0], chain[1][0], reason, status)
        ]


def test_connection_refused_switches_to_the_backup(fake_app, fake_upstream, orgs, chat):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    fake_app.config["LLMCFG_BASE_URLS"]["openai"] = "http://127.0.0.1:9/v1"  # nothing listens there
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    events = chat(config_id=chain[0][0])
    fallback = next(data for name, data in events if name == "fallback")
    assert fallback["reason"] == "connection_error" and answer_text(events) == BACKUP_TEXT


@pytest.mark.parametrize("status", [400, 413, 422])
def test_request_errors_end_with_one_error_and_no_fallback(fake_app, fake_upstream, orgs, chat, status):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(status, message="This model's maximum context length is 128000 tokens."))
    events = chat(config_id=chain[0][0])
    assert [name for name, _ in events] == ["start", "error"]
    assert "maximum context length" in events[-1][1]["message"]
    assert fake_upstream.count("anthropic", path="/messages") == 0


def test_cross_provider_chain_openrouter_anthropic_openai(fake_app, fake_upstream, orgs, chat):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openrouter", "anthropic", "openai"])
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.http(529))
    fake_upstream.script("openai", MODELS["openai"], Behavior.ok(BACKUP_TEXT))
    events = chat(config_id=chain[0][0])
    hops = [(d["from"]["provider"], d["to"]["provider"], d["reason"]) for n, d in events if n == "fallback"]
    assert hops == [("openrouter", "anthropic", "rate_limited"), ("anthropic", "openai", "overloaded")]
    assert answer_text(events) == BACKUP_TEXT and events[-1][1]["provider"] == "openai"


def test_exhausted_chain_ends_with_one_error_listing_attempts(fake_app, fake_upstream, orgs, chat):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic", "openrouter"])
    for provider in ("openai", "anthropic", "openrouter"):
        fake_upstream.script(provider, MODELS[provider], Behavior.http(503))
    events = chat(config_id=chain[0][0])
    error = events[-1][1]
    assert events[-1][0] == "error"
    assert error["message"].startswith("All 3 configured models are unavailable right now")
    assert [a["config_id"] for a in error["attempts"]] == [c[0] for c in chain]
    with fake_app.app_context():
        last = db.session.scalars(db.select(FallbackEvent).order_by(FallbackEvent.id.desc())).first()
        assert last.from_config_id == chain[2][0] and last.to_config_id is None


def test_single_config_failure_ends_with_error_not_silence(fake_app, fake_upstream, orgs, chat):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openrouter"])
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.zero_events())
    events = chat(config_id=chain[0][0])
    assert [name for name, _ in events] == ["start", "error"]
    assert "unavailable right now" in events[-1][1]["message"]


def test_cycle_rows_written_directly_do_not_loop(fake_app, fake_upstream, orgs, chat):
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    with fake_app.app_context():
        db.session.execute(db.text("UPDATE llm_configs SET fallback_llm_config_id = :a WHERE id = :b"),
                           {"a": chain[0][0], "b": chain[1][0]})
        db.session.commit()
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(500))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.http(500))
    events = chat(config_id=chain[0][0])
    assert events[-1][0] == "error"
    assert fake_upstream.count(path="/chat/completions") == 1 and fake_upstream.count(path="/messages") == 1


def test_fourth_hop_is_never_attempted(fake_app, fake_upstream, orgs, chat):
    providers = ["openai", "anthropic", "openrouter", "openai_compatible", "openai"]
    chain = chain_of(fake_app, orgs, fake_upstream, providers)
    for provider in set(providers):
        fake_upstream.script(provider, MODELS[provider], Behavior.http(500))
    events = chat(config_id=chain[0][0])
    attempted = [a["config_id"] for a in events[-1][1]["attempts"]]
    assert attempted == [c[0] for c in chain[:4]]


def test_homework_inherits_the_org_default_and_its_chain(fake_app, fake_upstream, orgs, chat):
    a, _ = orgs
    chain = chain_of(fake_app, orgs, fake_upstream, ["openrouter", "openai"])
    with fake_app.app_context():
        from llmcfg.models import Organization

        db.session.get(Organization, a.org.id).default_llm_config_id = chain[0][0]
        db.session.commit()
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429))
    fake_upstream.script("openai", MODELS["openai"], Behavior.ok(BACKUP_TEXT))
    events = chat(homework_id=a.homework.id)
    assert events[0][1]["config_id"] == chain[0][0]
    assert answer_text(events) == BACKUP_TEXT


class Clock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


def test_cooldown_skips_the_rate_limited_primary_until_it_expires(fake_app, fake_upstream, orgs, chat):
    clock = Clock()
    fake_app.extensions["llmcfg_cooldowns"] = MemoryCooldowns(clock=clock)
    chain = chain_of(fake_app, orgs, fake_upstream, ["openrouter", "anthropic"])
    primary, backup = MODELS["openrouter"], MODELS["anthropic"]
    fake_upstream.script("openrouter", primary, Behavior.http(429, retry_after="30"), times=1)
    fake_upstream.script("anthropic", backup, Behavior.ok(BACKUP_TEXT))

    chat(config_id=chain[0][0])
    for _ in range(5):
        events = chat(config_id=chain[0][0])
        fallback = next(d for n, d in events if n == "fallback")
        assert fallback["reason"] == "cooling_down" and fallback["status"] == 429
        assert answer_text(events) == BACKUP_TEXT
    assert fake_upstream.count("openrouter", model=primary) == 1  # zero calls while cooling down

    clock.now += 31
    events = chat(config_id=chain[0][0])
    assert [n for n, _ in events if n == "fallback"] == []
    assert fake_upstream.count("openrouter", model=primary) == 2


def test_retry_after_ms_and_http_date_set_the_cooldown(fake_app, fake_upstream, orgs, chat):
    clock = Clock()
    store = MemoryCooldowns(clock=clock)
    fake_app.extensions["llmcfg_cooldowns"] = store
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(429, retry_after_ms="2500"), times=1)
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    chat(config_id=chain[0][0])
    assert store.get(chain[0][0]).until == pytest.approx(clock.now + 2.5)


def test_everything_cooling_down_still_tries_the_primary(fake_app, fake_upstream, orgs, chat):
    clock = Clock()
    store = MemoryCooldowns(clock=clock)
    fake_app.extensions["llmcfg_cooldowns"] = store
    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    for config_id, _, _ in chain:
        store.start(config_id, 60, "rate_limited", 429)
    fake_upstream.script("openai", MODELS["openai"], Behavior.ok("Primary is back."))
    events = chat(config_id=chain[0][0])
    assert answer_text(events) == "Primary is back." and events[-1][0] == "done"


def test_queries_per_chat_do_not_grow_with_chain_length(fake_app, fake_upstream, orgs, chat):
    """Resolving a homework through its org default costs the same for a 1-config and a 4-config chain."""
    import sqlalchemy as sa

    a, _ = orgs
    # Read before any statement is counted: touching the fixture's rows may refresh them.
    homework_id = a.homework.id
    short = chain_of(fake_app, orgs, fake_upstream, ["openai"])
    long = chain_of(fake_app, orgs, fake_upstream, ["openrouter", "anthropic", "openai", "openai_compatible"])
    fake_upstream.script("openai", MODELS["openai"], Behavior.ok("short"))
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.ok("long"))
    counts = {}
    for label, chain in (("short", short), ("long", long)):
        with fake_app.app_context():
            from llmcfg.models import Organization

            db.session.get(Organization, a.org.id).default_llm_config_id = chain[0][0]
            db.session.commit()
            engine = db.engine
        chat(homework_id=homework_id)  # warm-up: the token's first use is recorded once
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            chat(homework_id=homework_id)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        counts[label] = len(statements)
    assert counts["long"] == counts["short"], counts


def test_a_chat_loads_only_its_own_chain_however_many_configs_the_organization_has(fake_app, fake_upstream, orgs,
                                                                                     chat):
    """A school may keep a config per homework; starting a chat must not read all of them."""
    import sqlalchemy as sa

    chain = chain_of(fake_app, orgs, fake_upstream, ["openai", "anthropic"])
    for _ in range(3):
        chain_of(fake_app, orgs, fake_upstream, ["openai", "openai", "anthropic"])  # unrelated chains
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(429))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok(BACKUP_TEXT))
    loaded = []
    listener = lambda target, context: loaded.append(target.id)  # noqa: E731
    sa.event.listen(LLMConfig, "load", listener)
    try:
        events = chat(config_id=chain[0][0])
    finally:
        sa.event.remove(LLMConfig, "load", listener)
    assert answer_text(events) == BACKUP_TEXT
    assert sorted(loaded) == sorted(c[0] for c in chain)


def test_a_link_to_another_organizations_config_is_never_followed(fake_app, fake_upstream, orgs, chat):
    """Rows edited outside the app may point across organizations; the chat stops at the border."""
    a, b = orgs
    mine = chain_of(fake_app, orgs, fake_upstream, ["openai"])[0][0]
    with fake_app.app_context():
        theirs = make_chain(db.session.merge(b.org), fake_upstream, ["anthropic"])[0].id
        db.session.execute(db.text("UPDATE llm_configs SET fallback_llm_config_id = :b WHERE id = :a"),
                           {"a": mine, "b": theirs})
        db.session.commit()
    fake_upstream.script("openai", MODELS["openai"], Behavior.http(500))
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok("organization B's answer"))
    events = chat(config_id=mine)
    assert events[-1][0] == "error"
    assert [attempt["config_id"] for attempt in events[-1][1]["attempts"]] == [mine]
    assert fake_upstream.count(path="/messages") == 0


def test_a_homework_pointing_at_another_organizations_config_is_refused(fake_app, fake_upstream, orgs, chat):
    a, b = orgs
    with fake_app.app_context():
        theirs = make_chain(db.session.merge(b.org), fake_upstream, ["anthropic"])[0].id
        db.session.execute(db.text("UPDATE homeworks SET llm_config_id = :c WHERE id = :h"),
                           {"c": theirs, "h": a.homework.id})
        db.session.commit()
    fake_upstream.script("anthropic", MODELS["anthropic"], Behavior.ok("organization B's answer"))
    client = fake_app.test_client()
    with fake_app.app_context():
        headers = bearer_headers(db.session.merge(a.admin))
    response = client.post("/api/chat/stream", headers=headers, json={
        "homework_id": a.homework.id, "messages": [{"role": "user", "content": "hello"}]})
    assert response.status_code == 422
    assert "outside your organization" in response.get_json()["error"]
    assert fake_upstream.count(path="/messages") == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_upstream_that_keeps_the_body_open_after_its_end_marker_still_ends_with_done(
        fake_app, fake_upstream, orgs, chat, provider):
    """After the end marker the rest of the body is read for connection reuse; a server that never
    ends it costs at most the read timeout, never the answer."""
    config_id = chain_of(fake_app, orgs, fake_upstream, [provider])[0][0]
    fake_upstream.script(provider, MODELS[provider], Behavior.open_after_end("All of the answer."))
    events = chat(config_id=config_id)
    assert events[-1][0] == "done" and answer_text(events) == "All of the answer."
    assert not [name for name, _ in events if name == "fallback"]
