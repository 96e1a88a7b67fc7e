"""Anthropic: x-api-key, the Messages API with named SSE events, and a paginated models list."""

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

from . import wire
from .adapter import HTTPProvider, ModelsRequest
from .base import EMPTY_RESPONSE, TRUNCATED_STREAM, ChatTarget, Credential, Finish, ModelInfo, ProviderError, TextDelta

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; configs may leave it out
MODELS_PAGE_SIZE = 100


def split_system(messages: list[dict], system: str | None) -> tuple[str | None, list[dict]]:
    """Anthropic takes the system prompt as a top-level field, not as a message."""
    parts = [system] if system else []
    rest = []
    for message in messages:
        if message.get("role") == "system":
            parts.append(str(message.get("content") or ""))
        else:
            rest.append({"role": message.get("role"), "content": message.get("content")})
    return ("\n\n".join(p for p in parts if p) or None), rest


def unix_seconds(value) -> int | None:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def normalize_usage(usage: dict) -> dict | None:
    if not usage:
        return None
    prompt = usage.get("input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class AnthropicProvider(HTTPProvider):
    id = "anthropic"
    label = "Anthropic"
    chat_path = "/messages"

    def auth_headers(self, credential: Credential) -> dict:
        return {"x-api-key": credential.sendable_key(), "anthropic-version": API_VERSION}

    def chat_body(self, target: ChatTarget, messages: list[dict]) -> dict:
        params = target.params or {}
        system, rest = split_system(messages, params.get("system"))
        body = {
            "model": target.model,
            "max_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
            "messages": rest,
            "stream": True,
        }
        if system:
            body["system"] = system
        if params.get("temperature") is not None:
            body["temperature"] = params["temperature"]
        return body

    def parse_stream(self, events, secret: str) -> Iterator[TextDelta | Finish]:
        said, stop_reason, usage, done = False, None, {}, False
        for event in events:
            if event.event == "ping" or not event.data.strip():
                continue
            data = wire.parse_chunk(event.data, label=self.label)
            kind = event.event or data.get("type")
            if kind == "error":
                error, code = wire.embedded_error(data)
                raise wire.stream_error(error, code, secret=secret, label=self.label)
            if kind == "message_start":
                usage.update((data.get("message") or {}).get("usage") or {})
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    said = True
                    yield TextDelta(delta["text"])
            elif kind == "message_delta":
                stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                usage.update(data.get("usage") or {})  # cumulative counts
            elif kind == "message_stop":
                done = True
                break
            # Anything else (content_block_start/stop, thinking deltas, new event types) is ignored.
        if not said:
            ended = "ended properly" if done else "ended without message_stop"
            raise ProviderError(EMPTY_RESPONSE, f"{self.label} answered with no content (the stream {ended})")
        if not done:
            raise ProviderError(TRUNCATED_STREAM, f"{self.label} stopped mid-answer (no message_stop)")
        yield Finish(stop_reason, normalize_usage(usage))

    def parse_answer(self, payload: dict) -> tuple[str, str | None, dict | None]:
        text = "".join(b.get("text", "") for b in payload["content"] if b.get("type") == "text")
        return text, payload.get("stop_reason"), normalize_usage(payload.get("usage") or {})

    # --- catalog: paginated with has_more / last_id ---------------------------------------------
    def models_request(self, credential: Credential, cursor: str | None = None) -> ModelsRequest:
        params = {"limit": MODELS_PAGE_SIZE}
        if cursor:
            params["after_id"] = cursor
        return ModelsRequest(self.url(self.models_path), self.auth_headers(credential), params)

    def next_cursor(self, page: dict) -> str | None:
        return page.get("last_id") if page.get("has_more") and page.get("last_id") else None

    def parse_model(self, entry: dict) -> ModelInfo | None:
        context = entry.get("max_input_tokens")
        return ModelInfo(
            id=str(entry["id"]),
            name=str(entry.get("display_name") or entry["id"]),
            context_length=int(context) if isinstance(context, int | float) else None,
            created=unix_seconds(entry.get("created_at")),
        )

    def verify_key(self, credential: Credential) -> tuple[str, dict | None]:
        request = self.models_request(credential)
        self.get_json(request.url, request.headers, {"limit": 1}, secret=credential.api_key)
        return "Key accepted.", None

    def verify_model(self, credential: Credential, model: str) -> str:
        url = self.url(f"{self.models_path}/{quote(model, safe='')}")
        self.get_json(url, self.auth_headers(credential), secret=credential.api_key)
        return f"“{model}” is available to this key."
