"""Model catalogs, fetched server-side and cached per provider and credential (requests-cache).

- Scope: every cache entry is keyed by an HMAC of (credential id, provider, base URL, key) under
  the app secret, so two credentials or organizations never share an entry (an OpenAI catalog
  lists an organization's private fine-tunes), a replaced key starts afresh, and the key itself
  never appears in a cache key. The scope travels in a request header that is used for the
  cache key only and removed before the request leaves.
- Secrets: auth headers are redacted from what requests-cache stores (`ignored_parameters`,
  listed in every spelling because its redaction is case-sensitive).
- One upstream call per cold entry: concurrent requests for one scope wait on a per-scope lock and
  then read what the first one stored. With LLMCFG_REDIS_URL the entries live in Redis and the lock
  is shared by every worker (SET NX PX): the others poll the cache until the holder's copy appears.
- Redis down: the catalog is fetched straight from the upstream, uncached; the page still works.
- Stale on error: when the upstream fails, the last good copy is served (even if expired),
  marked stale with its fetch time.

Adapters describe their catalog requests and parse pages (`fetch_model_pages` / `parse_models`);
this module only moves the bytes.
"""

import hashlib
import hmac
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests
from redis import Redis, RedisError
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession, RedisCache

from .providers import refuse_cookies
from .providers.adapter import HTTPProvider
from .providers.base import BLOCKED_URL, CONNECTION_ERROR, TIMEOUT, Credential, ModelInfo, ProviderError
from .providers.wire import json_object, scrub, status_error
from .extensions import app_extension
from .shared_store import DEFAULT_PREFIX, FileLock, SharedLock, key_prefix, redis_for

log = logging.getLogger(__name__)

SCOPE_HEADER = "X-Llmcfg-Cache-Scope"
_AUTH_HEADERS = ("Authorization", "Proxy-Authorization", "X-API-Key", "X-Auth-Token", "api-key")
REDACTED = tuple({v for name in _AUTH_HEADERS for v in (name, name.lower(), name.title(), name.upper())}) + (
    "access_token",
    "api_key",
    "apikey",
    "key",
)
CACHE_FILE = "catalog_cache.sqlite"
# Redis drops an entry this long after it expires: the last good copy stays for upstream outages.
STALE_KEPT_S = 7 * 24 * 3600
LOCK_POLL_S = 0.05  # how often a worker waiting on another's fetch looks for the copy


@dataclass
class CatalogResult:
    provider: str
    models: list[ModelInfo]
    fetched_at: datetime  # when this copy came from the upstream (UTC)
    stale: bool  # the upstream failed just now; this is the last good copy
    from_cache: bool


class _MissingCopy(Exception):
    """No stored copy to fall back on."""


class _ScopeStrippingAdapter(HTTPAdapter):
    """Remove the cache-scope header before a request goes out (it is for the cache key only)."""

    def send(self, request, **kwargs):
        request.headers.pop(SCOPE_HEADER, None)
        return super().send(request, **kwargs)


