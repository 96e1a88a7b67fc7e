"""The fallback engine alone, with scripted in-memory adapters (the HTTP paths are in test_chat_stream)."""

import pytest

from llmcfg.cooldown import MemoryCooldowns
from llmcfg.fallback import FallbackEngine
from llmcfg.providers.base import ChatTarget, Credential, Finish, Provider, ProviderError, TextDelta


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Scripted(Provider):
    """An adapter whose answers are scripted per model: a list of items or a ProviderError to raise."""

    def __init__(self, scripts, calls):
        self.scripts, self.calls = scripts, calls

    def stream_chat(self, target, messages):
        self.calls.append(target.model)
        for item in self.scripts[target.model]:
            if isinstance(item, Exception):
                raise item
            yield item


def target(n, model=None):
    return ChatTarget(n, f"cfg{n}", "openai", model or f"m{n}", Credential("openai", "sk-secret"), {})


@pytest.fixture
def harness():
    clock = Clock()
    calls, records, scripts = [], [], {}
    cooldowns = MemoryCooldowns(clock=clock)
    engine = FallbackEngine(lambda t: Scripted(scripts, calls), cooldowns, records.append, clock=clock)

    def run(chain):
        return [(e.event, e.data) for e in engine.stream(chain, [{"role": "user", "content": "hi"}])]

    return type("H", (), dict(run=run, scripts=scripts, calls=calls, records=records, clock=clock, cooldowns=cooldowns))


OK = [TextDelta("Hel"), TextDelta("lo"), Finish("stop", {"total_tokens": 3})]


def names(events):
    return [name for name, _ in events]


def test_healthy_primary_streams_and_finishes(harness):
    harness.scripts.update(m1=OK)
    events = harness.run([target(1), target(2)])
    assert names(events) == ["start", "token", "token", "done"]
    assert events[-1][1] == {"config_id": 1, "provider": "openai", "model": "m1", "finish_reason": "stop", "usage": {"total_tokens": 3}}
    assert harness.calls == ["m1"] and harness.records == []


def test_429_switches_at_once_without_restart_and_starts_cooldown(harness):
    harness.scripts.update(m1=[ProviderError("rate_limited", "slow down", status=429, retry_after=30)], m2=OK)
    events = harness.run([target(1), target(2)])
    assert names(events) == ["start", "fallback", "token", "token", "done"]
    fb = events[1][1]
    assert fb["from"]["config_id"] == 1 and fb["to"]["config_id"] == 2
    assert (fb["reason"], fb["status"], fb["restart"]) == ("rate_limited", 429, False)
    assert fb["message"] == "Switched to backup model (openai/m2)"
    assert harness.cooldowns.get(1).until == harness.clock.now + 30
    assert [(r.from_config_id, r.to_config_id, r.reason, r.status) for r in harness.records] == [(1, 2, "rate_limited", 429)]


def test_failure_after_tokens_restarts_the_answer(harness):
    harness.scripts.update(m1=[TextDelta("partial"), ProviderError("truncated_stream", "cut")], m2=OK)
    events = harness.run([target(1), target(2)])
    assert names(events) == ["start", "token", "fallback", "token", "token", "done"]
    assert events[2][1]["restart"] is True


def test_stream_ending_without_finish_is_a_failure(harness):
    harness.scripts.update(m1=[TextDelta("half")], m2=OK)
    events = harness.run([target(1), target(2)])
    assert events[2] [1]["reason"] == "truncated_stream"
    assert names(events)[-1] == "done"


@pytest.mark.parametrize("reason,status", [("bad_request", 400), ("request_too_large", 413), ("unprocessable", 422)])
def test_request_errors_end_with_error_without_fallback(harness, reason, status):
    harness.scripts.update(m1=[ProviderError(reason, "context too long", status=status)], m2=OK)
    events = harness.run([target(1), target(2)])
    assert names(events) == ["start", "error"]
    assert harness.calls == ["m1"]
    assert "context too long" in events[-1][1]["message"]
    assert events[-1][1]["attempts"] == [{"config_id": 1, "model": "m1", "reason": reason, "status": status}]


