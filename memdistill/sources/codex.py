"""OpenAI Codex CLI rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`.

Two line shapes, both read (they follow codex-rs/protocol: `RolloutLine`, `ResponseItem`):
- current: `{"timestamp", "type": session_meta|response_item|event_msg|turn_context|
  compacted, "payload": {...}}`;
- older (mid 2025): a bare session header `{id, timestamp, instructions, git?}` on line 1,
  `{"record_type": "state"}` markers, then bare response items without the envelope.

Response items: `message` (user -> prompt, assistant -> text, developer/system -> meta),
`reasoning` (its summary text -> thinking; encrypted content is ignored), `function_call`,
`custom_tool_call` (apply_patch: the patch text), `local_shell_call`, `web_search_call`
-> tool_call, `function_call_output` / `custom_tool_call_output` -> tool_result.
`event_msg` `user_message` is what the person typed. The CLI (TUI 0.125 and earlier) also
writes the prompt as a `response_item` user message next to it; Codex Desktop (0.128) writes
only the event. So the first of the two in a turn's input is the prompt, and the other, with
the same text before any reply, is dropped: nothing doubles and nothing is lost. The other
`event_msg` lines are skipped: agent_message and agent_reasoning repeat the response items,
the rest (token_count, task_started...) is telemetry. `compacted` summaries are meta, and so
are the user messages Codex writes itself (its "contextual user messages": AGENTS.md and
`<user_instructions>`, `<environment_context>`, `<turn_aborted>`, `<user_shell_command>` for
a `!` command, `<skill>`, `<subagent_notification>`...), as a response item or an event.

Ids: conversation = the session id (the file name's stem if the header is missing);
message = the item's `id` when present (older files), else f"{session_id}:{line}".
Project = the session's `cwd` (else a turn_context's, else the environment context's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from memdistill.models import Conversation, Kind, Message, Problem
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    dumps,
    iter_jsonl,
    parse_arguments,
    str_or_none,
    text_from_content,
    timestamp_or_report,
    tool_call_message,
)

_ENVELOPE = re.compile(r'"type"\s*:\s*"(session_meta|response_item|turn_context|event_msg)"')
_CWD = re.compile(r"<cwd>([^<\n]+)</cwd>|Current working directory: *([^\n]+)")
_STATE = re.compile(r'"record_type"\s*:\s*"state"')

# User messages Codex writes itself (codex-rs calls them contextual user messages), matched
# without regard to case as Codex does.
_INJECTED_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "<instructions>",
    "# agents.md instructions",
    "<agents_instructions>",
    "<permissions instructions>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<skill>",
    "<skills_instructions>",
    "<subagent_notification>",
    "<multiagent_context>",
    "<goal_context>",
    "<context_update>",
    "<recommended_plugins>",
)
_IMAGE_MARK = re.compile(r"\[image\]|</?image\b[^>]*>", re.IGNORECASE)
_TOOL_CALLS = ("function_call", "custom_tool_call", "local_shell_call", "web_search_call")
_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output")


class CodexParser(Parser):
    name: ClassVar[str] = "codex"
    description: ClassVar[str] = (
        "OpenAI Codex CLI rollout JSONL (~/.codex/sessions/.../rollout-*.jsonl)"
    )
    where: ClassVar[str] = "~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl"
    default_folders: ClassVar[tuple[str, ...]] = ("~/.codex/sessions",)
    revision: ClassVar[int] = 2  # issue 12: split as the person typed

    def sniff(self, path: Path, head: str) -> bool:
        if not head.lstrip().startswith("{"):
            return False
        if (_ENVELOPE.search(head) and '"payload"' in head) or _STATE.search(head):
            return True
        try:
            first = json.loads(head.lstrip().split("\n", 1)[0])
        except (json.JSONDecodeError, RecursionError):
            return False
        return _is_legacy_header(first)

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        rollout = _Rollout(path, problems)
        for line, record in iter_jsonl(path, problems):
            rollout.add(line, record)
        conversation = rollout.conversation()
        if conversation.messages:
            yield conversation


def _is_legacy_header(record: object) -> bool:
    return (
        isinstance(record, dict)
        and "id" in record
        and "timestamp" in record
        and "type" not in record
        and ("instructions" in record or "git" in record or "cwd" in record)
    )


class _Rollout:
    def __init__(self, path: Path, problems: ProblemSink) -> None:
        self.path = path
        self.problems = problems
        self.session_id: str | None = None
        self.project: str | None = None
        self.messages: list[Message] = []
        self.typed: set[str] = set()  # prompts of the input now being read, to meet their twin

    def conversation(self) -> Conversation:
        if self.session_id is None:
            self.session_id = self.path.stem
            if self.messages:
                what = (
                    f"no session header; conversation id taken from the file name: {self.path.stem}"
                )
                self._problem(None, what)
        for message in self.messages:
            if not message.source_id:  # ids are filled in once the session id is known
                message.source_id = f"{self.session_id}:{message.line}"
        return Conversation(self.session_id, self.messages, self.project, None)

    def add(self, line: int, record: JSONObject) -> None:
        kind = record.get("type")
        if "payload" in record and isinstance(kind, str):
            payload = record["payload"]
            if not isinstance(payload, dict):
                self._problem(line, f"{kind} payload is not an object; skipped")
                return
            if kind == "session_meta":
                self._session(payload)
            elif kind == "response_item":
                self._item(payload, line, record.get("timestamp"))
            elif kind == "compacted":
                text = str_or_none(payload.get("message"))
                if text:
                    self._add(line, record.get("timestamp"), Message("", "assistant", "meta", text))
            elif kind == "turn_context":
                self.project = self.project or str_or_none(payload.get("cwd"))
            elif kind == "event_msg" and payload.get("type") == "user_message":
                self._user_event(payload, line, record.get("timestamp"))
            # other event_msg lines repeat the response items or are telemetry
        elif "record_type" in record:
            return  # older files' state markers
        elif isinstance(kind, str):
            self._item(record, line, record.get("timestamp"))  # an older bare item
        elif _is_legacy_header(record):
            self._session(record)
        else:
            self._problem(line, "not a Codex rollout record (no `type`); skipped")

    def _session(self, meta: JSONObject) -> None:
        if self.session_id is None:  # a resumed or forked file may repeat headers
            self.session_id = str_or_none(meta.get("id"))
        self.project = self.project or str_or_none(meta.get("cwd"))

    def _item(self, item: JSONObject, line: int, timestamp: object) -> None:
        kind = item.get("type")
        message: Message | None
        if kind == "message":
            message = self._text_message(item, line)
        elif kind == "reasoning":
            # the summary is what Codex shows; raw reasoning text only when not encrypted
            readable = item.get("summary") or item.get("content")
            summary = text_from_content(readable)
            message = Message("", "assistant", "thinking", summary) if summary.strip() else None
        elif kind in _TOOL_CALLS:
            message = self._tool_call(item, line)
        elif kind in _TOOL_OUTPUTS:
            message = Message("", "tool", "tool_result", _output_text(item.get("output")))
        else:
            return  # ghost snapshots, encrypted compactions, future item types
        if message is not None:
            message.source_id = str_or_none(item.get("id")) or ""
            self._add(line, timestamp, message)

    def _text_message(self, item: JSONObject, line: int) -> Message | None:
        role = item.get("role")
        text = text_from_content(item.get("content"))
        if not isinstance(role, str):
            self._problem(line, "message item without a role; skipped")
            return None
        if not text.strip():
            return None
        if role == "assistant":
            return Message("", "assistant", "text", text)
        if role == "user":
            kind: Kind = "meta" if _injected(text) else "prompt"
            if kind == "meta" and self.project is None and (found := _CWD.search(text)):
                # older files carry the cwd only in their environment context
                self.project = (found.group(1) or found.group(2)).strip()
            if kind == "prompt" and self._typed_twice(text):
                return None  # its user_message event came first
            return Message("", "user", kind, text)
        return Message("", "system", "meta", text)  # developer and system instructions

    def _tool_call(self, item: JSONObject, line: int) -> Message | None:
        kind = item.get("type")
        call_id = str_or_none(item.get("call_id"))
        if kind == "local_shell_call":
            action = dict_or_empty(item.get("action"))
            return tool_call_message("", "local_shell", action, call_id, timestamp=None, line=line)
        if kind == "web_search_call":
            action = dict_or_empty(item.get("action"))
            query = str_or_none(action.get("query"))
            return tool_call_message(
                "", "web_search", action, call_id, timestamp=None, line=line, text=query
            )
        name = str_or_none(item.get("name"))
        if name is None:
            self._problem(line, f"{kind} without a name; skipped")
            return None
        if kind == "custom_tool_call":  # free-form input, e.g. an apply_patch patch
            raw = item.get("input")
            text = raw if isinstance(raw, str) else dumps(raw)
            return tool_call_message(
                "", name, {"input": raw}, call_id, timestamp=None, line=line, text=text
            )
        arguments = parse_arguments(item.get("arguments"))
        return tool_call_message("", name, arguments, call_id, timestamp=None, line=line)

    def _user_event(self, payload: JSONObject, line: int, timestamp: object) -> None:
        """An `event_msg` user_message: the prompt, unless its response item came first."""
        text = payload.get("message")
        text = text if isinstance(text, str) else ""
        images = [i for key in ("images", "local_images") for i in payload.get(key) or ()]
        if images:
            text = "\n".join(["[image]"] * len(images) + [text])
        if not text.strip() or _injected(text) or self._typed_twice(text):
            return
        self._add(line, timestamp, Message("", "user", "prompt", text))

    def _typed_twice(self, text: str) -> bool:
        """Whether this prompt was already read, as the other record of the same input."""
        key = " ".join(_IMAGE_MARK.sub(" ", text).split())
        if key in self.typed:
            return True
        self.typed.add(key)
        return False

    def _add(self, line: int, timestamp: object, message: Message) -> None:
        if message.role in ("assistant", "tool"):
            self.typed.clear()  # a reply began: the next prompt is a new input
        message.line = line
        message.timestamp = timestamp_or_report(timestamp, self.problems, self.path, line)
        self.messages.append(message)

    def _problem(self, line: int | None, message: str) -> None:
        self.problems(Problem(str(self.path), line, message))


def _injected(text: str) -> bool:
    return text.lstrip()[:40].lower().startswith(_INJECTED_PREFIXES)


def _output_text(output: object) -> str:
    """A tool output: a plain string, a JSON string {"output", "metadata"}, {content} or items."""
    if isinstance(output, str):
        try:
            value = json.loads(output)
        except (json.JSONDecodeError, RecursionError):
            return output
        if isinstance(value, dict) and isinstance(value.get("output"), str):
            return str(value["output"])
        return output
    if isinstance(output, dict):
        return text_from_content(output.get("content"))
    return text_from_content(output)
