"""The HTTP half every adapter shares: JSON GETs, the catalog split, the streamed POST, test connection.

A concrete adapter says where things live and how its wire format reads; this class does the
requests, the error mapping and the bookkeeping, so the four providers behave alike.

The catalog is split in two so the cache layer can fetch pages itself without parsing twice:
`fetch_model_pages(credential, get_json)` walks the pages (`models_request` + `next_cursor`)
with any `get_json(url, headers, params) -> dict`, and `parse_models(pages)` normalizes them.
"""

import codecs
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import NamedTuple

import httpx
from httpx_sse import EventSource

from . import wire
from .base import (
    EMPTY_RESPONSE,
    MODEL_NOT_FOUND,
    ChatTarget,
    CheckResult,
    Credential,
    Finish,
    ModelInfo,
    Provider,
    ProviderError,
    TextDelta,
)
from .checks import StepRunner

MAX_MODEL_PAGES = 50  # a runaway cursor must not loop forever
DEEP_CHECK_PROMPT = [{"role": "user", "content": "Reply with one word: ok"}]


MAX_DRAIN_EVENTS = 16  # what may follow the end marker before the body ends; more, and we hang up


def _drain(events: Iterator) -> None:
    """Read what follows the end marker to the end of the body, so the connection can serve again.

    Providers end the body right after their end marker; an unread end makes httpx close the
    connection instead of pooling it, and every chat would pay a new TCP and TLS handshake.
    The answer is complete by now, so a failure here only costs that reuse.
    """
    try:
        for count, _ in enumerate(events, start=1):
            if count >= MAX_DRAIN_EVENTS:
                return
    except httpx.HTTPError:
        pass


@lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """httpx's parse of a chat URL, kept: every chat and failover hop posts to one of a few URLs."""
    return httpx.URL(url)


class UncompressedBody:
    """A response as EventSource reads it (headers, iter_text), its text decoded straight off the raw body.

    httpx's iter_text hands every piece through a content decoder and two chunkers before decoding
    it; a body sent without compression needs only the UTF-8 decoding, which is all this does, once
    per token. Event streams are UTF-8 whatever the headers say; bad bytes become U+FFFD, as in httpx.
    """

    def __init__(self, response: httpx.Response):
        self.response = response
        self.headers = response.headers

    def iter_text(self) -> Iterator[str]:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        for raw in self.response.iter_raw():
            if text := decode(raw):
                yield text
        if rest := decode(b"", final=True):
            yield rest


