"""The files an exchange touched, found by regular expression (never by an LLM).

Two sources, merged per path keeping the strongest action (created > edited > read >
referenced):
- tool calls: the tool says what it did (Write creates, Read reads, apply_patch adds and
  updates; a shell command's `>` creates, `cat` reads, `sed -i` edits: `shell.py`);
- every message's text: any path mentioned is "referenced".

Rules for the ambiguous cases (tests/test_files.py shows each):
- a slash path made only of plain words ("and/or", "src/app", "venv/bin/activate") counts
  only with a leading / ./ ../ ~ or drive, or when its last part is a known file name or
  extension ("src/app/main.py"); prose alternatives and MIME types stay out;
- an absolute path of one part ("/help", "/tmp") counts only when that part is a file name
  ("/setup.py"): slash commands are not paths;
- a bare name counts when its extension is a known one (hello_world.py, CLAUDE.md) or it is
  a well-known name (Dockerfile, .gitignore); "node.js" and other product names, method
  calls ("response.json()"), dotted attributes, versions and domains do not;
- URLs are skipped whole (scheme or www.), e-mails and user@host too; a Windows path with
  spaces counts only when quoted; a relative path with backslashes and no drive does not;
- a deleted file (apply_patch "Delete File", `rm`) is "edited": the agent changed it;
- a referenced bare or relative path that ends another collected path at a "/" boundary
  ("main.py" beside "/proj/main.py") is dropped as the same file.
At most MAX_FILES paths are returned: every non-referenced one first, the rest filled
with referenced ones by first appearance, all in first-appearance order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from memdistill.distill.shell import shell_touches
from memdistill.models import Exchange, FileAction, FileTouch
from memdistill.tools import is_shell_tool, shell_command

MAX_FILES = 50
# Bounds the work on a tool result that lists thousands of files.
_MAX_COLLECTED = 1000
_MAX_PATH = 4096  # PATH_MAX on Linux: anything longer is not a path


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STRENGTH: dict[FileAction, int] = {"referenced": 0, "read": 1, "edited": 2, "created": 3}

_EXTENSIONS = _words(
    """py pyi pyx ipynb js jsx mjs cjs ts tsx mts cts json jsonl json5 yaml yml toml ini cfg
    conf md mdx rst txt csv tsv html htm css scss sass less xml svg png jpg jpeg gif webp ico
    bmp pdf sh bash zsh fish ps1 bat cmd c h cc cpp cxx hpp hh rs go java kt kts swift rb php
    pl pm lua sql db sqlite sqlite3 lock log env gradle tf tfvars proto graphql gql vue svelte
    astro dart ex exs erl hs ml clj cs fs vb zig nim jl tex bib epub zip gz tgz tar bz2 xz
    whl jar war wasm so dylib dll exe patch diff pem crt plist sln csproj mk cmake dockerfile
    tiktoken onnx pt pth pkl parquet npy npz h5 mp3 mp4 wav mov docx xlsx pptx odt ics
    properties xsd xsl j2 jinja jinja2 tmpl tpl hbs ejs pug el vim nix gemspec podspec
    """
)
_KNOWN_NAMES = _words(
    """Dockerfile Containerfile Makefile GNUmakefile Justfile Procfile Gemfile Rakefile
    Vagrantfile Jenkinsfile Brewfile Pipfile Podfile Caddyfile README LICENSE LICENCE COPYING
    NOTICE AUTHORS CHANGELOG CONTRIBUTING CODEOWNERS .gitignore .gitattributes .gitmodules
    .env .envrc .bashrc .bash_profile .bash_history .zshrc .zprofile .profile .vimrc .npmrc
    .nvmrc .yarnrc .editorconfig .dockerignore .prettierrc .eslintrc .pylintrc .flake8
    .python-version .tool-versions .coveragerc .babelrc .netrc .inputrc .tmux.conf
    """
)
# Names that look like files but are products or attribute access in prose.
_NOT_FILES = _words(
    """node.js vue.js next.js nuxt.js react.js express.js three.js d3.js chart.js angular.js
    ember.js backbone.js alpine.js solid.js svelte.js p5.js deno.js bun.js nest.js
    request.json response.json res.json resp.json req.json r.json"""
)
_OBJECTS = ("self.", "cls.", "this.")
_DOMAIN_TLDS = _words("com org net io dev ai co edu gov app me info biz xyz uk de")
_DEVICE_PREFIXES = ("/dev/", "/proc/")

# A run of characters a path may hold, plus the ones that disqualify it ($*?{}%!#:@^\),
# so "src/*.py" or "$HOME/x" are seen whole and rejected rather than cut into pieces.
_RUN = r"[\w.~/\\:@%+#$^*?!{}-]"
_CANDIDATE = re.compile(rf"(?<!{_RUN})(?={_RUN}*?(?:[/\\]|\.\w)){_RUN}++")
_BARE_NAMES = tuple(sorted(n for n in _KNOWN_NAMES if "." not in n))
_BARE_NAME = re.compile(rf"(?<!{_RUN})(?:{'|'.join(_BARE_NAMES)})(?![\w.-])")
# Blanked before the candidate pass (offsets stay put): URLs, skipped whole, and quoted
# paths with spaces, found there.
_URL = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'`<>]*+|\bwww\.[^\s"'`<>]*+""")
_QUOTED = re.compile(r"""(["'`])((?:[A-Za-z]:[\\/]|~/|/)[^"'`\n]*+)\1""")
_LINE_SUFFIX = re.compile(r"(?::\d+){1,2}$|#L\d+(?:-L?\d+)?$")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_POSIX_CHARS = re.compile(r"[\w.\-+@~/]+")
_WINDOWS_CHARS = re.compile(r"[\w.\-+@~/\\ ()]+")
_QUOTED_POSIX = re.compile(r"[\w.\-+@~/ ()]+")
_HOME = re.compile(r"^~[\w.-]*/")
_HAS_ALNUM = re.compile(r"[^\W_]")
_EMAILISH = re.compile(r"(?<!/)@")
_NUMERIC = re.compile(r"[\d./]+")
_DIFF_HEADER = ("+++ ", "--- ")
_SPACE_GOES_ON = re.compile(r" [^\s\\/\"'`]+[\\/]")
_BACKSLASHES = re.compile(r"\\{2,}")
_TRAIL = ".,;:!?*"
_PATCH_LINE = re.compile(r"^\*\*\* (Add File|Update File|Delete File|Move to): (.+?)\s*$", re.M)
_PATCH_ACTION: dict[str, FileAction] = {
    "Add File": "created",
    "Update File": "edited",
    "Delete File": "edited",
    "Move to": "created",
}


