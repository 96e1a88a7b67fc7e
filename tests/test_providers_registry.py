"""The registry and the helpers that turn settings and stored rows into adapters."""

import pytest

from llmcfg.providers import (
    REGISTRY,
    app_provider,
    credential_from_row,
    http_client,
    provider_choices,
    provider_for,
    target_from_config,
)
from llmcfg.providers import base as R
from llmcfg.providers.base import Credential, ProviderError
from llmcfg.providers.openai_compatible import OpenAICompatibleProvider

BASE_URLS = {
    "openai": "https://o.example/v1",
    "anthropic": "https://a.example/v1",
    "openrouter": "https://r.example/api/v1",
}


def test_the_dropdown_order_is_the_registry_order():
    assert [pid for pid, _ in provider_choices()] == ["openrouter", "openai", "anthropic", "openai_compatible"]
    assert all(label for _, label in provider_choices())
    assert all(REGISTRY[pid].id == pid for pid in REGISTRY)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "openrouter"])
def test_hosted_providers_use_the_base_url_setting(provider):
    adapter = provider_for(
        Credential(provider, "k", base_url="https://ignored.example/v1"),
        base_urls=BASE_URLS,
        allow_private=False,
        client=None,
    )
    assert adapter.base_url == BASE_URLS[provider]


def test_the_compatible_provider_uses_the_credentials_base_url():
    adapter = provider_for(
        Credential("openai_compatible", "k", base_url="https://llm.example/v1/"),
        base_urls=BASE_URLS,
        allow_private=False,
        client=None,
    )
    assert isinstance(adapter, OpenAICompatibleProvider) and adapter.base_url == "https://llm.example/v1"


@pytest.mark.parametrize("base_url", [None, "", "file:///etc/passwd", "http://user:pw@llm.example/v1"])
def test_an_unusable_compatible_base_url_is_refused_without_fallback(base_url):
    with pytest.raises(ProviderError) as caught:
        provider_for(
            Credential("openai_compatible", "k", base_url=base_url),
            base_urls=BASE_URLS,
            allow_private=True,
            client=None,
        )
    assert (caught.value.reason, caught.value.fallback) == (R.BLOCKED_URL, False)


def test_an_unknown_provider_lets_the_fallback_take_over():
    with pytest.raises(ProviderError) as caught:
        provider_for(Credential("gemini", "k"), base_urls=BASE_URLS, allow_private=False, client=None)
    assert caught.value.fallback is True


def test_stored_rows_become_decrypted_credentials_and_targets(app, orgs):
    a, _ = orgs
    a.config.params = {"temperature": 0.3, "system": "Be kind."}
    credential = credential_from_row(a.credential)
    assert (credential.provider, credential.api_key, credential.id) == (
        "openai",
        "sk-alpha-secret-key-1111aaaa",
        a.credential.id,
    )
    assert "sk-alpha" not in repr(credential)
    target = target_from_config(a.config)
    assert (target.config_id, target.model, target.params["system"]) == (a.config.id, "gpt-4o-mini", "Be kind.")
    assert target.credential == credential


def test_one_shared_http_client_per_app_with_configured_timeouts(app):
    app.config.update(LLMCFG_CONNECT_TIMEOUT=1.5, LLMCFG_READ_TIMEOUT=0.75)
    with app.app_context():
        client = http_client()
        assert http_client() is client and http_client(app) is client
        assert (client.timeout.connect, client.timeout.read) == (1.5, 0.75)
        assert client.follow_redirects is False
        adapter = app_provider(Credential("anthropic", "k"))
        assert adapter.client is client and adapter.base_url == app.config["LLMCFG_BASE_URLS"]["anthropic"]
