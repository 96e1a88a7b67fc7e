"""Each adapter against the fake upstream: catalogs normalized, streams read, every failure mapped."""

import gzip
import json
from http.cookiejar import CookieJar

import httpx
import pytest

from llmcfg.providers import REGISTRY, build_http_client, provider_for
from llmcfg.providers import base as reasons
from llmcfg.providers.base import ChatTarget, Credential, Finish, ProviderError, TextDelta
from tests.fakes.plugin import BAD_KEY, Behavior

KEY = "sk-test-SECRETVALUE-abcdef123456"
MODELS = {
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-20241022",
    "openai_compatible": "llama3.2:3b",
}
PROVIDERS = list(REGISTRY)


@pytest.fixture(scope="module")
def http():
    client = build_http_client(connect=1.0, read=0.5)  # short read timeout: stalls fail fast
    yield client
    client.close()


def adapter_for(fake, provider, http, key=KEY):
    credential = Credential(provider, key, base_url=fake.base_urls["openai_compatible"], id=1)
    return provider_for(credential, base_urls=fake.base_urls, allow_private=True, client=http), credential


def chat(fake, provider, http, *, key=KEY, params=None, messages=None):
    """Run a chat; return (events before the failure, the ProviderError or None)."""
    adapter, credential = adapter_for(fake, provider, http, key)
    target = ChatTarget(7, "cfg", provider, MODELS[provider], credential, params or {})
    events = []
    try:
        for event in adapter.stream_chat(target, messages or [{"role": "user", "content": "hello there"}]):
            events.append(event)
    except ProviderError as error:
        return events, error
    return events, None


# --- catalogs ---------------------------------------------------------------------------------
def test_openrouter_catalog_is_normalized_to_usd_per_million(fake_upstream, http):
    adapter, credential = adapter_for(fake_upstream, "openrouter", http)
    models = {m.id: m for m in adapter.list_models(credential)}
    assert len(models) == 350
    mini = models["openai/gpt-4o-mini"]
    assert (mini.name, mini.context_length, mini.prompt_price, mini.completion_price, mini.free) == (
        "OpenAI: GPT-4o-mini",
        128000,
        0.15,
        0.6,
        False,
    )
    assert mini.created == 1735689600
    free = models["google/gemini-2.0-flash-exp:free"]
    assert free.free and free.prompt_price == 0
    assert models["openrouter/auto"].prompt_price is None and not models["openrouter/auto"].free  # "-1": varies


def test_anthropic_catalog_follows_pagination_to_the_end(fake_upstream, http):
    for i in range(15):
        fake_upstream.add_model("anthropic", f"claude-extra-{i:02d}", name=f"Extra {i}")
    adapter, credential = adapter_for(fake_upstream, "anthropic", http)
    models = adapter.list_models(credential)
    assert len(models) == 27 and len({m.id for m in models}) == 27
    assert fake_upstream.count("anthropic", "/models") == 3  # pages of 10: has_more / after_id followed
    opus = models[0]
    assert (opus.id, opus.name, opus.created) == ("claude-opus-4-1-20250805", "Claude Opus 4.1", 1754352000)


def test_openai_catalog_lists_ids_sorted_with_private_models_of_this_key_only(fake_upstream, http):
    fake_upstream.add_model("openai", "ft:gpt-4o-mini:alpha::abc", key=KEY)
    adapter, credential = adapter_for(fake_upstream, "openai", http)
    ids = [m.id for m in adapter.list_models(credential)]
    assert ids == sorted(ids) and "ft:gpt-4o-mini:alpha::abc" in ids
    other, other_credential = adapter_for(fake_upstream, "openai", http, key="sk-someone-else-000000000")
    assert "ft:gpt-4o-mini:alpha::abc" not in [m.id for m in other.list_models(other_credential)]