def is_file_name(name: str) -> bool:
    """A bare name that is surely a file: a known extension or a well-known name."""
    if name in _KNOWN_NAMES or name.startswith(".env."):
        return True
    base, dot, ext = name.rpartition(".")
    return bool(dot) and ext.lower() in _EXTENSIONS and bool(base.strip("."))


def normalize_path(raw: str) -> str | None:
    """The path `raw` names once decorations are stripped, or None when it names none."""
    if len(raw) > _MAX_PATH:
        return None
    token = raw
    if token.startswith("*"):
        if not token.rstrip(".,;:!?").endswith("*"):
            return None  # a glob: *.py, *_spec.py
        token = token.strip("*")  # markdown emphasis: **app.py**
    token = token.rstrip(_TRAIL)
    if "\\\\" in token:
        token = _BACKSLASHES.sub(r"\\", token)
    if ":" in token or "#" in token:
        token = _LINE_SUFFIX.sub("", token).rstrip(_TRAIL)
    if not _HAS_ALNUM.search(token):
        return None
    if _DRIVE.match(token):
        return token.rstrip("\\/") if _WINDOWS_CHARS.fullmatch(token, 2) else None
    if not _POSIX_CHARS.fullmatch(token) or _EMAILISH.search(token):
        return None
    if len(token) > 1:
        token = token.rstrip("/")
    last = token.rpartition("/")[2]
    if token.startswith(("./", "../")) or _HOME.match(token):
        return token
    if token.startswith("/"):
        if token.startswith(_DEVICE_PREFIXES) or "//" in token:
            return None
        if _NUMERIC.fullmatch(token):
            return None  # /2024/01/02
        return token if "/" in token[1:] or is_file_name(last) else None
    if "/" in token:
        first = token.partition("/")[0]
        if first.rpartition(".")[2].lower() in _DOMAIN_TLDS:
            return None  # a URL without its scheme: github.com/a/b.py
        return token if is_file_name(last) else None
    if token.lower() in _NOT_FILES or token.count(".") >= 3 or token.startswith(_OBJECTS):
        return None  # node.js; django.db.backends.sqlite3; self.db
    return token if is_file_name(token) else None


