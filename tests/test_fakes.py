"""The fake upstream is faithful: the official SDKs parse its streams, lists and errors."""

import anthropic
import httpx
import openai
import pytest

from tests.fakes.plugin import BAD_KEY, KEYS, Behavior


@pytest.fixture
def openai_sdk(fake_upstream):
    return openai.OpenAI(base_url=fake_upstream.base_urls["openai"], api_key=KEYS["openai"], max_retries=0, timeout=5)


@pytest.fixture
def openrouter_sdk(fake_upstream):
    return openai.OpenAI(
        base_url=fake_upstream.base_urls["openrouter"], api_key=KEYS["openrouter"], max_retries=0, timeout=5
    )


@pytest.fixture
def anthropic_sdk(fake_upstream):
    return anthropic.Anthropic(
        base_url=fake_upstream.sdk_base_url("anthropic"), api_key=KEYS["anthropic"], max_retries=0, timeout=5
    )


def test_openai_sdk_streams_chat_with_usage(openai_sdk, fake_upstream):
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.ok("The sky is blue."))
    stream = openai_sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Why?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The sky is blue."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert fake_upstream.count("openai", "/chat/completions", model="gpt-4o-mini") == 1


def test_openai_sdk_lists_and_retrieves_models(openai_sdk):
    ids = [m.id for m in openai_sdk.models.list()]
    assert "gpt-4o-mini" in ids and len(ids) == 10
    assert openai_sdk.models.retrieve("gpt-4o").owned_by == "system"
    with pytest.raises(openai.NotFoundError):
        openai_sdk.models.retrieve("gpt-5-imaginary")


@pytest.mark.parametrize(
    "behavior, error_class",
    [
        (Behavior.http(429, retry_after="30"), openai.RateLimitError),
        (Behavior.http(500), openai.InternalServerError),
        (Behavior.http(503), openai.InternalServerError),
        (Behavior.http(400), openai.BadRequestError),
    ],
)
def test_openai_sdk_sees_scripted_errors(openai_sdk, fake_upstream, behavior, error_class):
    fake_upstream.script("openai", "gpt-4o-mini", behavior)
    with pytest.raises(error_class) as caught:
        openai_sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert caught.value.status_code == behavior.status


def test_openai_sdk_rejects_a_bad_key_with_the_real_body(fake_upstream):
    sdk = openai.OpenAI(base_url=fake_upstream.base_urls["openai"], api_key=BAD_KEY, max_retries=0, timeout=5)
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk.models.list()
    assert caught.value.code == "invalid_api_key"
    assert BAD_KEY not in str(caught.value)  # the real API masks the key too


def test_openai_sdk_raises_on_an_error_chunk_mid_stream(openai_sdk, fake_upstream):
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.error_event(after=1))
    with pytest.raises(openai.APIError):
        list(
            openai_sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )


