"""The config editor's logic: read the form as it stands, preview its chain, save it.

The form is read into plain "choices" first; previews and connection tests work from those, unsaved,
and only `save` writes rows.
"""

from dataclasses import dataclass, field

from flask import current_app

from ..db import db
from ..models import LLMConfig, OrganizationCredential
from ..providers.base import Credential
from ..rules import FallbackRuleError, check_fallback, fallback_chain, set_fallback
from ..scoping import current_org_id, scoped_all, scoped_get
from .forms import NEW, NONE, ConfigForm
from .keys import add_credential, checked_base_url, credential_choices, owned_credential, set_key
from .upstream import provider_choices, stored_credential


@dataclass
class KeyChoice:
    """Which key a form part means: an existing credential (maybe with a replacement key) or a new one."""

    provider: str
    existing: OrganizationCredential | None = None
    key: str = field(default="", repr=False)  # a new or replacement key, typed into this request
    label: str = ""
    base_url: str | None = None

    def credential(self) -> Credential:
        """Return the key to call the provider with (in memory only)."""
        if self.key:
            base_url = self.existing.base_url if self.existing is not None else self.base_url
            return Credential(self.provider, self.key, base_url, None)
        return stored_credential(self.existing)

    def save(self) -> OrganizationCredential:
        """Store a new credential or the replacement key (the caller commits)."""
        if self.existing is None:
            return add_credential(self.provider, self.label, self.key, self.base_url)
        if self.key:
            set_key(self.existing, self.key)
        return self.existing


@dataclass
class ChainStep:
    name: str
    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider


@dataclass
class ChainPreview:
    steps: list[ChainStep]
    error: str | None = None
    free_without_fallback: bool = False


def setup_choices(form: ConfigForm, config: LLMConfig | None) -> None:
    """Fill the organization-dependent choices of the form."""
    providers = provider_choices()
    form.provider.choices = providers
    form.new_fallback.provider.choices = providers
    form.credential.choices = credential_choices()
    form.new_fallback.credential.choices = credential_choices()
    others = [c for c in scoped_all(LLMConfig) if config is None or c.id != config.id]
    form.fallback.choices = [
        (NONE, "No fallback"),
        *((str(c.id), f"{c.name} ({c.label})") for c in others),
        (NEW, "New fallback config…"),
    ]


def fill_from(form: ConfigForm, config: LLMConfig) -> None:
    """Pre-fill an edit form from the saved config (never a key: key inputs stay empty)."""
    params = config.params or {}
    form.name.data, form.provider.data, form.model.data = config.name, config.provider, config.model
    form.credential.data = str(config.credential_id)
    form.temperature.data = params.get("temperature")
    form.max_tokens.data = params.get("max_tokens")
    form.system_prompt.data = params.get("system")
    form.fallback.data = str(config.fallback_llm_config_id) if config.fallback_llm_config_id else NONE


def is_free_model(model: str) -> bool:
    """Free models are rate-limited hard; OpenRouter marks them with a ":free" suffix."""
    return model.strip().lower().endswith(":free") or model.strip().lower() == "openrouter/free"


def read_key_choice(provider: str, select, new_fields, replace: bool = False, replacement=None,
                    report: bool = True) -> KeyChoice | None:
    """Read one credential choice; with report, note errors on the fields and return None."""

    def fail(target, message):
        if report:
            target.errors = [*target.errors, message]
        return None

    if select.data == NEW:
        key = (new_fields.api_key.data or "").strip()
        if not key:
            return fail(new_fields.api_key, "Enter the API key.")
        try:
            base_url = checked_base_url(provider, new_fields.base_url.data)
        except ValueError as error:
            return fail(new_fields.base_url, str(error))
        label = (new_fields.key_label.data or "").strip() or f"{dict(provider_choices()).get(provider, provider)} key"
        return KeyChoice(provider, None, key, label, base_url)
    cred = owned_credential(select.data)
    if cred is None:
        return fail(select, "Pick a credential, or add a new key.")
    if cred.provider != provider:
        return fail(select, f"“{cred.label}” is a {cred.provider} key; pick a {provider} key or add a new one.")
    key = (replacement.data or "").strip() if (replace and replacement is not None) else ""
    if replace and not key:
        return fail(replacement, "Enter the new key, or untick “Replace the stored key”.")
    return KeyChoice(provider, cred, key)


def primary_key_choice(form: ConfigForm, report: bool = True) -> KeyChoice | None:
    return read_key_choice(form.provider.data, form.credential, form.new_credential,
                           form.replace_key.data, form.replacement_key, report)


def fallback_key_choice(form: ConfigForm, report: bool = True) -> KeyChoice | None:
    part = form.new_fallback
    return read_key_choice(part.provider.data, part.credential, part.new_credential, report=report)