def paths_in_text(text: str) -> Iterator[str]:
    """Paths mentioned in free text, in order of appearance (repeats included)."""
    found: list[tuple[int, str]] = []

    def blank_quoted(match: re.Match[str]) -> str:
        quoted = match.group(2)
        path = _quoted_path(quoted) if " " in quoted else None
        if path is None:
            return match.group()  # the candidate pass sees it, or its parts
        found.append((match.start(), path))
        return " " * len(match.group())

    scanned = text
    if "://" in text or "www." in text:
        scanned = _URL.sub(lambda m: " " * len(m.group()), scanned)
    if "/" in text or "\\" in text:
        scanned = _QUOTED.sub(blank_quoted, scanned)
    if any(name in text for name in _BARE_NAMES):
        found.extend((m.start(), m.group()) for m in _BARE_NAME.finditer(scanned))
    for match in _CANDIDATE.finditer(scanned):
        raw = match.group()
        if match.end() < len(scanned) and scanned[match.end()] == "(" and "/" not in raw:
            continue  # a call: response.json(), os.path.join()
        if raw[:2] in ("a/", "b/") and _after_diff_marker(scanned, match.start()):
            raw = raw[2:]
        path = normalize_path(raw)
        if path and _DRIVE.match(path) and _SPACE_GOES_ON.match(scanned, match.end()):
            continue  # C:\Program Files\x unquoted: only a fragment was matched
        if path and "/" not in path and len(path.partition(".")[0]) == 1:
            continue  # in prose or code a one-letter stem is an attribute: `r.ts for r in rows`
        if path:
            found.append((match.start(), path))
    found.sort(key=lambda item: item[0])
    for _, path in found:
        yield path


def extract_files(exchange: Exchange) -> list[FileTouch]:
    """The files an exchange touched, strongest action per path, in order of appearance."""
    touches = _Touches()
    for message in exchange.messages:
        texts = [message.text]
        if message.tool is not None:
            touches.add_all(tool_touches(message.tool.name, message.tool.input))
            # The raw input first: a JSON rendering escapes newlines into the paths' way.
            raw = [s for s in _strings(message.tool.input) if s not in message.text]
            texts = [*raw, message.text]
        for text in texts:
            touches.add_all((path, "referenced") for path in paths_in_text(text))
    return touches.result()


# --- tool calls ------------------------------------------------------------------------

