"""Aider chat histories: the `.aider.chat.history.md` aider appends to in a project's root.

What aider writes (its `io.py`, unchanged in shape from 2023 to today):
- `# aider chat started at 2025-09-22 12:04:00` when a session starts;
- what the person typed as `#### ` lines, each ending in two spaces; a multi-line input
  is one run of them (a blank line ends it);
- aider's own output (banners, confirmations, errors, commits) as `> ` lines ending in
  two spaces; only the first line of a multi-line output carries the `> `, its other
  lines follow it with no blank line in between;
- the model's reply as plain markdown after a blank line.

Split, as a person reading the file counts it:
- each session header opens a conversation; aider records no other time, so every
  message of the session carries the session's start (a bare time, taken as UTC);
- a run of `#### ` lines is one prompt. `/ask X`, `/code X`, `/architect X`,
  `/context X` and `/help X` are the prompt X (aider logs X again right after, as its
  echo: that copy is dropped). Any other slash command (`/add`, `/model`, `/run`...) is
  meta, and so is the output after it, like the start-up banner before a session's
  first prompt;
- `> ` output after a prompt is tool traffic of the reply (`tool_result`). The lines
  where aider names what it did to a file become tool calls, so files touched see them:
  "Applied edit to X" (edit), "Added X to the chat" (read), a file it asked to create
  or add and was told yes ("Create new file? ... y", "Add file to the chat? ... y"),
  and "Running CMD" (a shell command it ran);
- plain text is the reply.
A `#### ` line without the two trailing spaces is a heading inside a reply, unless no
prompt line of the file has them (an editor stripped trailing spaces).

Ids: conversation "aider-<session start>" (a start seen again in the file gets "~2"),
scoped by the file's path (`id_from_file`); message f"{conversation}:L{line}". aider only
ever appends, so a grown file keeps every id. Project: the folder holding the file when
it is named `.aider.chat.history.md` (aider writes it at the git root).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message, Role
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import read_text, timestamp_or_report, tool_call_message

FILE_NAME = ".aider.chat.history.md"

BlockKind = Literal["header", "prompt", "output", "text"]

_HEADER = re.compile(r"^# (aider|Aider) chat started at (.+?)\s*$")
_COMMAND = re.compile(r"^/([a-z][\w-]*)(?:\s+(.*))?$", re.DOTALL)
# Commands whose argument is a message to the model (aider logs it again as its echo).
_ASKING_COMMANDS = ("ask", "code", "architect", "context", "help")
# Early 2023 files wrote aider's output as `_italic_` lines ending in two spaces.
_EARLY_OUTPUT = re.compile(r"^_\S.*_  $")

_EDITED = re.compile(r"^Applied edit to (.+?)\s*$")
_ADDED = re.compile(r"^Added (.+?) to the chat(?: \(read-only\))?\.?\s*$")
_RUNNING = re.compile(r"^Running (.+?)\s*$")
# Questions aider asks about the file names it printed just before, answered yes.
_CREATE_ASKED = re.compile(r"^Create new file\?.*[:?]\s*(?:y|yes)$")
_ADD_ASKED = re.compile(r"^Add (?:file|these files) to the chat\?.*?\s(?:y|yes)$")
_CREATE_NAMED = re.compile(r"^Allow creation of new file (.+?)\?\s*(?:y|yes)$")


@dataclass
class _Block:
    kind: BlockKind
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()


@dataclass
class _Session:
    id: str
    started: datetime | None
    messages: list[Message] = field(default_factory=list)


class AiderParser(Parser):
    name: ClassVar[str] = "aider"
    description: ClassVar[str] = (
        "Aider chat history (.aider.chat.history.md): `#### ` prompts, `> ` aider output"
    )
    where: ClassVar[str] = f"{FILE_NAME} in each project aider ran in (its git root)"
    hidden_paths: ClassVar[tuple[str, ...]] = (FILE_NAME,)

    def sniff(self, path: Path, head: str) -> bool:
        if path.name == FILE_NAME:
            return True
        return any(_HEADER.match(line.rstrip("\r")) for line in head.split("\n"))

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        lines = [line.rstrip("\r") for line in read_text(path).split("\n")]
        blocks = _blocks(lines, _marks_prompts_with_spaces(lines))
        if not any(b.kind in ("header", "prompt") for b in blocks):
            raise FormatError(
                "no aider session header (`# aider chat started at ...`) or `#### ` prompt",
                path=str(path),
            )
        project = str(path.resolve().parent) if path.name == FILE_NAME else None
        for session in _Reader(path, problems).sessions(blocks):
            if any(m.kind != "meta" for m in session.messages):  # not a bare start-up banner
                yield Conversation(session.id, session.messages, project, None, id_from_file=True)


def _marks_prompts_with_spaces(lines: list[str]) -> bool:
    """Whether the file kept aider's two trailing spaces on its `#### ` lines."""
    return any(line.startswith("#### ") and line.endswith("  ") for line in lines)


