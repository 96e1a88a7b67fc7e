"""The config editor page and the htmx endpoints that make it live.

Every endpoint here reads the whole editor form as it stands (unsaved). Without JavaScript the same
buttons post the form to the page itself (`action=…`), which re-renders with the same partials.
"""

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from ..db import db
from ..models import LLMConfig, OrganizationCredential
from ..scoping import scoped_all, scoped_get_or_404
from . import bp
from .editor import (
    fill_from,
    preview,
    primary_key_choice,
    read_key_choice,
    save,
    setup_choices,
    targets_for_chain,
)
from .forms import NEW, ConfigForm
from .upstream import catalog_html, check, chain_checks


def _editor_form(config: LLMConfig | None) -> ConfigForm:
    form = ConfigForm()
    setup_choices(form, config)
    if not form.is_submitted():
        form.new_fallback.credential.data = NEW
        if config is not None:
            fill_from(form, config)
        else:
            form.provider.data = form.provider.choices[0][0]
            form.credential.data = _first_key_of(form.provider.data)
    return form


def _first_key_of(provider: str) -> str:
    """Return the choice value of the organization's first key for provider, else "new"."""
    keys = [c for c in scoped_all(OrganizationCredential) if c.provider == provider]
    return str(keys[0].id) if keys else NEW


def _config(config_id: int | None) -> LLMConfig | None:
    return scoped_get_or_404(LLMConfig, config_id) if config_id is not None else None


def _catalog(form: ConfigForm, refresh: bool = False):
    """Return the catalog partial for the form's provider and key, or a plain note why there is none."""
    key = primary_key_choice(form, report=False)
    if key is None:
        return None
    return catalog_html(form.provider.data, key.credential(), q=request.form.get("q", ""),
                        refresh=refresh, selected=form.chosen_model or None)


def _check(form: ConfigForm):
    key = primary_key_choice(form)
    model = form.chosen_model
    if key is None or not model:
        problems = [e for f in (form.credential, form.new_credential.api_key, form.new_credential.base_url,
                                form.replacement_key) for e in f.errors]
        return None, problems or ["Pick a model first."]
    return check(key.credential(), model, bool(form.deep.data)), []


def _keep_typed_keys(form: ConfigForm, config: LLMConfig | None) -> None:
    """Without JavaScript, store a new key typed for "Load models" or a test as a credential.

    The page that comes back never contains the key, so without this the user would type it twice.
    """
    parts = [(form.provider.data, form.credential, form.new_credential)]
    if form.fallback.data == NEW:
        backup = form.new_fallback
        parts.append((backup.provider.data, backup.credential, backup.new_credential))
    for provider, select, fields in parts:
        if select.data != NEW or not (fields.api_key.data or "").strip():
            continue
        choice = read_key_choice(provider, select, fields)
        if choice is None:
            continue
        cred = choice.save()
        db.session.commit()
        flash(f'Saved the new key as credential "{cred.label}" ({cred.masked_hint}).')
        setup_choices(form, config)
        select.data, fields.key_label.data = str(cred.id), ""


def _render(form: ConfigForm, config: LLMConfig | None, **extra):
    form.new_credential.api_key.data = None  # a key is never sent back to the browser
    form.replacement_key.data = None
    form.new_fallback.new_credential.api_key.data = None
    return render_template("admin/config_edit.html", form=form, llm_config=config,
                           chain=preview(form, config), q=request.form.get("q", ""), **extra)


@bp.route("/configs/new", methods=["GET", "POST"])
@bp.route("/configs/<int:config_id>/edit", methods=["GET", "POST"])
@login_required
def edit_config(config_id: int | None = None):
    """Create or edit an LLM config: provider, key, model, parameters and fallback."""
    config = _config(config_id)
    form = _editor_form(config)
    if not form.is_submitted():
        return _render(form, config)  # the catalog loads afterwards (htmx) or on "Load models"
    action = request.form.get("action", "save")
    if action in ("load_models", "refresh_models", "test", "test_chain"):
        _keep_typed_keys(form, config)
    extra = {}
    if action == "test":
        extra["check_result"], extra["check_problems"] = _check(form)
    elif action == "test_chain":
        extra["chain_results"] = chain_checks(targets_for_chain(form, config), form.deep.data)
    elif action == "save":
        form.validate()  # field errors first; save() adds the cross-field ones and writes only if none
        saved = save(form, config)
        if saved is not None:
            flash(f'Config "{saved.name}" saved.')
            return redirect(url_for("admin.overview"))
    # Every re-rendered page lists the models again (from the cache), so nothing picked is lost.
    return _render(form, config, catalog=_catalog(form, refresh=action == "refresh_models"), **extra)


@bp.route("/configs/models", methods=["POST"])
@login_required
def editor_models():
    """Answer the model catalog for the editor form's provider and key (htmx partial)."""
    form = _editor_form(None)
    return render_template("admin/_catalog.html", catalog=_catalog(form, bool(request.form.get("refresh"))),
                           form=form)


@bp.route("/configs/chain", methods=["POST"])
@bp.route("/configs/<int:config_id>/chain", methods=["POST"])
@login_required
def editor_chain(config_id: int | None = None):
    """Answer the chain the editor form would create, or the rule it breaks (htmx partial)."""
    config = _config(config_id)
    form = _editor_form(config)
    listed_free = request.form.get("model_free") == "1"
    return render_template("admin/_chain.html", chain=preview(form, config, listed_free), form=form,
                           llm_config=config)


@bp.route("/configs/check", methods=["POST"])
@login_required
def editor_check():
    """Test the editor form's key and model, unsaved (htmx partial)."""
    form = _editor_form(None)
    result, problems = _check(form)
    return render_template("admin/_check.html", check_result=result, check_problems=problems, form=form)


@bp.route("/configs/check-chain", methods=["POST"])
@bp.route("/configs/<int:config_id>/check-chain", methods=["POST"])
@login_required
def editor_check_chain(config_id: int | None = None):
    """Test every config of the chain the editor form describes, in order (htmx partial)."""
    config = _config(config_id)
    form = _editor_form(config)
    results = chain_checks(targets_for_chain(form, config), form.deep.data)
    return render_template("admin/_chain_check.html", chain_results=results, form=form, llm_config=config)


@bp.route("/configs/<int:config_id>/delete", methods=["POST"])
@login_required
def delete_config(config_id: int):
    """Delete a config; whatever used it (fallbacks, assignments) is left unset."""
    config = _config(config_id)
    db.session.delete(config)
    db.session.commit()
    flash(f'Config "{config.name}" deleted. Configs that fell back to it, and courses, homework or the '
          "default that used it, are now unset.")
    return redirect(url_for("admin.overview"))