_CLAUDE_TOOLS: dict[str, FileAction] = {
    "read": "read",
    "notebookread": "read",
    "write": "created",
    "edit": "edited",
    "multiedit": "edited",
    "notebookedit": "edited",
    "update": "edited",
    "glob": "referenced",
    "grep": "referenced",
    "ls": "referenced",
}
_PATH_KEYS = ("path", "file_path", "filepath", "filename", "file", "target_file", "notebook_path")
_PATH_LIST_KEYS = ("paths", "files")
# A generic tool's action, from the first of these words in its name (or its "command").
_TOOL_WORDS: dict[str, FileAction] = {
    **dict.fromkeys(("read", "view", "open", "cat", "show"), "read"),
    **dict.fromkeys(("write", "create", "new", "save"), "created"),
    **dict.fromkeys(
        ("edit", "replace", "patch", "update", "insert", "modify", "diff", "delete"),
        "edited",
    ),
}
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def tool_touches(name: str, tool_input: Mapping[str, Any]) -> Iterator[tuple[str, FileAction]]:
    """What one tool call did to which files (its free text is scanned separately)."""
    key = name.lower()
    for text in _strings(tool_input):
        if "*** " in text:
            for m in _PATCH_LINE.finditer(text):
                yield m.group(2), _PATCH_ACTION[m.group(1)]
    if is_shell_tool(name):
        command = shell_command(name, tool_input)
        if command:
            yield from shell_touches(command)
        return
    action = _CLAUDE_TOOLS.get(key) or _generic_action(name, tool_input)
    for path_key in (*_PATH_KEYS, *_PATH_LIST_KEYS):
        for value in _as_strings(tool_input.get(path_key)):
            path = _tool_path(value)
            if path:
                yield path, action


def _tool_path(value: str) -> str | None:
    """A tool's path argument as given, unless it is empty, ".", a glob or not one line."""
    path = value.strip().strip("\"'`")
    if path in ("", ".", "./", "/") or len(path) > _MAX_PATH or any(c in path for c in "*?\n"):
        return None
    return path.rstrip("/\\") or path


def _generic_action(name: str, tool_input: Mapping[str, Any]) -> FileAction:
    command = tool_input.get("command")
    # str_replace_based_edit_tool says what it does in "command": view, create, insert.
    words = name if not isinstance(command, str) or " " in command else f"{command} {name}"
    for word in _NAME_WORDS.findall(words):
        action = _TOOL_WORDS.get(word.lower())
        if action:
            return action
    return "referenced"


# --- helpers ----------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a tool input, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _as_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _quoted_path(quoted: str) -> str | None:
    """A quoted path with spaces: any Windows one, a POSIX one ending in a file name."""
    path = quoted.strip().rstrip(_TRAIL)
    if _DRIVE.match(path):
        return path if "\n" not in path else None
    if _QUOTED_POSIX.fullmatch(path) and is_file_name(path.rpartition("/")[2]):
        return path
    return None


def _after_diff_marker(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start].lstrip(" \t⎿")  # console output is indented
    return prefix in _DIFF_HEADER or prefix.startswith("diff --git ")


class _Touches:
    """Paths in first-appearance order with their strongest action so far."""

    def __init__(self) -> None:
        self._actions: dict[str, FileAction] = {}

    def add_all(self, touches: Iterable[tuple[str, FileAction]]) -> None:
        actions = self._actions
        for path, action in touches:
            old = actions.get(path)
            if old is None:
                if len(actions) < _MAX_COLLECTED or action != "referenced":
                    actions[path] = action
            elif _STRENGTH[action] > _STRENGTH[old]:
                actions[path] = action

    def result(self) -> list[FileTouch]:
        actions = self._actions
        # The last few tails of every path at a separator: "main.py" ends "src/main.py".
        tails = {tail for path in actions for tail in _tails(_unprefixed(path))}
        kept = [
            path
            for path, action in actions.items()
            if action != "referenced" or path.startswith("/") or _unprefixed(path) not in tails
        ]
        strong = [p for p in kept if actions[p] != "referenced"][:MAX_FILES]
        weak = [p for p in kept if actions[p] == "referenced"][: MAX_FILES - len(strong)]
        chosen = set(strong) | set(weak)
        return [FileTouch(p, actions[p]) for p in kept if p in chosen]


def _tails(path: str, limit: int = 8) -> Iterator[str]:
    end = len(path)
    for _ in range(limit):
        cut = max(path.rfind("/", 0, end), path.rfind("\\", 0, end))
        if cut < 0:
            return
        if cut + 1 < len(path):
            yield path[cut + 1 :]
        end = cut


def _unprefixed(path: str) -> str:
    return path.removeprefix("./")