def test_compatible_catalog_reads_context_length_where_servers_give_it(fake_upstream, http):
    fake_upstream.add_model("openai_compatible", "served-by-vllm", max_model_len=32768)
    adapter, credential = adapter_for(fake_upstream, "openai_compatible", http)
    models = {m.id: m for m in adapter.list_models(credential)}
    assert models["served-by-vllm"].context_length == 32768
    assert models["llama3.2:3b"].name == "llama3.2:3b"


# OpenRouter's model list is public; its key is checked on /key (see test_check).
@pytest.mark.parametrize("provider", ["openai", "anthropic", "openai_compatible"])
def test_catalog_with_a_bad_key_is_an_auth_failure_without_the_key(fake_upstream, http, provider):
    adapter, credential = adapter_for(fake_upstream, provider, http, key=BAD_KEY)
    with pytest.raises(ProviderError) as caught:
        adapter.list_models(credential)
    assert caught.value.reason == reasons.AUTH_FAILED and caught.value.status == 401
    assert BAD_KEY not in caught.value.message and BAD_KEY[-12:] not in caught.value.message


# --- streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_yields_text_then_exactly_one_finish(fake_upstream, http, provider):
    fake_upstream.script(provider, MODELS[provider], Behavior.ok("One two three"))
    events, error = chat(fake_upstream, provider, http)
    assert error is None
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["One ", "two ", "three"]
    assert isinstance(events[-1], Finish) and sum(isinstance(e, Finish) for e in events) == 1
    assert events[-1].finish_reason in ("stop", "end_turn")
    assert events[-1].usage["completion_tokens"] == 3


def sse_chat(body_parts: list[bytes], headers: dict | None = None) -> list[str]:
    """Stream an OpenAI chat whose answer arrives as body_parts (one network read each); return its text."""

    def answer(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream", **(headers or {})},
                              content=iter(body_parts))

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        credential = Credential("openai", KEY, id=1)
        adapter = provider_for(credential, base_urls={"openai": "http://127.0.0.1:9/v1"}, allow_private=True,
                               client=client)
        target = ChatTarget(7, "cfg", "openai", MODELS["openai"], credential, {})
        return [e.text for e in adapter.stream_chat(target, [{"role": "user", "content": "hi"}])
                if isinstance(e, TextDelta)]


def openai_events(*texts: str) -> bytes:
    events = [b'data: {"choices":[{"index":0,"delta":{"content":%s}}]}\n\n' % json.dumps(t, ensure_ascii=False).encode() for t in texts]
    return b"".join(events) + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


def test_a_character_split_between_two_reads_arrives_whole():
    body = openai_events("caf\u00e9 \U0001f600")
    cut = body.index("\U0001f600".encode()) + 2  # inside the emoji's four bytes
    assert sse_chat([body[:cut], body[cut:]]) == ["caf\u00e9 \U0001f600"]


def test_bytes_that_are_not_utf8_become_replacement_characters_not_a_failure():
    body = openai_events("ok").replace(b'"ok"', b'"o\xffk"')
    assert sse_chat([body]) == ["o\ufffdk"]


