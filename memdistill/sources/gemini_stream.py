"""Gemini CLI headless runs saved as they stream: `gemini -p "..." -o stream-json > run.jsonl`.

One JSON event per line (gemini-cli `output/types.ts`, `nonInteractiveCli.ts`):
`init {session_id, model}`, `message {role: user|assistant, content, delta?}`,
`tool_use {tool_name, tool_id, parameters}`, `tool_result {tool_id, status, output?,
error?}`, `error {severity, message}`, `result {status, error?, stats}`; each with a
`timestamp`. Several runs appended to one file each start with their own `init`.

The model's reply streams as many `message` events with `delta: true`: the chunks of one
reply, up to the next tool call or prompt, are one message (its id is its first chunk's
line). The user message is the prompt, except input the CLI does not treat as one (a
`/command`: meta). tool_use -> tool call, tool_result -> its result (the output, or the
error message), error -> meta; `result` carries only statistics (an error's message, if
any, is meta).

Ids: conversation = the run's `session_id` (runs resumed into one session share it; the
file's name when no `init` came first, then scoped by its path); message
f"{conversation}:L{line}". Appending keeps every id, and a reply still streaming only
grows its one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from memdistill.models import Conversation, Kind, Message, Problem
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    iter_jsonl,
    str_or_none,
    timestamp_or_report,
    tool_call_message,
)

_INIT = re.compile(r'"type"\s*:\s*"init"')
_SESSION = re.compile(r'"session_id"\s*:')
_DELTA = re.compile(r'"type"\s*:\s*"message".*"delta"\s*:|"delta"\s*:.*"type"\s*:\s*"message"')
_TOOL_USE = re.compile(r'"type"\s*:\s*"tool_use"')
_EVENTS = frozenset({"init", "message", "tool_use", "tool_result", "error", "result"})
# Input the CLI answers itself rather than sending to the model.
_NOT_PROMPTS = ("/", "?")


@dataclass
class _Run:
    id: str
    id_from_file: bool
    messages: list[Message] = field(default_factory=list)
    streaming: Message | None = None  # the reply whose chunks are still arriving


class GeminiStreamParser(Parser):
    name: ClassVar[str] = "gemini-stream"
    description: ClassVar[str] = (
        "Gemini CLI `-o stream-json` output (JSONL events, chunked replies)"
    )
    where: ClassVar[str] = 'what `gemini -p "..." -o stream-json` prints, saved to a file'

    def sniff(self, path: Path, head: str) -> bool:
        if not head.lstrip().startswith("{"):
            return False
        for line in head.split("\n")[:20]:
            if _INIT.search(line) and _SESSION.search(line):
                return True
            if _DELTA.search(line) or (_TOOL_USE.search(line) and '"tool_id"' in line):
                return True
        return False

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        runs: dict[str, _Run] = {}
        run: _Run | None = None
        unknown: set[str] = set()
        for line, event in iter_jsonl(path, problems):
            kind = event.get("type")
            if kind == "init":
                session_id = str_or_none(event.get("session_id")) or f"{path.stem}:L{line}"
                run = runs.setdefault(session_id, _Run(session_id, False))
                run.streaming = None
                continue
            if run is None:  # events before any init: the file is the run
                run = runs.setdefault(path.stem, _Run(path.stem, True))
            if not isinstance(kind, str) or kind not in _EVENTS:
                if str(kind) not in unknown:
                    unknown.add(str(kind))
                    what = f"unknown event type {kind!r}; skipped (and any more of it)"
                    problems(Problem(str(path), line, what))
                continue
            _add(run, kind, event, line, path, problems)
        for each in runs.values():
            if each.messages:
                yield Conversation(each.id, each.messages, None, None, each.id_from_file)


def _add(
    run: _Run, kind: str, event: JSONObject, line: int, path: Path, problems: ProblemSink
) -> None:
    stamp = timestamp_or_report(event.get("timestamp"), problems, path, line)
    source_id = f"{run.id}:L{line}"
    if kind == "message":
        content = event.get("content")
        text = content if isinstance(content, str) else ""
        role = event.get("role")
        if role == "assistant":
            if event.get("delta") and run.streaming is not None:
                run.streaming.text += text  # the next chunk of the reply being streamed
                return
            message = Message(source_id, "assistant", "text", text, stamp, None, line)
            run.messages.append(message)
            run.streaming = message if event.get("delta") else None
            return
        run.streaming = None
        if role != "user":
            problems(Problem(str(path), line, f"message with unknown role {role!r}; skipped"))
        elif text.strip():
            kind_of: Kind = "meta" if text.strip().startswith(_NOT_PROMPTS) else "prompt"
            run.messages.append(Message(source_id, "user", kind_of, text, stamp, None, line))
        return
    run.streaming = None
    if kind == "tool_use":
        name = str_or_none(event.get("tool_name"))
        if name is None:
            problems(Problem(str(path), line, "tool_use without a `tool_name`; skipped"))
            return
        arguments = dict_or_empty(event.get("parameters"))
        call_id = str_or_none(event.get("tool_id"))
        run.messages.append(
            tool_call_message(source_id, name, arguments, call_id, timestamp=stamp, line=line)
        )
    elif kind == "tool_result":
        error = dict_or_empty(event.get("error"))
        output = event.get("output")
        text = output if isinstance(output, str) and output.strip() else ""
        if not text and isinstance(error.get("message"), str):
            text = f"error: {error['message']}"
        if text:
            run.messages.append(Message(source_id, "tool", "tool_result", text, stamp, None, line))
    elif kind in ("error", "result"):
        said = (
            event.get("message")
            if kind == "error"
            else dict_or_empty(event.get("error")).get("message")
        )
        if isinstance(said, str) and said.strip():
            run.messages.append(Message(source_id, "system", "meta", said, stamp, None, line))
