"""A fake upstream: one real, threaded HTTP server on 127.0.0.1 speaking OpenAI, Anthropic and OpenRouter.

    from tests.fakes.server import FakeUpstream
    from tests.fakes.behaviors import Behavior
    fake = FakeUpstream().start()          # random port; fake.stop() when done
    fake.base_urls                         # {"openai": "http://127.0.0.1:P/openai/v1", "anthropic": …/anthropic/v1,
                                           #  "openrouter": …/openrouter/api/v1, "openai_compatible": …/compat/v1}

Scripting (per test; `reset()` clears everything):
    fake.script("openai", "gpt-4o-mini", Behavior.http(429, retry_after="30"))   # every call, until reset
    fake.script("anthropic", "*", Behavior.http(529), times=2)   # the next 2 calls to any model, then normal
    fake.script_path("openai", "/models", Behavior.http(500))    # non-chat endpoints ("/models", "/key", "/models/ID")
    fake.script_path("openrouter", "/models", Behavior.slow(0.3))  # …or answer them normally, but late
    fake.add_model("openai", "ft:gpt-4o-mini:alpha::x1", key="sk-alpha…")  # private to one key
    fake.add_model("openrouter", "evil/markup", name="<img src=x onerror=alert(1)>")
    fake.reject_key("sk-revoked…")  # any other non-empty key is accepted; BAD_KEY is always refused
    fake.set_key_info("sk-or-…", is_free_tier=True, limit=10)     # OpenRouter GET /key facts
Scripts queue up: a `times=N` entry serves N calls and then the next entry (or normal service) applies.
A model is servable when it is in the catalog for that key or has a script.

Observing:
    fake.count("openai", "/chat/completions", model="gpt-4o-mini")   # requests received (any filter optional)
    fake.calls                      # every request as Call(provider, method, path, model, key, at, body, client_port, cookie)
    fake.disconnects                # Disconnect(provider, model, tokens_sent) when a client left mid-answer
    fake.wait_for_disconnect(provider=None, model=None, timeout=5)  -> bool
    fake.active_streams; fake.wait_idle(timeout=5) -> bool          # answers still being written
    fake.wait_active_at_most(n, timeout=5) -> bool

Run it alone for manual or benchmark use: `python -m tests.fakes.server --port 8900`.
"""

import argparse
import json
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

from .behaviors import Behavior
from .catalogs import anthropic_catalog, compat_catalog, make_entry, openai_catalog, openrouter_catalog
from .handler import FakeHandler

BAD_KEY = "sk-bad-key-000000000000000000000000"
PREFIXES = {
    "openai": "/openai/v1",
    "anthropic": "/anthropic/v1",
    "openrouter": "/openrouter/api/v1",
    "openai_compatible": "/compat/v1",
}
BASE_CATALOGS = {
    "openai": openai_catalog(),
    "anthropic": anthropic_catalog(),
    "openrouter": openrouter_catalog(),
    "openai_compatible": compat_catalog(),
}


@dataclass(frozen=True)
class Call:
    provider: str
    method: str
    path: str  # below the provider prefix, e.g. "/chat/completions"
    model: str | None
    key: str | None = None
    at: float = 0.0
    body: dict | None = None  # the JSON request body, when there was one
    client_port: int = 0  # the caller's port: requests on one kept-alive connection share it
    cookie: str | None = None  # the request's Cookie header, if it had one