def test_openai_sdk_reads_openrouter_stream_with_keepalive_comments(openrouter_sdk, fake_upstream):
    fake_upstream.script("openrouter", "openai/gpt-4o-mini", Behavior.ok("Routed answer"))
    chunks = list(
        openrouter_sdk.chat.completions.create(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Routed answer"
    assert chunks[-1].usage.total_tokens > 0
    # Keep-alive comments really are on the wire (the SDK dropped them).
    raw = httpx.post(
        fake_upstream.base_urls["openrouter"] + "/chat/completions",
        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"Authorization": f"Bearer {KEYS['openrouter']}"},
    ).text
    assert raw.startswith(": OPENROUTER PROCESSING\n\n") and raw.rstrip().endswith("data: [DONE]")


def test_openai_sdk_lists_the_openrouter_size_catalog(openrouter_sdk):
    models = list(openrouter_sdk.models.list())
    assert len(models) == 350
    assert sum(m.id.endswith(":free") for m in models) >= 5


def test_openai_sdk_raises_on_openrouter_documented_error_chunk(openrouter_sdk, fake_upstream):
    fake_upstream.script("openrouter", "openai/gpt-4o-mini", Behavior.error_event(after=1, code=429))
    with pytest.raises(openai.APIError):
        list(
            openrouter_sdk.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )


def test_anthropic_sdk_streams_messages(anthropic_sdk, fake_upstream):
    fake_upstream.script("anthropic", "claude-3-5-haiku-20241022", Behavior.ok("Bonjour tout le monde"))
    with anthropic_sdk.messages.stream(
        model="claude-3-5-haiku-20241022",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Bonjour tout le monde"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4


def test_anthropic_sdk_pages_through_the_model_list(anthropic_sdk, fake_upstream):
    ids = [m.id for m in anthropic_sdk.models.list(limit=5)]  # auto-pagination follows has_more
    assert len(ids) == 12 and len(set(ids)) == 12
    assert fake_upstream.count("anthropic", "/models") == 3
    assert anthropic_sdk.models.retrieve("claude-opus-4-1-20250805").display_name == "Claude Opus 4.1"


@pytest.mark.parametrize(
    "behavior, error_class, status",
    [
        (Behavior.http(529), anthropic.APIStatusError, 529),
        (Behavior.http(429, retry_after="7"), anthropic.RateLimitError, 429),
        (Behavior.http(401), anthropic.AuthenticationError, 401),
    ],
)
def test_anthropic_sdk_sees_scripted_errors(anthropic_sdk, fake_upstream, behavior, error_class, status):
    fake_upstream.script("anthropic", "claude-3-5-haiku-20241022", behavior)
    with pytest.raises(error_class) as caught:
        anthropic_sdk.messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == status


def test_anthropic_sdk_raises_on_an_overloaded_event_mid_stream(anthropic_sdk, fake_upstream):
    fake_upstream.script("anthropic", "claude-3-5-haiku-20241022", Behavior.error_event(after=1, code=529))
    with pytest.raises(anthropic.APIStatusError) as caught:
        with anthropic_sdk.messages.stream(
            model="claude-3-5-haiku-20241022", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            "".join(stream.text_stream)
    assert "overloaded" in str(caught.value).lower()


def test_anthropic_sdk_rejects_a_bad_key(fake_upstream):
    sdk = anthropic.Anthropic(base_url=fake_upstream.sdk_base_url("anthropic"), api_key=BAD_KEY, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        sdk.models.list()


def test_times_limits_a_script_then_normal_service_resumes(openai_sdk, fake_upstream):
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.http(429), times=2)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            openai_sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    stream = openai_sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from gpt-4o-mini."
    assert fake_upstream.count("openai", "/chat/completions") == 3


def test_fake_notices_a_client_that_hangs_up_mid_stream(fake_upstream):
    # Answers of other tests may still be winding down on the shared server; count only ours.
    before = fake_upstream.active_streams
    fake_upstream.script("openai", "gpt-4o-mini", Behavior.slow(0.05, tokens=100))
    with httpx.Client(timeout=5) as client:
        with client.stream(
            "POST",
            fake_upstream.base_urls["openai"] + "/chat/completions",
            headers={"Authorization": f"Bearer {KEYS['openai']}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ) as response:
            lines = response.iter_lines()
            while "w0" not in next(lines):
                pass
    assert fake_upstream.wait_for_disconnect("openai", "gpt-4o-mini", timeout=5)
    assert fake_upstream.disconnects[0].tokens_sent < 100
    assert fake_upstream.wait_active_at_most(before, timeout=5)  # our answer has stopped


def test_fake_serves_dozens_of_concurrent_streams(fake_upstream):
    import concurrent.futures

    fake_upstream.script("openai", "*", Behavior.slow(0.01, tokens=20))
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=50))

    def one(i):
        body = client.post(
            fake_upstream.base_urls["openai"] + "/chat/completions",
            headers={"Authorization": f"Bearer {KEYS['openai']}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": str(i)}], "stream": True},
        ).text
        return body.rstrip().endswith("data: [DONE]")

    with client, concurrent.futures.ThreadPoolExecutor(40) as pool:
        assert all(pool.map(one, range(40)))
    assert fake_upstream.count("openai", "/chat/completions") == 40
