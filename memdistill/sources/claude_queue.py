"""Claude Code's prompt queue: what a person typed while the agent was busy.

Claude Code (2.0.7x on) writes a `queue-operation` line each time its input queue changes;
only `enqueue` carries text. Read against the real logs in ../shared/data/real:
- `enqueue`: the person typed a prompt while a turn ran (or Claude Code queued a
  `<task-notification>`);
- `remove`: a typed prompt was taken out and handed to the running turn, which answers it
  at once; it never appears as a user line (5 of 5 in the real logs: "check again",
  "/mcp", "no, add conversationId field..."). When several wait, a typed prompt goes
  before a queued notification;
- `dequeue`: the first waiting item is sent when the turn ends, as an ordinary user line
  that follows it;
- `popAll`: the person pulled the queue back into the input box to edit it; what they send
  next is recorded on its own (queued again, or a user line), so the popped text is not.

A queued prompt is a prompt where the agent received it. A removed one goes just before
the session's next message that is not a tool result (the results of calls made before it
arrived still belong to the exchange that made them). A popped one, and one a later user
line of the session carries (dequeued, or delivered on an interrupt with no queue line), is
no message of its own. A prompt still waiting when the file ends goes at the end, so nothing
typed is lost; a queued notification still waiting does not (it arrives as a user line: 3 of
3 in the real logs). A queued prompt's id comes from its `enqueue` line, so it keeps it as
the file grows and the prompt moves to where it was received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from memdistill.models import Message

State = Literal["waiting", "removed", "dequeued", "popped", "delivered"]


@dataclass(slots=True)
class _Queued:
    message: Message
    key: str  # the text, whitespace-normalised, for finding the user line that delivers it
    state: State = "waiting"
    placed: bool = False  # already put into the conversation


class PromptQueue:
    """The queue operations of one session, in file order."""

    def __init__(self) -> None:
        self._items: list[_Queued] = []

    def enqueue(self, message: Message) -> None:
        self._items.append(_Queued(message, _key(message.text)))

    def operation(self, operation: object) -> None:
        """Apply `remove`, `dequeue` or `popAll` (unknown operations change nothing)."""
        waiting = [item for item in self._items if item.state == "waiting"]
        if not waiting:
            return
        if operation == "remove":
            typed = [item for item in waiting if item.message.kind == "prompt"]
            (typed or waiting)[0].state = "removed"
        elif operation == "dequeue":
            waiting[0].state = "dequeued"
        elif operation == "popAll":
            for item in waiting:
                item.state = "popped"

    def user_line(self, text: str) -> None:
        """A user line of the session: it delivers the first queued item with its text."""
        key = _key(text)
        for item in self._items:
            if item.state in ("waiting", "dequeued") and item.key == key:
                item.state = "delivered"
                return

    def received(self) -> list[Message]:
        """Removed prompts not yet placed: they go before the session's next message."""
        return self._place(lambda item: item.state == "removed")

    def leftover(self) -> list[Message]:
        """At the end of the file: what was typed and never delivered by a line of its own."""
        return self._place(
            lambda item: (
                item.state == "removed"
                or (item.state in ("waiting", "dequeued") and item.message.kind == "prompt")
            )
        )

    def _place(self, keep: Callable[[_Queued], bool]) -> list[Message]:
        taken = [item for item in self._items if not item.placed and keep(item)]
        for item in taken:
            item.placed = True
        return [item.message for item in taken]


def _key(text: str) -> str:
    return " ".join(text.split())