def _blocks(lines: list[str], spaced: bool) -> list[_Block]:
    """Cut the file into headers, prompts (runs of `#### `), outputs and reply text.

    An output runs until a line ending in aider's two spaces (its blank lines included:
    pytest's output has them); in a file without them, until a blank line.
    """
    blocks: list[_Block] = []
    current: _Block | None = None
    output_open = False  # the output being read has not ended yet
    for number, line in enumerate(lines, 1):
        kind = _line_kind(line, spaced)
        if kind in ("header", "prompt"):
            output_open = False
        elif output_open and current is not None:
            current.lines.append(_output_line(line) if kind == "output" else line.rstrip())
            output_open = not line.endswith("  ")
            continue
        if kind == "header":
            current = None
            blocks.append(_Block("header", number, [line]))
        elif kind == "prompt":
            if current is None or current.kind != "prompt":
                current = _Block("prompt", number)
                blocks.append(current)
            current.lines.append(line[5:].rstrip())
        elif kind == "output":
            if current is None or current.kind != "output":
                current = _Block("output", number)
                blocks.append(current)
            current.lines.append(_output_line(line))
            output_open = spaced and not line.endswith("  ")
        elif not line.strip():
            if current is not None and current.kind == "text":
                current.lines.append("")
            else:
                current = None  # a blank line ends an input
        elif current is not None and current.kind == "output":
            current.lines.append(line.rstrip())  # unspaced file: a multi-line output
        else:
            if current is None or current.kind != "text":
                current = _Block("text", number)
                blocks.append(current)
            current.lines.append(line)
    return blocks


def _output_line(line: str) -> str:
    if _EARLY_OUTPUT.match(line):
        return line.strip()[1:-1]  # `_Applied edit to app.py_  `
    return line.removeprefix(">").strip()


def _line_kind(line: str, spaced: bool) -> BlockKind | None:
    if line.startswith("# ") and _HEADER.match(line):
        return "header"
    if line.startswith("#### ") and (line.endswith("  ") or not spaced):
        return "prompt"
    if line.startswith("> ") or line == ">" or _EARLY_OUTPUT.match(line):
        return "output"
    return None


