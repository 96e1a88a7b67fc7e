"""A client that goes away mid-answer: the upstream connection is closed, not left streaming."""

import threading

import httpx
import pytest
from werkzeug.serving import make_server

from llmcfg.db import db
from tests.chat_helpers import MODELS, make_chain
from tests.fakes.plugin import Behavior, bearer_headers


@pytest.fixture
def served(fake_app):
    """The app on a real loopback port (the WSGI server notices the client leaving)."""
    server = make_server("127.0.0.1", 0, fake_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("provider", ["openai", "anthropic", "openrouter"])
def test_client_leaving_after_first_token_closes_the_upstream(fake_app, fake_upstream, orgs, served, provider):
    with fake_app.app_context():
        (config,) = make_chain(db.session.merge(orgs[0].org), fake_upstream, [provider])
        config_id = config.id
        headers = bearer_headers(db.session.merge(orgs[0].admin))
    before = fake_upstream.active_streams  # other tests' answers may still be winding down
    fake_upstream.script(provider, MODELS[provider], Behavior.ok(tokens=200, delay=0.05))

    payload = {"config_id": config_id, "messages": [{"role": "user", "content": "Tell me a long story."}]}
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{served}/api/chat/stream", json=payload, headers=headers) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line == "event: token":
                    break  # the first token has arrived: hang up

    assert fake_upstream.wait_for_disconnect(provider=provider, timeout=5)
    gone = [d for d in fake_upstream.disconnects if d.provider == provider]
    assert gone and gone[0].tokens_sent < 200
    assert fake_upstream.wait_active_at_most(before, timeout=5)


def test_client_leaving_while_upstream_is_silent_closes_it_within_a_heartbeat(fake_app, fake_upstream, orgs, served):
    fake_app.config["LLMCFG_HEARTBEAT_SECONDS"] = 0.1
    fake_app.config["LLMCFG_READ_TIMEOUT"] = 60  # far longer than the test may wait
    with fake_app.app_context():
        (config,) = make_chain(db.session.merge(orgs[0].org), fake_upstream, ["openai"])
        config_id = config.id
        headers = bearer_headers(db.session.merge(orgs[0].admin))
    fake_upstream.script("openai", MODELS["openai"], Behavior.stall_mid_stream(after=1))

    payload = {"config_id": config_id, "messages": [{"role": "user", "content": "Think hard."}]}
    pings = 0
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{served}/api/chat/stream", json=payload, headers=headers) as response:
            for line in response.iter_lines():
                pings += line == ": ping"
                if pings == 2:
                    break  # heartbeats flow while the upstream is silent; now hang up

    assert fake_upstream.wait_for_disconnect(provider="openai", timeout=5)
