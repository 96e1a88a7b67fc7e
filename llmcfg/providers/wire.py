"""Turning what an upstream said (status, headers, body, transport failure) into one ProviderError.

Shared by every adapter and by the catalog cache, so a 429 means the same thing everywhere.
"""

import json
import re
import time
from email.utils import parsedate_to_datetime

import httpx
import orjson

from .base import (
    AUTH_FAILED,
    BAD_REQUEST,
    CONFLICT,
    CONNECTION_ERROR,
    FORBIDDEN,
    MALFORMED_STREAM,
    MODEL_NOT_FOUND,
    OVERLOADED,
    PAYMENT_REQUIRED,
    RATE_LIMITED,
    REQUEST_TOO_LARGE,
    SERVER_ERROR,
    STREAM_ERROR,
    TIMEOUT,
    TRUNCATED_STREAM,
    UNPROCESSABLE,
    UPSTREAM_ERROR,
    ProviderError,
)

STATUS_REASONS = {
    400: BAD_REQUEST,
    401: AUTH_FAILED,
    402: PAYMENT_REQUIRED,
    403: FORBIDDEN,
    404: MODEL_NOT_FOUND,
    408: TIMEOUT,
    409: CONFLICT,
    413: REQUEST_TOO_LARGE,
    422: UNPROCESSABLE,
    429: RATE_LIMITED,
    503: OVERLOADED,
    504: TIMEOUT,
    524: TIMEOUT,  # Cloudflare-style origin timeout (OpenRouter)
    529: OVERLOADED,  # Anthropic
}

# Anthropic names its errors instead of numbering them; these are the HTTP codes they stand for.
ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# OpenAI (and servers copying it) names its errors with words in `code` or `type`.
OPENAI_ERROR_STATUS = {
    "invalid_api_key": 401,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "requests": 429,
    "tokens": 429,
    "server_error": 500,
    "server_is_overloaded": 503,
    "service_unavailable_error": 503,
    "context_length_exceeded": 400,
}

MAX_MESSAGE_CHARS = 300
# Things shaped like provider keys (sk-…, sk-ant-…, sk-or-v1-…, sk-proj-…), masked or not.
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}")


def reason_for_status(status: int) -> str:
    if status in STATUS_REASONS:
        return STATUS_REASONS[status]
    return SERVER_ERROR if status >= 500 else UPSTREAM_ERROR


def scrub(text: str, secret: str | None = None) -> str:
    """Trim an upstream message and remove anything that could be (part of) a key."""
    text = " ".join(str(text).split())
    if secret:
        text = text.replace(secret, "[key]")
    text = _KEY_LIKE.sub("[key]", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def parse_retry_after(headers, now: float | None = None) -> float | None:
    """Seconds to wait, from retry-after-ms, then retry-after (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def embedded_error(payload) -> tuple[dict | None, int | None]:
    """Find the error object in a JSON body or chunk and the HTTP status it stands for, if any."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and 100 <= code <= 599:
        return error, code
    kind = error.get("type")
    named = OPENAI_ERROR_STATUS.get(code) or ANTHROPIC_ERROR_STATUS.get(kind) or OPENAI_ERROR_STATUS.get(kind)
    return error, named


def error_text(error: dict | None) -> str | None:
    """The provider's own words: its message, plus OpenRouter's upstream detail when it has one."""
    if not error:
        return None
    message = error.get("message") or error.get("type") or ""
    raw = (error.get("metadata") or {}).get("raw") if isinstance(error.get("metadata"), dict) else None
    if isinstance(raw, str) and raw and raw not in message:
        message = f"{message}: {raw}" if message else raw
    return str(message) or None


def body_message(body: str) -> tuple[str | None, int | None]:
    """Return (message, embedded status) from an error body: JSON as each provider shapes it, else text."""
    try:
        payload = json.loads(body)
    except ValueError:
        text = body.strip()
        looks_like_html = text[:1] == "<"
        return (None if looks_like_html or not text else text), None
    error, code = embedded_error(payload)
    return error_text(error), code


def status_error(status: int, headers, body: str, *, secret: str | None, label: str) -> ProviderError:
    """Map a non-2xx answer to ProviderError, keeping the provider's message and Retry-After."""
    message, _ = body_message(body)
    message = scrub(message, secret) if message else f"{label} answered HTTP {status}"
    return ProviderError(reason_for_status(status), message, status=status, retry_after=parse_retry_after(headers))


def stream_error(error: dict | None, code: int | None, *, secret: str | None, label: str) -> ProviderError:
    """An error reported inside a 200 stream: fallback may engage; the status says what kind."""
    message = error_text(error)
    message = scrub(message, secret) if message else f"{label} reported an error mid-stream"
    return ProviderError(STREAM_ERROR, message, status=code)


def json_body_error(body: str, *, secret: str | None, label: str) -> ProviderError:
    """A 200 whose body is a JSON error instead of a stream: treat it as the status it names."""
    message, code = body_message(body)
    message = scrub(message, secret) if message else f"{label} answered with JSON instead of a stream"
    if code is not None and code >= 400:
        return ProviderError(reason_for_status(code), message, status=code)
    return ProviderError(STREAM_ERROR, message, status=code)


def malformed(detail: str, *, label: str) -> ProviderError:
    return ProviderError(MALFORMED_STREAM, f"{label} sent an unreadable stream chunk ({detail})")


def transport_error(exc: Exception, *, label: str, streaming: bool = False) -> ProviderError:
    """Map an httpx transport failure; `streaming` means the answer had already started."""
    detail = scrub(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        what = "waiting for the next chunk" if streaming else "waiting for an answer"
        if isinstance(exc, httpx.ConnectTimeout):
            what = "connecting"
        return ProviderError(TIMEOUT, f"Timed out {what} ({label})")
    if streaming and isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ProviderError(TRUNCATED_STREAM, f"{label} closed the connection mid-answer ({detail})")
    return ProviderError(CONNECTION_ERROR, f"Cannot reach {label} ({detail})")


def parse_chunk(data: str, *, label: str) -> dict:
    """One streamed event's JSON object (one per token, so read with orjson, at a fraction of the CPU).

    orjson refuses a few things the standard library reads (a lone surrogate escape, NaN); those
    get a second reading there, so no chunk that parsed before fails now.
    """
    try:
        chunk = orjson.loads(data)
    except ValueError:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise malformed("invalid JSON", label=label) from None
    if not isinstance(chunk, dict):
        raise malformed("not a JSON object", label=label)
    return chunk


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def json_object(response, *, label: str) -> dict:
    """The body of a successful answer as a JSON object, or ProviderError in plain words."""
    try:
        payload = response.json()
    except ValueError:
        raise ProviderError(UPSTREAM_ERROR, f"{label} answered with something that is not JSON") from None
    if not isinstance(payload, dict):
        raise ProviderError(UPSTREAM_ERROR, f"{label} answered with unexpected JSON")
    return payload
