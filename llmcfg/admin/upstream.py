"""The editor's only door to the provider registry: choices, catalogs and connection checks.

Keys arrive here as in-memory `Credential`s and leave only inside requests to the provider.
"""

from dataclasses import dataclass

from ..providers.base import CheckResult, CheckStep, Credential, ProviderError


def provider_choices() -> list[tuple[str, str]]:
    """Return (id, label) of every registered provider, so a new provider appears by itself."""
    from ..providers import provider_choices as registry_choices

    return [tuple(choice) for choice in registry_choices()]


def stored_credential(row) -> Credential:
    """Return a saved credential, decrypted for one request."""
    from ..providers import credential_from_row

    return credential_from_row(row)


def catalog_html(provider: str, credential: Credential, q: str = "", refresh: bool = False,
                 selected: str | None = None):
    """Return the catalog partial (the same one the catalog endpoint answers htmx with)."""
    from ..providers.views import catalog_partial

    return catalog_partial(provider, credential, q=q, refresh=refresh, selected=selected)


def check(credential: Credential, model: str, deep: bool = False) -> CheckResult:
    """Test a key and a model; an unexpected upstream failure becomes a failed step, not an error page."""
    from ..providers import app_provider

    try:
        return app_provider(credential).check(credential, model, deep=deep)
    except ProviderError as error:
        return CheckResult(False, [CheckStep("key", False, f"{error.plain}: {error.message}", 0, error.reason)])


@dataclass
class ChainCheck:
    position: int
    name: str
    label: str
    result: CheckResult | None  # None: no usable key for this config
    problem: str = ""


def chain_checks(targets, deep: bool) -> list[ChainCheck]:
    """Test each (step, key choice) of a chain in order, one result per config."""
    results = []
    for position, (step, key) in enumerate(targets, start=1):
        if key is None:
            results.append(ChainCheck(position, step.name, step.label, None, "no usable key in the form"))
        elif not step.model:
            results.append(ChainCheck(position, step.name, step.label, None, "no model picked"))
        else:
            results.append(ChainCheck(position, step.name, step.label, check(key.credential(), step.model, deep)))
    return results
