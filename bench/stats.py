"""Summaries of timing samples: median with p95 (and p99) beside it, and ratios against a baseline."""

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: list[float]) -> "Summary":
        return cls(len(samples), statistics.median(samples) if samples else math.nan,
                   percentile(samples, 95), percentile(samples, 99))

    def ms(self, digits: int = 1) -> str:
        """'12.3 ms (p95 14.0)': the form every timing takes in the table."""
        return f"{fmt(self.median * 1000, digits)} ms (p95 {fmt(self.p95 * 1000, digits)})"


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(value: float, baseline: float) -> float:
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


def fmt_ratio(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}×"
    return f"{value:.4f}×" if value < 0.1 else f"{value:.2f}×"


def repeat(action: Callable[[], object], times: int, warmup: int = 2) -> list[float]:
    """Run action warmup + times times; keep the seconds each timed run took.

    action may return its own measurement in seconds (a float, e.g. time to first token);
    anything else means "time the whole call".
    """
    return repeat_in_turns({"": action}, times, warmup)[""]


def repeat_in_turns(actions: dict[str, Callable[[], object]], times: int, warmup: int = 2) -> dict[str, list[float]]:
    """repeat() for several actions at once: each round runs every action once, in turn_order.

    A shared machine's speed drifts over seconds; measured one after the other, a figure and its
    baseline would see different machines, and their ratio would move from run to run.
    """
    names = list(actions)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + times):
        for name in turn_order(names, i):
            started = time.perf_counter()
            measured = actions[name]()
            elapsed = measured if isinstance(measured, float) else time.perf_counter() - started
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


def turn_order(names: list, round_index: int) -> list:
    """The names in order, reversed every other round (ABBA…): neither goes first every time."""
    return names if round_index % 2 == 0 else names[::-1]
