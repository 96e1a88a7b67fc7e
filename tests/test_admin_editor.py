"""The config editor without JavaScript: every choice is a form post that redirects or re-renders."""

import re

import sqlalchemy as sa

from llmcfg.crypto import vault
from llmcfg.db import db
from llmcfg.models import LLMConfig, OrganizationCredential
from tests.admin_fixtures import ALPHA_KEY, field_errors

NEW_KEY = "sk-ant-new-typed-key-77zz"


def _config(name) -> LLMConfig | None:
    return db.session.scalar(sa.select(LLMConfig).where(LLMConfig.name == name))


def _form(org, **overrides) -> dict:
    """A complete editor form using org's saved key, as the page would post it."""
    data = {"name": "Physics", "provider": "openai", "credential": str(org.credential.id),
            "model": "gpt-4o-mini", "fallback": "", "action": "save"}
    data.update(overrides)
    return data


def test_new_config_page_offers_every_provider_and_a_write_only_key(admin):
    page = admin.page("/configs/new")
    for provider in ("openrouter", "openai", "anthropic", "openai_compatible"):
        assert f'value="{provider}"' in page
    for name in ("new_credential-api_key", "replacement_key", "new_fallback-new_credential-api_key"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert 'type="password"' in tag and 'autocomplete="off"' in tag
        assert re.search(r'value="[^"]', tag) is None
    assert "•••• aaaa" in page  # the saved key, by its hint only


def test_create_config_with_a_new_key_and_a_typed_model(admin):
    admin.secrets.add(NEW_KEY)
    data = {"name": "Essay helper", "provider": "anthropic", "credential": "new",
            "new_credential-key_label": "Dept Anthropic", "new_credential-api_key": NEW_KEY,
            "model": "", "model_other": "claude-3-5-haiku-latest", "fallback": "",
            "temperature": "0.4", "max_tokens": "800", "system_prompt": "Be brief.", "action": "save"}
    page = admin.follow(admin.post("/configs/new", data))
    assert "Essay helper" in page and "anthropic/claude-3-5-haiku-latest" in page
    config = _config("Essay helper")
    assert config.params == {"temperature": 0.4, "max_tokens": 800, "system": "Be brief."}
    assert config.credential.label == "Dept Anthropic" and config.credential.secret_hint == "77zz"
    assert vault().decrypt(config.credential.secret_ciphertext) == NEW_KEY


def test_a_catalog_pick_overrides_the_saved_model(admin, orgs):
    a, _ = orgs
    # The hidden field carries the saved model; a picked radio comes later in the page, so it wins.
    admin.follow(admin.post(f"/configs/{a.config.id}/edit", {**_form(a), "model": ["gpt-4o-mini", "gpt-4.1"]}))
    assert _config("Physics").model == "gpt-4.1"


def test_validation_errors_show_next_to_fields_and_never_echo_the_key(admin):
    admin.secrets.add(NEW_KEY)
    data = {"name": "", "provider": "anthropic", "credential": "new", "new_credential-api_key": NEW_KEY,
            "model": "", "fallback": "", "temperature": "7", "action": "save"}
    response = admin.post("/configs/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "name") == ["This field is required."]
    assert field_errors(page, "temperature") == ["Number must be between 0 and 2."]
    assert db.session.scalar(sa.select(sa.func.count(OrganizationCredential.id))) == 2  # nothing saved


def test_a_missing_model_and_key_are_reported(admin):
    data = {"name": "X", "provider": "openai", "credential": "new", "model": "", "fallback": "", "action": "save"}
    page = admin.post("/configs/new", data).get_data(as_text=True)
    assert field_errors(page, "model_other") == ["Pick a model from the list or type its id."]
    assert field_errors(page, "new_credential-api_key") == ["Enter the API key."]
    assert _config("X") is None


def test_a_key_of_another_provider_is_refused(admin, orgs):
    a, _ = orgs
    page = admin.post("/configs/new", _form(a, provider="anthropic")).get_data(as_text=True)
    assert "is a openai key; pick a anthropic key" in " ".join(field_errors(page, "credential"))


def test_another_organizations_key_cannot_be_used(admin, orgs):
    a, b = orgs
    page = admin.post("/configs/new", _form(a, credential=str(b.credential.id))).get_data(as_text=True)
    assert field_errors(page, "credential") == ["Pick a credential, or add a new key."]
    assert _config("Physics") is None


def test_edit_keeps_the_stored_key_unless_replace_is_ticked(admin, orgs):
    a, _ = orgs
    path = f"/configs/{a.config.id}/edit"
    page = admin.page(path)
    assert 'value="alpha primary"' in page and ALPHA_KEY not in page
    admin.follow(admin.post(path, _form(a, name="alpha primary", replacement_key="")))
    assert vault().decrypt(a.credential.secret_ciphertext) == ALPHA_KEY
    page = admin.post(path, _form(a, replace_key="y")).get_data(as_text=True)
    assert "Enter the new key" in " ".join(field_errors(page, "replacement_key"))
    admin.secrets.add(NEW_KEY)
    admin.follow(admin.post(path, _form(a, replace_key="y", replacement_key=NEW_KEY)))
    db.session.refresh(a.credential)
    assert vault().decrypt(a.credential.secret_ciphertext) == NEW_KEY


def test_a_key_no_header_can_carry_is_refused_wherever_a_key_is_typed(admin, orgs):
    a, _ = orgs
    wrapped = "sk-ant-wrapped half-77zz"
    admin.secrets.add(wrapped)
    page = admin.post(f"/configs/{a.config.id}/edit", _form(a, replace_key="y", replacement_key=wrapped)).get_data(
        as_text=True)
    assert "paste the key again" in " ".join(field_errors(page, "replacement_key"))
    assert vault().decrypt(a.credential.secret_ciphertext) == ALPHA_KEY
    data = {"name": "Wrapped", "provider": "anthropic", "credential": "new", "new_credential-api_key": wrapped,
            "model": "", "model_other": "claude-3-5-haiku-latest", "fallback": "", "action": "save"}
    page = admin.post("/configs/new", data).get_data(as_text=True)
    assert "paste the key again" in " ".join(field_errors(page, "new_credential-api_key"))
    assert _config("Wrapped") is None


def test_existing_fallback_shows_in_the_chain(admin, orgs):
    a, _ = orgs
    admin.follow(admin.post("/configs/new", _form(a, name="Backup", model="gpt-4.1")))
    backup = _config("Backup")
    page = admin.follow(admin.post(f"/configs/{a.config.id}/edit",
                                   _form(a, name="alpha primary", fallback=str(backup.id))))
    assert a.config.fallback_llm_config_id == backup.id
    assert re.search(r"alpha primary.*?→.*?Backup.*?\(openai/gpt-4\.1\).*?→.*?none", page, re.S)


def test_a_cycle_is_refused_inline_with_the_chain_named(admin, orgs):
    a, _ = orgs
    admin.follow(admin.post("/configs/new", _form(a, name="Backup", fallback=str(a.config.id))))
    backup = _config("Backup")
    response = admin.post(f"/configs/{a.config.id}/edit", _form(a, name="alpha primary", fallback=str(backup.id)))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "That would make a cycle: alpha primary → Backup → alpha primary." in page.replace("&gt;", ">")
    db.session.refresh(a.config)
    assert a.config.fallback_llm_config_id is None


def test_the_chain_partial_refuses_a_cycle_as_you_pick(admin, orgs):
    a, _ = orgs
    admin.follow(admin.post("/configs/new", _form(a, name="Backup", fallback=str(a.config.id))))
    backup = _config("Backup")
    response = admin.post(f"/configs/{a.config.id}/chain", _form(a, name="alpha primary", fallback=str(backup.id)),
                          htmx=True)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="chain-preview"')
    assert '<p class="error" role="alert">That would make a cycle: alpha primary → Backup → alpha primary.</p>' in html
    html = admin.post(f"/configs/{a.config.id}/chain", _form(a, name="alpha primary", fallback=""),
                      htmx=True).get_data(as_text=True)
    assert "error" not in html and "alpha primary" in html


def test_itself_is_not_offered_and_is_refused_as_a_fallback(admin, orgs):
    a, _ = orgs
    path = f"/configs/{a.config.id}/edit"
    select = re.search(r'<select[^>]*name="fallback".*?</select>', admin.page(path), re.S).group(0)
    assert f'value="{a.config.id}"' not in select
    page = admin.post(path, _form(a, fallback=str(a.config.id))).get_data(as_text=True)
    assert "cannot fall back to itself" in page


def test_more_than_three_fallbacks_are_refused(admin, orgs):
    a, _ = orgs
    previous = ""
    for name in ("D", "C", "B", "A"):
        admin.follow(admin.post("/configs/new", _form(a, name=name, fallback=previous)))
        previous = str(_config(name).id)
    page = admin.post("/configs/new", _form(a, name="Top", fallback=previous)).get_data(as_text=True)
    assert "at most 3 are allowed: Top → A → B → C → D" in page
    assert _config("Top") is None


def test_another_organizations_config_is_refused_as_a_fallback(admin, orgs):
    a, b = orgs
    page = admin.post("/configs/new", _form(a, fallback=str(b.config.id))).get_data(as_text=True)
    assert f"No config with id {b.config.id} in this organization." in page
    assert "beta primary" not in page


def test_new_fallback_config_on_another_provider(admin, orgs):
    a, _ = orgs
    admin.secrets.add(NEW_KEY)
    data = _form(a, name="Physics", fallback="new", **{
        "new_fallback-backup_name": "Claude backup", "new_fallback-provider": "anthropic",
        "new_fallback-credential": "new", "new_fallback-new_credential-key_label": "Anthropic",
        "new_fallback-new_credential-api_key": NEW_KEY, "new_fallback-model": "claude-3-5-haiku-latest"})
    page = admin.follow(admin.post("/configs/new", data))
    physics, backup = _config("Physics"), _config("Claude backup")
    assert physics.fallback_llm_config_id == backup.id
    assert backup.provider == "anthropic" and backup.credential.secret_hint == "77zz"
    assert re.search(r"Physics.*?→.*?Claude backup.*?anthropic/claude-3-5-haiku-latest", page, re.S)


def test_new_fallback_needs_a_model_and_a_key(admin, orgs):
    a, _ = orgs
    data = _form(a, fallback="new", **{"new_fallback-provider": "anthropic", "new_fallback-credential": "new"})
    page = admin.post("/configs/new", data).get_data(as_text=True)
    assert field_errors(page, "new_fallback-model") == ["Enter the backup's model id."]
    assert field_errors(page, "new_fallback-new_credential-api_key") == ["Enter the API key."]
    assert _config("Physics") is None


def test_a_free_primary_without_fallback_warns(admin, orgs):
    a, _ = orgs
    data = _form(a, provider="openrouter", model="meta-llama/llama-3.3-8b-instruct:free")
    html = admin.post("/configs/chain", data, htmx=True).get_data(as_text=True)
    assert "Free models are heavily rate-limited" in html
    html = admin.post("/configs/chain", {**data, "fallback": str(a.config.id)}, htmx=True).get_data(as_text=True)
    assert "Free models are heavily rate-limited" not in html
    # A model the catalog shows with the "free" badge (the page says so) warns too.
    html = admin.post("/configs/chain", _form(a, model="gpt-4o-mini", model_free="1"), htmx=True).get_data(as_text=True)
    assert "Free models are heavily rate-limited" in html
    page = admin.follow(admin.post("/configs/new", _form(a, model="x:free")))  # a warning, not a refusal
    assert "x:free" in page


def test_delete_config_unsets_what_used_it(admin, orgs):
    a, _ = orgs
    admin.follow(admin.post("/configs/new", _form(a, name="Backup")))
    backup = _config("Backup")
    admin.follow(admin.post(f"/configs/{a.config.id}/edit", _form(a, name="alpha primary", fallback=str(backup.id))))
    page = admin.follow(admin.post(f"/configs/{backup.id}/delete"))
    assert "deleted" in page
    db.session.expire_all()
    assert _config("Backup") is None and a.config.fallback_llm_config_id is None


def test_another_organizations_config_is_a_404(admin, orgs):
    _, b = orgs
    assert admin.get(f"/configs/{b.config.id}/edit").status_code == 404
    assert admin.post(f"/configs/{b.config.id}/delete").status_code == 404
    assert admin.post(f"/configs/{b.config.id}/chain", {}, htmx=True).status_code == 404
