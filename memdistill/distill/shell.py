"""Files a shell command touches, by a small table of verbs whose arguments are files.

`shell_touches("cat a.py > b.txt")` -> ("b.txt", "created"), ("a.py", "read"). The command
is cut into statements (line continuations, quotes spanning lines and here-documents
handled: a here-document's body is data), each statement into simple commands at `&&`,
`|`, `;`..., and each simple command read by its verb:
- cat, head, tail, less, more, bat, nl read; touch, mkdir, tee create; rm, unlink edit
  (a deleted file was changed);
- cp reads its sources and creates its target, mv edits its sources and creates its target
  (a target ending in "/" receives the sources' names);
- sed edits with -i, else reads (its script, the first argument or -e's, is skipped);
- redirections: `>` creates, `>>` edits, `<` reads, whatever the verb.
Prefixes (sudo, env, VAR=value, time...) are skipped; only plain words count as paths (no
globs, variables, numbers or /dev/ and /proc/ devices). Tool-call shapes and the command
line itself come from `memdistill.tools.shell_command`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator

from memdistill.models import FileAction

_MAX_SHELL_CHARS = 20_000  # bounds the work on a huge generated script

_VERB_ACTIONS: dict[str, FileAction] = {
    **dict.fromkeys(("cat", "head", "tail", "less", "more", "bat", "nl"), "read"),
    **dict.fromkeys(("touch", "mkdir", "tee"), "created"),
    **dict.fromkeys(("rm", "unlink"), "edited"),
}
# cp and mv: the last argument is created; the others are read (cp) or removed (mv).
_COPY_VERBS: dict[str, FileAction] = {"cp": "read", "mv": "edited"}
_PREFIX_WORDS = frozenset({"sudo", "env", "command", "time", "nohup", "exec", "then", "do"})
_REDIRECTS: dict[str, FileAction] = {
    ">": "created",
    ">|": "created",
    "&>": "created",
    ">>": "edited",
    "&>>": "edited",
    "<": "read",
}
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&"})
# A word that names a path as typed (no glob, variable or quote left), or a Windows path.
_PATH_WORD = re.compile(r"[\w.~/+@-]+|[A-Za-z]:[\\/].*", re.S)
_NUMBER_WORD = re.compile(r"[\d./]+")
_DEVICE_PREFIXES = ("/dev/", "/proc/")
_SED_SCRIPT_OPTIONS = frozenset({"-e", "-f", "--expression", "--file"})


def shell_touches(command: str) -> Iterator[tuple[str, FileAction]]:
    """Files a shell command writes, reads or removes, by a small table of verbs."""
    heredoc_end: str | None = None
    pending = ""
    for line in command[:_MAX_SHELL_CHARS].splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue  # a here-document's body is data, not commands
        statement = pending + line
        if statement.endswith("\\"):
            pending = statement[:-1] + " "
            continue
        try:
            tokens = _shell_tokens(statement)
        except ValueError:  # a quote still open: the statement goes on over the next line
            pending = statement + "\n"
            continue
        pending = ""
        for words in _simple_commands(tokens):
            heredoc_end = _heredoc_marker(words) or heredoc_end
            yield from _command_touches(words)


def _shell_tokens(statement: str) -> list[str]:
    lexer = shlex.shlex(statement, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _simple_commands(tokens: list[str]) -> Iterator[list[str]]:
    words: list[str] = []
    for token in tokens:
        if token in _SEPARATORS:
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


def _heredoc_marker(words: list[str]) -> str | None:
    for i, word in enumerate(words[:-1]):
        if word == "<<":
            return words[i + 1].lstrip("-")
    return None


def _command_touches(words: list[str]) -> Iterator[tuple[str, FileAction]]:
    args: list[str] = []
    options: list[str] = []
    skip_next = False
    for i, word in enumerate(words):
        if skip_next:
            skip_next = False
        elif not word:
            continue  # sed -i '' (macOS): the empty backup suffix
        elif word in _REDIRECTS and i + 1 < len(words):
            yield from _shell_paths([words[i + 1]], _REDIRECTS[word])
            skip_next = True
        elif word.startswith("<<") or word == ">&":
            skip_next = True  # a here-document marker, a here-string, a descriptor
        elif word.startswith("-"):
            options.append(word)
            # sed -e SCRIPT, -f SCRIPT_FILE: the option's value is no file it changes
            skip_next = word in _SED_SCRIPT_OPTIONS and bool(args) and _verb(args[0]) == "sed"
        elif not args and ("=" in word or word in _PREFIX_WORDS):
            continue  # VAR=value, sudo, env: the verb comes later
        else:
            args.append(word)
    if not args:
        return
    verb, args = _verb(args[0]), args[1:]
    if verb in _VERB_ACTIONS:
        yield from _shell_paths(args, _VERB_ACTIONS[verb])
    elif verb in _COPY_VERBS and len(args) >= 2:
        sources, target = args[:-1], args[-1]
        yield from _shell_paths(sources, _COPY_VERBS[verb])
        if target.endswith("/"):  # into a folder: name the files it receives
            targets = [target + source.rstrip("/").rpartition("/")[2] for source in sources]
        else:
            targets = [target]
        yield from _shell_paths(targets, "created")
    elif verb == "sed":
        in_place = any(o.startswith("-i") or o == "--in-place" for o in options)
        scripted = any(o in _SED_SCRIPT_OPTIONS for o in options)
        # Without -e the first argument is the script (with it, the loop skipped it).
        yield from _shell_paths(args if scripted else args[1:], "edited" if in_place else "read")


def _verb(word: str) -> str:
    return word.rpartition("/")[2]  # /usr/bin/sed -> sed


def _shell_paths(args: Iterable[str], action: FileAction) -> Iterator[tuple[str, FileAction]]:
    for arg in args:
        plain = _PATH_WORD.fullmatch(arg) and not _NUMBER_WORD.fullmatch(arg)
        if plain and not arg.startswith(_DEVICE_PREFIXES):
            yield (arg.rstrip("/") or arg), action