def test_a_compressed_event_stream_is_decompressed():
    body = gzip.compress(openai_events("One ", "two"))
    assert sse_chat([body[:10], body[10:]], headers={"content-encoding": "gzip"}) == ["One ", "two"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_chats_in_a_row_reuse_one_upstream_connection(fake_upstream, provider):
    """The engine stops at Finish; the connection must still go back to the pool, not cost a new handshake."""
    client = build_http_client()  # its own pool: nothing left over from other tests
    try:
        adapter, credential = adapter_for(fake_upstream, provider, client)
        target = ChatTarget(7, "cfg", provider, MODELS[provider], credential, {})
        for _ in range(3):
            fake_upstream.script(provider, MODELS[provider], Behavior.ok("Hi there"), times=1)
            stream = adapter.stream_chat(target, [{"role": "user", "content": "hello"}])
            for item in stream:
                if isinstance(item, Finish):
                    break  # what the engine does: the answer is complete, stop asking
            stream.close()
    finally:
        client.close()
    chats = [c for c in fake_upstream.calls if c.provider == provider and c.method == "POST"]
    assert len(chats) == 3 and len({c.client_port for c in chats}) == 1


def test_the_upstream_client_never_sends_back_a_cookie_it_was_given(fake_upstream):
    """Provider edges set cookies on API answers; one client serves every organization, so none may ride along."""
    stock = httpx.Client()  # what a client that keeps cookies does with the fake's Set-Cookie
    ours = build_http_client()
    try:
        for client in (stock, ours):
            adapter, credential = adapter_for(fake_upstream, "openai", client)
            target = ChatTarget(7, "cfg", "openai", MODELS["openai"], credential, {})
            for _ in range(2):
                list(adapter.stream_chat(target, [{"role": "user", "content": "hello"}]))
    finally:
        stock.close()
        ours.close()
    cookies = [c.cookie for c in fake_upstream.calls if c.method == "POST"]
    assert cookies[0] is None and cookies[1].startswith("__edge_session=")  # the stock client sent it back
    assert cookies[2:] == [None, None]


def test_the_upstream_client_does_not_even_read_the_cookies_it_is_given(fake_upstream, monkeypatch):
    """The jar would refuse them anyway; offering every answer to it costs CPU on each chat's start."""
    offered = []
    monkeypatch.setattr(CookieJar, "extract_cookies", lambda jar, response, request: offered.append(jar))
    stock, ours = httpx.Client(), build_http_client()
    counts = {}
    try:
        for name, client in (("stock", stock), ("ours", ours)):
            before = len(offered)
            adapter, credential = adapter_for(fake_upstream, "openai", client)
            list(adapter.stream_chat(ChatTarget(7, "cfg", "openai", MODELS["openai"], credential, {}),
                                     [{"role": "user", "content": "hello"}]))
            counts[name] = len(offered) - before
    finally:
        stock.close()
        ours.close()
    assert counts == {"stock": 1, "ours": 0}  # the stock client offered its answer to its jar; ours did not
    with pytest.raises(AttributeError):
        ours.cookies = {"session": "x"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_sends_system_prompt_and_params_in_the_providers_shape(fake_upstream, http, provider):
    events, error = chat(
        fake_upstream, provider, http, params={"system": "Be terse.", "temperature": 0.2, "max_tokens": 2}
    )
    assert error is None
    assert events[-1].finish_reason in ("length", "max_tokens")  # max_tokens reached the upstream
    body = [c for c in fake_upstream.calls if c.method == "POST"][0].body
    assert body["stream"] is True and body["temperature"] == 0.2
    if provider == "anthropic":
        assert body["system"] == "Be terse." and body["max_tokens"] == 2
        assert all(m["role"] != "system" for m in body["messages"])
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be terse."}
        assert body["stream_options"] == {"include_usage": True}


def test_anthropic_gets_a_default_max_tokens_and_a_system_message_moved_to_the_top(fake_upstream, http):
    events, error = chat(
        fake_upstream,
        "anthropic",
        http,
        messages=[{"role": "system", "content": "From the conversation."}, {"role": "user", "content": "hi"}],
    )
    assert error is None
    body = fake_upstream.calls[-1].body
    assert body["max_tokens"] == 1024 and body["system"] == "From the conversation."


@pytest.mark.parametrize("provider", PROVIDERS)
def test_closing_the_stream_closes_the_upstream_connection(fake_upstream, http, provider):
    fake_upstream.script(provider, MODELS[provider], Behavior.slow(0.05, tokens=200))
    adapter, credential = adapter_for(fake_upstream, provider, http)
    stream = adapter.stream_chat(
        ChatTarget(1, "c", provider, MODELS[provider], credential), [{"role": "user", "content": "hi"}]
    )
    assert isinstance(next(stream), TextDelta)
    stream.close()  # what a departing client does to the generator
    assert fake_upstream.wait_for_disconnect(provider, timeout=5)
    assert fake_upstream.disconnects[0].tokens_sent < 200


# --- every failure kind -----------------------------------------------------------------------
R = reasons
FAILURES = [
    # (id, behavior, reason, status, fallback may engage)
    ("429", Behavior.http(429, retry_after="30"), R.RATE_LIMITED, 429, True),
    ("500", Behavior.http(500), R.SERVER_ERROR, 500, True),
    ("502-html", Behavior.http(502), R.SERVER_ERROR, 502, True),
    ("503", Behavior.http(503), R.OVERLOADED, 503, True),
    ("529", Behavior.http(529), R.OVERLOADED, 529, True),
    ("504", Behavior.http(504), R.TIMEOUT, 504, True),
    ("408", Behavior.http(408), R.TIMEOUT, 408, True),
    ("409", Behavior.http(409), R.CONFLICT, 409, True),
    ("401", Behavior.http(401), R.AUTH_FAILED, 401, True),
    ("402", Behavior.http(402), R.PAYMENT_REQUIRED, 402, True),
    ("403", Behavior.http(403), R.FORBIDDEN, 403, True),
    ("404", Behavior.http(404), R.MODEL_NOT_FOUND, 404, True),
    ("400", Behavior.http(400), R.BAD_REQUEST, 400, False),
    ("413", Behavior.http(413), R.REQUEST_TOO_LARGE, 413, False),
    ("422", Behavior.http(422), R.UNPROCESSABLE, 422, False),
    ("stall", Behavior.stall(), R.TIMEOUT, None, True),
    ("stall-mid-stream", Behavior.stall_mid_stream(after=2), R.TIMEOUT, None, True),
    ("cut-mid-stream", Behavior.cut(after=2), R.TRUNCATED_STREAM, None, True),
    ("no-terminator", Behavior.truncated(after=2), R.TRUNCATED_STREAM, None, True),
    ("start-then-eof", Behavior.truncated(after=0), R.EMPTY_RESPONSE, None, True),
    ("malformed-chunk", Behavior.malformed(after=1), R.MALFORMED_STREAM, None, True),
    ("zero-events", Behavior.zero_events(), R.EMPTY_RESPONSE, None, True),
    ("keepalive-only", Behavior.keepalive_only(), R.EMPTY_RESPONSE, None, True),
    ("no-content", Behavior.no_content(), R.EMPTY_RESPONSE, None, True),
    ("error-event-429", Behavior.error_event(after=1, code=429), R.STREAM_ERROR, 429, True),
    ("error-event-529", Behavior.error_event(after=0, code=529), R.STREAM_ERROR, 529, True),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("behavior, reason, status, fallback", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_every_failure_kind_maps_to_reason_status_and_fallback(
    fake_upstream, http, provider, behavior, reason, status, fallback
):
    fake_upstream.script(provider, MODELS[provider], behavior)
    events, error = chat(fake_upstream, provider, http)
    assert error is not None, events
    assert (error.reason, error.status, error.fallback) == (reason, status, fallback), error.message
    assert KEY not in error.message and KEY[-12:] not in error.message
    assert error.message.strip() and len(error.message) <= 300
    assert not any(isinstance(e, Finish) for e in events)  # a failure never looks like a finished answer
    if behavior.kind in ("cut", "truncated", "stall_mid_stream", "malformed", "error_event"):
        assert len([e for e in events if isinstance(e, TextDelta)]) == behavior.after


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_after_is_read_from_ms_then_seconds(fake_upstream, http, provider):
    fake_upstream.script(
        provider, MODELS[provider], Behavior.http(429, retry_after="30", retry_after_ms="1500"), times=1
    )
    fake_upstream.script(provider, MODELS[provider], Behavior.http(429, retry_after="30"), times=1)
    fake_upstream.script(provider, MODELS[provider], Behavior.http(429), times=1)
    assert [chat(fake_upstream, provider, http)[1].retry_after for _ in range(3)] == [1.5, 30.0, None]


@pytest.mark.parametrize(
    "provider, reason, status",
    [
        ("openrouter", R.RATE_LIMITED, 429),  # {"error": {"code": 429, ...}}
        ("anthropic", R.RATE_LIMITED, 429),  # {"type": "error", "error": {"type": "rate_limit_error"}}
        ("openai", R.RATE_LIMITED, 429),  # {"error": {"code": "rate_limit_exceeded", ...}}
    ],
)
def test_a_200_with_a_json_error_body_is_a_failure(fake_upstream, http, provider, reason, status):
    fake_upstream.script(provider, MODELS[provider], Behavior.json_error(429))
    _, error = chat(fake_upstream, provider, http)
    assert (error.reason, error.status, error.fallback) == (reason, status, True)


def test_openrouter_provider_message_includes_the_upstream_detail(fake_upstream, http):
    fake_upstream.script("openrouter", MODELS["openrouter"], Behavior.http(429))
    _, error = chat(fake_upstream, "openrouter", http)
    assert error.message.startswith("Provider returned error: google/gemini-2.0-flash-exp:free is temporarily")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_key_echoed_by_the_upstream_is_scrubbed(fake_upstream, http, provider):
    fake_upstream.script(provider, MODELS[provider], Behavior.http(401, message=f"Incorrect API key provided: {KEY}."))
    _, error = chat(fake_upstream, provider, http)
    assert error.reason == R.AUTH_FAILED
    assert KEY not in error.message and "SECRETVALUE" not in error.message
    assert error.message.startswith("Incorrect API key provided:")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rejected_key_is_an_auth_failure(fake_upstream, http, provider):
    _, error = chat(fake_upstream, provider, http, key=BAD_KEY)
    assert (error.reason, error.status, error.fallback) == (R.AUTH_FAILED, 401, True)
    assert BAD_KEY not in error.message and BAD_KEY[-12:] not in error.message


# A zero-width space or a wrapped line picked up while copying; a line break would also start a header.
UNSENDABLE_KEYS = ["sk-test-copied\u200b-abcdef", "sk-test-wrapped abcdef", "sk-test-abcdef\r\nX-Injected: 1"]


@pytest.mark.parametrize("key", UNSENDABLE_KEYS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stored_key_no_header_can_carry_is_refused_before_anything_is_sent(fake_upstream, http, provider, key):
    _, error = chat(fake_upstream, provider, http, key=key)
    assert (error.reason, error.status, error.fallback) == (reasons.AUTH_FAILED, None, True)
    assert "cannot be sent; replace the key" in error.message and "abcdef" not in error.message
    adapter, credential = adapter_for(fake_upstream, provider, http, key)
    with pytest.raises(ProviderError) as caught:
        adapter.list_models(credential)
    assert caught.value.reason == reasons.AUTH_FAILED
    assert fake_upstream.calls == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unknown_model_is_model_not_found_so_fallback_may_engage(fake_upstream, http, provider):
    adapter, credential = adapter_for(fake_upstream, provider, http)
    with pytest.raises(ProviderError) as caught:
        list(
            adapter.stream_chat(
                ChatTarget(1, "c", provider, "withdrawn-model", credential), [{"role": "user", "content": "hi"}]
            )
        )
    # OpenRouter answers 400 "not a valid model ID"; it still means the model is gone.
    assert caught.value.reason == R.MODEL_NOT_FOUND and caught.value.fallback


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused_is_a_connection_error(http, provider):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/v1"
    credential = Credential(provider, KEY, base_url=dead)
    adapter = provider_for(credential, base_urls={p: dead for p in PROVIDERS}, allow_private=True, client=http)
    with pytest.raises(ProviderError) as caught:
        list(adapter.stream_chat(ChatTarget(1, "c", provider, "m", credential), [{"role": "user", "content": "x"}]))
    assert (caught.value.reason, caught.value.fallback) == (R.CONNECTION_ERROR, True)
    with pytest.raises(ProviderError) as caught:
        adapter.list_models(credential)
    assert caught.value.reason == R.CONNECTION_ERROR
