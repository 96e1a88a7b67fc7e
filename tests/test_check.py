"""Test connection: key, model and (deep) a real streamed answer, each step in plain words with ms."""

import json
import socket

import pytest

from llmcfg.db import db
from llmcfg.models import LLMConfig
from tests.fakes.plugin import BAD_KEY, KEYS, Behavior, add_credential, bearer_headers

MODELS = {
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-20241022",
    "openai_compatible": "llama3.2:3b",
}


@pytest.fixture
def api(client, fake_app, orgs):
    headers = bearer_headers(orgs[0].admin)

    def test(provider, **fields):
        return client.post(f"/api/admin/llm-providers/{provider}/test", headers=headers, json=fields)

    return test


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_good_key_and_model_pass_every_step(api, orgs, fake_upstream, provider):
    row = add_credential(orgs[0].org, provider, fake=fake_upstream)
    body = api(provider, credential_id=row.id, model=MODELS[provider], deep=True).get_json()
    assert body["ok"] is True
    assert [(s["name"], s["ok"]) for s in body["steps"]] == [("key", True), ("model", True), ("stream", True)]
    assert all(isinstance(s["elapsed_ms"], int) and s["elapsed_ms"] >= 0 for s in body["steps"])
    assert row.last_verified_at is not None
    assert KEYS[provider] not in json.dumps(body)


def test_openrouter_reports_the_keys_free_tier_facts_but_not_its_label(api, fake_upstream):
    key = "sk-or-v1-free-tier-key-123456"
    fake_upstream.set_key_info(key, is_free_tier=True, limit=10, limit_remaining=2.5, limit_reset="daily")
    body = api("openrouter", api_key=key, model=MODELS["openrouter"]).get_json()
    assert body["ok"] and body["key_info"]["is_free_tier"] is True and body["key_info"]["limit"] == 10
    assert body["steps"][0]["message"] == "Key accepted (free tier; limit $10 (daily), $2.5 left)."
    assert "label" not in body["key_info"] and key[:9] not in json.dumps(body)
    assert fake_upstream.count("openrouter", "/key") == 1


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_bad_key_fails_the_key_step_and_stops(api, orgs, fake_upstream, provider):
    row = add_credential(orgs[0].org, provider, key=BAD_KEY, fake=fake_upstream)
    body = api(provider, credential_id=row.id, model=MODELS[provider], deep=True).get_json()
    assert body["ok"] is False and len(body["steps"]) == 1
    step = body["steps"][0]
    assert (step["name"], step["ok"], step["reason"]) == ("key", False, "auth_failed")
    assert step["message"].startswith("Bad key: the provider rejected it")
    assert BAD_KEY not in json.dumps(body) and BAD_KEY[-10:] not in json.dumps(body)
    assert row.last_verified_at is None
    assert fake_upstream.count(method="POST") == 0  # no completion was attempted


def test_a_stored_key_no_header_can_carry_fails_the_key_step_without_a_request(api, orgs, fake_upstream):
    row = add_credential(orgs[0].org, "openai", key="sk-copied\u200bfrom-a-pdf-5678", fake=fake_upstream)
    body = api("openai", credential_id=row.id, model=MODELS["openai"], deep=True).get_json()
    step = body["steps"][0]
    assert body["ok"] is False and (step["name"], step["reason"]) == ("key", "auth_failed")
    assert step["message"].startswith("Bad key — The stored API key has a space, line break or non-ASCII character")
    assert "from-a-pdf" not in json.dumps(body)
    assert fake_upstream.calls == []


def test_an_unsaved_key_no_header_can_carry_is_a_400_in_plain_words(api, fake_upstream):
    response = api("openai", api_key="sk-wrapped in-two-5678", model=MODELS["openai"])
    assert response.status_code == 400
    assert "paste the key again" in response.get_data(as_text=True)
    assert "in-two" not in response.get_data(as_text=True)
    assert fake_upstream.calls == []


@pytest.mark.parametrize("provider", list(MODELS))
def test_an_unknown_model_fails_the_model_step(api, fake_upstream, provider):
    base_url = fake_upstream.base_urls["openai_compatible"]
    body = api(provider, api_key=KEYS[provider], base_url=base_url, model="no-such-model-7b").get_json()
    assert body["ok"] is False
    key, model = body["steps"]
    assert key["ok"] and (model["name"], model["ok"], model["reason"]) == ("model", False, "model_not_found")
    assert model["message"].startswith("Model not found for this key")


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_listed_but_rate_limited_model_fails_only_the_deep_check(api, fake_upstream, provider):
    fake_upstream.script(provider, MODELS[provider], Behavior.http(429, retry_after="30"))
    fields = dict(api_key=KEYS[provider], base_url=fake_upstream.base_urls["openai_compatible"], model=MODELS[provider])
    assert api(provider, **fields).get_json()["ok"] is True  # listed: the shallow check cannot tell
    body = api(provider, **fields, deep=True).get_json()
    assert body["ok"] is False
    stream = body["steps"][-1]
    assert (stream["name"], stream["reason"]) == ("stream", "rate_limited")
    assert stream["message"].startswith("The model is listed but rate-limited right now")
    assert "HTTP 429" in stream["message"] and "retry after 30 s" in stream["message"]


