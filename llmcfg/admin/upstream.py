"""The editor's only door to the provider registry: choices, catalogs and connection checks.

Keys arrive here as in-memory `Credential`s and leave only inside requests to the provider.
"""

from dataclasses import dataclass

from ..providers import credential_from_row
from ..providers import provider_choices as registry_choices
from ..providers.base import CheckResult, Credential
from ..providers.views import catalog_partial, run_check


def provider_choices() -> list[tuple[str, str]]:
    """Return (id, label) of every registered provider, so a new provider appears by itself."""
    return [tuple(choice) for choice in registry_choices()]


def stored_credential(row) -> Credential:
    """Return a saved credential, decrypted for one request."""
    return credential_from_row(row)


def catalog_html(provider: str, credential: Credential, q: str = "", refresh: bool = False,
                 selected: str | None = None):
    """Return the catalog partial (the same one the catalog endpoint answers htmx with)."""
    return catalog_partial(provider, credential, q=q, refresh=refresh, selected=selected)


def check(credential: Credential, model: str, deep: bool = False) -> CheckResult:
    """Test a key and a model step by step; a failure is a failed step, never an error page."""
    return run_check(credential, model, deep)


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
