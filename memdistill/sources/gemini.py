"""Gemini CLI sessions: what it keeps under `~/.gemini/tmp/<project>/`.

Three shapes (they follow gemini-cli's `chatRecordingService.ts` and `logger.ts`):
- `chats/session-<time>-<id8>.json` (Aug 2025 to Apr 2026): one JSON document
  `{sessionId, projectHash, startTime, lastUpdated, summary?, messages: [...]}`;
- `chats/session-<time>-<id8>.jsonl` (since v0.39): a metadata line, then one line per
  message record, appended again whenever the message changes (its tool calls, its token
  counts: the last copy wins, in the place of the first), `{"$set": {...}}` metadata
  updates (with `messages`: a checkpoint that replaces them all) and `{"$rewindTo": id}`
  (the person rewound: that message and all after it are gone);
- `logs.json`: `[{sessionId, messageId, type: "user", message, timestamp}]`, the
  prompts alone (the CLI's input history).

Message records: `type` user -> prompt (`displayContent`, what the person saw, before
`content`), except what the CLI itself ignores as a prompt (empty, `/command`, `?`,
`<session_context>`, `<hook_context>`): meta; gemini -> its `thoughts` (thinking), its
text, then each of its `toolCalls` as a tool call and its result; info, error, warning ->
meta. Ids: the record's `id` (thoughts `#thought<n>`, calls `#tool<n>`, results
`#tool<n>:result`); logs.json prompts `<sessionId>:log<messageId>`.

Which file is the truth: a session file holds the replies and tool traffic, logs.json
only the prompts of the same sessions, so logs.json gives only the sessions no session
file beside it records (`chats/` or the same folder, found by the `<id8>` in the file
name; older CLIs wrote no session files). A `.json` session with a `.jsonl` of the same
name beside it was carried over into the `.jsonl` on resume (same ids): only the `.jsonl`
is read. Either way no prompt is indexed twice.

Project: the folder's `.project_root` (newer CLIs), else the session's first directory;
else none (ingest's `--project`, or the format name). Title: the session's `summary`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message, Problem
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    dumps,
    iter_jsonl,
    read_json,
    str_or_none,
    text_from_content,
    timestamp_or_report,
    tool_call_message,
)

_SESSION_FILE = re.compile(r"^session-.*-([0-9a-fA-F]{8})\.jsonl?$")
_SESSION_ID = re.compile(r'"sessionId"\s*:')
_PROJECT_HASH = re.compile(r'"projectHash"\s*:')
_LOG_KEYS = re.compile(r'"sessionId"\s*:[^{}]*"messageId"\s*:|"messageId"\s*:[^{}]*"sessionId"\s*:')
# User input the CLI itself does not treat as a prompt (sessionUtils.isIgnoredUserContent).
_NOT_PROMPTS = ("/", "?", "<session_context>", "<hook_context>")


class GeminiParser(Parser):
    name: ClassVar[str] = "gemini"
    description: ClassVar[str] = (
        "Gemini CLI sessions (chats/session-*.json, session-*.jsonl) and logs.json"
    )
    where: ClassVar[str] = "~/.gemini/tmp/<project>/chats/session-*.json(l), logs.json"
    default_folders: ClassVar[tuple[str, ...]] = ("~/.gemini/tmp",)

    def sniff(self, path: Path, head: str) -> bool:
        start = head.lstrip()[:1]
        if start == "{":  # a session: its metadata opens the file (a JSONL's first line)
            first = head.lstrip().split("\n", 1)[0] if path.suffix == ".jsonl" else head
            return bool(_SESSION_ID.search(first) and _PROJECT_HASH.search(first))
        return start == "[" and bool(_LOG_KEYS.search(head))

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        if path.suffix == ".jsonl":
            yield from _jsonl_session(path, problems)
            return
        if path.suffix == ".json" and path.with_suffix(".jsonl").is_file():
            return  # carried over into the .jsonl beside it, which is read instead
        try:
            data = read_json(path)
        except FormatError:
            yield from _jsonl_session(path, problems)  # a JSONL session under another name
            return
        if isinstance(data, list):
            yield from _logs(path, data, problems)
        elif isinstance(data, dict) and isinstance(data.get("messages"), list):
            records = [(index, m) for index, m in enumerate(data["messages"], 1)]
            conversation = _Session(path, problems, data).conversation(records)
            if conversation is not None:
                yield conversation
        else:
            raise FormatError(
                "expected a Gemini CLI session ({sessionId, messages}) or logs.json list",
                path=str(path),
            )


class _Session:
    """One session's metadata and the messages its records become."""

    def __init__(self, path: Path, problems: ProblemSink, metadata: JSONObject) -> None:
        self.path = path
        self.problems = problems
        self.metadata = metadata

    def conversation(self, records: Iterable[tuple[int, object]]) -> Conversation | None:
        session_id = str_or_none(self.metadata.get("sessionId"))
        if session_id is None:
            raise FormatError("the session has no `sessionId`", path=str(self.path))
        messages: list[Message] = []
        for line, record in records:
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                self.problems(
                    Problem(str(self.path), line, "message record without an `id`; skipped")
                )
                continue
            messages.extend(self._messages(record, line))
        if not messages:
            return None
        title = str_or_none(self.metadata.get("summary"))
        return Conversation(session_id, messages, _project(self.path, self.metadata), title)

    def _messages(self, record: JSONObject, line: int) -> Iterator[Message]:
        message_id = record["id"]
        kind_name = record.get("type")
        stamp = timestamp_or_report(record.get("timestamp"), self.problems, self.path, line)
        if kind_name == "user":
            shown = record.get("displayContent")
            text = text_from_content(shown if shown else record.get("content"))
            kind: Kind = "meta" if _not_a_prompt(text) else "prompt"
            if text.strip():
                yield Message(message_id, "user", kind, text, stamp, None, line)
        elif kind_name == "gemini":
            yield from _reply(record, message_id, stamp, line, self.path, self.problems)
        elif kind_name in ("info", "error", "warning"):
            text = text_from_content(record.get("content"))
            if text.strip():
                yield Message(message_id, "system", "meta", text, stamp, None, line)
        else:
            what = f"message of unknown type {kind_name!r}; skipped"
            self.problems(Problem(str(self.path), line, what))