def test_an_unreachable_base_url_says_so(api):
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    body = api("openai_compatible", api_key="sk-local", base_url=dead, model="llama3.2:3b").get_json()
    step = body["steps"][0]
    assert body["ok"] is False and step["reason"] == "connection_error"
    assert step["message"].startswith(f"Cannot reach the base URL {dead}")


def test_a_saved_private_base_url_is_refused_once_the_setting_is_off(api, fake_app, orgs, fake_upstream):
    row = add_credential(orgs[0].org, "openai_compatible", fake=fake_upstream)
    fake_app.config["LLMCFG_ALLOW_PRIVATE_BASE_URLS"] = False
    body = api("openai_compatible", credential_id=row.id, model="llama3.2:3b").get_json()
    step = body["steps"][0]
    assert body["ok"] is False and step["reason"] == "blocked_url"
    assert step["message"].startswith("This base URL is not allowed") and "private or local" in step["message"]
    assert fake_upstream.count() == 0


@pytest.mark.parametrize(
    "behavior, words",
    [
        (Behavior.http(500), "The provider is down right now"),
        (Behavior.http(503), "The provider is overloaded"),
        (Behavior.stall(), "Timed out"),
    ],
)
def test_an_upstream_that_is_down_or_silent_fails_the_key_step(api, fake_app, orgs, fake_upstream, behavior, words):
    fake_app.config["LLMCFG_READ_TIMEOUT"] = 0.3
    fake_upstream.script_path("openai", "/models", behavior)
    body = api("openai", credential_id=orgs[0].credential.id, model="gpt-4o-mini").get_json()
    assert body["ok"] is False and body["steps"][0]["message"].startswith(words)


def test_a_credential_of_another_organization_is_404(api, orgs, fake_upstream):
    assert api("openai", credential_id=orgs[1].credential.id, model="gpt-4o-mini").status_code == 404
    assert fake_upstream.count() == 0


def test_the_htmx_widget_lists_each_step(client, fake_app, orgs, fake_upstream):
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.http(429))
    response = client.post(
        "/api/admin/llm-providers/openai/test",
        headers={**bearer_headers(orgs[0].admin), "HX-Request": "true"},
        data={"credential_id": orgs[0].credential.id, "model": "gpt-4o-mini", "deep": "on"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and '<div class="check-result fail" id="check-result"' in page
    assert page.count("✓") == 2 and page.count("✗") == 2  # two passed steps, the failed one and the verdict
    assert "rate-limited right now" in page and " ms</span>" in page
    assert "sk-alpha-secret-key-1111aaaa" not in page


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_test_connection_passes_with_exit_0(runner, fake_app, orgs):
    result = runner.invoke(args=["llmcfg", "test-connection", str(orgs[0].config.id), "--deep"])
    assert result.exit_code == 0, result.output
    assert "✓ API key: Key accepted." in result.output and "✓ Test completion" in result.output


def test_cli_test_connection_fails_with_exit_1_naming_the_step(runner, fake_app, orgs, fake_upstream):
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.http(429, retry_after="12"))
    result = runner.invoke(args=["llmcfg", "test-connection", str(orgs[0].config.id), "--deep", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["steps"][-1]["reason"] == "rate_limited"
    assert "sk-alpha-secret-key-1111aaaa" not in result.output


def test_cli_test_connection_with_an_unknown_config(runner, fake_app, orgs):
    result = runner.invoke(args=["llmcfg", "test-connection", "999"])
    assert result.exit_code != 0 and "No LLM config with id 999" in result.output


def test_cli_models_lists_the_catalog(runner, fake_app, orgs, fake_upstream):
    row = add_credential(orgs[0].org, "openrouter")
    result = runner.invoke(args=["llmcfg", "models", "openrouter", "--credential", str(row.id), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["total"] == 350 and body["stale"] is False
    text = runner.invoke(args=["llmcfg", "models", "openrouter", "--credential", str(row.id)])
    assert "google/gemini-2.0-flash-exp:free\t" in text.stdout and "[free]" in text.stdout
    assert fake_upstream.count("openrouter", "/models") == 1  # the second run came from the cache


def test_cli_models_refuses_a_credential_of_another_provider(runner, fake_app, orgs):
    result = runner.invoke(args=["llmcfg", "models", "anthropic", "--credential", str(orgs[0].credential.id)])
    assert result.exit_code != 0 and "is for openai, not anthropic" in result.output


def test_cli_test_connection_marks_the_credential_verified(runner, fake_app, orgs):
    runner.invoke(args=["llmcfg", "test-connection", str(orgs[0].config.id)])
    db.session.expire_all()
    assert db.session.get(LLMConfig, orgs[0].config.id).credential.last_verified_at is not None
