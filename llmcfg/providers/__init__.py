"""The provider registry, and the small helpers that build adapters from the app's settings and rows.

Adding a provider is one new module (a Provider subclass) plus one line in REGISTRY.
`provider_for` is Flask-free (the fallback engine and the benchmarks call it directly); the helpers
below it read the current app's settings and decrypt stored keys.
"""

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from .anthropic import AnthropicProvider
from .base import BLOCKED_URL, UPSTREAM_ERROR, ChatTarget, Credential, Provider, ProviderError
from .openai import OpenAIProvider
from .openai_compatible import OpenAICompatibleProvider
from .openrouter import OpenRouterProvider
from .ssrf import split_base_url
from .transport import UpstreamTransport

# Insertion order is the order of the provider dropdown.
REGISTRY: dict[str, type[Provider]] = {
    "openrouter": OpenRouterProvider,
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "openai_compatible": OpenAICompatibleProvider,
}

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
# Every chat holds one upstream connection for its whole answer; the pool must not be the limit.
MAX_UPSTREAM_CONNECTIONS = 2000
# Finished chats leave their connection for the next one (no new TCP and TLS handshake), but only
# this many wait idle: the pool polls every idle socket on every request and response close.
MAX_IDLE_CONNECTIONS = 100


def refuse_cookies(jar: CookieJar | None = None) -> CookieJar:
    """Set a policy on a cookie jar (a new one by default) so that it keeps no cookie; return it.

    Provider APIs are stateless, yet their edges set cookies on API answers. One upstream client
    serves every organization, so a kept cookie would ride along on the next organization's call.
    """
    jar = CookieJar() if jar is None else jar
    jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no domain may set or receive one
    return jar


class NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing and never reads an answer's Set-Cookie headers.

    The jar refuses every cookie already (refuse_cookies); httpx would still wrap every answer and
    its request in urllib objects to offer them to it, about a tenth of the client's CPU per
    request, the chat's start and each failover hop included.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class UpstreamClient(httpx.Client):
    """httpx.Client whose cookie store is a NoCookies over a jar that refuses every cookie."""

    def __init__(self, **kwargs):
        jar = refuse_cookies()
        super().__init__(cookies=jar, **kwargs)
        self._no_cookies = NoCookies(jar)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies) -> None:
        raise AttributeError("the upstream client keeps no cookies")


def provider_choices() -> list[tuple[str, str]]:
    """Return (id, label) pairs for a provider dropdown, in registry order."""
    return [(provider_id, cls.label) for provider_id, cls in REGISTRY.items()]


def provider_for(credential: Credential, *, base_urls: dict, allow_private: bool, client: httpx.Client) -> Provider:
    """Build the adapter for a credential (raises ProviderError for an unusable base URL).

    The openai-compatible provider talks to the credential's own base URL (its shape is checked
    here; its addresses are checked before every request); the others to base_urls[provider].
    """
    cls = REGISTRY.get(credential.provider)
    if cls is None:  # e.g. a row naming a provider this version no longer has: let the fallback take over
        raise ProviderError(UPSTREAM_ERROR, f"Unknown provider {credential.provider!r}.")
    if cls is OpenAICompatibleProvider:
        try:
            base_url, _, _ = split_base_url(credential.base_url or "")
        except ValueError as exc:
            raise ProviderError(BLOCKED_URL, str(exc)) from None
        return cls(client, base_url, allow_private=allow_private)
    return cls(client, base_urls[credential.provider])


def build_http_client(connect: float = DEFAULT_CONNECT_TIMEOUT, read: float = DEFAULT_READ_TIMEOUT) -> httpx.Client:
    """An httpx client with explicit timeouts that never follows redirects (see providers.ssrf) and
    keeps no cookies (see UpstreamClient)."""
    limits = httpx.Limits(max_connections=MAX_UPSTREAM_CONNECTIONS, max_keepalive_connections=MAX_IDLE_CONNECTIONS)
    return UpstreamClient(
        timeout=httpx.Timeout(connect=connect, read=read, write=10.0, pool=connect),
        transport=UpstreamTransport(limits),
        follow_redirects=False,
        headers={"User-Agent": "llmcfg"},
    )


def http_client(app=None) -> httpx.Client:
    """Return the app's shared upstream client (timeouts from LLMCFG_CONNECT_TIMEOUT / LLMCFG_READ_TIMEOUT)."""
    from ..extensions import app_extension

    def build(app):
        return build_http_client(
            float(app.config.get("LLMCFG_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)),
            float(app.config.get("LLMCFG_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)),
        )

    return app_extension("llmcfg_http", build, app)


def app_provider(credential: Credential, client: httpx.Client | None = None) -> Provider:
    """Build the adapter for a credential with the current app's base URLs and SSRF setting."""
    from flask import current_app

    return provider_for(
        credential,
        base_urls=current_app.config["LLMCFG_BASE_URLS"],
        allow_private=bool(current_app.config.get("LLMCFG_ALLOW_PRIVATE_BASE_URLS")),
        client=client or http_client(),
    )


def credential_from_row(row) -> Credential:
    """Decrypt a stored OrganizationCredential into a Credential (held in memory only)."""
    from ..crypto import vault

    return Credential(
        provider=row.provider,
        api_key=vault().decrypt(row.secret_ciphertext),
        base_url=row.base_url,
        id=row.id,
    )


def target_from_config(config) -> ChatTarget:
    """Return what the runtime needs to call an LLMConfig: model, params and decrypted key."""
    return ChatTarget(
        config_id=config.id,
        name=config.name,
        provider=config.provider,
        model=config.model,
        credential=credential_from_row(config.credential),
        params=dict(config.params or {}),
    )
