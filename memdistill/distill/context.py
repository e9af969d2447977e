"""`specific_context`: the one concrete detail that tells this exchange apart, copied exactly.

Candidates, strongest first: an error message (what people search for when it comes back),
a command that was run, a flag/parameter/setting, an identifier in backticks, a number
with its unit or a version. The first candidate that the exchange core does not already
contain wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from memdistill.distill.text import one_line, specificity, words
from memdistill.models import Exchange
from memdistill.tools import shell_command

MAX_CHARS = 140

# Error lines, strongest kind first: an exception with its message ("sqlite3.
# OperationalError: database is locked"), a line that says error/fatal/FAILED, a phrase.
_EXCEPTION = re.compile(r"\b[A-Za-z_][\w.]*(?:Error|Exception|Failure|Warning)\b: \S")
_ERROR_WORD = re.compile(r"\b(?:error|fatal|panic|FAILED|ERROR|Traceback)\b[:\s]")
_ERROR_PHRASE = re.compile(
    r"\b(?:No such file or directory|command not found|not found|Permission denied"
    r"|no such table|does not exist|cannot|can't|could not|couldn't|failed|refused"
    r"|timed out|undefined|unexpected)\b"
)
_NOISE_ERROR = re.compile(r"^\s*(at |File \"|\^|~|Traceback \(most recent call last\):\s*$)")
_LINE_NUMBER = re.compile(r"^\s*\d+→")  # Claude Code's Read output: "    12→code"
_EXIT_CODE = re.compile(r"^Exit code \d+$")
_INLINE_CODE = re.compile(r"`([^`\n]{2,160})`")
_SHELL_LINE = re.compile(r"^\s*\$\s+(\S.*)$", re.M)
_PARAM = re.compile(
    r"(?<![\w-])(--?[a-zA-Z][\w-]*(?:[= ][\w./:@%+-]+)?"  # --flag value, -k 5
    r"|[A-Z][A-Z0-9_]{2,}=\S+"  # ENV_VAR=value
    r"|\w+\[['\"][\w-]+['\"]\])"  # settings['key']
)
_NUMBER = re.compile(
    r"\b(?:v?\d+\.\d+(?:\.\d+)*|\$\d[\d,.]*|\d[\d,.]*\s?(?:ms|s|sec|seconds|minutes|MB|GB|KB|"
    r"%|tokens|x|px|rows|lines|items|files))(?!\w)"
)
_TRIVIAL_COMMANDS = {"ls", "pwd", "ls -la", "ls -l", "cd", "clear", "git status", "whoami"}


def specific_context(exchange: Exchange, core: str, files: Iterable[str] = ()) -> str:
    """The first candidate that adds something: not in the core, not just a file name."""
    core_words = {w.lower() for w in words(core)}
    names = {f.rsplit("/", 1)[-1].lower() for f in files}
    for candidate in _candidates(exchange):
        candidate = one_line(candidate, MAX_CHARS)
        if len(candidate) < 3 or candidate.lower().rsplit("/", 1)[-1] in names:
            continue
        if not _mostly_in(candidate, core_words):
            return candidate
    return ""


def _mostly_in(candidate: str, core_words: set[str]) -> bool:
    """Whether the core already says it (trimmed cores end in "…", so compare words)."""
    candidate_words = [w.lower() for w in words(candidate)]
    if not candidate_words:
        return False
    shared = sum(1 for w in candidate_words if w in core_words)
    return shared / len(candidate_words) >= 0.7


def _candidates(exchange: Exchange) -> Iterator[str]:
    prompt = exchange.prompt
    reply = exchange.reply
    results = "\n".join(m.text for m in exchange.messages if m.kind == "tool_result")
    # An error the person pasted is what they will search by; one a tool hit comes next.
    yield from _errors(prompt)
    yield from _errors(results)
    yield from _commands(exchange)
    yield from _inline_code(prompt)
    yield from _params(prompt)
    yield from _errors(reply)
    yield from _inline_code(reply)
    yield from _params(reply)
    yield from _numbers(prompt + "\n" + reply)


def _errors(text: str) -> Iterator[str]:
    """Error lines by strength; among exceptions the last comes first (a traceback ends
    with its cause), otherwise in text order."""
    ranked: list[tuple[int, int, str]] = []
    for position, raw in enumerate(text.splitlines()):
        line = _LINE_NUMBER.sub("", raw).strip()
        if not line or len(line) > 400 or _NOISE_ERROR.match(line) or _EXIT_CODE.match(line):
            continue
        if _EXCEPTION.search(line):
            ranked.append((0, -position, line))
        elif _ERROR_WORD.search(line):
            ranked.append((1, position, line))
        elif _ERROR_PHRASE.search(line):
            ranked.append((2, position, line))
    for _, _, line in sorted(ranked):
        yield line


def _commands(exchange: Exchange) -> Iterator[str]:
    commands: list[str] = []
    for call in exchange.tool_calls:
        command = shell_command(call.name, call.input)
        if command and command.strip():
            commands.append(command.strip().splitlines()[0])
    commands += _SHELL_LINE.findall(exchange.prompt)
    for command in _ranked(commands):
        if command.strip() not in _TRIVIAL_COMMANDS:
            yield command


def _inline_code(text: str) -> Iterator[str]:
    yield from _ranked(_INLINE_CODE.findall(text))


def _params(text: str) -> Iterator[str]:
    yield from _ranked(m for m in _PARAM.findall(text) if len(m) > 3)


def _numbers(text: str) -> Iterator[str]:
    yield from _NUMBER.findall(text)


def _ranked(candidates: Iterable[str]) -> list[str]:
    """Most specific first (rare words and identifiers weigh most); ties keep text order."""
    unique = list(dict.fromkeys(c.strip() for c in candidates if c.strip()))
    scores = {c: sum(specificity(w) for w in words(c)) for c in unique}
    return sorted(unique, key=lambda c: -scores[c])
