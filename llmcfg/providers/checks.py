"""Test connection, step by step: each step timed, and a failure told in plain words."""

import time
from collections.abc import Callable

from .base import (
    AUTH_FAILED,
    BLOCKED_URL,
    CONNECTION_ERROR,
    EMPTY_RESPONSE,
    FORBIDDEN,
    MODEL_NOT_FOUND,
    OVERLOADED,
    PAYMENT_REQUIRED,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    CheckStep,
    ProviderError,
)

STEP_TITLES = {"key": "API key", "model": "Model", "stream": "Test completion"}

# What a failure means, per step where the words differ (the key step's 404 is a wrong base URL).
FAILURE_WORDS = {
    AUTH_FAILED: "Bad key: the provider rejected it",
    FORBIDDEN: "The key is not allowed to do this",
    PAYMENT_REQUIRED: "The account is out of credits",
    MODEL_NOT_FOUND: "Model not found for this key",
    RATE_LIMITED: "Rate-limited right now",
    OVERLOADED: "The provider is overloaded right now",
    SERVER_ERROR: "The provider is down right now",
    TIMEOUT: "Timed out",
    CONNECTION_ERROR: "Cannot reach the base URL",
    BLOCKED_URL: "This base URL is not allowed",
    EMPTY_RESPONSE: "The model answered with no content",
}
KEY_STEP_WORDS = {MODEL_NOT_FOUND: "The base URL does not look like an API root (the models list was not found)"}
STREAM_STEP_WORDS = {RATE_LIMITED: "The model is listed but rate-limited right now"}


def failure_message(step: str, error: ProviderError, base_url: str | None = None) -> str:
    words = {"key": KEY_STEP_WORDS, "stream": STREAM_STEP_WORDS}.get(step, {}).get(error.reason)
    words = words or FAILURE_WORDS.get(error.reason) or error.plain.capitalize()
    if error.reason == AUTH_FAILED and error.status is None:
        words = "Bad key"  # refused before sending (sendable_key), so no provider has seen it
    if error.reason == CONNECTION_ERROR and base_url:
        words = f"{words} {base_url}"
    details = [error.message]
    if error.status:
        details.append(f"HTTP {error.status}")
    if error.retry_after is not None:
        details.append(f"retry after {error.retry_after:g} s")
    return f"{words} — " + "; ".join(details)


class StepRunner:
    """Run steps in order, timing each; the first failure marks the whole check failed."""

    def __init__(self, base_url: str | None = None, clock: Callable[[], float] = time.perf_counter):
        self.base_url = base_url
        self.clock = clock
        self.steps: list[CheckStep] = []
        self.ok = True

    def run(self, name: str, call: Callable[[], tuple[str, object]]):
        """Run call() -> (message, extra); record the step; return the pair, or None on failure."""
        started = self.clock()
        try:
            message, extra = call()
        except ProviderError as error:
            self.ok = False
            self.steps.append(
                CheckStep(name, False, failure_message(name, error, self.base_url), self._ms(started), error.reason)
            )
            return None
        self.steps.append(CheckStep(name, True, message, self._ms(started)))
        return message, extra

    def _ms(self, started: float) -> int:
        return max(0, round((self.clock() - started) * 1000))
