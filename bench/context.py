"""What every figure shares: the sizes of this run, the upstream, the served app, and the report."""

from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from .report import Report
from .seed import Seeded
from .served import ServedApp
from .upstream import UpstreamProcess

BENCH_DIR = Path(__file__).resolve().parent

# gunicorn candidates for the concurrency figure: name → arguments that override gunicorn.conf.py.
CANDIDATES = {
    "gthread 2×500": ["--worker-class", "gthread", "--workers", "2", "--threads", "500",
                      "--worker-connections", "1000"],
    "gthread 4×250": ["--worker-class", "gthread", "--workers", "4", "--threads", "250",
                      "--worker-connections", "1000"],
    "gthread 1×1000": ["--worker-class", "gthread", "--workers", "1", "--threads", "1000",
                       "--worker-connections", "1000"],
    "gevent 1×1000": ["--worker-class", "gevent", "--workers", "1", "--worker-connections", "1000"],
    "gunicorn.conf.py with a 5 ms switch interval": ["--config", str(BENCH_DIR / "configs" / "python_switch_interval.py")],
    "gunicorn.conf.py accepting 1 connection per loop turn (gunicorn's own)": [
        "--config", str(BENCH_DIR / "configs" / "accept_1_per_turn.py")],
    "gunicorn.conf.py accepting 4 connections per loop turn": ["--config", str(BENCH_DIR / "configs" / "accept_per_turn.py")],
    "gunicorn.conf.py with Python's own full-collection threshold (10)": [
        "--config", str(BENCH_DIR / "configs" / "python_gc_threshold.py")],
}
PRODUCTION = "gunicorn.conf.py as committed"


@dataclass(frozen=True)
class Sizes:
    name: str
    reps: int = 30  # timed repetitions per timing (the issue asks for ≥ 30)
    warmup: int = 3
    peer_reps: int = 30  # LiteLLM's default retries make each of these take seconds
    peer_warmup: int = 1
    sdk_reps: int = 30
    backup_tokens: int = 8
    cooldown_requests: int = 100
    relay_tokens: int = 10_000
    relay_interval_ms: int = 1  # paced run: per-token delay against the upstream's send time
    relay_runs: int = 3  # unpaced runs: tokens per second
    start_chats: int = 400  # one-token chats that measure what a chat's start costs
    layer_streams: int = 0  # streams at once for the layer costs under gevent; 0: one worker's share of the target
    stream_levels: tuple[int, ...] = (50, 100, 200, 300, 400, 500, 1000)
    stream_tokens: int = 200
    stream_interval_ms: int = 20
    stream_chats: int = 2  # chats per person, back to back
    candidates: tuple[str, ...] = (PRODUCTION, *CANDIDATES)
    catalog_reps: int = 30
    catalog_concurrency: int = 50
    itl_target_ms: float = 50.0
    ttft_bar_ms: float = 1000.0  # a chat that waits this long to start has degraded too
    stream_target: int = 500
    target_runs: int = 3  # runs of the target level, when the climb reaches it, on the same server
    duel_rounds: int = 3  # turns each for gunicorn.conf.py and a candidate whose climb carried more (bench.duel)
    profile_seconds: float = 8.0  # py-spy over the workers at the target level; 0 skips it

    @property
    def chat_seconds(self) -> float:
        """How long one streamed chat lasts: its first chats start spread over this, so N stay open."""
        return self.stream_tokens * self.stream_interval_ms / 1000.0


SIZES = {
    "full": Sizes("full"),
    "tiny": Sizes("tiny", reps=3, warmup=1, peer_reps=1, peer_warmup=0, sdk_reps=1, cooldown_requests=5, relay_tokens=200,
                  relay_runs=1, start_chats=20, layer_streams=3, stream_levels=(5,), stream_tokens=20, stream_chats=1,
                  candidates=(PRODUCTION,), catalog_reps=3, catalog_concurrency=5, profile_seconds=0, duel_rounds=1),
}


def sized(name: str, **overrides) -> Sizes:
    return replace(SIZES[name], **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Context:
    sizes: Sizes
    report: Report
    workdir: Path
    upstream: UpstreamProcess
    env: dict
    seeded: Seeded
    app: ServedApp
    client: httpx.Client
    with_peer: bool = True
    shared: dict[str, object] = field(default_factory=dict)  # results one figure hands another
    START_MODEL = "ok-1-0"  # one token at once: a chat that is all start and end

    def chat_payload(self, config_id: int) -> dict:
        return {"config_id": config_id}

    def stream_model(self) -> str:
        return f"ok-{self.sizes.stream_tokens}-{self.sizes.stream_interval_ms}"

    def app_stream_load(self) -> dict:
        """run_load's arguments for the concurrency figures' chats through the served app."""
        from .client import HELLO

        return dict(tokens=self.sizes.stream_tokens, interval_ms=self.sizes.stream_interval_ms, direct=False,
                    payload={"config_id": self.seeded.configs[self.stream_model()], "messages": HELLO},
                    headers={"Authorization": f"Bearer {self.seeded.token}"}, path="/api/chat/stream")

    def direct_stream_load(self) -> dict:
        """run_load's arguments for the same chats sent to the bench upstream's own API (or the bare relay)."""
        from .client import HELLO

        return dict(tokens=self.sizes.stream_tokens, interval_ms=self.sizes.stream_interval_ms, direct=True,
                    payload={"model": self.stream_model(), "messages": HELLO, "stream": True}, headers={},
                    path="/v1/chat/completions")

    def relay_models(self) -> tuple[str, str]:
        return f"ok-{self.sizes.relay_tokens}-{self.sizes.relay_interval_ms}", f"ok-{self.sizes.relay_tokens}-0"
