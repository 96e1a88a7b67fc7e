"""The catalog endpoint and its cache: per credential, one upstream call, stale on failure, no keys stored."""

import re
from pathlib import Path

import pytest

from llmcfg.catalog import catalog_cache
from llmcfg.providers import app_provider, credential_from_row
from tests.catalog_helpers import fetch_concurrently
from tests.fakes.plugin import KEYS, Behavior, add_credential, bearer_headers
from tests.fixtures import csrf_token, login

BASE = "/api/admin/llm-providers"
HX = {"HX-Request": "true"}


@pytest.fixture
def alpha(fake_app, orgs):
    """Organization A, with a credential for every provider and an API token."""
    org = orgs[0]
    creds = {p: add_credential(org.org, p) for p in ("openrouter", "anthropic")}
    creds["openai"] = org.credential  # seeded by the orgs fixture
    creds["openai_compatible"] = add_credential(
        org.org, "openai_compatible", base_url=fake_app.config["LLMCFG_BASE_URLS"]["openai_compatible"]
    )
    return org, creds, bearer_headers(org.admin)


def models_url(provider, credential_id, **params):
    query = "&".join(f"{k}={v}" for k, v in {"credential_id": credential_id, **params}.items())
    return f"{BASE}/{provider}/models?{query}"


def expire_everything(app):
    catalog_cache(app).session.cache.reset_expiration(0)


# --- JSON and caching -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "provider, size", [("openrouter", 350), ("openai", 10), ("anthropic", 12), ("openai_compatible", 3)]
)
def test_second_request_is_served_from_the_cache(client, alpha, fake_upstream, provider, size):
    _, creds, headers = alpha
    first = client.get(models_url(provider, creds[provider].id), headers=headers).get_json()
    second = client.get(models_url(provider, creds[provider].id), headers=headers).get_json()
    assert first["provider"] == provider and first["total"] == size == len(first["models"])
    assert (first["from_cache"], second["from_cache"], second["stale"]) == (False, True, False)
    assert second["models"] == first["models"] and second["fetched_at"] == first["fetched_at"]
    pages = 2 if provider == "anthropic" else 1  # the fake serves Anthropic in pages of 10
    assert fake_upstream.count(provider, "/models") == pages
    entry = first["models"][0]
    assert set(entry) == {"id", "name", "context_length", "prompt_price", "completion_price", "free", "created"}


def test_refresh_bypasses_the_cache(client, alpha, fake_upstream):
    _, creds, headers = alpha
    client.get(models_url("openai", creds["openai"].id), headers=headers)
    refreshed = client.get(models_url("openai", creds["openai"].id, refresh=1), headers=headers).get_json()
    assert refreshed["from_cache"] is False
    assert fake_upstream.count("openai", "/models") == 2


def test_catalog_fetches_never_send_back_a_cookie(client, alpha, fake_upstream):
    """The fake sets a cookie on every answer, as provider edges do; the next organization must not carry it."""
    _, creds, headers = alpha
    client.get(models_url("openai", creds["openai"].id), headers=headers)
    client.get(models_url("openai", creds["openai"].id, refresh=1), headers=headers)
    fetches = [c for c in fake_upstream.calls if c.provider == "openai" and c.path == "/models"]
    assert len(fetches) == 2 and [c.cookie for c in fetches] == [None, None]


def test_a_private_fine_tune_never_shows_to_another_organization(client, fake_app, orgs, fake_upstream):
    a, b = orgs
    fake_upstream.add_model("openai", "ft:gpt-4o-mini:alpha::secret1", key="sk-alpha-secret-key-1111aaaa")
    ids_a = [
        m["id"]
        for m in client.get(models_url("openai", a.credential.id), headers=bearer_headers(a.admin)).get_json()["models"]
    ]
    ids_b = [
        m["id"]
        for m in client.get(models_url("openai", b.credential.id), headers=bearer_headers(b.admin)).get_json()["models"]
    ]
    assert "ft:gpt-4o-mini:alpha::secret1" in ids_a
    assert "ft:gpt-4o-mini:alpha::secret1" not in ids_b
    assert fake_upstream.count("openai", "/models") == 2


def test_two_credentials_with_the_same_key_still_have_their_own_entries(client, fake_app, orgs, fake_upstream):
    a, b = orgs
    twin = add_credential(b.org, "openai", key="sk-alpha-secret-key-1111aaaa")
    client.get(models_url("openai", a.credential.id), headers=bearer_headers(a.admin))
    client.get(models_url("openai", twin.id), headers=bearer_headers(b.admin))
    assert fake_upstream.count("openai", "/models") == 2


def test_unsaved_keys_are_cached_per_key(client, alpha, fake_upstream):
    _, _, headers = alpha
    for key in ["sk-unsaved-one-000000000001", "sk-unsaved-one-000000000001", "sk-unsaved-two-000000000002"]:
        response = client.post(f"{BASE}/openai/models", headers=headers, json={"api_key": key})
        assert response.status_code == 200
    assert fake_upstream.count("openai", "/models") == 2


