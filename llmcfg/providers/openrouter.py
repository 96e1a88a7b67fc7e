"""OpenRouter: the OpenAI wire format plus keep-alive comments, string prices and a key endpoint."""

from .base import BAD_REQUEST, MODEL_NOT_FOUND, Credential, ModelInfo, ProviderError
from .openai_shaped import OpenAIShapedProvider

# OpenRouter answers 400 for a model it does not (or no longer) serve; that is a withdrawn model
# (fallback may engage), not a malformed request.
MODEL_GONE_MARKERS = ("not a valid model id", '"model_not_found"', '"free_variant_ended"', "no endpoints found")

# Facts from GET /key that help an admin; the key's label is left out (it shows part of the key).
KEY_FACTS = ("is_free_tier", "limit", "limit_remaining", "limit_reset", "usage", "expires_at")


def per_million(value) -> float | None:
    """OpenRouter prices are strings in USD per token; the picker shows USD per million tokens."""
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return None if price < 0 else round(price * 1_000_000, 6)  # -1 means "varies" (router models)


def describe_key(facts: dict) -> str:
    parts = ["free tier" if facts.get("is_free_tier") else "paid account"]
    if facts.get("limit") is None:
        parts.append("no spending limit")
    else:
        remaining = facts.get("limit_remaining")
        left = f", ${remaining:g} left" if isinstance(remaining, int | float) else ""
        reset = f" ({facts['limit_reset']})" if facts.get("limit_reset") else ""
        parts.append(f"limit ${facts['limit']:g}{reset}{left}")
    return "Key accepted (" + "; ".join(parts) + ")."


class OpenRouterProvider(OpenAIShapedProvider):
    id = "openrouter"
    label = "OpenRouter"

    def refine_error(self, error: ProviderError, body: str) -> ProviderError:
        text = body.lower()
        if error.reason == BAD_REQUEST and any(marker in text for marker in MODEL_GONE_MARKERS):
            return ProviderError(MODEL_NOT_FOUND, error.message, status=error.status, retry_after=error.retry_after)
        return error

    def verify_key(self, credential: Credential) -> tuple[str, dict | None]:
        # GET /models is public on OpenRouter, so only /key proves the key.
        payload = self.get_json(self.url("/key"), self.auth_headers(credential), secret=credential.api_key)
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        facts = {name: data.get(name) for name in KEY_FACTS if name in data}
        return describe_key(facts), facts

    def parse_model(self, entry: dict) -> ModelInfo | None:
        pricing = entry.get("pricing") or {}
        prompt, completion = per_million(pricing.get("prompt")), per_million(pricing.get("completion"))
        model_id = str(entry["id"])
        context = entry.get("context_length") or (entry.get("top_provider") or {}).get("context_length")
        return ModelInfo(
            id=model_id,
            name=str(entry.get("name") or model_id),
            context_length=int(context) if isinstance(context, int | float) else None,
            prompt_price=prompt,
            completion_price=completion,
            free=model_id.endswith(":free") or (prompt == 0 and completion == 0),
            created=int(entry["created"]) if isinstance(entry.get("created"), int | float) else None,
        )
