"""The editor's live parts against the fake upstream: catalog, filter, test connection, test chain."""

import re

from llmcfg.db import db
from llmcfg.models import OrganizationCredential
from tests.fakes.plugin import BAD_KEY, KEYS, Behavior

OR_KEY = KEYS["openrouter"]


def _form(org, **overrides) -> dict:
    data = {"name": "alpha primary", "provider": "openai", "credential": str(org.credential.id),
            "model": "gpt-4o-mini", "fallback": ""}
    data.update(overrides)
    return data


def _unsaved_openrouter(**overrides) -> dict:
    return {"name": "Physics", "provider": "openrouter", "credential": "new",
            "new_credential-api_key": OR_KEY, "model": "", "fallback": "", **overrides}


def _radios(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="model" value="([^"]+)"', html)


def test_catalog_of_a_saved_key_loads_as_a_partial(fake_app, admin, orgs):
    a, _ = orgs
    html = admin.post("/configs/models", _form(a), htmx=True).get_data(as_text=True)
    assert 'id="model-catalog"' in html
    assert "gpt-4.1" in _radios(html)
    assert re.search(r'value="gpt-4o-mini" checked', html), "the saved model stays picked"


def test_catalog_of_an_unsaved_key_is_filtered_on_the_server(fake_app, fake_upstream, admin):
    admin.secrets.add(OR_KEY)
    everything = _radios(admin.post("/configs/models", _unsaved_openrouter(), htmx=True).get_data(as_text=True))
    assert len(everything) > 300
    html = admin.post("/configs/models", _unsaved_openrouter(q="llama free"), htmx=True).get_data(as_text=True)
    picked = _radios(html)
    assert picked and all("llama" in m and m.endswith(":free") for m in picked)
    assert '<span class="badge free">free</span>' in html
    assert fake_upstream.count("openrouter", "/models") == 1, "the filter works on the cached catalog"
    assert db.session.query(OrganizationCredential).count() == 2, "looking at a catalog saves nothing"


def test_a_model_name_with_markup_is_inert(fake_app, fake_upstream, admin):
    admin.secrets.add(OR_KEY)
    fake_upstream.add_model("openrouter", "evil/markup", name='<img src=x onerror="alert(1)"><b>bold</b>')
    html = admin.post("/configs/models", _unsaved_openrouter(q="evil"), htmx=True).get_data(as_text=True)
    assert _radios(html) == ["evil/markup"]
    assert "<img" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=" in html


def test_a_saved_model_no_longer_listed_stays_picked_and_flagged(fake_app, admin, orgs):
    a, _ = orgs
    a.config.model = "gpt-4-retired"
    db.session.commit()
    # Without JavaScript: "Load models" re-renders the editor with the catalog in it.
    response = admin.post(f"/configs/{a.config.id}/edit", {**_form(a, model="gpt-4-retired"), "action": "load_models"})
    page = response.get_data(as_text=True)
    assert re.search(r'value="gpt-4-retired" checked>.*?no longer listed', page, re.S)
    assert _radios(page)[0] == "gpt-4-retired"


def test_catalog_failure_is_a_message_not_an_error_page(fake_app, fake_upstream, admin):
    admin.secrets.add(BAD_KEY)
    data = _unsaved_openrouter(provider="openai", **{"new_credential-api_key": BAD_KEY})
    response = admin.post("/configs/models", data, htmx=True)
    assert response.status_code == 200
    assert "Could not load the OpenAI model list" in response.get_data(as_text=True)


def test_test_connection_passes_for_a_good_key_and_model(fake_app, admin, orgs):
    a, _ = orgs
    html = admin.post("/configs/check", _form(a), htmx=True).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="connection-check"')
    assert "✓ Connection works." in html
    assert re.search(r"\d+ ms", html)


def test_test_connection_fails_in_plain_words_for_a_bad_key(fake_app, admin):
    admin.secrets.add(BAD_KEY)
    data = _unsaved_openrouter(**{"new_credential-api_key": BAD_KEY}, model="openai/gpt-4o-mini")
    html = admin.post("/configs/check", data, htmx=True).get_data(as_text=True)
    assert "✗ Connection failed." in html and "Bad key" in html


def test_deep_test_catches_a_listed_but_rate_limited_model(fake_app, fake_upstream, admin, orgs):
    a, _ = orgs
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.http(429, retry_after="30"))
    html = admin.post("/configs/check", _form(a), htmx=True).get_data(as_text=True)
    assert "✓ Connection works." in html  # listed, so a shallow test passes
    html = admin.post("/configs/check", _form(a, deep="y"), htmx=True).get_data(as_text=True)
    assert "✗ Connection failed." in html and "rate-limited" in html


def test_test_connection_without_javascript_keeps_a_typed_key_as_a_credential(fake_app, admin):
    admin.secrets.add(OR_KEY)
    data = {**_unsaved_openrouter(**{"new_credential-key_label": "OR school"}, model="openai/gpt-4o-mini"),
            "action": "test"}
    page = admin.post("/configs/new", data).get_data(as_text=True)
    assert "✓ Connection works." in page
    cred = db.session.query(OrganizationCredential).filter_by(label="OR school").one()
    assert f'<option data-provider="openrouter" selected value="{cred.id}">' in page
    assert "Saved the new key as credential" in page


def test_test_chain_tests_every_config_in_order(fake_app, fake_upstream, admin, orgs):
    a, _ = orgs
    admin.secrets.add(KEYS["anthropic"])
    fake_upstream.script("anthropic", "claude-gone", Behavior.http(404))
    data = _form(a, fallback="new", **{
        "new_fallback-backup_name": "Claude backup", "new_fallback-provider": "anthropic",
        "new_fallback-credential": "new", "new_fallback-new_credential-api_key": KEYS["anthropic"],
        "new_fallback-model": "claude-gone"})
    html = admin.post(f"/configs/{a.config.id}/check-chain", data, htmx=True).get_data(as_text=True)
    lines = re.findall(r"<li class=\"(ok|fail)\"><strong>([^<]+)</strong>", html)
    assert lines == [("ok", "alpha primary"), ("fail", "Claude backup")]


def test_test_chain_refuses_an_invalid_chain(fake_app, admin, orgs):
    a, _ = orgs
    html = admin.post(f"/configs/{a.config.id}/check-chain", _form(a, fallback=str(a.config.id)),
                      htmx=True).get_data(as_text=True)
    assert "Fix the fallback choice first." in html
