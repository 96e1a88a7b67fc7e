"""The fallback engine: stream one answer, walking a config's fallback chain when an upstream fails.

Flask-free (tests and benchmarks drive it alone). Given the chain of the config that fires, it
yields the chat events of design §5 — `start`, `token`…, `fallback`, then exactly one `done` or
`error`. It never sleeps on a rate-limited model: the next config is tried at once, and the
failed one is put in cooldown so later requests skip it.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .cooldown import CooldownStore, cooldown_seconds
from .providers.base import (
    AUTH_FAILED,
    BLOCKED_URL,
    FORBIDDEN,
    MODEL_NOT_FOUND,
    PAYMENT_REQUIRED,
    TRUNCATED_STREAM,
    UPSTREAM_ERROR,
    ChatTarget,
    Finish,
    Provider,
    ProviderError,
    TextDelta,
)
from .rules import MAX_FALLBACK_HOPS

log = logging.getLogger(__name__)

COOLING_DOWN = "cooling_down"
COOLDOWN_STATUSES = {429, 503, 529}
# Failures that waiting does not mend: someone has to change the key, the account or the model.
NEEDS_A_FIX = {AUTH_FAILED, FORBIDDEN, PAYMENT_REQUIRED, MODEL_NOT_FOUND, BLOCKED_URL}


@dataclass(frozen=True)
class ChatEvent:
    event: str  # start, token, fallback, done, error
    data: dict

    @property
    def terminal(self) -> bool:
        return self.event in ("done", "error")


@dataclass
class Attempt:
    config_id: int | None
    model: str
    provider: str
    reason: str
    status: int | None
    elapsed_ms: int

    def public(self) -> dict:
        return {"config_id": self.config_id, "model": self.model, "reason": self.reason, "status": self.status}


@dataclass(frozen=True)
class Engagement:
    """One switch (or an exhausted chain when to_config_id is None): a fallback_events row."""

    from_config_id: int | None
    to_config_id: int | None
    reason: str
    status: int | None
    elapsed_ms: int


def _describe(target: ChatTarget) -> dict:
    return {"config_id": target.config_id, "provider": target.provider, "model": target.model}


def _is_cooldown_worthy(err: ProviderError) -> bool:
    return err.status in COOLDOWN_STATUSES or err.reason in ("rate_limited", "overloaded")


def _attempt_words(attempt: Attempt, name: str) -> str:
    status = f" ({attempt.status})" if attempt.status else ""
    plain = ProviderError(attempt.reason, "").plain if attempt.reason != COOLING_DOWN else "cooling down"
    return f"{name} ({attempt.provider}/{attempt.model}) {plain}{status}"


class FallbackEngine:
    """Stream a chat through a chain of configs.

    provider_for builds the adapter for a target; cooldowns remembers rate-limited configs;
    record receives one Engagement per switch (the caller writes fallback_events rows);
    cancelled lets the caller stop the walk when its client has gone.
    """

    def __init__(
        self,
        provider_for: Callable[[ChatTarget], Provider],
        cooldowns: CooldownStore,
        record: Callable[[Engagement], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_hops: int = MAX_FALLBACK_HOPS,
    ):
        self.provider_for = provider_for
        self.cooldowns = cooldowns
        self.record = record or (lambda engagement: None)
        self.clock = clock
        self.max_hops = max_hops

    def _guarded(self, chain: list[ChatTarget]) -> list[ChatTarget]:
        """Drop repeats and cut after max_hops: rows edited outside the app must not loop."""
        seen, kept = set(), []
        for target in chain:
            key = target.config_id if target.config_id is not None else id(target)
            if key in seen or len(kept) > self.max_hops:
                break
            seen.add(key)
            kept.append(target)
        return kept

    def _plan(self, chain: list[ChatTarget]) -> list[tuple[ChatTarget, object]]:
        """Pair each target with its running cooldown (None when it may be tried)."""
        running = self.cooldowns.get_many([t.config_id for t in chain if t.config_id is not None])  # one read
        plan = [(t, running.get(t.config_id)) for t in chain]
        if all(cooling is not None for _, cooling in plan):
            # A cooldown never fails a request that might succeed: try the chain anyway.
            return [(t, None) for t, _ in plan]
        return plan

    def stream(self, chain: list[ChatTarget], messages: list[dict],
               cancelled: Callable[[], bool] = lambda: False) -> Iterator[ChatEvent]:
        chain = self._guarded(chain)
        if not chain:
            yield ChatEvent("error", {"message": "No model is configured.", "reason": "no_config", "attempts": []})
            return
        yield ChatEvent("start", _describe(chain[0]))
        attempts: list[Attempt] = []
        previous: ChatTarget | None = None
        previous_failure: tuple[str, int | None] | None = None
        sent_text = False  # whether the answer being shown has text the client must replace
        started = self.clock()
        for target, cooling in self._plan(chain):
            if cancelled():
                return
            if previous is not None:
                # Every hop is announced, a skipped (cooling) config included.
                yield self._switch(previous, target, previous_failure, sent_text, started)
                sent_text = False
            if cooling is not None:
                attempts.append(Attempt(target.config_id, target.model, target.provider, COOLING_DOWN, cooling.status, 0))
                previous, previous_failure = target, (COOLING_DOWN, cooling.status)
                continue
            t0 = self.clock()
            try:
                for item in self._attempt(target, messages):
                    if isinstance(item, TextDelta):
                        sent_text = True
                        yield ChatEvent("token", {"text": item.text})
                    else:
                        yield ChatEvent("done", {**_describe(target), "finish_reason": item.finish_reason, "usage": item.usage})
                        return
            except ProviderError as err:
                elapsed = int((self.clock() - t0) * 1000)
                attempts.append(Attempt(target.config_id, target.model, target.provider, err.reason, err.status, elapsed))
                if _is_cooldown_worthy(err) and target.config_id is not None:
                    self.cooldowns.start(target.config_id, cooldown_seconds(err.retry_after), err.reason, err.status)
                if cancelled():
                    return
                if not err.fallback:
                    yield self._request_error(err, attempts)
                    return
                previous, previous_failure = target, (err.reason, err.status)
        yield self._exhausted(chain, attempts, previous, previous_failure, started)

    def _attempt(self, target: ChatTarget, messages: list[dict]) -> Iterator[TextDelta | Finish]:
        """Run one upstream stream; anything that is not a clean Finish becomes a ProviderError."""
        try:
            stream = self.provider_for(target).stream_chat(target, messages)
        except ProviderError:
            raise
        except Exception as exc:  # a bug must not end the stream silently
            log.exception("building the %s adapter failed", target.provider)
            raise ProviderError(UPSTREAM_ERROR, f"internal error: {type(exc).__name__}") from exc
        try:
            for item in stream:
                yield item
                if isinstance(item, Finish):
                    return
        except ProviderError:
            raise
        except Exception as exc:
            log.exception("the %s adapter failed", target.provider)
            raise ProviderError(UPSTREAM_ERROR, f"internal error: {type(exc).__name__}") from exc
        finally:
            stream.close()
        raise ProviderError(TRUNCATED_STREAM, "the answer ended without finishing")

    def _switch(self, frm: ChatTarget, to: ChatTarget, failure, restart: bool, started: float) -> ChatEvent:
        reason, status = failure
        self.record(Engagement(frm.config_id, to.config_id, reason, status, int((self.clock() - started) * 1000)))
        return ChatEvent("fallback", {
            "from": _describe(frm), "to": _describe(to), "reason": reason, "status": status,
            "restart": restart, "message": f"Switched to backup model ({to.label})",
        })

    def _request_error(self, err: ProviderError, attempts: list[Attempt]) -> ChatEvent:
        status = f" ({err.status})" if err.status else ""
        return ChatEvent("error", {
            "message": f"The provider rejected the request{status}: {err.message or err.plain}. "
                       "Another model would fail the same way; please change the message and retry.",
            "reason": err.reason,
            "attempts": [a.public() for a in attempts],
        })

    def _exhausted(self, chain, attempts, last, failure, started) -> ChatEvent:
        names = {t.config_id: t.name for t in chain}
        if last is not None and failure is not None:
            self.record(Engagement(last.config_id, None, failure[0], failure[1], int((self.clock() - started) * 1000)))
        details = "; ".join(_attempt_words(a, names.get(a.config_id, a.model)) for a in attempts)
        if len(attempts) == 1:
            message = f"The configured model is unavailable right now: {details}."
        else:
            message = f"All {len(attempts)} configured models are unavailable right now: {details}."
        if attempts and all(a.reason in NEEDS_A_FIX for a in attempts):
            message += " Trying again will not help: an instructor needs to fix the configuration."
        else:
            message += " Please try again shortly."
        return ChatEvent("error", {
            "message": message,
            "reason": attempts[-1].reason if attempts else "unavailable",
            "attempts": [a.public() for a in attempts],
        })