def event_source(response: httpx.Response) -> EventSource:
    """httpx-sse's reader over the response; a compressed body goes through httpx's decoders."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return EventSource(UncompressedBody(response) if encoding in ("", "identity") else response)


class ModelsRequest(NamedTuple):
    url: str
    headers: dict
    params: dict


GetJson = Callable[[str, dict, dict], dict]


class HTTPProvider(Provider):
    """Base for the concrete adapters (over the injected, shared httpx.Client)."""

    chat_path = "/chat/completions"
    models_path = "/models"

    # --- what subclasses describe -------------------------------------------------------------
    def auth_headers(self, credential: Credential) -> dict:
        raise NotImplementedError

    def chat_body(self, target: ChatTarget, messages: list[dict]) -> dict:
        raise NotImplementedError

    def parse_stream(self, events, secret: str) -> Iterator[TextDelta | Finish]:
        """Read httpx-sse events; yield text and one Finish, or raise ProviderError."""
        raise NotImplementedError

    def parse_answer(self, payload: dict) -> tuple[str, str | None, dict | None]:
        """Read a complete (non-streamed) JSON answer: (text, finish_reason, usage)."""
        raise NotImplementedError

    def parse_model(self, entry: dict) -> ModelInfo | None:
        raise NotImplementedError

    def before_request(self, url: str) -> None:
        """Hook run before every request (the openai-compatible adapter guards its base URL here)."""

    def refine_error(self, error: ProviderError, body: str) -> ProviderError:
        """Hook to read a provider's own error vocabulary beyond the HTTP status."""
        return error

    def status_error(self, response, secret: str | None) -> ProviderError:
        error = wire.status_error(
            response.status_code, response.headers, response.text, secret=secret, label=self.label
        )
        return self.refine_error(error, response.text)

    # --- plain JSON GETs ----------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def get_json(self, url: str, headers: dict, params: dict | None = None, *, secret: str | None = None) -> dict:
        """GET a JSON document; any failure becomes ProviderError (the key scrubbed from its text)."""
        self.before_request(url)
        try:
            response = self.client.get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise wire.transport_error(exc, label=self.label) from None
        if response.status_code >= 300:
            raise self.status_error(response, secret)
        return wire.json_object(response, label=self.label)

    # --- the catalog --------------------------------------------------------------------------
    def models_request(self, credential: Credential, cursor: str | None = None) -> ModelsRequest:
        return ModelsRequest(self.url(self.models_path), self.auth_headers(credential), {})

    def next_cursor(self, page: dict) -> str | None:
        """The cursor of the page after this one, or None (most catalogs come in one page)."""
        return None

    def fetch_model_pages(self, credential: Credential, get_json: GetJson) -> list[dict]:
        pages, cursor, seen = [], None, set()
        while len(pages) < MAX_MODEL_PAGES:
            request = self.models_request(credential, cursor)
            page = get_json(request.url, request.headers, request.params)
            pages.append(page)
            cursor = self.next_cursor(page)
            if cursor is None or cursor in seen:
                break
            seen.add(cursor)
        return pages

    def parse_models(self, pages: list[dict]) -> list[ModelInfo]:
        models, seen = [], set()
        for page in pages:
            for entry in page.get("data") or []:
                model = self.parse_model(entry) if isinstance(entry, dict) and entry.get("id") else None
                if model is not None and model.id not in seen:
                    seen.add(model.id)
                    models.append(model)
        return models

    def list_models(self, credential: Credential) -> list[ModelInfo]:
        def get_json(url, headers, params):
            return self.get_json(url, headers, params, secret=credential.api_key)

        return self.parse_models(self.fetch_model_pages(credential, get_json))

    # --- streaming chat -----------------------------------------------------------------------
    def stream_chat(self, target: ChatTarget, messages: list[dict]) -> Iterator[TextDelta | Finish]:
        secret = target.credential.api_key
        url = self.url(self.chat_path)
        headers = {**self.auth_headers(target.credential), "Accept": "text/event-stream"}
        body = self.chat_body(target, messages)
        self.before_request(url)
        started = False
        try:
            # Opened inside the generator: closing the generator (client gone) closes the upstream.
            with self.client.stream("POST", parsed_url(url), headers=headers, json=body) as response:
                if response.status_code >= 300:
                    response.read()
                    raise self.status_error(response, secret)
                kind = wire.media_type(response)
                if kind == "application/json":
                    response.read()
                    yield from self._complete_answer(response.text, secret)
                    return
                if kind != "text/event-stream":
                    raise wire.malformed(f"content-type {kind or 'missing'} instead of a stream", label=self.label)
                started = True
                events = event_source(response).iter_sse()
                for item in self.parse_stream(events, secret):
                    if isinstance(item, Finish):
                        _drain(events)
                    yield item
        except httpx.HTTPError as exc:
            raise wire.transport_error(exc, label=self.label, streaming=started) from None

    def _complete_answer(self, body: str, secret: str) -> Iterator[TextDelta | Finish]:
        """A 200 with JSON: usually an error body; some servers ignore stream=true and answer whole."""
        try:
            payload = wire.parse_chunk(body, label=self.label)
        except ProviderError:
            raise wire.json_body_error(body, secret=secret, label=self.label) from None
        error, _ = wire.embedded_error(payload)
        if error is not None:
            raise wire.json_body_error(body, secret=secret, label=self.label)
        try:
            text, finish_reason, usage = self.parse_answer(payload)
        except (AttributeError, LookupError, TypeError):
            raise wire.json_body_error(body, secret=secret, label=self.label) from None
        if not text:
            raise ProviderError(EMPTY_RESPONSE, f"{self.label} answered with no content")
        yield TextDelta(text)
        yield Finish(finish_reason, usage)

    # --- test connection ----------------------------------------------------------------------
    def verify_key(self, credential: Credential) -> tuple[str, dict | None]:
        """Prove the key works with a call that costs nothing; return (message, key facts)."""
        request = self.models_request(credential)
        self.get_json(request.url, request.headers, request.params, secret=credential.api_key)
        return "Key accepted.", None

    def verify_model(self, credential: Credential, model: str) -> str:
        """Prove the model exists for this key (default: look it up in the catalog)."""
        if not any(m.id == model for m in self.list_models(credential)):
            raise ProviderError(MODEL_NOT_FOUND, f"“{model}” is not in this key's {self.label} catalog.", status=404)
        return f"“{model}” is available to this key."

    def verify_stream(self, credential: Credential, model: str) -> str:
        target = ChatTarget(None, "test connection", self.id, model, credential, {"max_tokens": 1})
        text = []
        for event in self.stream_chat(target, DEEP_CHECK_PROMPT):
            if isinstance(event, TextDelta):
                text.append(event.text)
        return f"Streamed a completion ({len(''.join(text))} characters)."

    def check(self, credential: Credential, model: str, deep: bool = False) -> CheckResult:
        steps = StepRunner(base_url=self.base_url)
        key_info = (steps.run("key", lambda: self.verify_key(credential)) or (None, None))[1]
        if steps.ok and model:
            steps.run("model", lambda: (self.verify_model(credential, model), None))
        if steps.ok and model and deep:
            steps.run("stream", lambda: (self.verify_stream(credential, model), None))
        return CheckResult(ok=steps.ok, steps=steps.steps, key_info=key_info)
