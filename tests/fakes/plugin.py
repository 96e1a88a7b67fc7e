"""Pytest fixtures for the fake upstream (listed in tests/conftest.py's pytest_plugins).

    def test_something(fake_app, fake_upstream, client, orgs):
        fake_upstream.script("openai", "gpt-4o-mini", Behavior.http(429, retry_after="30"))
        ...
        assert fake_upstream.count("openai", "/chat/completions") == 1

`fake_upstream` is one server for the whole session, reset before each test; `fake_app` is the
`app` fixture pointed at it (LLMCFG_BASE_URLS, private base URLs allowed, short timeouts).
"""

import pytest

from llmcfg.crypto import secret_hint, vault
from llmcfg.db import db
from llmcfg.models import OrganizationCredential

from .behaviors import Behavior  # noqa: F401  (re-exported for tests)
from .server import BAD_KEY, FakeUpstream  # noqa: F401

# Keys the fake accepts, one per provider (any non-empty key but BAD_KEY is accepted).
KEYS = {
    "openai": "sk-proj-fake-openai-key-0001",
    "anthropic": "sk-ant-fake-key-0002",
    "openrouter": "sk-or-v1-fake-openrouter-key-0003",
    "openai_compatible": "sk-fake-compatible-key-0004",
}


@pytest.fixture(scope="session")
def fake_upstream_server():
    """The one fake upstream of the session (prefer `fake_upstream`, which is reset per test)."""
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_upstream(fake_upstream_server):
    """The fake upstream with no scripts, counts or extra models; answers every provider normally."""
    fake_upstream_server.reset()
    yield fake_upstream_server
    fake_upstream_server.reset()  # ends anything still stalling for this test


@pytest.fixture
def fake_app(app, fake_upstream):
    """The app pointed at the fake: base URLs, private base URLs allowed, 2 s connect / 5 s read.

    Change LLMCFG_READ_TIMEOUT (e.g. to 0.5 for stall tests) before the first upstream call of the
    test: the shared HTTP client is built on first use.
    """
    app.config.update(
        LLMCFG_BASE_URLS=dict(fake_upstream.base_urls),
        LLMCFG_ALLOW_PRIVATE_BASE_URLS=True,
        LLMCFG_CONNECT_TIMEOUT=2.0,
        LLMCFG_READ_TIMEOUT=5.0,
    )
    yield app
    client = app.extensions.pop("llmcfg_http", None)
    if client is not None:
        client.close()


def add_credential(
    organization,
    provider: str,
    key: str | None = None,
    *,
    base_url: str | None = None,
    fake: FakeUpstream | None = None,
    label: str | None = None,
) -> OrganizationCredential:
    """Store an encrypted credential (inside an app context); openai_compatible points at the fake."""
    key = key or KEYS[provider]
    if provider == "openai_compatible" and base_url is None and fake is not None:
        base_url = fake.base_urls["openai_compatible"]
    row = OrganizationCredential(
        organization=organization,
        provider=provider,
        label=label or f"{provider} key",
        secret_ciphertext=vault().encrypt(key),
        secret_hint=secret_hint(key),
        base_url=base_url,
    )
    db.session.add(row)
    db.session.commit()
    return row


def bearer_headers(user) -> dict:
    """Headers for an API call as this user (inside an app context): a fresh personal API token."""
    from llmcfg.auth.tokens import issue_token

    _, secret = issue_token(user, "tests")
    return {"Authorization": f"Bearer {secret}"}
