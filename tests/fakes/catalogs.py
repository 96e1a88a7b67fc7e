"""Model catalogs for the fake upstream, shaped like each provider's real list (see the providers reference).

Deterministic: the same ~350-entry OpenRouter catalog every run, a few `:free` ids among them.
"""

import random
from datetime import datetime, timezone

OPENAI_MODELS = [
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-4.1-mini", 1744318173, "system"),
    ("gpt-4.1-nano", 1744321707, "system"),
    ("o3-mini", 1737146383, "system"),
    ("o4-mini", 1744225351, "system"),
    ("gpt-3.5-turbo", 1677610602, "openai"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("whisper-1", 1677532384, "openai-internal"),
]

COMPAT_MODELS = [("llama3.2:3b", 1730000000), ("qwen2.5:7b", 1731000000), ("mistral:7b", 1732000000)]

ANTHROPIC_MODELS = [
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-sonnet-20241022", "Claude Sonnet 3.5 (New)", "2024-10-22T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ("claude-3-5-sonnet-20240620", "Claude Sonnet 3.5 (Old)", "2024-06-20T00:00:00Z"),
    ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z"),
    ("claude-3-opus-20240229", "Claude Opus 3", "2024-02-29T00:00:00Z"),
    ("claude-3-sonnet-20240229", "Claude Sonnet 3", "2024-02-29T00:00:00Z"),
]

_OPENROUTER_KNOWN = [
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, "0.00000015", "0.0000006"),
    ("openai/gpt-4o", "OpenAI: GPT-4o", 128000, "0.0000025", "0.00001"),
    ("anthropic/claude-3.5-sonnet", "Anthropic: Claude 3.5 Sonnet", 200000, "0.000003", "0.000015"),
    ("anthropic/claude-3.5-haiku", "Anthropic: Claude 3.5 Haiku", 200000, "0.0000008", "0.000004"),
    ("google/gemini-2.0-flash-exp:free", "Google: Gemini 2.0 Flash Experimental (free)", 1048576, "0", "0"),
    ("meta-llama/llama-3.3-70b-instruct:free", "Meta: Llama 3.3 70B Instruct (free)", 131072, "0", "0"),
    ("meta-llama/llama-3.3-70b-instruct", "Meta: Llama 3.3 70B Instruct", 131072, "0.00000012", "0.0000003"),
    ("deepseek/deepseek-r1:free", "DeepSeek: R1 (free)", 163840, "0", "0"),
    ("deepseek/deepseek-chat", "DeepSeek: DeepSeek V3", 163840, "0.0000003", "0.00000088"),
    ("mistralai/mistral-7b-instruct:free", "Mistral: Mistral 7B Instruct (free)", 32768, "0", "0"),
    ("qwen/qwen-2.5-72b-instruct:free", "Qwen2.5 72B Instruct (free)", 32768, "0", "0"),
    ("openrouter/auto", "Auto Router", 2000000, "-1", "-1"),
]
_VENDORS = [
    "openai",
    "anthropic",
    "google",
    "meta-llama",
    "mistralai",
    "qwen",
    "deepseek",
    "cohere",
    "nousresearch",
    "microsoft",
    "x-ai",
    "amazon",
    "perplexity",
    "01-ai",
    "ai21",
    "thedrummer",
]
_FAMILIES = ["chat", "instruct", "coder", "vision", "mini", "large", "turbo", "reasoner", "lite", "pro"]
OPENROUTER_SIZE = 350


def _openrouter_entry(model_id, name, context, prompt, completion, created):
    return {
        "id": model_id,
        "canonical_slug": model_id.split(":")[0],
        "hugging_face_id": None,
        "name": name,
        "created": created,
        "description": f"{name} as served through the fake OpenRouter.",
        "context_length": context,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
        "top_provider": {"context_length": context, "max_completion_tokens": 16384, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "top_p", "stop"],
        "default_parameters": {},
        "supported_voices": None,
        "knowledge_cutoff": None,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }


def openrouter_catalog() -> list[dict]:
    rng = random.Random(350)
    entries = [_openrouter_entry(*known, 1735689600 - i * 86400) for i, known in enumerate(_OPENROUTER_KNOWN)]
    seen = {e["id"] for e in entries}
    while len(entries) < OPENROUTER_SIZE:
        vendor, family = rng.choice(_VENDORS), rng.choice(_FAMILIES)
        model_id = f"{vendor}/{family}-{rng.randint(1, 99)}b-v{rng.randint(1, 4)}"
        free = len(entries) % 23 == 0
        if free:
            model_id += ":free"
        if model_id in seen:
            continue
        seen.add(model_id)
        prompt = "0" if free else f"{rng.randint(5, 15000) / 1e9:.10f}".rstrip("0")
        completion = "0" if free else f"{rng.randint(10, 60000) / 1e9:.10f}".rstrip("0")
        name = f"{vendor.title()}: {family.title()} {model_id.split('-')[-2]}" + (" (free)" if free else "")
        entries.append(
            _openrouter_entry(
                model_id,
                name,
                rng.choice([8192, 32768, 131072, 200000]),
                prompt,
                completion,
                1700000000 + rng.randint(0, 40_000_000),
            )
        )
    return entries


def openai_catalog() -> list[dict]:
    return [{"id": i, "object": "model", "created": c, "owned_by": o} for i, c, o in OPENAI_MODELS]


def compat_catalog() -> list[dict]:
    return [{"id": i, "object": "model", "created": c, "owned_by": "library"} for i, c in COMPAT_MODELS]


def anthropic_catalog() -> list[dict]:
    return [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in ANTHROPIC_MODELS]


def make_entry(provider: str, model_id: str, name: str | None = None, **fields) -> dict:
    """A catalog entry for `FakeUpstream.add_model`, in the provider's own shape."""
    now = int(datetime.now(timezone.utc).timestamp())
    if provider == "anthropic":
        entry = {
            "type": "model",
            "id": model_id,
            "display_name": name or model_id,
            "created_at": "2025-01-01T00:00:00Z",
        }
    elif provider == "openrouter":
        entry = _openrouter_entry(model_id, name or model_id, 32768, "0.000001", "0.000002", now)
    else:
        entry = {"id": model_id, "object": "model", "created": now, "owned_by": "user-fake"}
        if name:
            entry["name"] = name
    entry.update(fields)
    return entry
