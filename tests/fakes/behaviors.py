"""What a scripted fake upstream does for one request: answer, fail, stall, cut, garble …

Build one with a constructor below and hand it to `FakeUpstream.script(...)`:

    Behavior.ok("Hi there", delay=0.01)      stream these words (one token per word)
    Behavior.ok(tokens=200, delay=0.02)      stream 200 generated tokens, 20 ms apart
    Behavior.http(429, retry_after="30")     the provider's own error body with that status
    Behavior.http(502)                       502 with an HTML page (as gateways send it)
    Behavior.http(529)                       Anthropic's overloaded_error
    Behavior.redirect("http://elsewhere/")   307 pointing somewhere else (clients must not follow)
    Behavior.stall()                         accept, read the request, never answer
    Behavior.stall_mid_stream(after=2)       send 2 tokens, then go silent
    Behavior.cut(after=2)                    send 2 tokens, then drop the connection
    Behavior.truncated(after=2)              send 2 tokens, then end the body without a terminator
    Behavior.malformed(after=1)              send 1 token, then a chunk that is not JSON
    Behavior.zero_events()                   200 text/event-stream with an empty body
    Behavior.keepalive_only()                200 with only keep-alive comments (pings), then EOF
    Behavior.no_content()                    role chunk + stop + terminator, no text at all
    Behavior.error_event(after=1, code=429)  the provider's documented mid-stream error event
    Behavior.json_error(code=429)            200 application/json carrying an error body
    Behavior.open_after_end("Hi")            the whole answer and its end marker, then never end the body
"""

import re
from dataclasses import dataclass, replace

OK = "ok"
HTTP = "http"
STALL = "stall"
STALL_MID_STREAM = "stall_mid_stream"
CUT = "cut"
TRUNCATED = "truncated"
MALFORMED = "malformed"
ZERO_EVENTS = "zero_events"
KEEPALIVE_ONLY = "keepalive_only"
NO_CONTENT = "no_content"
ERROR_EVENT = "error_event"
JSON_ERROR = "json_error"
OPEN_AFTER_END = "open_after_end"  # a whole answer, end marker included, then the body never ends

# Mid-stream failures: these send `after` tokens first.
AFTER_TOKENS = {STALL_MID_STREAM, CUT, TRUNCATED, MALFORMED, ERROR_EVENT}


@dataclass(frozen=True)
class Behavior:
    kind: str = OK
    text: str | None = None  # None: "Hello from <model>."
    tokens: int | None = None  # generate this many tokens instead of `text`
    delay: float = 0.0  # seconds before each token (slow tokens)
    after: int = 0  # tokens sent before a mid-stream failure
    status: int | None = None  # HTTP status (HTTP) or the code embedded in an error (ERROR_EVENT, JSON_ERROR)
    retry_after: str | None = None  # Retry-After header value (seconds or an HTTP date)
    retry_after_ms: str | None = None  # retry-after-ms header value
    message: str | None = None  # error message override
    location: str | None = None  # Location header (redirects)

    @classmethod
    def ok(cls, text: str | None = None, *, tokens: int | None = None, delay: float = 0.0) -> "Behavior":
        return cls(OK, text=text, tokens=tokens, delay=delay)

    @classmethod
    def slow(cls, delay: float = 0.05, *, text: str | None = None, tokens: int | None = None) -> "Behavior":
        return cls(OK, text=text, tokens=tokens, delay=delay)

    @classmethod
    def http(
        cls,
        status: int,
        *,
        retry_after: str | None = None,
        retry_after_ms: str | None = None,
        message: str | None = None,
    ) -> "Behavior":
        return cls(HTTP, status=status, retry_after=retry_after, retry_after_ms=retry_after_ms, message=message)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> "Behavior":
        return cls(HTTP, status=status, location=location, message="Moved")

    @classmethod
    def stall(cls) -> "Behavior":
        return cls(STALL)

    @classmethod
    def open_after_end(cls, text: str | None = None) -> "Behavior":
        return cls(OPEN_AFTER_END, text=text)

    @classmethod
    def stall_mid_stream(cls, after: int = 2) -> "Behavior":
        return cls(STALL_MID_STREAM, after=after)

    @classmethod
    def cut(cls, after: int = 2) -> "Behavior":
        return cls(CUT, after=after)

    @classmethod
    def truncated(cls, after: int = 2) -> "Behavior":
        return cls(TRUNCATED, after=after)

    @classmethod
    def malformed(cls, after: int = 1) -> "Behavior":
        return cls(MALFORMED, after=after)

    @classmethod
    def zero_events(cls) -> "Behavior":
        return cls(ZERO_EVENTS)

    @classmethod
    def keepalive_only(cls) -> "Behavior":
        return cls(KEEPALIVE_ONLY)

    @classmethod
    def no_content(cls) -> "Behavior":
        return cls(NO_CONTENT)

    @classmethod
    def error_event(cls, after: int = 1, *, code: int | None = None, message: str | None = None) -> "Behavior":
        return cls(ERROR_EVENT, after=after, status=code, message=message)

    @classmethod
    def json_error(cls, code: int = 429, *, message: str | None = None) -> "Behavior":
        return cls(JSON_ERROR, status=code, message=message)

    def with_delay(self, delay: float) -> "Behavior":
        return replace(self, delay=delay)

    def words(self, model: str) -> list[str]:
        """The tokens this behavior streams (a token is a word with its trailing space)."""
        if self.tokens is not None:
            return [f"w{i} " for i in range(self.tokens - 1)] + [f"w{self.tokens - 1}."] if self.tokens else []
        text = self.text if self.text is not None else f"Hello from {model}."
        return re.findall(r"\s*\S+\s*", text) if text.strip() else []
