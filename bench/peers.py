"""What other clients do against the same upstream: LiteLLM's Router (the peer) and the openai SDK.

LiteLLM is an optional, bench-only dependency (`pip install -e '.[bench]'`); without it the peer
rows say "skipped" and why. It is told to use its bundled model list, so it never goes online.
"""

import os
import time

from .client import HELLO

PEER_SKIPPED = ""  # why the peer was not measured ("" while it is available)


def load_litellm():
    """Import LiteLLM offline, or return None (and remember why) when it is not installed."""
    global PEER_SKIPPED
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    try:
        import litellm
    except ImportError:
        PEER_SKIPPED = "LiteLLM is not installed (pip install -e '.[bench]' adds it)"
        return None
    litellm.suppress_debug_info = True
    return litellm


def litellm_router(litellm, base_url: str, primary: str, backup: str, **options):
    """A Router whose "primary" group falls back to "backup", both on the bench upstream."""
    def deployment(name, model):
        return {"model_name": name,
                "litellm_params": {"model": f"openai/{model}", "api_base": base_url, "api_key": "sk-bench"}}

    return litellm.Router(model_list=[deployment("primary", primary), deployment("backup", backup)],
                          fallbacks=[{"primary": ["backup"]}], **options)


def litellm_ttft(router) -> float:
    """Seconds from the call to the first text of a streamed completion through the Router."""
    started = time.perf_counter()
    ttft = None
    for chunk in router.completion(model="primary", messages=HELLO, stream=True):
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text and ttft is None:
            ttft = time.perf_counter() - started
    if ttft is None:
        raise RuntimeError("LiteLLM streamed no text")
    return ttft


def sdk_gives_up(base_url: str, model: str) -> float:
    """Seconds until the official openai client (default retries) gives up on a 429 model."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=2)
    started = time.perf_counter()
    try:
        for _ in client.chat.completions.create(model=model, messages=HELLO, stream=True):
            pass
    except openai.RateLimitError:
        return time.perf_counter() - started
    finally:
        client.close()
    raise RuntimeError(f"{model} did not answer 429")
