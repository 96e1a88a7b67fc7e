"""Fold a stream of chat events into what a person reads (the no-JavaScript page and the CLI)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..fallback import ChatEvent


@dataclass
class Transcript:
    text: str = ""
    notices: list[str] = field(default_factory=list)
    error: str | None = None
    done: dict | None = None

    @property
    def ok(self) -> bool:
        return self.done is not None

    def add(self, event: ChatEvent) -> None:
        if event.event == "token":
            self.text += event.data["text"]
        elif event.event == "fallback":
            if event.data.get("restart"):
                self.text = ""  # the backup answers from the start
            self.notices.append(event.data["message"])
        elif event.event == "done":
            self.done = event.data
        elif event.event == "error":
            self.error = event.data["message"]

    @classmethod
    def collect(cls, events: Iterable[ChatEvent]) -> "Transcript":
        transcript = cls()
        for event in events:
            transcript.add(event)
        return transcript
