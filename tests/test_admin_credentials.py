"""Provider keys page, as a browser without JavaScript uses it: post, redirect, page."""

import re

import sqlalchemy as sa

from llmcfg.crypto import vault
from llmcfg.db import db
from llmcfg.models import OrganizationCredential
from tests.admin_fixtures import ALPHA_KEY, field_errors

NEW_KEY = "sk-or-v1-brand-new-key-9f3a"


def _stored(label):
    return db.session.scalar(sa.select(OrganizationCredential).where(OrganizationCredential.label == label))


def test_key_input_is_a_write_only_password_field(admin):
    page = admin.page("/credentials")
    tag = next(t for t in page.split("<input") if 'name="api_key"' in t)
    assert 'type="password"' in tag and 'autocomplete="off"' in tag
    assert re.search(r'value="[^"]', tag.split(">")[0]) is None  # never pre-filled
    assert "•••• aaaa" in page  # the seeded key shows only as its hint


def test_add_credential_stores_it_encrypted_and_shows_only_the_hint(admin):
    admin.secrets.add(NEW_KEY)
    page = admin.follow(admin.post("/credentials", {"provider": "openrouter", "label": "School OR", "api_key": NEW_KEY}))
    assert "School OR" in page and "•••• 9f3a" in page
    cred = _stored("School OR")
    assert cred.provider == "openrouter" and cred.secret_hint == "9f3a"
    assert NEW_KEY not in cred.secret_ciphertext
    assert vault().decrypt(cred.secret_ciphertext) == NEW_KEY


def test_a_form_error_never_echoes_the_typed_key(admin):
    admin.secrets.add(NEW_KEY)
    response = admin.post("/credentials", {"provider": "openrouter", "label": "", "api_key": NEW_KEY})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "label") == ["This field is required."]
    assert _stored("") is None


def test_missing_key_is_reported_next_to_the_key_field(admin):
    page = admin.post("/credentials", {"provider": "openai", "label": "Empty"}).get_data(as_text=True)
    assert field_errors(page, "api_key") == ["Enter the API key."]


def test_a_key_no_header_can_carry_is_refused_next_to_the_key_field(admin):
    copied = "sk-or-v1-copied\u200bfrom-a-pdf-77aa"
    admin.secrets.add(copied)
    page = admin.post("/credentials", {"provider": "openrouter", "label": "Copied", "api_key": copied}).get_data(
        as_text=True)
    assert field_errors(page, "api_key") == [
        "The API key has a space, line break or non-ASCII character in it, often picked up while copying it; "
        "paste the key again."]
    assert _stored("Copied") is None


def test_openai_compatible_needs_a_safe_base_url(admin):
    data = {"provider": "openai_compatible", "label": "Local", "api_key": "sk-local-1234"}
    admin.secrets.add("sk-local-1234")
    page = admin.post("/credentials", data).get_data(as_text=True)
    assert "needs its base URL" in " ".join(field_errors(page, "base_url"))
    page = admin.post("/credentials", {**data, "base_url": "http://169.254.169.254/v1"}).get_data(as_text=True)
    assert field_errors(page, "base_url"), "a cloud metadata address must be refused"
    admin.follow(admin.post("/credentials", {**data, "base_url": "http://127.0.0.1:11434/v1"}))
    assert _stored("Local").base_url == "http://127.0.0.1:11434/v1"


def test_other_providers_never_keep_a_base_url(admin):
    admin.secrets.add(NEW_KEY)
    admin.post("/credentials", {"provider": "openai", "label": "OA", "api_key": NEW_KEY,
                                "base_url": "http://evil.example/v1"})
    assert _stored("OA").base_url is None


def test_empty_key_on_edit_keeps_the_stored_key(admin, orgs):
    a, _ = orgs
    path = f"/credentials/{a.credential.id}/edit"
    page = admin.page(path)
    assert ALPHA_KEY not in page and "•••• aaaa" in page
    admin.follow(admin.post(path, {"label": "Renamed", "api_key": ""}))
    db.session.refresh(a.credential)
    assert a.credential.label == "Renamed"
    assert vault().decrypt(a.credential.secret_ciphertext) == ALPHA_KEY


def test_a_typed_key_without_replace_is_ignored(admin, orgs):
    a, _ = orgs
    admin.secrets.add(NEW_KEY)
    admin.follow(admin.post(f"/credentials/{a.credential.id}/edit", {"label": "x", "api_key": NEW_KEY}))
    db.session.refresh(a.credential)
    assert vault().decrypt(a.credential.secret_ciphertext) == ALPHA_KEY


def test_replace_key_is_explicit_and_needs_a_key(admin, orgs):
    a, _ = orgs
    path = f"/credentials/{a.credential.id}/edit"
    page = admin.post(path, {"label": "alpha key", "replace_key": "y"}).get_data(as_text=True)
    assert "Enter the new key" in " ".join(field_errors(page, "api_key"))
    admin.secrets.add(NEW_KEY)
    page = admin.follow(admin.post(path, {"label": "alpha key", "replace_key": "y", "api_key": NEW_KEY}))
    assert "•••• 9f3a" in page
    db.session.refresh(a.credential)
    assert vault().decrypt(a.credential.secret_ciphertext) == NEW_KEY


def test_a_used_credential_cannot_be_deleted(admin, orgs):
    a, _ = orgs
    page = admin.follow(admin.post(f"/credentials/{a.credential.id}/delete"))
    assert "still used by alpha primary" in page
    assert db.session.get(OrganizationCredential, a.credential.id) is not None


def test_an_unused_credential_can_be_deleted(admin):
    admin.secrets.add(NEW_KEY)
    admin.post("/credentials", {"provider": "anthropic", "label": "Spare", "api_key": NEW_KEY})
    cred_id = _stored("Spare").id
    page = admin.follow(admin.post(f"/credentials/{cred_id}/delete"))
    assert "Credential &#34;Spare&#34; deleted." in page or 'Credential "Spare" deleted.' in page
    assert db.session.get(OrganizationCredential, cred_id) is None


def test_another_organizations_credential_is_a_404(admin, orgs):
    _, b = orgs
    assert admin.get(f"/credentials/{b.credential.id}/edit").status_code == 404
    assert admin.post(f"/credentials/{b.credential.id}/delete").status_code == 404
    assert "beta key" not in admin.page("/credentials")


def test_posts_without_the_csrf_token_are_refused(admin):
    response = admin.client.post("/credentials", data={"provider": "openai", "label": "x", "api_key": "sk-x"})
    assert response.status_code == 400
    assert _stored("x") is None
