"""Claude Code console text: what `/export` writes or a saved terminal holds.

Two drawings, both read. macOS and older versions: `> ` opens a user prompt and `⏺ ` an
assistant reply or tool call. Claude Code 2.1 on Linux draws `❯ ` and `● `, puts the shell
that started it above its banner, the input box (a `❯` line between two `─` rules, with a
hint such as `❯ Try "..."`) at the bottom, and a multi-line prompt's later lines unindented.
Otherwise alike: a tool call is `⏺ Bash(cmd)…`, `● Web Search("q")`, `● Plan(task) Haiku
4.5` or collapsed, `● Read 1 file (ctrl+o to expand)`; `✻ Thinking…` a thinking block; an
indented `⎿` a tool's output. Indented lines continue the block above; other unindented
lines (the welcome box, status lines, the cost footer) are screen chrome and end the block.
Lines before the banner (`Claude Code v2.1.39`, `Welcome to Claude Code`) are the shell's.

The text carries no ids or times. Conversation id: "console-" + a hash of the file name and
the first prompt line, so it stays put while the file grows; message ids are
f"{conversation_id}:L{line}". Timestamps are None. The project is the welcome box's `cwd:`
(or the folder under the 2.1 banner's logo).

Slash commands: one that printed output (`> /cost`, `❯ /mcp`, `> /compact`, then `⎿`) or
nothing is local chrome, meta; one the agent answers (a reply follows, or the prompt Claude
Code expanded it into, holding its arguments) is the prompt, and that expansion is meta.
Also meta: the "This session is being continued..." summary that follows a compaction.
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

_PROMPT_MARKS = (">", "❯")
_REPLY_MARKS = ("⏺", "●")
_CALL = re.compile(r"^([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*)\((.*)$", re.DOTALL)
_CALL_END = re.compile(r"\)(?:\s+[A-Z][\w.\- ]*)?\s*…?\s*$")  # ")…", ") Haiku 4.5"
_COLLAPSED = re.compile(r"^(\S+).*\(ctrl\+[or] to expand\)$")  # "Read 1 file (ctrl+o to expand)"
_SLASH_COMMAND = re.compile(r"^/[a-z][\w:-]*(\s|$)")
_CWD = re.compile(r"^│\s*cwd:\s*(.+?)\s*│?\s*$")
_BANNER = re.compile(r"^[\s│▐▛█▜▌▝▘✻*]*(?:Welcome to Claude Code|Claude Code v\d)")
_BANNER_CWD = re.compile(r"^\s*[▘▝▗▖][▘▝▗▖ ]*\s+([~/]\S.*?)\s*$")
_RULE = re.compile(r"^[─━]{8,}\s*$")
_CHROME_GLYPHS = tuple("─━═│╭╰▐▝▘▗▖※·✻✶✳✢✽⏵")
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
        "Claude Code console text (/export or a saved terminal): `> ` or `❯ ` prompts, "
        "`⏺` or `●` replies"
    )
    where: ClassVar[str] = "/export in Claude Code, or a saved terminal"
    revision: ClassVar[int] = 2  # issue 12: split as the person typed

    def sniff(self, path: Path, head: str) -> bool:
        lines = head.split("\n")
        prompts = any(_is_prompt_mark(ln) for ln in lines)
        if any(ln.startswith("⏺") for ln in lines):
            return prompts
        # `●` and `❯` are common in other terminals (systemctl, shell prompts): 2.1's own
        # marks are the `⎿` under a tool call, or its banner
        return (
            prompts
            and any(ln.startswith("●") for ln in lines)
            and ("⎿" in head or any(_BANNER.match(ln) for ln in lines))
        )

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        blocks, project = _blocks(read_text(path).split("\n"))
        if not any(b.kind in ("prompt", "assistant") for b in blocks):
            raise FormatError(
                "no `> ` / `❯ ` prompt or `⏺` / `●` reply lines found", path=str(path)
            )
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
    banner = next((n for n, line in enumerate(lines) if _BANNER.match(line)), 0)
    after_rule = False
    for number, raw in enumerate(lines[banner:], banner + 1):
        line = raw.rstrip("\r")
        stripped = line.lstrip()
        below_rule, after_rule = after_rule, bool(_RULE.match(line))
        if _is_prompt_mark(line):
            if below_rule:  # the input box: a hint, or text never sent
                current = None
                continue
            current = _Block("prompt", number, [line[2:]])
        elif line.startswith(_REPLY_MARKS):
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
            if project is None and (found := _BANNER_CWD.match(line)):
                project = found.group(1)
            if current is not None:
                width = 5 if current.kind == "result" else 2  # "  ⎿  " vs "  "
                current.lines.append(_dedent(line, width))
            continue
        elif current is not None and current.kind == "prompt" and not _is_chrome(line):
            current.lines.append(line)  # a multi-line prompt's later line, as 2.1 draws it
            continue
        else:
            match = _CWD.match(line)
            if match and project is None:
                project = match.group(1)
            current = None  # screen chrome ends the block
            continue
        blocks.append(current)
    return blocks, project


def _is_prompt_mark(line: str) -> bool:
    """`> text`, `❯ text` or a bare mark (the hint in 2.1's input box follows a no-break space)."""
    return line[:1] in _PROMPT_MARKS and (len(line) == 1 or line[1] in " \xa0")


def _is_chrome(line: str) -> bool:
    return line.startswith(_CHROME_GLYPHS) or line.startswith("=====")


def _messages(blocks: list[_Block], conversation_id: str) -> list[Message]:
    messages: list[Message] = []
    expansions: set[int] = set()  # prompt blocks that are a slash command's expanded text
    for index, block in enumerate(blocks):
        source_id = f"{conversation_id}:L{block.line}"
        text = block.text
        if not text:
            continue  # a bare marker: nothing was said
        previous = messages[-1].kind if messages else None
        if block.kind == "prompt":
            prompt = index not in expansions and not text.startswith(_CONTINUED)
            if prompt and _SLASH_COMMAND.match(text):
                prompt = _answered(text, blocks[index + 1 : index + 2], expansions, index + 1)
            kind: Kind = "prompt" if prompt else "meta"
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


def _answered(command: str, following: list[_Block], expansions: set[int], at: int) -> bool:
    """Whether a slash command is a prompt: the agent answers it, or Claude Code expanded it
    into a prompt holding its arguments (marked in `expansions`). Output (`⎿`) or nothing
    after it is a local command's."""
    if not following:
        return False
    block = following[0]
    if block.kind in ("assistant", "thinking"):
        return True
    arguments = " ".join(command.split()[1:])
    if block.kind == "prompt" and arguments and arguments in " ".join(block.text.split()):
        expansions.add(at)
        return True
    return False


def _assistant(block: _Block, source_id: str, text: str, followed_by_result: bool) -> Message:
    match = _CALL.match(text)
    if match:
        name, argument = match.group(1), _strip_call_end(match.group(2))
        return tool_call_message(
            source_id, name, _tool_input(name, argument), None, timestamp=None, line=block.line
        )
    collapsed = _COLLAPSED.match(text) if "\n" not in text else None
    if collapsed:  # "Read 1 file (ctrl+o to expand)": calls folded into one line
        summary = {"summary": text}
        return tool_call_message(
            source_id, collapsed.group(1), summary, None, timestamp=None, line=block.line, text=text
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
    """`cmd)…` -> `cmd`: the console closes a call with ")", marks it with "…", and names
    the model of a sub-agent after it (`task) Haiku 4.5`)."""
    return _CALL_END.sub("", argument.rstrip(), count=1)


def _dedent(line: str, width: int) -> str:
    """Remove up to `width` leading spaces (the block's indent), keep deeper indentation."""
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, width) :]