def _draft(form: ConfigForm, config: LLMConfig | None) -> LLMConfig:
    """Return an unsaved stand-in for the config as the form describes it (never added to the session)."""
    return LLMConfig(id=config.id if config else None, organization_id=current_org_id(),
                     name=(form.name.data or "").strip() or "This config",
                     provider=form.provider.data, model=form.chosen_model)


def preview(form: ConfigForm, config: LLMConfig | None, listed_free: bool = False) -> ChainPreview:
    """Return the chain the form would create, or the rule it breaks (nothing is written).

    listed_free: the page saw the catalog's "free" badge on the picked model.
    """
    draft = _draft(form, config)
    steps = [ChainStep(draft.name, draft.provider, draft.model)]
    error = None
    choice = form.fallback.data or NONE
    if choice == NEW:
        part = form.new_fallback
        name = (part.backup_name.data or "").strip() or f"{draft.name} backup"
        steps.append(ChainStep(name, part.provider.data, (part.model.data or "").strip()))
    elif choice != NONE:
        try:
            fallback = check_fallback(draft, int(choice) if choice.isdigit() else -1)
            steps += [ChainStep(c.name, c.provider, c.model) for c in fallback_chain(fallback)]
        except FallbackRuleError as rule:
            error = str(rule)
    free = listed_free or is_free_model(draft.model)
    return ChainPreview(steps, error, bool(draft.model) and free and choice == NONE)


def targets_for_chain(form: ConfigForm, config: LLMConfig | None) -> list[tuple[ChainStep, KeyChoice | None]]:
    """Return each config of the form's chain with the key it would use (None: no usable key)."""
    chain = preview(form, config)
    if chain.error:
        return []
    out = [(chain.steps[0], primary_key_choice(form, report=False))]
    choice = form.fallback.data or NONE
    if choice == NEW:
        out.append((chain.steps[1], fallback_key_choice(form, report=False)))
    elif choice != NONE:
        fallback = scoped_get(LLMConfig, choice)
        for c in fallback_chain(fallback):
            out.append((ChainStep(c.name, c.provider, c.model), KeyChoice(c.provider, c.credential)))
    return out


def save(form: ConfigForm, config: LLMConfig | None) -> LLMConfig | None:
    """Validate beyond the fields and write the config; return it, or None with errors on the form."""
    model = form.chosen_model
    if not model:
        form.model_other.errors = [*form.model_other.errors, "Pick a model from the list or type its id."]
    key = primary_key_choice(form)
    fallback_key, choice = None, form.fallback.data or NONE
    if choice == NEW:
        part = form.new_fallback
        if part.provider.data not in dict(part.provider.choices):
            part.provider.errors = [*part.provider.errors, "Pick a provider."]
        fallback_key = fallback_key_choice(form)
        if not (form.new_fallback.model.data or "").strip():
            form.new_fallback.model.errors = [*form.new_fallback.model.errors, "Enter the backup's model id."]
    elif choice != NONE:
        try:
            check_fallback(_draft(form, config), int(choice) if choice.isdigit() else -1)
        except FallbackRuleError as rule:
            form.fallback.errors = [*form.fallback.errors, str(rule)]
    if has_errors(form) or key is None or (choice == NEW and fallback_key is None):
        return None

    fallback_id = None if choice == NONE else (int(choice) if choice != NEW else None)
    if choice == NEW:
        part = form.new_fallback
        backup = LLMConfig(organization_id=current_org_id(),
                           name=(part.backup_name.data or "").strip() or f"{form.name.data.strip()} backup",
                           provider=part.provider.data, model=part.model.data.strip(),
                           credential=fallback_key.save(), params={})
        db.session.add(backup)
        db.session.flush()
        fallback_id = backup.id
    if config is None:
        config = LLMConfig(organization_id=current_org_id())
        db.session.add(config)
    config.name, config.provider, config.model = form.name.data.strip(), form.provider.data, model
    config.credential = key.save()
    config.params = _params(form)
    db.session.flush()
    try:
        set_fallback(config, fallback_id)
    except FallbackRuleError as rule:  # e.g. a new backup that makes an existing chain too long
        db.session.rollback()
        form.fallback.errors = [*form.fallback.errors, str(rule)]
        return None
    db.session.commit()
    current_app.logger.info("config %s saved (fallback %s)", config.id, fallback_id)
    return config


def has_errors(form) -> bool:
    """Return whether any field (sub-forms included) carries an error; form.errors is cached."""
    for item in form:
        if hasattr(item, "form") and hasattr(item.form, "_fields"):
            if has_errors(item.form):
                return True
        elif item.errors:
            return True
    return False


def _params(form: ConfigForm) -> dict:
    params = {}
    if form.temperature.data is not None:
        params["temperature"] = float(form.temperature.data)
    if form.max_tokens.data is not None:
        params["max_tokens"] = int(form.max_tokens.data)
    if (form.system_prompt.data or "").strip():
        params["system"] = form.system_prompt.data.strip()
    return params
