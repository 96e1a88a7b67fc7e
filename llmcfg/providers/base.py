"""What every provider adapter shares: plain data types, the one error type, and the adapter shape.

Everything here is Flask-free, so the fallback engine and the benchmarks can use adapters alone.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

# Explicit timeouts: a stalled upstream must become a fallback, not a hung worker.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)

# Reason codes carried by ProviderError (and shown in `fallback` / `error` events).
RATE_LIMITED = "rate_limited"          # 429
OVERLOADED = "overloaded"              # 529, 503
SERVER_ERROR = "server_error"          # other 5xx
TIMEOUT = "timeout"                    # connect/read timeout, 408, 504, 524
CONNECTION_ERROR = "connection_error"  # refused, reset, DNS
EMPTY_RESPONSE = "empty_response"      # 200 stream with no content (the incident)
TRUNCATED_STREAM = "truncated_stream"  # stream cut off without its terminator
STREAM_ERROR = "stream_error"          # provider error event inside a 200 stream
MALFORMED_STREAM = "malformed_stream"  # a chunk that is not valid JSON / not the wire format
AUTH_FAILED = "auth_failed"            # 401
FORBIDDEN = "forbidden"                # 403
PAYMENT_REQUIRED = "payment_required"  # 402 (credits, billing)
MODEL_NOT_FOUND = "model_not_found"    # 404
CONFLICT = "conflict"                  # 409
BAD_REQUEST = "bad_request"            # 400: the request itself is wrong
REQUEST_TOO_LARGE = "request_too_large"  # 413
UNPROCESSABLE = "unprocessable"        # 422
BLOCKED_URL = "blocked_url"            # SSRF guard refused the base URL
UPSTREAM_ERROR = "upstream_error"      # anything else

# The request itself is wrong: another model would fail the same way (design §4).
NO_FALLBACK_REASONS = {BAD_REQUEST, REQUEST_TOO_LARGE, UNPROCESSABLE, BLOCKED_URL}

PLAIN_WORDS = {
    RATE_LIMITED: "rate-limited",
    OVERLOADED: "overloaded",
    SERVER_ERROR: "upstream server error",
    TIMEOUT: "timed out",
    CONNECTION_ERROR: "cannot reach the provider",
    EMPTY_RESPONSE: "answered with no content",
    TRUNCATED_STREAM: "answer cut off",
    STREAM_ERROR: "provider reported an error mid-answer",
    MALFORMED_STREAM: "provider sent an unreadable answer",
    AUTH_FAILED: "the API key was rejected",
    FORBIDDEN: "access denied by the provider",
    PAYMENT_REQUIRED: "out of credits",
    MODEL_NOT_FOUND: "model not found",
    CONFLICT: "conflict upstream",
    BAD_REQUEST: "the provider rejected the request",
    REQUEST_TOO_LARGE: "the request is too large",
    UNPROCESSABLE: "the provider could not process the request",
    BLOCKED_URL: "base URL not allowed",
    UPSTREAM_ERROR: "upstream error",
}


class ProviderError(Exception):
    """Any upstream failure, normalized. The message is safe to show: it never contains a key."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        fallback: bool | None = None,
    ):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds, when the upstream said (Retry-After & co.)
        self.fallback = reason not in NO_FALLBACK_REASONS if fallback is None else fallback

    @property
    def plain(self) -> str:
        return PLAIN_WORDS.get(self.reason, self.reason.replace("_", " "))

    def __repr__(self) -> str:
        return f"ProviderError({self.reason!r}, status={self.status}, fallback={self.fallback})"


# Every provider's key is one run of visible ASCII. A space, line break or non-ASCII character
# (a zero-width space or a wrapped line picked up while copying) cannot go into an HTTP header as is.
_SENDABLE_KEY = re.compile(r"[\x21-\x7e]+")
UNSENDABLE_KEY = ("The API key has a space, line break or non-ASCII character in it, often picked up "
                  "while copying it; paste the key again.")


def key_problem(api_key: str) -> str | None:
    """Return why a key, as typed (surrounding whitespace removed), cannot be stored; None when it can."""
    return None if _SENDABLE_KEY.fullmatch(api_key.strip()) else UNSENDABLE_KEY


@dataclass(frozen=True)
class Credential:
    """A decrypted key, only ever held in memory for the length of one request."""

    provider: str
    api_key: str = field(repr=False)
    base_url: str | None = None
    id: int | None = None  # the stored credential's id; None for an unsaved key from a form

    def sendable_key(self) -> str:
        """Return the key to put in a header, or raise ProviderError in plain words when it cannot go in one.

        Keys are checked when they are stored; this catches one stored before that check existed.
        """
        if _SENDABLE_KEY.fullmatch(self.api_key):
            return self.api_key
        raise ProviderError(AUTH_FAILED, "The stored API key has a space, line break or non-ASCII character in it, "
                            "so it cannot be sent; replace the key.")


@dataclass(frozen=True)
class ChatTarget:
    """One config, as the runtime needs it: what to call and with which key."""

    config_id: int | None
    name: str
    provider: str
    model: str
    credential: Credential
    params: dict = field(default_factory=dict)  # temperature, max_tokens, system

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    context_length: int | None = None
    prompt_price: float | None = None      # USD per million tokens
    completion_price: float | None = None  # USD per million tokens
    free: bool = False
    created: int | None = None             # unix seconds


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finish:
    finish_reason: str | None
    usage: dict | None = None


@dataclass
class CheckStep:
    name: str       # "key", "model", "stream"
    ok: bool
    message: str    # plain words
    elapsed_ms: int
    reason: str | None = None


@dataclass
class CheckResult:
    ok: bool
    steps: list[CheckStep]
    key_info: dict | None = None  # OpenRouter: free tier, limit, remaining


class Provider:
    """The adapter shape. Subclasses set id/label/default base URL and implement the three calls."""

    id: str = ""
    label: str = ""

    def __init__(self, client: httpx.Client, base_url: str):
        self.client = client
        self.base_url = base_url.rstrip("/")

    def list_models(self, credential: Credential) -> list[ModelInfo]:
        raise NotImplementedError

    def check(self, credential: Credential, model: str, deep: bool = False) -> CheckResult:
        raise NotImplementedError

    def stream_chat(self, target: ChatTarget, messages: list[dict]) -> Iterator[TextDelta | Finish]:
        """Yield TextDelta events then exactly one Finish, or raise ProviderError.

        A stream with no text at all raises ProviderError(EMPTY_RESPONSE); the upstream response
        is closed when the generator is closed (client gone).
        """
        raise NotImplementedError
