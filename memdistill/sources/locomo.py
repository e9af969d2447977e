"""LoCoMo-style long conversations: a list of samples (or one sample) of the shape
{"sample_id", "conversation": {"speaker_a", "speaker_b", "session_N": [turns],
"session_N_date_time": "1:56 pm on 8 May, 2023"}, "qa": [...]}.

Each session is one Conversation, id f"{sample_id}:session_{N}", project = sample_id.
speaker_a's turns are prompts (role user), speaker_b's are replies (role assistant, text).

Message ids are f"{sample_id}:{dia_id}", e.g. "conv-26:D1:3": the evaluation harness maps
the QA `evidence` ids ("D1:3") of a sample to these. `line` is the turn's 1-based position
in its session. Every turn of a session gets the session's date (None, with a Problem,
when it cannot be read; taken as UTC). A turn's text is prefixed with its speaker's name
("Caroline: ...") and its image caption is appended as " [image: <caption>]". Sessions
with a date but no turns are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from memdistill.errors import FormatError
from memdistill.models import Conversation, Message, Problem
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    looks_like_json,
    read_json,
    str_or_none,
)

_SESSION = re.compile(r"^session_(\d+)$")
_DATE_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %B %d, %Y")


class LoCoMoParser(Parser):
    name: ClassVar[str] = "locomo"
    description: ClassVar[str] = "LoCoMo-style multi-session conversations with QA (locomo10.json)"
    where: ClassVar[str] = "research corpora (locomo10.json)"

    def sniff(self, path: Path, head: str) -> bool:
        return looks_like_json(head) and (
            '"speaker_a"' in head
            or ('"qa"' in head and '"evidence"' in head and '"question"' in head)
        )

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        data = read_json(path)
        samples = data if isinstance(data, list) else [data]
        found = False
        for index, raw in enumerate(samples, 1):
            sample = dict_or_empty(raw)
            conversation = sample.get("conversation")
            if not isinstance(conversation, dict):
                what = f"sample #{index} has no `conversation`; skipped"
                problems(Problem(str(path), index, what))
                continue
            found = True
            sample_id = str_or_none(sample.get("sample_id")) or f"sample-{index}"
            yield from _sessions(sample_id, conversation, path, problems)
        if samples and not found:
            raise FormatError(
                "no LoCoMo sample (an object with `conversation`) found", path=str(path)
            )


def _sessions(
    sample_id: str, conversation: JSONObject, path: Path, problems: ProblemSink
) -> Iterator[Conversation]:
    speaker_a = conversation.get("speaker_a")
    speaker_b = conversation.get("speaker_b")
    numbers = sorted(int(m.group(1)) for key in conversation if (m := _SESSION.match(key)))
    for number in numbers:
        turns = conversation[f"session_{number}"]
        if not isinstance(turns, list):
            what = f"{sample_id} session_{number} is not a list of turns; skipped"
            problems(Problem(str(path), None, what))
            continue
        if not turns:
            continue
        date_text = conversation.get(f"session_{number}_date_time")
        timestamp = _session_date(date_text)
        if timestamp is None:
            where = f"{sample_id} session_{number}"
            problems(
                Problem(str(path), None, f"{where}: unreadable date {date_text!r}; left empty")
            )
        messages: list[Message] = []
        for position, turn in enumerate(turns, 1):
            message = _turn(turn, sample_id, position, speaker_a, timestamp)
            if isinstance(message, str):
                problems(Problem(str(path), position, f"{sample_id} session_{number}: {message}"))
                continue
            speaker = dict_or_empty(turn).get("speaker")
            if speaker not in (speaker_a, speaker_b):
                what = f"turn {message.source_id}: speaker {speaker!r} is not speaker_a or _b"
                problems(Problem(str(path), position, f"{what}; kept as a reply"))
            messages.append(message)
        if messages:
            yield Conversation(f"{sample_id}:session_{number}", messages, sample_id, None)


def _turn(
    turn: object,
    sample_id: str,
    position: int,
    speaker_a: object,
    timestamp: datetime | None,
) -> Message | str:
    """The turn as a message, or what is wrong with it."""
    if not isinstance(turn, dict):
        return f"turn {position} is not an object; skipped"
    dia_id = str_or_none(turn.get("dia_id"))
    text = turn.get("text")
    if dia_id is None or not isinstance(text, str):
        return f"turn {position} lacks `dia_id` or `text`; skipped"
    caption = str_or_none(turn.get("blip_caption"))
    if caption:
        text = f"{text} [image: {caption}]"
    speaker = turn.get("speaker")
    if isinstance(speaker, str) and speaker:
        # Both sides are people and questions name them ("When did Caroline ..."): keep who spoke.
        text = f"{speaker}: {text}"
    source_id = f"{sample_id}:{dia_id}"
    if speaker == speaker_a:
        return Message(source_id, "user", "prompt", text, timestamp, None, position)
    return Message(source_id, "assistant", "text", text, timestamp, None, position)


def _session_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
