"""Settle the serve configuration head to head: gunicorn.conf.py and the climb's best candidate,
running side by side and measured in turns at the level where their climbs parted.

Each configuration's climb runs minutes after the previous one, and a shared machine's speed
drifts over minutes: in full runs the same two configurations swapped places from run to run.
Taking turns (ABBAAB…) puts both through the same moments, so what differs is the configuration.
"""

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from .report import markdown_table
from .stats import fmt, turn_order

Measure = Callable[[str, int, int], object]  # (configuration, clients, run) -> a measured level


@dataclass
class Duel:
    clients: int
    runs: dict[str, list]  # configuration -> its levels (bench.streams.Level), in the order measured

    def within(self, name: str, target_ms: float) -> int:
        return sum(not level.degraded(target_ms) for level in self.runs[name])


def take_turns(names: list[str], clients: int, rounds: int, measure: Measure) -> Duel:
    """Measure each configuration `rounds` times at `clients`, the order reversed every round."""
    runs: dict[str, list] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in turn_order(names, round_index):
            runs[name].append(measure(name, clients, round_index + 1))
    return Duel(clients, runs)


def run_duel(names: list[str], clients: int, rounds: int, start: Callable[[str], object],
             measure_on: Callable[[object, int, int], object]) -> Duel:
    """Start one server per configuration (start(name) -> a ServedApp context), then take turns.

    An idle server waiting its turn costs no CPU, so each measurement has the machine to itself.
    """
    with ExitStack() as stack:
        apps = {name: stack.enter_context(start(name)) for name in names}
        return take_turns(names, clients, rounds, lambda name, n, run: measure_on(apps[name], n, run))


def duel_verdict(duel: Duel, production: str, candidate: str, target_ms: float) -> str:
    """Move gunicorn.conf.py only if the candidate was within the bar in more of the turns."""
    mine, theirs, total = duel.within(production, target_ms), duel.within(candidate, target_ms), len(duel.runs[production])
    said = (f"At {duel.clients} chats, taking turns, gunicorn.conf.py was within the bar in {mine} of {total} runs "
            f"and **{candidate}** in {theirs} of {len(duel.runs[candidate])}")
    if theirs > mine:
        return f"{said}: the candidate carries more, so move it to gunicorn.conf.py."
    return (f"{said}: gunicorn.conf.py stays, because the serve configuration changes only for a candidate "
            "that stays within the bar more often when both face the same moments.")


def duel_section(duel: Duel, production: str, candidate: str, target_ms: float) -> str:
    rows = []
    for name, levels in duel.runs.items():
        for level in levels:
            rows.append((name, str(level.run), fmt(level.load.p99_added_gap() * 1000), fmt(level.load.p99_ttft() * 1000),
                         f"{level.load.completed}/{level.load.chats}",
                         "degraded" if level.degraded(target_ms) else "within the bar"))
    rows.sort(key=lambda row: int(row[1]))
    table = markdown_table(("Configuration", "Turn", "p99 added ITL (ms)", "p99 TTFT (ms)", "Completed", "Verdict"),
                           rows)
    return "\n".join([
        f"The climbs above measure each configuration once, minutes apart. gunicorn.conf.py and this run's best "
        f"candidate then ran side by side and took turns at {duel.clients} chats, the order reversed every round, "
        "so both faced the same moments of the machine.", "", table, "",
        duel_verdict(duel, production, candidate, target_ms)])
