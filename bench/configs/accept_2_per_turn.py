"""accept_per_turn.py with 2 waiting connections per loop turn instead of 4: the middle of that trade."""

from pathlib import Path

exec((Path(__file__).resolve().parent / "accept_per_turn.py").read_text())
ACCEPT_PER_TURN = 2
