"""Credential rows from form input: encrypt the key, keep only its hint, check the base URL.

A key passes through here on its way into the vault and is never kept anywhere else.
"""

from flask import current_app

from ..crypto import secret_hint, vault
from ..db import db
from ..models import LLMConfig, OrganizationCredential
from ..providers.ssrf import validate_base_url
from ..scoping import current_org_id, scoped_all, scoped_get

NEEDS_BASE_URL = "openai_compatible"


def credential_label(cred: OrganizationCredential) -> str:
    return f"{cred.label} · {cred.provider} · {cred.masked_hint}"


def credential_choices(new_label: str = "Add a new key…") -> list[tuple]:
    """Return the organization's credentials as select choices, with "new" last."""
    choices = [(str(c.id), credential_label(c), {"data-provider": c.provider})
               for c in scoped_all(OrganizationCredential)]
    return [*choices, ("new", new_label)]


def checked_base_url(provider: str, raw: str | None) -> str | None:
    """Return the base URL a credential of this provider keeps, or raise ValueError in plain words."""
    url = (raw or "").strip()
    if provider != NEEDS_BASE_URL:
        return None  # the other providers' base URLs are settings, never per credential
    if not url:
        raise ValueError("An OpenAI-compatible server needs its base URL (ending in /v1).")
    return validate_base_url(url, current_app.config.get("LLMCFG_ALLOW_PRIVATE_BASE_URLS", False))


def set_key(cred: OrganizationCredential, api_key: str) -> None:
    key = api_key.strip()
    cred.secret_ciphertext = vault().encrypt(key)
    cred.secret_hint = secret_hint(key)
    cred.last_verified_at = None  # a new key has not been tested yet


def add_credential(provider: str, label: str, api_key: str, base_url: str | None) -> OrganizationCredential:
    """Add an encrypted credential to the session (the caller commits)."""
    cred = OrganizationCredential(organization_id=current_org_id(), provider=provider,
                                  label=label.strip(), base_url=base_url)
    set_key(cred, api_key)
    db.session.add(cred)
    return cred


def owned_credential(value) -> OrganizationCredential | None:
    return scoped_get(OrganizationCredential, value)


def configs_using(cred: OrganizationCredential) -> list[LLMConfig]:
    return [c for c in scoped_all(LLMConfig) if c.credential_id == cred.id]
