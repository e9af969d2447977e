"""Room assignment: 1-3 thematic rooms per exchange, with keys stable within a project.

- file: the file the exchange did most to (created or edited before read before mentioned)
- workflow: what kind of work it was (testing, git, debugging, ...), from a keyword table
- concept: the most specific term the exchange is about, stemmed so that variants of a
  word share one room
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath, PureWindowsPath

from memdistill.distill.text import clean, is_identifier, specificity, words
from memdistill.index.analyze import stem
from memdistill.models import Exchange, FileTouch, Room

MAX_ROOMS = 3

_ACTION_RELEVANCE = {"created": 0.9, "edited": 0.9, "read": 0.7, "referenced": 0.5}

# workflow key -> (label, pattern). Patterns match whole words, case-insensitively.
WORKFLOWS: dict[str, tuple[str, str]] = {
    "testing": ("Testing", r"pytest|tests?|specs?|unittest|jest|vitest|coverage|assert\w*|tdd"),
    "version-control": (
        "Version control",
        r"git|commits?|committed|branch(?:es)?|merge|rebase|pull request|pre-commit|push(?:ed)?",
    ),
    "debugging": (
        "Debugging",
        r"errors?|exceptions?|traceback|bugs?|fix(?:ed|es)?|fails?|failing|failed|crash\w*|debug\w*",
    ),
    "dependencies": (
        "Setup and dependencies",
        r"install\w*|pip|npm|yarn|venv|virtualenv|requirements|dependenc\w+|packages?|"
        r"pyproject|poetry|uv",
    ),
    "documentation": ("Documentation", r"readme|docs?|documentation|docstrings?|changelog"),
    "deployment": (
        "Build and deployment",
        r"docker\w*|deploy\w*|kubernetes|k8s|ci|github actions|workflow|pipeline|compose",
    ),
    "refactoring": ("Refactoring", r"refactor\w*|rename\w*|clean ?up|restructur\w*|simplif\w*"),
    "configuration": (
        "Configuration",
        r"config\w*|settings?|environment variables?|env|\.env|toml|yaml|ini",
    ),
    "data": (
        "Data and databases",
        r"databases?|sql\w*|sqlite|postgres\w*|migrations?|queries|query",
    ),
}
_WORKFLOW_PATTERNS = {
    key: re.compile(rf"\b(?:{pattern})\b", re.I) for key, (_, pattern) in WORKFLOWS.items()
}
_MIN_WORKFLOW_HITS = 2

_FILE_LIKE = re.compile(r"\.[A-Za-z]{1,5}$")


def assign_rooms(exchange: Exchange, files: list[FileTouch]) -> list[Room]:
    rooms: list[Room] = []
    file_room = _file_room(files, exchange.project)
    if file_room:
        rooms.append(file_room)
    rooms += _concept_rooms(exchange, limit=2 if not file_room else 1)
    workflow = _workflow_room(exchange)
    if workflow:
        rooms.append(workflow)
    rooms.sort(key=lambda r: -r.relevance)
    return rooms[:MAX_ROOMS] or [Room("concept", "concept:general", "General", 0.1)]


def _file_room(files: list[FileTouch], project: str | None) -> Room | None:
    if not files:
        return None
    order = {"created": 0, "edited": 0, "read": 1, "referenced": 2}
    best = min(files, key=lambda f: order[f.action])  # stable: first mention wins ties
    path = _project_relative(best.path, project)
    name = PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
    return Room("file", f"file:{path}", name or path, _ACTION_RELEVANCE[best.action])


def _project_relative(path: str, project: str | None) -> str:
    """The same file is one room whether a log names it absolutely or relatively."""
    if project and path.startswith(project.rstrip("/") + "/"):
        path = path[len(project.rstrip("/")) + 1 :]
    return path.removeprefix("./")


def _workflow_room(exchange: Exchange) -> Room | None:
    text = exchange.prompt + "\n" + exchange.reply
    text += "\n" + "\n".join(str(call.input.get("command", "")) for call in exchange.tool_calls)
    counts = {key: len(pattern.findall(text)) for key, pattern in _WORKFLOW_PATTERNS.items()}
    key, hits = max(counts.items(), key=lambda item: item[1])
    if hits < _MIN_WORKFLOW_HITS:
        return None
    relevance = min(0.8, 0.3 + 0.1 * hits)
    return Room("workflow", f"workflow:{key}", WORKFLOWS[key][0], round(relevance, 2))


def _concept_rooms(exchange: Exchange, limit: int) -> list[Room]:
    prompt_words = words(clean(exchange.prompt))
    reply_words = words(clean(exchange.reply))
    scores: dict[str, float] = {}
    surface: dict[str, Counter[str]] = {}
    for weight, sequence in ((2.0, prompt_words), (1.0, reply_words)):
        for word in sequence:
            value = specificity(word)
            # File names have the file room; a concept is a word or identifier.
            if value < 0.35 or len(word) > 40 or "/" in word or _FILE_LIKE.search(word):
                continue
            key = concept_key(word)
            gain = weight * value * (1.5 if is_identifier(word) else 1.0)
            scores[key] = scores.get(key, 0.0) + gain
            surface.setdefault(key, Counter())[word] += 1
    rooms = []
    for key, score in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]:
        if score < 2.0:
            break
        label = surface[key].most_common(1)[0][0]
        rooms.append(Room("concept", f"concept:{key}", label, round(min(0.85, score / 10), 2)))
    return rooms


def concept_key(word: str) -> str:
    """Lowercased and stemmed: "Databases" and "database" are one room."""
    lower = word.lower().strip(".-_")
    if is_identifier(lower):
        return lower
    return stem(lower)