def _reply(
    record: JSONObject, message_id: str, stamp: Any, line: int, path: Path, problems: ProblemSink
) -> Iterator[Message]:
    """A gemini record: thoughts, text, then each tool call with its result."""
    thoughts = record.get("thoughts")
    for number, thought in enumerate(thoughts if isinstance(thoughts, list) else []):
        thought = dict_or_empty(thought)
        parts = (str_or_none(thought.get("subject")), str_or_none(thought.get("description")))
        text = "\n".join(p.strip() for p in parts if p and p.strip())
        if text:
            yield Message(
                f"{message_id}#thought{number}", "assistant", "thinking", text, stamp, None, line
            )
    text = text_from_content(record.get("content"))
    if text.strip():
        yield Message(message_id, "assistant", "text", text, stamp, None, line)
    calls = record.get("toolCalls")
    for number, raw in enumerate(calls if isinstance(calls, list) else []):
        call = dict_or_empty(raw)
        name = str_or_none(call.get("name"))
        if name is None:
            problems(Problem(str(path), line, "tool call without a `name`; skipped"))
            continue
        call_stamp = timestamp_or_report(call.get("timestamp"), problems, path, line) or stamp
        source_id = f"{message_id}#tool{number}"
        arguments = dict_or_empty(call.get("args"))
        yield tool_call_message(
            source_id, name, arguments, str_or_none(call.get("id")), timestamp=call_stamp, line=line
        )
        result = _result_text(call)
        if result:
            yield Message(
                f"{source_id}:result", "tool", "tool_result", result, call_stamp, None, line
            )


def _result_text(call: JSONObject) -> str:
    """What a tool returned: the function responses' output (or error), else the display."""
    texts = []
    parts = call.get("result")
    for part in parts if isinstance(parts, list) else []:
        response = dict_or_empty(
            dict_or_empty(dict_or_empty(part).get("functionResponse")).get("response")
        )
        value = response.get("output", response.get("error"))
        if isinstance(value, str):
            texts.append(value)
        elif response:
            texts.append(dumps(response))
        elif isinstance(dict_or_empty(part).get("text"), str):
            texts.append(part["text"])
    if not texts and isinstance(call.get("resultDisplay"), str):
        texts.append(call["resultDisplay"])
    return "\n".join(t for t in texts if t.strip())