class _Reader:
    """Turns blocks into sessions of messages."""

    def __init__(self, path: Path, problems: ProblemSink) -> None:
        self.path = path
        self.problems = problems
        self.seen_ids: dict[str, int] = {}
        self.early = False  # the 2023 layout: `#### > ` prompts
        # Files `/add` (or the command line) put in the chat: read for the next prompt.
        self.added: list[tuple[int, str, str]] = []  # (line, aider's line, path)

    def sessions(self, blocks: list[_Block]) -> Iterator[_Session]:
        session = _Session("aider-start", None)
        in_meta = True  # the start-up banner, before the first prompt
        echo: str | None = None  # the text aider logs again after `/ask X`
        reply = ""  # the last reply: architect mode logs it again as the editor's input
        for block in blocks:
            if block.kind == "header":
                if session.messages:
                    yield session
                session = self._new_session(block)
                in_meta, echo, reply, self.added = True, None, "", []
            elif block.kind == "prompt":
                text = self._prompt_text(block)
                if not text or text == "<blank>":
                    continue
                if echo is not None and text == echo:
                    echo = None  # the echo of `/ask X`: X is the prompt already
                    continue
                if reply and _same_text(text, reply):
                    echo, reply = None, ""  # the architect's answer handed to the editor
                    self._add(session, block.line, "user", "meta", text)
                    continue
                command = _COMMAND.match(text)
                asked = command.group(2) if command else None
                if command and asked and _asks_the_model(command.group(1)):
                    echo = asked.strip()
                    self._prompt(session, block.line, echo)
                    in_meta = False
                elif command:
                    echo = None
                    self._add(session, block.line, "user", "meta", text)
                    in_meta = True
                else:
                    echo = None
                    self._prompt(session, block.line, text)
                    in_meta = False
            elif block.kind == "output":
                self._output(session, block, meta=in_meta)
            elif block.text != "---":  # 2023 files ruled a line before each prompt
                echo, in_meta, reply = None, False, block.text
                self._add(session, block.line, "assistant", "text", block.text)
        if session.messages:
            yield session

    def _new_session(self, block: _Block) -> _Session:
        match = _HEADER.match(block.lines[0])
        assert match is not None  # a header block is made only from a matching line
        self.early = match.group(1) == "Aider"
        stamp = match.group(2)
        started = timestamp_or_report(stamp, self.problems, self.path, block.line)
        base = (
            f"aider-{started.strftime('%Y-%m-%dT%H:%M:%S')}" if started else f"aider-L{block.line}"
        )
        count = self.seen_ids.get(base, 0) + 1
        self.seen_ids[base] = count
        return _Session(base if count == 1 else f"{base}~{count}", started)

    def _prompt_text(self, block: _Block) -> str:
        text = block.text
        if self.early:
            text = text.removeprefix(">").strip()  # `#### >  make a flask app`
        return text

    def _add(self, session: _Session, line: int, role: Role, kind: Kind, text: str) -> None:
        if text.strip():
            source_id = f"{session.id}:L{line}"
            session.messages.append(
                Message(source_id, role, kind, text, session.started, None, line)
            )

    def _prompt(self, session: _Session, line: int, text: str) -> None:
        """A prompt, and the files added to the chat before it, as reads of its exchange."""
        self._add(session, line, "user", "prompt", text)
        for number, said, path in self.added:
            session.messages.append(
                tool_call_message(
                    f"{session.id}:L{number}#read",
                    "read",
                    {"path": path},
                    None,
                    timestamp=session.started,
                    line=number,
                    text=said,
                )
            )
        self.added = []

    def _output(self, session: _Session, block: _Block, *, meta: bool) -> None:
        """An output block: tool results, cut where aider names a file or a command."""
        if meta:
            self._add(session, block.line, "tool", "meta", block.text)
            for number, line in enumerate(block.lines, block.line):
                if match := _ADDED.match(line):
                    self.added.append((number, line, match.group(1)))
            return
        pending: list[str] = []  # output lines since the last call
        start = block.line
        for number, line in enumerate(block.lines, block.line):
            calls = _calls(line, pending)
            if not pending:
                start = number
            pending.append(line)
            if not calls:
                continue
            pending.pop()  # "Applied edit to x.py" is the call's own text
            self._add(session, start, "tool", "tool_result", "\n".join(pending).strip())
            pending = []
            for index, (name, tool_input) in enumerate(calls):
                source_id = f"{session.id}:L{number}" + (f"#{index}" if index else "")
                session.messages.append(
                    tool_call_message(
                        source_id,
                        name,
                        tool_input,
                        None,
                        timestamp=session.started,
                        line=number,
                        text=line,
                    )
                )
        self._add(session, start, "tool", "tool_result", "\n".join(pending).strip())


def _same_text(a: str, b: str) -> bool:
    """Equal but for trailing spaces on lines (aider pads the lines it logs as input)."""
    return [line.rstrip() for line in a.splitlines()] == [line.rstrip() for line in b.splitlines()]


def _asks_the_model(command: str) -> bool:
    """`/ask`, `/code`... or a prefix aider accepts for one of them (`/a` is ambiguous)."""
    return len(command) >= 2 and any(name.startswith(command) for name in _ASKING_COMMANDS)


def _calls(line: str, before: list[str]) -> list[tuple[str, dict[str, str]]]:
    """The tool calls one output line names, as (tool name, input); `before` holds the
    output lines printed since the last call (a question's file names)."""
    if match := _EDITED.match(line):
        return [("edit", {"path": match.group(1)})]
    if match := _ADDED.match(line):
        return [("read", {"path": match.group(1)})]
    if match := _RUNNING.match(line):
        return [("shell", {"command": match.group(1)})]
    if match := _CREATE_NAMED.match(line):
        return [("create", {"path": match.group(1)})]
    if _CREATE_ASKED.match(line):
        return [("create", {"path": name}) for name in _names(before)[-1:]]
    if _ADD_ASKED.match(line):
        return [("read", {"path": name}) for name in _names(before)]
    return []


def _names(before: list[str]) -> list[str]:
    """The file names aider printed before its question: the last run of one-word lines."""
    names: list[str] = []
    for line in reversed(before):
        if not line or " " in line or "://" in line:
            break
        names.append(line)
    return names[::-1]