def test_fifty_concurrent_cold_requests_make_one_upstream_call(fake_app, alpha, fake_upstream):
    _, creds, _ = alpha
    credential = credential_from_row(creds["openrouter"])
    adapter = app_provider(credential)
    cache = catalog_cache(fake_app)
    fake_upstream.script_path("openrouter", "/models", Behavior.slow(0.3))  # everyone arrives while it is cold
    results = fetch_concurrently([cache], adapter, credential, 50)
    assert len(results) == 50 and all(len(r.models) == 350 for r in results)
    assert fake_upstream.count("openrouter", "/models") == 1


def test_cold_requests_across_two_workers_make_one_upstream_call(fake_app, alpha, fake_upstream):
    """Two processes of one deployment share the cache file and, through a file lock, the fetch."""
    from llmcfg.catalog import CatalogCache, build_session

    _, creds, _ = alpha
    credential = credential_from_row(creds["openrouter"])
    adapter = app_provider(credential)
    caches = [
        CatalogCache(build_session(fake_app.instance_path, 600), fake_app.config["SECRET_KEY"],
                     lock_dir=Path(fake_app.instance_path) / "catalog-locks")
        for _ in range(2)  # what each gunicorn worker builds for itself
    ]
    fake_upstream.script_path("openrouter", "/models", Behavior.slow(0.3))
    results = fetch_concurrently(caches, adapter, credential, 20)
    assert len(results) == 20 and all(len(r.models) == 350 for r in results)
    assert fake_upstream.count("openrouter", "/models") == 1


def test_the_last_good_copy_is_served_stale_when_the_upstream_fails(client, fake_app, alpha, fake_upstream):
    _, creds, headers = alpha
    fresh = client.get(models_url("openrouter", creds["openrouter"].id), headers=headers).get_json()
    expire_everything(fake_app)
    fake_upstream.script_path("openrouter", "/models", Behavior.http(503))
    stale = client.get(models_url("openrouter", creds["openrouter"].id), headers=headers).get_json()
    assert stale["stale"] is True and stale["fetched_at"] == fresh["fetched_at"]
    assert stale["models"] == fresh["models"]
    assert fake_upstream.count("openrouter", "/models") == 2  # it did try the upstream first
    page = client.get(models_url("openrouter", creds["openrouter"].id), headers={**headers, **HX}).get_data(
        as_text=True
    )
    fetched = fresh["fetched_at"][:16].replace("T", " ")
    assert "stale-note" in page and f"fetched\n    {fetched} UTC" in page


def test_a_failed_refresh_also_falls_back_to_the_last_good_copy(client, fake_app, alpha, fake_upstream):
    _, creds, headers = alpha
    fake_app.config["LLMCFG_READ_TIMEOUT"] = 0.3  # before the catalog cache is built
    client.get(models_url("openai", creds["openai"].id), headers=headers)
    fake_upstream.script_path("openai", "/models", Behavior.stall(), times=1)
    fake_upstream.script_path("openai", "/models", Behavior.http(500), times=1)
    for _ in range(2):  # the stall (read timeout) and then the 500
        body = client.get(models_url("openai", creds["openai"].id, refresh=1), headers=headers).get_json()
        assert body["stale"] is True and body["total"] == 10
    assert fake_upstream.count("openai", "/models") == 3


def test_no_copy_and_a_failing_upstream_is_a_readable_502(client, alpha, fake_upstream):
    _, creds, headers = alpha
    fake_upstream.script_path("anthropic", "/models", Behavior.http(529))
    response = client.get(models_url("anthropic", creds["anthropic"].id), headers=headers)
    assert response.status_code == 502
    body = response.get_json()
    assert body["reason"] == "overloaded" and body["error"] == "Could not load the catalog: Overloaded"
    partial = client.get(models_url("anthropic", creds["anthropic"].id), headers={**headers, **HX})
    assert partial.status_code == 200  # htmx only swaps 2xx answers
    assert "Could not load the Anthropic model list: Overloaded" in partial.get_data(as_text=True)


def test_the_cache_store_never_contains_a_key(client, fake_app, alpha, fake_upstream):
    _, creds, headers = alpha
    for provider, row in creds.items():
        assert client.get(models_url(provider, row.id), headers=headers).status_code == 200
    unsaved = "sk-ant-unsaved-99999999"
    assert client.post(f"{BASE}/anthropic/models", headers=headers, json={"api_key": unsaved}).status_code == 200
    files = list(Path(fake_app.instance_path).glob("catalog_cache.sqlite*"))
    stored = b"".join(f.read_bytes() for f in files)
    assert b"gpt-4o-mini" in stored and b"claude-3-5-haiku" in stored  # readable catalogs are there …
    keys = [*KEYS.values(), "sk-alpha-secret-key-1111aaaa", unsaved]
    for key in keys:  # … the keys are not, in any file of the store
        assert key.encode() not in stored and key[-10:].encode() not in stored