def _jsonl_session(path: Path, problems: ProblemSink) -> Iterator[Conversation]:
    """A `.jsonl` session: metadata, messages by id (last copy wins), $set, $rewindTo."""
    metadata: JSONObject = {}
    records: dict[str, tuple[int, JSONObject]] = {}  # id -> (first line, latest record)
    for line, record in iter_jsonl(path, problems):
        if isinstance(record.get("$rewindTo"), str):
            ids = list(records)
            cut = ids.index(record["$rewindTo"]) if record["$rewindTo"] in ids else 0
            for gone in ids[cut:]:
                del records[gone]
        elif isinstance(record.get("$set"), dict):
            update = record["$set"]
            if isinstance(update.get("messages"), list):  # a checkpoint: these, and only these
                records = {}
                _add_records(records, update["messages"], line)
            metadata.update({k: v for k, v in update.items() if k != "messages"})
        elif isinstance(record.get("id"), str):
            first = records.get(record["id"], (line, record))[0]
            records[record["id"]] = (first, record)
        elif "sessionId" in record:
            metadata.update({k: v for k, v in record.items() if k != "messages"})
            if isinstance(record.get("messages"), list):
                _add_records(records, record["messages"], line)
        else:
            problems(Problem(str(path), line, "not a Gemini CLI session record; skipped"))
    conversation = _Session(path, problems, metadata).conversation(records.values())
    if conversation is not None:
        yield conversation


def _add_records(
    records: dict[str, tuple[int, JSONObject]], messages: list[Any], line: int
) -> None:
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            records[message["id"]] = (line, message)


def _logs(path: Path, entries: list[Any], problems: ProblemSink) -> Iterator[Conversation]:
    """logs.json: the prompts of the sessions no session file beside it records."""
    recorded = _recorded_sessions(path.parent)
    sessions: dict[str, list[Message]] = {}
    for index, raw in enumerate(entries, 1):
        entry = dict_or_empty(raw)
        session_id = str_or_none(entry.get("sessionId"))
        text = entry.get("message")
        if session_id is None or not isinstance(text, str):
            problems(
                Problem(str(path), index, "log entry without `sessionId` or `message`; skipped")
            )
            continue
        if session_id[:8].lower() in recorded or entry.get("type", "user") != "user":
            continue
        stamp = timestamp_or_report(entry.get("timestamp"), problems, path, index)
        number = entry.get("messageId")
        source_id = f"{session_id}:log{number if isinstance(number, int) else index}"
        kind: Kind = "meta" if _not_a_prompt(text) else "prompt"
        if text.strip():
            sessions.setdefault(session_id, []).append(
                Message(source_id, "user", kind, text, stamp, None, index)
            )
    project = _project(path, {})
    for session_id, messages in sessions.items():
        yield Conversation(session_id, messages, project, None)


def _recorded_sessions(folder: Path) -> set[str]:
    """The `<id8>`s of the session files in `folder` and its `chats/`."""
    found: set[str] = set()
    for place in (folder, folder / "chats"):
        try:
            names = [p.name for p in place.iterdir()] if place.is_dir() else []
        except OSError:
            continue
        for name in names:
            match = _SESSION_FILE.match(name)
            if match:
                found.add(match.group(1).lower())
    return found


def _project(path: Path, metadata: JSONObject) -> str | None:
    """`.project_root` in the project's temp folder, else the session's first directory."""
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        marker = folder / ".project_root"
        try:
            if marker.is_file():
                root = marker.read_text(encoding="utf-8", errors="replace").strip()
                if root:
                    return root
        except OSError:
            pass
    directories = metadata.get("directories")
    if isinstance(directories, list) and directories and isinstance(directories[0], str):
        return directories[0]
    return None


def _not_a_prompt(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith(_NOT_PROMPTS)