@dataclass(frozen=True)
class Disconnect:
    provider: str
    model: str | None
    tokens_sent: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stalled answers must not hold up stop()
    request_queue_size = 1024  # benchmarks open hundreds of streams at once
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client hanging up is part of what the fake is for; anything else is worth printing.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeUpstream:
    """The fake providers; see the module docstring for the scripting and observing calls."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self._requested_port = host, port
        self._lock = threading.Condition()
        self._server: _Server | None = None
        self.stopping = threading.Event()
        self.generation = 0
        self.reset()

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> "FakeUpstream":
        self._server = _Server((self.host, self._requested_port), FakeHandler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_urls(self) -> dict[str, str]:
        """Base URLs per provider, each including its version prefix (what LLMCFG_BASE_URLS holds)."""
        return {provider: self.url + prefix for provider, prefix in PREFIXES.items()}

    def sdk_base_url(self, provider: str) -> str:
        """What the official SDK wants: the anthropic SDK adds /v1 itself."""
        base = self.base_urls[provider]
        return base.removesuffix("/v1") if provider == "anthropic" else base

    def reset(self) -> None:
        """Forget scripts, counts, extra models and keys; end any answer still stalling."""
        with self._lock:
            self.generation += 1
            self._scripts: dict[tuple[str, str], list[list]] = {}
            self._calls: list[Call] = []
            self._disconnects: list[Disconnect] = []
            self._extra_models: dict[str, list[tuple[dict, str | None]]] = {p: [] for p in PREFIXES}
            self.rejected_keys: set[str] = {BAD_KEY}
            self._key_info: dict[str, dict] = {}
            self._active = 0
            self.anthropic_page_cap = 10  # fewer than asked per page, so pagination is always exercised
            self._lock.notify_all()

    # --- scripting ----------------------------------------------------------------------------
    def script(self, provider: str, model: str, behavior: Behavior, times: int | None = None) -> None:
        """Answer chats for (provider, model) — "*" for any model — with behavior; `times` calls or forever."""
        self._queue((provider, "model:" + model), behavior, times)

    def script_path(self, provider: str, path: str, behavior: Behavior, times: int | None = None) -> None:
        """Answer a non-chat endpoint (e.g. "/models", "/key", "/models/gpt-4o") with behavior."""
        self._queue((provider, "path:" + path), behavior, times)

    def _queue(self, key, behavior, times):
        with self._lock:
            self._scripts.setdefault(key, []).append([behavior, times])

    def add_model(self, provider: str, model_id: str, *, name: str | None = None, key: str | None = None, **fields):
        """Add a catalog entry (visible only to `key` when given, like a private fine-tune)."""
        with self._lock:
            self._extra_models[provider].append((make_entry(provider, model_id, name, **fields), key))

    def reject_key(self, key: str) -> None:
        with self._lock:
            self.rejected_keys.add(key)

    def set_key_info(self, key: str, **facts) -> None:
        with self._lock:
            self._key_info[key] = facts

    # --- observing ----------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def count(self, provider=None, path=None, model=None, method=None) -> int:
        """How many requests matched every filter given."""
        return sum(
            1
            for c in self.calls
            if (provider is None or c.provider == provider)
            and (path is None or c.path == path)
            and (model is None or c.model == model)
            and (method is None or c.method == method)
        )

    @property
    def disconnects(self) -> list[Disconnect]:
        with self._lock:
            return list(self._disconnects)

    def wait_for_disconnect(self, provider=None, model=None, timeout: float = 5.0) -> bool:
        def seen():
            return any((provider in (None, d.provider)) and (model in (None, d.model)) for d in self._disconnects)

        with self._lock:
            return self._lock.wait_for(seen, timeout)

    @property
    def active_streams(self) -> int:
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float = 5.0) -> bool:
        return self.wait_active_at_most(0, timeout)

    def wait_active_at_most(self, count: int, timeout: float = 5.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._active <= count, timeout)

    # --- used by the handler ------------------------------------------------------------------
    def record(self, provider, method, path, model, key, body=None, client_port=0, cookie=None) -> None:
        with self._lock:
            self._calls.append(Call(provider, method, path, model, key, time.monotonic(), body, client_port, cookie))

    def record_disconnect(self, provider, model, tokens_sent) -> None:
        with self._lock:
            self._disconnects.append(Disconnect(provider, model, tokens_sent))
            self._lock.notify_all()

    def stream_opened(self, delta: int) -> None:
        with self._lock:
            self._active += delta
            self._lock.notify_all()

    def take(self, provider: str, *targets: str) -> Behavior | None:
        """The scripted behavior for the first target that has one (consuming a `times` use)."""
        with self._lock:
            for target in targets:
                queue = self._scripts.get((provider, target))
                if queue:
                    entry = queue[0]
                    if entry[1] is not None:
                        entry[1] -= 1
                        if entry[1] <= 0:
                            queue.pop(0)
                    return entry[0]
        return None

    def has_script(self, provider: str, model: str) -> bool:
        with self._lock:
            return bool(self._scripts.get((provider, "model:" + model)) or self._scripts.get((provider, "model:*")))

    def catalog(self, provider: str, key: str | None) -> list[dict]:
        with self._lock:
            extra = [entry for entry, owner in self._extra_models[provider] if owner is None or owner == key]
        return BASE_CATALOGS[provider] + extra

    def key_info(self, key: str) -> dict:
        with self._lock:
            facts = dict(self._key_info.get(key, {}))
        info = {
            "label": f"{key[:9]}...{key[-3:]}",
            "limit": None,
            "limit_remaining": None,
            "limit_reset": None,
            "include_byok_in_limit": False,
            "usage": 0.25,
            "usage_daily": 0.0,
            "usage_weekly": 0.0,
            "usage_monthly": 0.25,
            "is_free_tier": False,
            "is_management_key": False,
            "is_provisioning_key": False,
            "expires_at": None,
        }
        info.update(facts)
        return {"data": info}

    @staticmethod
    def query(path_and_query: str) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(path_and_query.partition("?")[2]).items()}

    @staticmethod
    def dumps(payload) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake providers until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeUpstream(args.host, args.port).start()
    print(json.dumps(fake.base_urls), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