# --- the htmx partial -------------------------------------------------------------------------
def test_partial_lists_radio_rows_with_context_prices_and_free_badge(client, alpha):
    _, creds, headers = alpha
    page = client.get(
        models_url("openrouter", creds["openrouter"].id, q="llama 3.3"), headers={**headers, **HX}
    ).get_data(as_text=True)
    assert page.count('<label class="model-option">') == 2
    assert '<div class="model-catalog" id="model-catalog"' in page and 'class="model-list"' in page
    assert 'name="model" value="meta-llama/llama-3.3-70b-instruct:free"' in page
    assert "131K context" in page and "$0.12 in / $0.3 out per M tokens" in page
    free_row = re.search(
        r'<label class="model-option">\s*<input[^>]*llama-3.3-70b-instruct:free.*?</label>', page, re.S
    )
    assert '<span class="badge free">free</span>' in free_row.group(0)
    assert "Refresh list" in page and "2 of 350 models" in page


def test_filter_matches_id_and_name_case_insensitively(client, alpha):
    _, creds, headers = alpha
    body = client.get(models_url("openrouter", creds["openrouter"].id, q="GEMINI"), headers=headers).get_json()
    assert [m["id"] for m in body["models"]] == ["google/gemini-2.0-flash-exp:free"]
    assert (body["matched"], body["total"]) == (1, 350)
    by_name = client.get(
        models_url("openrouter", creds["openrouter"].id, q="Auto%20Router"), headers=headers
    ).get_json()
    assert [m["id"] for m in by_name["models"]] == ["openrouter/auto"]


def test_markup_in_a_catalog_name_is_escaped(client, alpha, fake_upstream):
    _, creds, headers = alpha
    fake_upstream.add_model("openrouter", "evil/markup", name='<img src=x onerror="alert(1)">Evil')
    page = client.get(models_url("openrouter", creds["openrouter"].id, q="evil"), headers={**headers, **HX}).get_data(
        as_text=True
    )
    assert "<img" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Evil" in page


def test_selected_model_is_checked(client, alpha):
    _, creds, headers = alpha
    page = client.get(models_url("openai", creds["openai"].id, selected="gpt-4o"), headers={**headers, **HX}).get_data(
        as_text=True
    )
    assert re.search(r'value="gpt-4o" checked', page) and page.count(" checked") == 1
    assert "no longer listed" not in page


def test_a_saved_model_no_longer_listed_stays_selected_and_flagged(client, alpha):
    _, creds, headers = alpha
    page = client.get(
        models_url("openai", creds["openai"].id, selected="gpt-4-0314"), headers={**headers, **HX}
    ).get_data(as_text=True)
    first_row = page.split('<label class="model-option', 2)[1]
    assert 'value="gpt-4-0314" checked' in first_row and "no longer listed" in first_row
    assert page.count(" checked") == 1


def test_a_selected_model_hidden_by_the_filter_stays_selected(client, alpha):
    _, creds, headers = alpha
    page = client.get(
        models_url("openai", creds["openai"].id, selected="gpt-4o", q="o3"), headers={**headers, **HX}
    ).get_data(as_text=True)
    assert 'value="gpt-4o" checked' in page and 'value="o3-mini"' in page
    assert "no longer listed" not in page


# --- who may ask ------------------------------------------------------------------------------
def test_unknown_provider_is_404(client, alpha):
    _, creds, headers = alpha
    assert client.get(models_url("gemini", creds["openai"].id), headers=headers).status_code == 404


def test_another_organizations_credential_is_404_and_never_fetched(client, orgs, fake_app, fake_upstream):
    a, b = orgs
    response = client.get(models_url("openai", b.credential.id), headers=bearer_headers(a.admin))
    assert response.status_code == 404
    assert fake_upstream.count() == 0


def test_a_credential_of_another_provider_is_400(client, alpha):
    _, creds, headers = alpha
    response = client.get(models_url("anthropic", creds["openai"].id), headers=headers)
    assert response.status_code == 400 and "is for openai" in response.get_json()["error"]


def test_a_key_in_the_url_is_refused(client, alpha, fake_upstream):
    _, _, headers = alpha
    response = client.get(f"{BASE}/openai/models?api_key=sk-in-the-url-000000", headers=headers)
    assert response.status_code == 400 and "POST" in response.get_json()["error"]
    assert fake_upstream.count() == 0


def test_no_credential_at_all_is_400(client, alpha):
    _, _, headers = alpha
    assert client.get(f"{BASE}/openai/models", headers=headers).status_code == 400


def test_anonymous_requests_are_401(client, fake_app, orgs):
    assert client.get(models_url("openai", orgs[0].credential.id)).status_code == 401


def test_a_session_post_needs_the_csrf_token(client, fake_app, orgs, fake_upstream):
    login(client, orgs[0].admin.email)
    assert client.post(f"{BASE}/openai/models", json={"api_key": "sk-unsaved-000000000001"}).status_code == 400
    token = csrf_token(client, "/")
    response = client.post(
        f"{BASE}/openai/models", data={"api_key": "sk-unsaved-000000000001"}, headers={"X-CSRFToken": token, **HX}
    )
    assert response.status_code == 200 and 'name="model"' in response.get_data(as_text=True)
    assert "sk-unsaved-000000000001" not in response.get_data(as_text=True)
