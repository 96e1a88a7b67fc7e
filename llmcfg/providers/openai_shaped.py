"""The OpenAI wire format, shared by OpenAI, OpenRouter and every OpenAI-compatible server.

Data-only SSE chunks, a usage chunk with empty `choices`, and `data: [DONE]` at the end.
Comment lines (OpenRouter's `: OPENROUTER PROCESSING`) are dropped by httpx-sse.
"""

from collections.abc import Iterator

from . import wire
from .adapter import HTTPProvider
from .base import EMPTY_RESPONSE, TRUNCATED_STREAM, ChatTarget, Credential, Finish, ModelInfo, ProviderError, TextDelta

DONE = "[DONE]"


def system_first(messages: list[dict], system: str | None) -> list[dict]:
    """Put the config's system prompt first, unless the conversation already brings one."""
    messages = [dict(m) for m in messages]
    if system and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def normalize_usage(usage: dict | None) -> dict | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    normalized = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }
    if usage.get("cost") is not None:
        normalized["cost"] = usage["cost"]  # OpenRouter: USD spent on this answer
    return normalized


class OpenAIShapedProvider(HTTPProvider):
    max_tokens_field = "max_tokens"

    def auth_headers(self, credential: Credential) -> dict:
        return {"Authorization": f"Bearer {credential.sendable_key()}"}

    def chat_body(self, target: ChatTarget, messages: list[dict]) -> dict:
        params = target.params or {}
        body = {
            "model": target.model,
            "messages": system_first(messages, params.get("system")),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.get("temperature") is not None:
            body["temperature"] = params["temperature"]
        if params.get("max_tokens"):
            body[self.max_tokens_field] = int(params["max_tokens"])
        return body

    def parse_stream(self, events, secret: str) -> Iterator[TextDelta | Finish]:
        said, finish_reason, usage, done = False, None, None, False
        for event in events:
            data = event.data.strip()
            if data == DONE:
                done = True
                break
            if not data:
                continue
            chunk = wire.parse_chunk(data, label=self.label)
            error, code = wire.embedded_error(chunk)
            if error is not None:
                raise wire.stream_error(error, code, secret=secret, label=self.label)
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if isinstance(text, str) and text:
                    said = True
                    yield TextDelta(text)
                if choice.get("finish_reason") == "error":
                    raise wire.stream_error(None, None, secret=secret, label=self.label)
                finish_reason = choice.get("finish_reason") or finish_reason
            usage = normalize_usage(chunk.get("usage")) or usage
        if not said:
            ended = "ended properly" if done else "ended without [DONE]"
            raise ProviderError(EMPTY_RESPONSE, f"{self.label} answered with no content (the stream {ended})")
        if not done:
            raise ProviderError(TRUNCATED_STREAM, f"{self.label} stopped mid-answer (no [DONE])")
        yield Finish(finish_reason, usage)

    def parse_answer(self, payload: dict) -> tuple[str, str | None, dict | None]:
        choice = payload["choices"][0]
        return (
            (choice["message"].get("content") or ""),
            choice.get("finish_reason"),
            normalize_usage(payload.get("usage")),
        )

    def parse_model(self, entry: dict) -> ModelInfo | None:
        context = entry.get("context_length") or entry.get("max_model_len")  # vLLM says max_model_len
        return ModelInfo(
            id=str(entry["id"]),
            name=str(entry.get("name") or entry["id"]),
            context_length=int(context) if isinstance(context, int | float) else None,
            created=int(entry["created"]) if isinstance(entry.get("created"), int | float) else None,
        )
