"""The shared error vocabulary: statuses, Retry-After, provider error bodies, key scrubbing."""

import math
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from llmcfg.providers import base as R
from llmcfg.providers.openrouter import describe_key, per_million
from llmcfg.providers.wire import body_message, embedded_error, parse_retry_after, reason_for_status, scrub


@pytest.mark.parametrize(
    "status, reason",
    [
        (429, R.RATE_LIMITED),
        (529, R.OVERLOADED),
        (503, R.OVERLOADED),
        (500, R.SERVER_ERROR),
        (502, R.SERVER_ERROR),
        (599, R.SERVER_ERROR),
        (408, R.TIMEOUT),
        (504, R.TIMEOUT),
        (524, R.TIMEOUT),
        (401, R.AUTH_FAILED),
        (403, R.FORBIDDEN),
        (402, R.PAYMENT_REQUIRED),
        (404, R.MODEL_NOT_FOUND),
        (409, R.CONFLICT),
        (400, R.BAD_REQUEST),
        (413, R.REQUEST_TOO_LARGE),
        (422, R.UNPROCESSABLE),
        (301, R.UPSTREAM_ERROR),
        (418, R.UPSTREAM_ERROR),
    ],
)
def test_status_reasons(status, reason):
    assert reason_for_status(status) == reason


def test_only_bad_requests_and_refused_urls_keep_the_fallback_out():
    no_fallback = {r for r in vars(R).values() if isinstance(r, str) and not R.ProviderError(r, "x").fallback}
    assert no_fallback == {R.BAD_REQUEST, R.REQUEST_TOO_LARGE, R.UNPROCESSABLE, R.BLOCKED_URL}


def test_retry_after_prefers_milliseconds_then_seconds_then_an_http_date():
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "9"}) == 9.0
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2026, 11, 1, 12, 0, 42, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now.timestamp()) == 42.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    "body, message, status",
    [
        (
            '{"error":{"message":"Rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}}',
            "Rate limit",
            429,
        ),
        ('{"error":{"message":"Busy","type":"service_unavailable_error","param":null,"code":null}}', "Busy", 503),
        ('{"error":{"message":"Odd","type":"invalid_request_error","param":null,"code":"odd_thing"}}', "Odd", 400),
        ('{"error":{"message":"Odd","type":"odd_error","param":null,"code":"odd_thing"}}', "Odd", None),
        ('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "Overloaded", 529),
        ('{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}', "Slow down", 429),
        ('{"type":"error","error":{"type":"api_error","message":"Internal"}}', "Internal", 500),
        (
            '{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"busy upstream"}}}',
            "Provider returned error: busy upstream",
            429,
        ),
        ('{"error":{"code":"server_error","message":"Provider disconnected"}}', "Provider disconnected", 500),
        ("<html><body>502 Bad Gateway</body></html>", None, None),
        ("upstream connect error", "upstream connect error", None),
    ],
)
def test_each_providers_error_body_is_understood(body, message, status):
    assert body_message(body) == (message, status)


def test_an_error_chunk_with_empty_choices_is_still_an_error():
    error, code = embedded_error({"choices": [], "error": {"code": 502, "message": "Provider disconnected"}})
    assert (error["message"], code) == ("Provider disconnected", 502)


def test_scrub_removes_the_key_and_key_shaped_text_and_trims():
    key = "sk-ant-api03-SECRET-xyz"
    text = scrub(f"invalid x-api-key {key}; also sk-proj-****MxYA and sk-or-v1-au7...890 " + "x" * 400, key)
    assert "SECRET" not in text and "MxYA" not in text and "au7" not in text
    assert len(text) <= 300 and text.endswith("…")


def test_openrouter_prices_become_usd_per_million():
    assert per_million("0.00000015") == 0.15
    assert per_million("0") == 0
    assert per_million("-1") is None and per_million(None) is None and per_million("n/a") is None


def test_openrouter_key_facts_in_plain_words():
    assert describe_key({"is_free_tier": True, "limit": None}) == "Key accepted (free tier; no spending limit)."
    assert describe_key({"is_free_tier": False, "limit": 100, "limit_remaining": 74.5, "limit_reset": "monthly"}) == (
        "Key accepted (paid account; limit $100 (monthly), $74.5 left)."
    )


def test_a_json_error_body_without_a_status_is_a_stream_error():
    from llmcfg.providers.wire import json_body_error

    error = json_body_error('{"error":{"message":"Something odd"}}', secret=None, label="X")
    assert (error.reason, error.status, error.message, error.fallback) == (R.STREAM_ERROR, None, "Something odd", True)
    assert (
        json_body_error('{"error":{"code":502,"message":"Bad gateway"}}', secret=None, label="X").reason
        == R.SERVER_ERROR
    )


def test_a_chunk_parses_whatever_the_standard_json_reader_accepts():
    from llmcfg.providers.wire import parse_chunk

    chunk = '{"choices":[{"delta":{"content":"é \\u00e9 😀"}}],"usage":{"completion_tokens":3}}'
    assert parse_chunk(chunk, label="OpenAI") == {"choices": [{"delta": {"content": "é é 😀"}}],
                                                   "usage": {"completion_tokens": 3}}
    # orjson refuses these two; the standard library reads them, and so did every earlier release.
    assert parse_chunk('{"choices":[{"delta":{"content":"\\ud83d"}}]}', label="OpenAI") == \
        {"choices": [{"delta": {"content": "\ud83d"}}]}
    assert math.isnan(parse_chunk('{"score": NaN}', label="OpenAI")["score"])


@pytest.mark.parametrize(("data", "why"), [("{not json", "invalid JSON"), ("[1, 2]", "not a JSON object")])
def test_a_chunk_that_is_not_a_json_object_is_a_malformed_stream(data, why):
    from llmcfg.providers.wire import parse_chunk

    with pytest.raises(R.ProviderError) as caught:
        parse_chunk(data, label="OpenAI")
    assert why in str(caught.value)
