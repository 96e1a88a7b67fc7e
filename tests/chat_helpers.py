"""Helpers for chat tests: build configs and chains on the fake upstream, read SSE answers."""

import json

from llmcfg.db import db
from llmcfg.models import LLMConfig
from tests.fakes.plugin import add_credential

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5-20251001",
    "openrouter": "meta-llama/llama-3.3-70b-instruct:free",
    "openai_compatible": "llama3.1:8b",
}


def make_chain(org, fake, providers: list[str], names: list[str] | None = None) -> list[LLMConfig]:
    """Create one config per provider, each falling back to the next (inside an app context)."""
    configs, credentials = [], {}
    for i, provider in enumerate(providers):
        if provider not in credentials:
            credentials[provider] = add_credential(org, provider, fake=fake)
        configs.append(LLMConfig(
            organization_id=org.id, name=(names or [])[i] if names else f"{provider} #{i + 1}",
            provider=provider, model=MODELS[provider], credential=credentials[provider], params={"max_tokens": 64},
        ))
    db.session.add_all(configs)
    db.session.flush()
    for config, backup in zip(configs, configs[1:]):
        config.fallback_llm_config_id = backup.id
    db.session.commit()
    return configs


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """Split an SSE body into (event, data) pairs; comments (keep-alives) are dropped."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def answer_text(events) -> str:
    """The text a client shows at the end: tokens, restarted on `fallback` with restart=true."""
    text = ""
    for name, data in events:
        if name == "token":
            text += data["text"]
        elif name == "fallback" and data["restart"]:
            text = ""
    return text