def cache_scope(credential: Credential, secret: str | bytes) -> str:
    """A stable, non-secret name for one credential's catalog."""
    secret = secret.encode() if isinstance(secret, str) else secret
    basis = "\0".join(
        [str(credential.id or "unsaved"), credential.provider, credential.base_url or "", credential.api_key]
    )
    return hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()[:40]


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class CatalogCache:
    """Fetch catalogs through a CachedSession; see the module docstring for the rules."""

    def __init__(
        self,
        session: CachedSession,
        secret: str | bytes,
        timeout: tuple[float, float] = (5.0, 30.0),
        redis: Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        lock_dir: Path | None = None,
    ):
        self.session = session
        self.secret = secret
        self.timeout = timeout
        self.redis = redis  # set when the session's backend is Redis: the fetch lock is shared too
        self.prefix = prefix
        # Without Redis, the workers of one machine share file locks here (the instance folder).
        self.lock_dir = lock_dir or Path(tempfile.gettempdir()) / "llmcfg-catalog-locks"
        # A fetch may take a connect and a read timeout (and pages); a dead holder frees it after that.
        self.lock_ttl_s = sum(timeout) + 5.0
        self.direct = _upstream_session(requests.Session())  # only while Redis is unreachable
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, provider: HTTPProvider, credential: Credential, refresh: bool = False) -> CatalogResult:
        """Return the catalog for this credential (raises ProviderError when there is no copy at all)."""
        scope = cache_scope(credential, self.secret)
        try:
            return self._through_cache(provider, credential, scope, refresh)
        except RedisError as exc:
            log.warning("the catalog cache in Redis is unreachable (%s: %s); fetching the %s catalog uncached",
                        type(exc).__name__, exc, provider.label)
            return self._result(provider, credential, scope, "direct")

    def _through_cache(self, provider, credential, scope: str, refresh: bool) -> CatalogResult:
        if not refresh:
            try:
                return self._result(provider, credential, scope, "cached")
            except (_MissingCopy, ProviderError):
                pass  # not cached (or expired): fetch below, once per scope
        with self._lock_for(scope):  # one fetch per process, then one across the workers
            return self._fetch_once_across_workers(provider, credential, scope, refresh)

    def _fetch_once_across_workers(self, provider, credential, scope: str, refresh: bool) -> CatalogResult:
        """Fetch under the workers' shared lock; while another worker holds it, wait for its copy."""
        if self.redis is not None:
            lock = SharedLock(self.redis, f"{self.prefix}:catalog-lock:{scope}", self.lock_ttl_s)
        else:
            lock = FileLock(self.lock_dir / f"{scope}.lock")
        deadline = time.monotonic() + self.lock_ttl_s
        while not lock.acquire():
            if not refresh:
                try:
                    return self._result(provider, credential, scope, "cached")
                except (_MissingCopy, ProviderError):
                    pass  # the holder has not stored its copy yet
            if time.monotonic() >= deadline:
                return self._fetch(provider, credential, scope, refresh)  # the holder is stuck: go alone
            time.sleep(LOCK_POLL_S)
        try:
            return self._fetch(provider, credential, scope, refresh)
        finally:
            lock.release()

    def _fetch(self, provider, credential, scope: str, refresh: bool) -> CatalogResult:
        """Fetch (a copy stored meanwhile by another request is used); on failure serve the last good copy."""
        try:
            return self._result(provider, credential, scope, "refresh" if refresh else "fetch")
        except ProviderError as error:
            if error.reason == BLOCKED_URL:
                raise  # a refused address gets no catalog at all, not even an old one
            failure = error
        try:
            return self._result(provider, credential, scope, "stale")
        except (_MissingCopy, ProviderError):
            raise failure from None

    def _stored_at(self, response) -> datetime | None:
        """When the copy was stored: a fresh answer reports the time of its cached copy, so the
        fetch time shown now and later (when it is served from the cache) is the same."""
        if not getattr(response, "from_cache", False) and getattr(response, "cache_key", None):
            # A fresh answer is stamped when it arrives and again, a moment later, when stored.
            stored = self.session.cache.get_response(response.cache_key)
            if stored is not None:
                return stored.created_at
        return getattr(response, "created_at", None)

    def _lock_for(self, scope: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(scope, threading.Lock())

    def _result(self, provider: HTTPProvider, credential: Credential, scope: str, mode: str) -> CatalogResult:
        responses = []

        def get_json(url: str, headers: dict, params: dict) -> dict:
            response = self._get(url, headers, params, scope, mode, provider, credential.api_key)
            responses.append(response)
            return json_object(response, label=provider.label)

        pages = provider.fetch_model_pages(credential, get_json)
        from_cache = all(getattr(r, "from_cache", False) for r in responses)
        fetched_at = min(_utc(self._stored_at(r)) for r in responses)
        return CatalogResult(provider.id, provider.parse_models(pages), fetched_at, mode == "stale", from_cache)

    def _get(self, url, headers, params, scope, mode, provider: HTTPProvider, secret: str):
        request = requests.Request("GET", url, headers={**headers, SCOPE_HEADER: scope}, params=params)
        prepared = self.session.prepare_request(request)
        if mode == "stale":
            response = self.session.cache.get_response(self.session.cache.create_key(prepared))
            if response is None or response.status_code != 200:
                raise _MissingCopy()
            return response
        if mode != "cached":
            provider.before_request(url)  # the SSRF guard, right before a real request
        if mode == "direct":
            session, options = self.direct, {}
        else:
            session, options = self.session, dict(only_if_cached=mode == "cached", force_refresh=mode == "refresh")
        try:
            response = session.send(prepared, timeout=self.timeout, allow_redirects=False, **options)
        except requests.Timeout:
            raise ProviderError(TIMEOUT, f"Timed out fetching the {provider.label} catalog") from None
        except requests.RequestException as exc:
            detail = scrub(str(exc), secret)
            raise ProviderError(CONNECTION_ERROR, f"Cannot reach {provider.label} ({detail})") from None
        if mode == "cached" and response.status_code == 504 and not getattr(response, "from_cache", False):
            raise _MissingCopy()
        if response.status_code != 200:
            error = status_error(
                response.status_code, response.headers, response.text, secret=secret, label=provider.label
            )
            raise provider.refine_error(error, response.text)
        return response

    def clear(self) -> None:
        self.session.cache.clear()


def _upstream_session(session: requests.Session) -> requests.Session:
    """Mount the scope-stripping adapter and make the session keep no cookies (see refuse_cookies)."""
    adapter = _ScopeStrippingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    refuse_cookies(session.cookies)
    return session


def build_session(
    instance_path: str, ttl: int, redis: Redis | None = None, prefix: str = DEFAULT_PREFIX
) -> CachedSession:
    """A CachedSession on SQLite in the instance folder, or on Redis (keys `<prefix>:catalog:…`)."""
    options = dict(
        expire_after=ttl,
        allowable_codes=(200,),
        allowable_methods=("GET",),
        match_headers=[SCOPE_HEADER],
        ignored_parameters=REDACTED,
        stale_if_error=False,  # handled above, so a failed forced refresh falls back too
    )
    if redis is not None:
        backend = RedisCache(
            namespace=f"{prefix}:catalog", connection=redis, ttl_offset=STALE_KEPT_S,
            serializer="json", decode_content=True,
        )
        session = CachedSession(backend=backend, **options)
    else:
        path = Path(instance_path) / CACHE_FILE
        # Human-readable JSON on disk: anyone can check that it holds catalogs and no keys.
        session = CachedSession(
            str(path), backend="sqlite", serializer="json", decode_content=True, wal=True, **options
        )
    return _upstream_session(session)


def _build_cache(app) -> CatalogCache:
    redis, prefix = redis_for(app), key_prefix(app)
    session = build_session(app.instance_path, int(app.config.get("LLMCFG_CATALOG_TTL", 600)), redis, prefix)
    timeout = (
        float(app.config.get("LLMCFG_CONNECT_TIMEOUT", 5.0)),
        float(app.config.get("LLMCFG_READ_TIMEOUT", 30.0)),
    )
    return CatalogCache(session, app.config["SECRET_KEY"], timeout, redis, prefix,
                        lock_dir=Path(app.instance_path) / "catalog-locks")


def catalog_cache(app=None) -> CatalogCache:
    """Return the app's catalog cache (created on first use)."""
    return app_extension("llmcfg_catalog", _build_cache, app)


def get_catalog(provider: HTTPProvider, credential: Credential, refresh: bool = False) -> CatalogResult:
    """Return the catalog through the current app's cache."""
    return catalog_cache().get(provider, credential, refresh=refresh)
