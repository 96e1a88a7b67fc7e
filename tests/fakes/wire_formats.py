"""How each provider writes its answers on the wire: error bodies, stream events, keep-alives.

Shapes follow the providers reference (recorded streams and documented error bodies).
"""

import json
import time
import uuid

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


OPENROUTER_RAW_429 = "google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry shortly."


def sse(data: dict | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class OpenAIFormat:
    """OpenAI: data-only chunks, a usage chunk with empty choices, `data: [DONE]`."""

    provider = "openai"
    keepalive = b": keep-alive\n\n"

    # --- error bodies -------------------------------------------------------------------------
    ERROR_TYPES = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "requests",
        500: "server_error",
        503: "service_unavailable_error",
    }
    ERROR_MESSAGES = {
        400: "Invalid request.",
        402: "You have no credits remaining.",
        403: "Country, region, or territory not supported",
        404: "The requested resource does not exist.",
        408: "Request timed out.",
        409: "Conflict.",
        413: "Request too large.",
        422: "Unprocessable request.",
        429: "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        500: "The server had an error while processing your request. Sorry about that!",
        503: "Our servers are currently overloaded. Please try again later.",
        504: "Gateway timeout.",
        529: "Overloaded.",
    }

    def error(self, status: int, message: str | None = None) -> dict:
        codes = {429: "rate_limit_exceeded", 503: "server_is_overloaded", 404: "model_not_found"}
        return {
            "error": {
                "message": message or self.ERROR_MESSAGES.get(status, f"Error {status}"),
                "type": self.ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": codes.get(status),
            }
        }

    def bad_key(self, key: str | None) -> dict:
        if not key:
            return {
                "error": {
                    "message": "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
        masked = f"{key[:8]}****{key[-4:]}"
        return {
            "error": {
                "message": f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }

    def model_not_found(self, model: str) -> tuple[int, dict]:
        return 404, {
            "error": {
                "message": f"The model `{model}` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        }

    def mid_stream_error(self, model: str, code: int | None, message: str | None) -> bytes:
        return sse(
            {
                "error": {
                    "message": message or "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": code,
                }
            }
        )

    # --- the stream ---------------------------------------------------------------------------
    def new_stream(self, model: str, request: dict) -> dict:
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "model": model,
            "created": int(time.time()),
            "include_usage": include_usage,
        }

    def _chunk(self, state: dict, choices: list, **extra) -> dict:
        chunk = {
            "id": state["id"],
            "object": "chat.completion.chunk",
            "created": state["created"],
            "model": state["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
            "choices": choices,
        }
        if state["include_usage"]:
            chunk["usage"] = None
        chunk.update(extra)
        return chunk

    def _choice(self, delta: dict, finish: str | None = None) -> dict:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def opening(self, state: dict) -> list[bytes]:
        return [sse(self._chunk(state, [self._choice({"role": "assistant", "content": "", "refusal": None})]))]

    def token(self, state: dict, text: str) -> bytes:
        return sse(self._chunk(state, [self._choice({"content": text})]))

    def closing(self, state: dict, finish: str, usage: dict) -> list[bytes]:
        events = [sse(self._chunk(state, [self._choice({}, self.finish_name(finish))]))]
        if state["include_usage"]:
            events.append(sse(self._chunk(state, [], usage=usage)))
        return events + [b"data: [DONE]\n\n"]

    def finish_name(self, finish: str) -> str:
        return finish  # "stop" / "length"

    def malformed(self, state: dict) -> bytes:
        return b'data: {"id":"' + state["id"].encode() + b'","choices":[{"delta":{"content":"oo\n\n'

    def usage(self, prompt: int, completion: int) -> dict:
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


class OpenRouterFormat(OpenAIFormat):
    """OpenRouter: OpenAI-shaped chunks, keep-alive comments, `{"error":{"code":N,…}}` bodies."""

    provider = "openrouter"
    keepalive = b": OPENROUTER PROCESSING\n\n"

    def error(self, status: int, message: str | None = None) -> dict:
        if status == 429 and not message:
            return {
                "error": {
                    "message": "Provider returned error",
                    "code": 429,
                    "metadata": {
                        "raw": OPENROUTER_RAW_429,
                        "provider_name": "Google AI Studio",
                    },
                },
                "user_id": "user_fake",
            }
        return {
            "error": {"message": message or self.ERROR_MESSAGES.get(status, f"Error {status}"), "code": status},
            "user_id": "user_fake",
        }

    def bad_key(self, key: str | None) -> dict:
        return {"error": {"message": "User not found." if key else "No auth credentials found", "code": 401}}

    def model_not_found(self, model: str) -> tuple[int, dict]:
        return 400, {"error": {"message": f"{model} is not a valid model ID", "code": 400}}

    def mid_stream_error(self, model: str, code: int | None, message: str | None) -> bytes:
        return sse(
            {
                "id": "gen-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "provider": "OpenAI",
                "error": {
                    "code": code or 502,
                    "message": message or "Provider disconnected",
                    "metadata": {"error_type": "rate_limit_exceeded" if code == 429 else "provider_unavailable"},
                },
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
            }
        )

    def new_stream(self, model: str, request: dict) -> dict:
        state = super().new_stream(model, request)
        state["id"] = f"gen-{int(time.time())}-{uuid.uuid4().hex[:20]}"
        return state

    def opening(self, state: dict) -> list[bytes]:
        return [self.keepalive, self.keepalive] + super().opening(state)

    def _chunk(self, state: dict, choices: list, **extra) -> dict:
        chunk = super()._chunk(state, choices, **extra)
        chunk["provider"] = "OpenAI"
        for choice in choices:
            choice["native_finish_reason"] = choice["finish_reason"]
        return chunk

    def usage(self, prompt: int, completion: int) -> dict:
        return {**super().usage(prompt, completion), "cost": round(completion * 6e-7, 8), "is_byok": False}


class AnthropicFormat:
    """Anthropic: named events from message_start to message_stop, pings in between."""

    provider = "anthropic"
    keepalive = b'event: ping\ndata: {"type": "ping"}\n\n'
    ERROR_TYPES = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
    MESSAGES = {
        429: "This request would exceed the rate limit for your organization of 50 requests per minute.",
        529: "Overloaded",
        500: "Internal server error",
        404: "The requested resource could not be found.",
    }

    def error(self, status: int, message: str | None = None) -> dict:
        kind = self.ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message or self.MESSAGES.get(status, kind)},
            "request_id": f"req_{uuid.uuid4().hex[:24]}",
        }

    def bad_key(self, key: str | None) -> dict:
        return self.error(401, "invalid x-api-key")

    def model_not_found(self, model: str) -> tuple[int, dict]:
        return 404, self.error(404, f"model: {model}")

    def mid_stream_error(self, model: str, code: int | None, message: str | None) -> bytes:
        kind = self.ERROR_TYPES.get(code or 529, "api_error")
        return sse(
            {"type": "error", "error": {"type": kind, "message": message or self.MESSAGES.get(code or 529, kind)}},
            "error",
        )

    def new_stream(self, model: str, request: dict) -> dict:
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "model": model}

    def opening(self, state: dict) -> list[bytes]:
        start = {
            "type": "message_start",
            "message": {
                "id": state["id"],
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": state["model"],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": state.get("prompt", 1), "output_tokens": 1},
            },
        }
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        return [sse(start, "message_start"), sse(block, "content_block_start"), self.keepalive]

    def token(self, state: dict, text: str) -> bytes:
        return sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            "content_block_delta",
        )

    def closing(self, state: dict, finish: str, usage: dict) -> list[bytes]:
        return [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.finish_name(finish), "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]

    def finish_name(self, finish: str) -> str:
        return {"stop": "end_turn", "length": "max_tokens"}.get(finish, finish)

    def malformed(self, state: dict) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_del\n\n'

    def usage(self, prompt: int, completion: int) -> dict:
        return {"input_tokens": prompt, "output_tokens": completion}


FORMATS = {
    "openai": OpenAIFormat(),
    "openai_compatible": OpenAIFormat(),
    "openrouter": OpenRouterFormat(),
    "anthropic": AnthropicFormat(),
}