def test_exhausted_chain_ends_with_one_error_naming_every_attempt(harness):
    harness.scripts.update(
        m1=[ProviderError("rate_limited", "x", status=429)],
        m2=[ProviderError("server_error", "x", status=500)],
        m3=[ProviderError("timeout", "x")],
    )
    events = harness.run([target(1), target(2), target(3)])
    assert names(events) == ["start", "fallback", "fallback", "error"]
    error = events[-1][1]
    assert error["message"].startswith("All 3 configured models are unavailable right now: cfg1 (openai/m1) rate-limited (429)")
    assert [a["reason"] for a in error["attempts"]] == ["rate_limited", "server_error", "timeout"]
    assert harness.records[-1].to_config_id is None


def test_a_chain_that_only_a_fix_can_mend_does_not_ask_to_try_again(harness):
    harness.scripts.update(
        m1=[ProviderError("auth_failed", "x", status=401)],
        m2=[ProviderError("payment_required", "x", status=402)],
    )
    error = harness.run([target(1), target(2)])[-1][1]
    assert error["message"].endswith("Trying again will not help: an instructor needs to fix the configuration.")
    harness.scripts.update(m2=[ProviderError("rate_limited", "x", status=429)])
    error = harness.run([target(1), target(2)])[-1][1]
    assert error["message"].endswith("Please try again shortly.")


def test_cycle_rows_do_not_loop_and_fourth_hop_never_tried(harness):
    fail = [ProviderError("server_error", "x", status=500)]
    harness.scripts.update({f"m{i}": fail for i in range(1, 7)})
    events = harness.run([target(1), target(2), target(1), target(2)])
    assert harness.calls == ["m1", "m2"]
    harness.calls.clear()
    harness.run([target(i) for i in range(1, 7)])
    assert harness.calls == ["m1", "m2", "m3", "m4"]  # primary + 3 fallbacks
    assert names(events)[-1] == "error"


def test_cooling_config_is_skipped_until_expiry(harness):
    harness.scripts.update(m1=[ProviderError("rate_limited", "x", status=429, retry_after=30)], m2=OK)
    harness.run([target(1), target(2)])
    harness.scripts.update(m1=OK)
    harness.calls.clear()
    events = harness.run([target(1), target(2)])
    assert harness.calls == ["m2"]
    assert events[1][0] == "fallback" and events[1][1]["reason"] == "cooling_down"
    harness.clock.now += 31
    harness.calls.clear()
    harness.run([target(1), target(2)])
    assert harness.calls == ["m1"]


def test_everything_cooling_still_tries_the_primary(harness):
    for n in (1, 2):
        harness.cooldowns.start(n, 60, "rate_limited", 429)
    harness.scripts.update(m1=OK, m2=OK)
    events = harness.run([target(1), target(2)])
    assert harness.calls == ["m1"] and names(events)[-1] == "done"


def test_cooldown_default_and_cap(harness):
    harness.scripts.update(m1=[ProviderError("rate_limited", "x", status=429)], m2=OK, m3=[ProviderError("overloaded", "x", status=529, retry_after=99999)])
    harness.run([target(1), target(2)])
    assert harness.cooldowns.get(1).until == harness.clock.now + 30
    harness.run([target(3), target(2)])
    assert harness.cooldowns.get(3).until == harness.clock.now + 600


def test_adapter_bug_becomes_a_fallback_not_silence(harness):
    harness.scripts.update(m1=[RuntimeError("boom")], m2=OK)
    events = harness.run([target(1), target(2)])
    assert events[1][1]["reason"] == "upstream_error" and names(events)[-1] == "done"


def test_cancelled_walk_stops_without_trying_the_backup(harness):
    harness.scripts.update(m1=[ProviderError("connection_error", "gone")], m2=OK)
    engine = FallbackEngine(lambda t: Scripted(harness.scripts, harness.calls), harness.cooldowns, harness.records.append)
    list(engine.stream([target(1), target(2)], [], cancelled=lambda: harness.calls == ["m1"]))
    assert harness.calls == ["m1"] and harness.records == []
