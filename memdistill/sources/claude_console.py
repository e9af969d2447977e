"""Claude Code console text: what `/export` writes or a saved terminal holds.

Markers at the start of a line: `> ` opens a user prompt, `⏺ ` an assistant reply or tool
call (`⏺ Bash(cmd)…`, `⏺ Read(path)…`, `⏺ Call(description)…`), `✻ Thinking…` a
thinking block, and an indented `⎿` a tool's output. Indented lines continue the block
above; other unindented lines (the welcome box, status lines, the cost footer) are screen
chrome and end the block.

The text carries no ids or times. Conversation id: "console-" + a hash of the file name and
the first prompt line, so it stays put while the file grows; message ids are
f"{conversation_id}:L{line}". Timestamps are None. The project is the welcome box's `cwd:`.

Meta: slash commands (`> /cost`, `> /compact`) and their output, and the "This session is
being continued..." summary that follows a compaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import JSONObject, read_text, short_hash, tool_call_message

BlockKind = Literal["prompt", "assistant", "thinking", "result"]

_CALL = re.compile(r"^([A-Z][A-Za-z]*)\((.*)$", re.DOTALL)
_SLASH_COMMAND = re.compile(r"^/[a-z][\w:-]*(\s|$)")
_CWD = re.compile(r"^│\s*cwd:\s*(.+?)\s*│?\s*$")
_CONTINUED = "This session is being continued from a previous conversation"
_FILE_TOOLS = frozenset({"Read", "Write", "Edit", "MultiEdit", "Update", "Create", "NotebookEdit"})


@dataclass
class _Block:
    kind: BlockKind
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()


class ClaudeConsoleParser(Parser):
    name: ClassVar[str] = "claude-console"
    description: ClassVar[str] = (
        "Claude Code console text (/export or a saved terminal): `> ` prompts, `⏺` replies"
    )
    where: ClassVar[str] = "/export in Claude Code, or a saved terminal"

    def sniff(self, path: Path, head: str) -> bool:
        lines = head.split("\n")
        return any(ln.startswith("> ") for ln in lines) and any(ln.startswith("⏺") for ln in lines)

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        blocks, project = _blocks(read_text(path).split("\n"))
        if not any(b.kind in ("prompt", "assistant") for b in blocks):
            raise FormatError("no `> ` prompt or `⏺` reply lines found", path=str(path))
        first = next(b for b in blocks if b.kind in ("prompt", "assistant"))
        conversation_id = "console-" + short_hash(path.name, first.lines[0] if first.lines else "")
        messages = _messages(blocks, conversation_id)
        if messages:
            yield Conversation(conversation_id, messages, project, None, id_from_file=True)


def _blocks(lines: list[str]) -> tuple[list[_Block], str | None]:
    """Cut the screen into marked blocks; also return the welcome box's cwd."""
    blocks: list[_Block] = []
    current: _Block | None = None
    project: str | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        stripped = line.lstrip()
        if line.startswith("> ") or line == ">":
            current = _Block("prompt", number, [line[2:]])
        elif line.startswith("⏺"):
            current = _Block("assistant", number, [line[1:].strip()])
        elif line.startswith("✻ Thinking"):
            current = _Block("thinking", number)
        elif stripped.startswith("⎿") and line[:1].isspace():
            rest = stripped[1:].strip()
            if current is not None and current.kind == "result":
                current.lines.append(rest)  # consecutive ⎿ lines: one tool's output
                continue
            current = _Block("result", number, [rest])
        elif not line.strip():
            if current is not None:
                current.lines.append("")
            continue
        elif line[:1].isspace():
            if current is not None:
                width = 5 if current.kind == "result" else 2  # "  ⎿  " vs "  "
                current.lines.append(_dedent(line, width))
            continue
        else:
            match = _CWD.match(line)
            if match and project is None:
                project = match.group(1)
            current = None  # screen chrome ends the block
            continue
        blocks.append(current)
    return blocks, project


def _messages(blocks: list[_Block], conversation_id: str) -> list[Message]:
    messages: list[Message] = []
    for index, block in enumerate(blocks):
        source_id = f"{conversation_id}:L{block.line}"
        text = block.text
        if not text:
            continue  # a bare marker: nothing was said
        previous = messages[-1].kind if messages else None
        if block.kind == "prompt":
            meta = bool(_SLASH_COMMAND.match(text)) or text.startswith(_CONTINUED)
            kind: Kind = "meta" if meta else "prompt"
            messages.append(Message(source_id, "user", kind, text, None, None, block.line))
        elif block.kind == "thinking":
            messages.append(
                Message(source_id, "assistant", "thinking", text, None, None, block.line)
            )
        elif block.kind == "result":
            # output under a call is its result; under a slash command (/cost) it is meta
            kind = "tool_result" if previous in ("tool_call", "tool_result") else "meta"
            messages.append(Message(source_id, "tool", kind, text, None, None, block.line))
        else:
            followed_by_result = index + 1 < len(blocks) and blocks[index + 1].kind == "result"
            messages.append(_assistant(block, source_id, text, followed_by_result))
    return messages


def _assistant(block: _Block, source_id: str, text: str, followed_by_result: bool) -> Message:
    match = _CALL.match(text)
    if match:
        name, argument = match.group(1), _strip_call_end(match.group(2))
        return tool_call_message(
            source_id, name, _tool_input(name, argument), None, timestamp=None, line=block.line
        )
    if followed_by_result and "\n" not in text:
        # "⏺ Read Todos" / "⏺ Update Todos": a tool shown by its title, output below
        return tool_call_message(source_id, text, {}, None, timestamp=None, line=block.line)
    return Message(source_id, "assistant", "text", text, None, None, block.line)


def _tool_input(name: str, argument: str) -> JSONObject:
    if name in _FILE_TOOLS:
        return {"file_path": argument.removeprefix("file_path:").strip()}
    if name == "Bash":
        return {"command": argument}
    return {"arg": argument}


def _strip_call_end(argument: str) -> str:
    """`cmd)…` -> `cmd`: the console closes a call with ")" and marks it with "…"."""
    argument = argument.rstrip().removesuffix("…").rstrip()
    return argument.removesuffix(")")


def _dedent(line: str, width: int) -> str:
    """Remove up to `width` leading spaces (the block's indent), keep deeper indentation."""
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, width) :]
