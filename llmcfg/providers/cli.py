"""`flask llmcfg models` and `flask llmcfg test-connection`: the catalog and the check from a shell."""

import json
from dataclasses import asdict

import click

from ..catalog import get_catalog
from ..cli import llmcfg_cli
from ..crypto import KeyUnavailable
from ..db import db
from ..models import LLMConfig, OrganizationCredential
from . import REGISTRY, app_provider, credential_from_row
from .base import ProviderError
from .checks import STEP_TITLES
from .views import format_context, format_prices, mark_verified, run_check


def _credential(row):
    try:
        return credential_from_row(row)
    except KeyUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@llmcfg_cli.command("models")
@click.argument("provider")
@click.option("--credential", "credential_id", type=int, required=True, help="Id of a saved credential of PROVIDER.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON (as the API answers it).")
@click.option("--refresh", is_flag=True, help="Ask the provider now instead of using the cached list.")
def models_command(provider, credential_id, as_json, refresh):
    """List PROVIDER's models as a saved credential sees them (cached for LLMCFG_CATALOG_TTL seconds)."""
    if provider not in REGISTRY:
        raise click.ClickException(f"PROVIDER must be one of {', '.join(REGISTRY)} (got {provider!r}).")
    row = db.session.get(OrganizationCredential, credential_id)
    if row is None:
        raise click.ClickException(f"No credential with id {credential_id}.")
    if row.provider != provider:
        raise click.ClickException(f"Credential {credential_id} is for {row.provider}, not {provider}.")
    credential = _credential(row)
    try:
        result = get_catalog(app_provider(credential), credential, refresh=refresh)
    except ProviderError as error:
        raise click.ClickException(f"Could not load the {REGISTRY[provider].label} catalog: {error.message}") from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "provider": provider,
                    "models": [asdict(m) for m in result.models],
                    "fetched_at": result.fetched_at.isoformat(timespec="seconds"),
                    "stale": result.stale,
                    "total": len(result.models),
                },
                ensure_ascii=False,
            )
        )
        return
    for model in result.models:
        facts = " · ".join(f for f in (format_context(model.context_length), format_prices(model)) if f)
        free = " [free]" if model.free else ""
        click.echo(f"{model.id}\t{model.name}{free}\t{facts}")
    stale = " (stale: the provider did not answer; last good copy)" if result.stale else ""
    click.echo(f"{len(result.models)} models, fetched {result.fetched_at:%Y-%m-%d %H:%M} UTC{stale}", err=True)


@llmcfg_cli.command("test-connection")
@click.argument("config_id", type=int)
@click.option(
    "--deep", is_flag=True, help="Also stream a real 1-token answer (catches a listed but rate-limited model)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def test_connection_command(config_id, deep, as_json):
    """Test CONFIG_ID's key and model step by step; exit 0 only when every step passed."""
    config = db.session.get(LLMConfig, config_id)
    if config is None:
        raise click.ClickException(f"No LLM config with id {config_id}.")
    credential = _credential(config.credential)
    result = run_check(credential, config.model, deep)
    mark_verified(config.credential, result)
    if as_json:
        click.echo(
            json.dumps(
                {"ok": result.ok, "steps": [asdict(s) for s in result.steps], "key_info": result.key_info},
                ensure_ascii=False,
            )
        )
    else:
        click.echo(f"{config.name} ({config.provider}/{config.model})")
        for step in result.steps:
            mark = "✓" if step.ok else "✗"
            click.echo(f"{mark} {STEP_TITLES.get(step.name, step.name)}: {step.message} ({step.elapsed_ms} ms)")
    if not result.ok:
        raise SystemExit(1)
