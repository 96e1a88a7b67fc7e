"""Catalog and test-connection endpoints: JSON for API clients, partials for htmx.

Both take a saved credential of the caller's organization (`credential_id`) or an unsaved key
(`api_key`, plus `base_url` for an OpenAI-compatible server) so the editor works before saving.
An unsaved key only ever arrives in a POST body, never in a URL (URLs end up in logs).
A saved key is always sent to its own saved base URL: letting a request redirect a stored key to
another server would let anyone in the organization read it.
"""

from dataclasses import asdict

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup

from ..catalog import get_catalog
from ..crypto import KeyUnavailable
from ..db import db
from ..models import OrganizationCredential, utcnow
from ..scoping import scoped_get_or_404
from . import REGISTRY, app_provider, credential_from_row
from .base import BLOCKED_URL, CheckResult, CheckStep, Credential, ModelInfo, ProviderError, key_problem
from .checks import STEP_TITLES, failure_message
from .ssrf import validate_base_url

bp = Blueprint("providers", __name__, url_prefix="/api/admin/llm-providers")

NEEDS_BASE_URL = "openai_compatible"


def _fields() -> dict:
    """Query args, then form fields, then a JSON body: later ones win."""
    fields = dict(request.args.items())
    fields.update(request.form.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            fields.update({k: v for k, v in body.items() if v is not None})
    return fields


def _truthy(value) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _known(provider: str) -> None:
    if provider not in REGISTRY:
        abort(404, f"Unknown provider {provider!r}.")


def credential_from_request(provider: str, fields: dict) -> tuple[Credential, OrganizationCredential | None]:
    """Return the credential a request names (saved or unsaved) and its row, or abort 400/404."""
    api_key = str(fields.get("api_key") or "").strip()
    if api_key:
        if request.method == "GET":
            abort(400, "Send an unsaved key in a POST body, never in the URL.")
        if problem := key_problem(api_key):
            abort(400, problem)
        base_url = None
        if provider == NEEDS_BASE_URL:
            try:
                base_url = validate_base_url(
                    str(fields.get("base_url") or ""), current_app.config.get("LLMCFG_ALLOW_PRIVATE_BASE_URLS", False)
                )
            except ValueError as exc:
                abort(400, str(exc))
        return Credential(provider, api_key, base_url), None
    if not fields.get("credential_id"):
        abort(400, "Give a saved credential_id, or an api_key to try before saving.")
    row = scoped_get_or_404(OrganizationCredential, fields["credential_id"])
    if row.provider != provider:
        abort(400, f"Credential {row.id} is for {row.provider}, not {provider}.")
    try:
        return credential_from_row(row), row
    except KeyUnavailable as exc:
        abort(500, str(exc))


# --- the catalog ----------------------------------------------------------------------------
def matches(model: ModelInfo, query: str) -> bool:
    """Every word of the filter appears in the model's id or name (case-insensitive)."""
    text = f"{model.id} {model.name}".lower()
    return all(word in text for word in query.lower().split())


def format_context(tokens: int | None) -> str:
    if not tokens:
        return ""
    return f"{tokens / 1_000_000:.3g}M context" if tokens >= 1_000_000 else f"{round(tokens / 1000)}K context"


def format_prices(model: ModelInfo) -> str:
    if model.prompt_price is None and model.completion_price is None:
        return ""
    if model.free:
        return "$0 per M tokens"
    prompt = "?" if model.prompt_price is None else f"${model.prompt_price:g}"
    completion = "?" if model.completion_price is None else f"${model.completion_price:g}"
    return f"{prompt} in / {completion} out per M tokens"


def _catalog(provider: str, credential: Credential, refresh: bool):
    try:
        return get_catalog(app_provider(credential), credential, refresh=refresh), None
    except ProviderError as error:
        return None, error


def catalog_partial(
    provider: str, credential: Credential, q: str = "", refresh: bool = False, selected: str | None = None
) -> Markup:
    """Render the model picker (`providers/_models.html`) for a credential; pages may embed it."""
    result, error = _catalog(provider, credential, refresh)
    return Markup(_render_models(provider, credential, result, error, q, selected))


def _render_models(provider, credential, result, error, q, selected) -> str:
    models = [m for m in result.models if matches(m, q)] if result else []
    # The saved model stays picked even when it is filtered out or gone from the catalog.
    pinned, pinned_missing = None, False
    if selected and not any(m.id == selected for m in models):
        listed = next((m for m in (result.models if result else []) if m.id == selected), None)
        pinned = listed or ModelInfo(id=selected, name=selected)
        pinned_missing = listed is None and result is not None
    saved = credential.id is not None
    refresh_url = url_for(
        "providers.models",
        provider=provider,
        refresh=1,
        q=q or None,
        selected=selected or None,
        credential_id=credential.id if saved else None,
    )
    return render_template(
        "providers/_models.html",
        provider_label=REGISTRY[provider].label,
        result=result,
        error=error,
        models=models,
        pinned=pinned,
        pinned_missing=pinned_missing,
        selected=selected,
        q=q,
        refresh_url=refresh_url,
        refresh_method="get" if saved else "post",
        format_context=format_context,
        format_prices=format_prices,
    )


@bp.route("/<provider>/models", methods=["GET", "POST"])
@login_required
def models(provider):
    """List a provider's models for a saved credential or an unsaved key (cached, filterable)."""
    _known(provider)
    fields = _fields()
    credential, _ = credential_from_request(provider, fields)
    q = str(fields.get("q") or "").strip()
    selected = str(fields.get("selected") or fields.get("model") or "").strip() or None
    result, error = _catalog(provider, credential, _truthy(fields.get("refresh")))
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers, so a catalog error is a message inside a 200 partial.
        return _render_models(provider, credential, result, error, q, selected)
    if error is not None:
        status = 400 if error.reason == BLOCKED_URL else 502
        return jsonify(
            error=f"Could not load the catalog: {error.message}",
            reason=error.reason,
            upstream_status=error.status,
            status=status,
        ), status
    listed = [m for m in result.models if matches(m, q)]
    return jsonify(
        provider=provider,
        models=[asdict(m) for m in listed],
        fetched_at=result.fetched_at.isoformat(timespec="seconds"),
        stale=result.stale,
        from_cache=result.from_cache,
        total=len(result.models),
        matched=len(listed),
    )


# --- test connection ------------------------------------------------------------------------
def run_check(credential: Credential, model: str, deep: bool) -> CheckResult:
    """Run the adapter's check; a failure before any step (e.g. a refused URL) is the key step."""
    try:
        return app_provider(credential).check(credential, model, deep=deep)
    except ProviderError as error:
        return CheckResult(False, [CheckStep("key", False, failure_message("key", error), 0, error.reason)])


def check_payload(result: CheckResult) -> dict:
    return {"ok": result.ok, "steps": [asdict(step) for step in result.steps], "key_info": result.key_info}


def mark_verified(row: OrganizationCredential | None, result: CheckResult) -> None:
    """Remember when a saved key last proved itself."""
    if row is not None and result.steps and result.steps[0].name == "key" and result.steps[0].ok:
        row.last_verified_at = utcnow()
        db.session.commit()


@bp.route("/<provider>/test", methods=["POST"])
@login_required
def test_connection(provider):
    """Test a key and a model step by step (key, model, optionally a real 1-token answer)."""
    _known(provider)
    fields = _fields()
    credential, row = credential_from_request(provider, fields)
    result = run_check(credential, str(fields.get("model") or "").strip(), _truthy(fields.get("deep")))
    mark_verified(row, result)
    if request.headers.get("HX-Request"):
        return render_template("providers/_check.html", result=result, titles=STEP_TITLES)
    return jsonify(check_payload(result))
