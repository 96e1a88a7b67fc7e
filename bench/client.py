"""Timed single requests with httpx: straight to the upstream (the floor) and through the served app."""

import json
import time
from dataclasses import dataclass, field

import httpx

HELLO = [{"role": "user", "content": "Say something."}]


@dataclass
class Timed:
    ttft: float | None = None  # seconds from sending to the first text
    tokens: list[tuple[float, float]] = field(default_factory=list)  # (received, sent) monotonic seconds
    events: list[str] = field(default_factory=list)  # SSE event names seen (through the app)
    total: float = 0.0

    @property
    def terminal(self) -> str | None:
        return next((e for e in reversed(self.events) if e in ("done", "error")), None)


def _sent_at(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_direct(client: httpx.Client, base_url: str, model: str, keep_tokens: bool = False) -> Timed:
    """Stream a chat straight from the upstream, as any OpenAI-wire client would."""
    timed = Timed()
    started = time.perf_counter()
    body = {"model": model, "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", base_url + "/chat/completions", json=body,
                       headers={"Authorization": "Bearer sk-bench"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    now = time.perf_counter()
                    if timed.ttft is None:
                        timed.ttft = now - started
                    if keep_tokens:
                        timed.tokens.append((time.monotonic(), _sent_at(text)))
    timed.total = time.perf_counter() - started
    return timed


def read_app(client: httpx.Client, url: str, token: str, payload: dict, keep_tokens: bool = False) -> Timed:
    """POST /api/chat/stream with a bearer token; read the SSE answer to its end."""
    timed = Timed()
    started = time.perf_counter()
    event = None
    with client.stream("POST", url + "/api/chat/stream", json={**payload, "messages": HELLO},
                       headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"chat answered {response.status_code}: {response.text[:200]}")
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                timed.events.append(event)
            elif line.startswith("data: ") and event == "token":
                now = time.perf_counter()
                if timed.ttft is None:
                    timed.ttft = now - started
                if keep_tokens:
                    timed.tokens.append((time.monotonic(), _sent_at(json.loads(line[6:])["text"])))
    timed.total = time.perf_counter() - started
    return timed


def bench_client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
