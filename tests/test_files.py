"""files_touched: paths found by regular expression in text and tool calls."""

from __future__ import annotations

import json
import random
import re
import string
import time
from pathlib import Path
from typing import Any

import pytest

from memdistill.distill.files import MAX_FILES, extract_files, paths_in_text
from memdistill.models import Exchange, FileTouch, Kind, Message, Role, ToolCall

# (text, the paths it mentions in order). Every mention is "referenced".
TEXT_CASES: list[tuple[str, list[str]]] = [
    # absolute, home, Windows
    ("Edit /Users/x/proj/app.py now", ["/Users/x/proj/app.py"]),
    ("check /etc/nginx/nginx.conf.", ["/etc/nginx/nginx.conf"]),
    ("cwd: /Users/palimondo/Developer/BookMinder", ["/Users/palimondo/Developer/BookMinder"]),
    ("open ~/.claude/settings.json", ["~/.claude/settings.json"]),
    ("C:\\Users\\me\\proj\\main.py", ["C:\\Users\\me\\proj\\main.py"]),
    ("C:/Users/me/x.ts", ["C:/Users/me/x.ts"]),
    ("json-escaped C:\\\\Users\\\\me\\\\a.py", ["C:\\Users\\me\\a.py"]),
    ('see "C:\\Program Files\\My App\\config.ini" ok', ["C:\\Program Files\\My App\\config.ini"]),
    ("see C:\\Program Files\\My App\\config.ini unquoted", []),
    ('"/Users/me/My Documents/notes.md" moved', ["/Users/me/My Documents/notes.md"]),
    ('"/Users/me/x.py is broken"', ["/Users/me/x.py"]),
    # relative with a directory, bare names, well-known names
    (
        "src/app/main.py and ./run.sh and ../lib/util.js, docs/README.md",
        ["src/app/main.py", "./run.sh", "../lib/util.js", "docs/README.md"],
    ),
    (
        "hello_world.py package.json pyproject.toml conftest.py",
        ["hello_world.py", "package.json", "pyproject.toml", "conftest.py"],
    ),
    ("Dockerfile, Makefile; README and LICENSE", ["Dockerfile", "Makefile", "README", "LICENSE"]),
    (".gitignore .env .bashrc CLAUDE.md", [".gitignore", ".env", ".bashrc", "CLAUDE.md"]),
    (".env.local and .eslintrc.json", [".env.local", ".eslintrc.json"]),
    ("vite.config.ts and __init__.py", ["vite.config.ts", "__init__.py"]),
    ("node_modules/@types/node/index.d.ts", ["node_modules/@types/node/index.d.ts"]),
    ("Grüße.txt and данные/файл.csv", ["Grüße.txt", "данные/файл.csv"]),
    ("Makefile:12: *** missing separator", ["Makefile"]),
    # decorations stripped
    ("(`src/app.py:12:5`)", ["src/app.py"]),
    ('"tests/test_x.py#L10-L20"', ["tests/test_x.py"]),
    ("'lib/x.rb:3',", ["lib/x.rb"]),
    ("[link](docs/guide.md)!", ["docs/guide.md"]),
    ("is it app.py? yes: main.py!", ["app.py", "main.py"]),
    ("**README.md** and <setup.cfg>", ["README.md", "setup.cfg"]),
    ('File "/x/y/z.py", line 3, in <module>', ["/x/y/z.py"]),
    ("     1→import foo.py\n     2→print(1)", ["foo.py"]),
    ("⏺ Read(README.md)… ⎿  Read(TODO.md)…", ["README.md", "TODO.md"]),
    ("--- a/src/old.py\n+++ b/src/new.py", ["src/old.py", "src/new.py"]),
    ("diff --git a/x/y.py b/x/y.py", ["x/y.py"]),
    ("  ⎿ diff --git a/CLAUDE.md b/CLAUDE.md\n    --- a/CLAUDE.md", ["CLAUDE.md"]),
    ("**app.py**, and *notes.md*.", ["app.py", "notes.md"]),
    # not paths: product names, abbreviations, versions, numbers
    ("node.js, Vue.js and Next.js; Node.JS", []),
    ("e.g. this, i.e. that, etc.", []),
    ("v1.2.3 1.2.3 3.11 42 0.5 1e-3", []),
    # URLs skipped whole, e-mails, remotes, domains
    ("https://github.com/a/b.py", []),
    ("www.example.com/x.py and http://x.com/a?b=c&d=e/f.py", []),
    ("file:///Users/x/a.py", []),
    ("github.com/a/b.py", []),
    ("mail me@example.com or git@github.com:me/repo.git", []),
    ("example.com and pypi.org and docs.python.org", []),
    # Python names, calls
    ("os.path.join self.foo.bar np.ndarray", []),
    ("response.json() and request.json but data.json", ["data.json"]),
    ("call yaml.load(f) then config.yaml", ["config.yaml"]),
    ("ENGINE django.db.backends.sqlite3 or self.db; jquery.min.js", ["jquery.min.js"]),
    # prose alternatives and plain-word slash paths: need a known name or a prefix
    ("and/or input/output yes/no", []),
    ("src/app and venv/bin/activate and specs/", []),
    ("./venv/bin/activate and /usr/local/bin", ["./venv/bin/activate", "/usr/local/bin"]),
    # MIME types, dates, fractions, regex fragments, globs, variables
    ("application/json image/svg+xml application/vnd.api+json", []),
    ("2024/01/02 /2024/01/02 1/2", []),
    ("regex /^\\d+$/ and \\d+\\.py and [a-z]+/foo", []),
    ("*.py and src/*.py and **/*.ts and *_spec.py", []),
    ("$HOME/.bashrc ${HOME}/.zshrc %APPDATA%\\x.ini", []),
    ("a .py file and a .md doc", []),
    # slash commands and one-part absolute paths
    ("/help for help, /memory, /tmp", []),
    ("/setup.py and /.env", ["/setup.py", "/.env"]),
    ("ls > /dev/null", []),
    # first appearance, repeats kept once
    ("bb.py aa.py bb.py", ["bb.py", "aa.py"]),
    ("rows = [(r.ts, r.height_m) for r in found]", []),
]


def _exchange(*messages: Message) -> Exchange:
    return Exchange(conversation_id="c", project=None, seq=0, messages=list(messages))


def _message(kind: Kind, text: str, tool: ToolCall | None = None, n: int = 0) -> Message:
    role: Role = "user" if kind == "prompt" else "tool" if kind == "tool_result" else "assistant"
    return Message(f"m{n}", role, kind, text, tool=tool)


def _call(name: str, tool_input: dict[str, Any], text: str = "") -> Exchange:
    call = _message("tool_call", text, ToolCall(name, tool_input), 1)
    return _exchange(_message("prompt", "go", n=0), call)


def _touches(exchange: Exchange) -> list[tuple[str, str]]:
    return [(t.path, t.action) for t in extract_files(exchange)]


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES, ids=[t[:40] for t, _ in TEXT_CASES])
def test_paths_in_text(text: str, expected: list[str]) -> None:
    touches = extract_files(_exchange(_message("prompt", text)))
    assert [t.path for t in touches] == expected
    assert {t.action for t in touches} <= {"referenced"}


@pytest.mark.parametrize(
    ("name", "tool_input", "expected"),
    [
        # Claude Code
        ("Read", {"file_path": "/w/a.py"}, [("/w/a.py", "read")]),
        ("NotebookRead", {"notebook_path": "/w/n.ipynb"}, [("/w/n.ipynb", "read")]),
        ("Write", {"file_path": "/w/new.py", "content": "x = 1\n"}, [("/w/new.py", "created")]),
        (
            "Edit",
            {"file_path": "/w/a.py", "old_string": "a", "new_string": "b"},
            [("/w/a.py", "edited")],
        ),
        ("MultiEdit", {"file_path": "/w/a.py", "edits": []}, [("/w/a.py", "edited")]),
        ("NotebookEdit", {"notebook_path": "/w/n.ipynb"}, [("/w/n.ipynb", "edited")]),
        ("Update", {"file_path": "README.md"}, [("README.md", "edited")]),  # console format
        ("Glob", {"pattern": "**/*.py", "path": "/w/src"}, [("/w/src", "referenced")]),
        (
            "Grep",
            {"pattern": "def x", "path": "/w/src/", "glob": "*.py"},
            [("/w/src", "referenced")],
        ),
        ("LS", {"path": "/w"}, [("/w", "referenced")]),
        ("Glob", {"pattern": "*.md", "path": "."}, []),
        # shell
        ("Bash", {"command": "cat nonexistent.txt"}, [("nonexistent.txt", "read")]),
        ("Bash", {"command": "python /w/gen.py"}, [("/w/gen.py", "referenced")]),
        ("Bash", {"command": "echo hi > out.txt"}, [("out.txt", "created")]),
        ("Bash", {"command": "ls -la >> log.txt 2>&1"}, [("log.txt", "edited")]),
        (
            "Bash",
            {"command": "mkdir -p docs && touch docs/a.md"},
            [("docs", "created"), ("docs/a.md", "created")],
        ),
        ("Bash", {"command": "head -n 5 a.csv | tail -2"}, [("a.csv", "read")]),
        ("Bash", {"command": "mkdir -p src/app/models"}, [("src/app/models", "created")]),
        (
            "Bash",
            {"command": "/usr/bin/sed -e 's/x/y/' a.txt > b.txt"},
            [("b.txt", "created"), ("a.txt", "read"), ("/usr/bin/sed", "referenced")],
        ),
        ("Bash", {"command": "less ~/.zshrc"}, [("~/.zshrc", "read")]),
        ("Bash", {"command": "sed -i '' 's/a/b/' src/x.py"}, [("src/x.py", "edited")]),
        ("Bash", {"command": "sed -i -e 's/a/b/' -e 's/c/d/' f.py"}, [("f.py", "edited")]),
        ("Bash", {"command": "sed -n '1,20p' notes.md"}, [("notes.md", "read")]),
        ("Bash", {"command": "rm /w/setup.py"}, [("/w/setup.py", "edited")]),
        ("Bash", {"command": "mv old.py new.py"}, [("old.py", "edited"), ("new.py", "created")]),
        ("Bash", {"command": "cp a.md docs/"}, [("a.md", "read"), ("docs/a.md", "created")]),
        (
            "Bash",
            {"command": "FOO=1 sudo tee /etc/x.conf < in.txt"},
            [("in.txt", "read"), ("/etc/x.conf", "created")],
        ),
        ("Bash", {"command": 'git commit -m "fix: a; b\nmore" && cat x.py'}, [("x.py", "read")]),
        ("Bash", {"command": "ls > /dev/null 2>&1"}, []),
        (
            "Bash",
            {"command": "cat > /tmp/a.py << 'EOF'\nrm keep.py\nEOF\npython /tmp/a.py"},
            [("/tmp/a.py", "created"), ("keep.py", "referenced")],  # a heredoc body is data
        ),
        ("exec_command", {"cmd": "cat /etc/hosts"}, [("/etc/hosts", "read")]),
        ("shell", {"command": ["bash", "-lc", "touch x.txt"]}, [("x.txt", "created")]),
        (
            "local_shell",
            {"action": {"type": "exec", "command": ["cat", "a.py"]}},
            [("a.py", "read")],
        ),
        # Codex apply_patch, as a tool or inside a shell command
        (
            "apply_patch",
            {
                "input": "*** Begin Patch\n*** Add File: a.py\n+x\n*** Update File: src/b.py\n"
                "@@\n-y\n+z\n*** Delete File: old.txt\n*** End Patch"
            },
            [("a.py", "created"), ("src/b.py", "edited"), ("old.txt", "edited")],
        ),
        (
            "shell",
            {
                "command": [
                    "apply_patch",
                    "*** Begin Patch\n*** Update File: c.py\n*** Move to: d.py\n*** End Patch",
                ]
            },
            [("c.py", "edited"), ("d.py", "created")],
        ),
        # generic function calls: the action from the name (or an editor's command)
        ("read_file", {"path": "src/a.py"}, [("src/a.py", "read")]),
        ("view", {"filepath": "a.py"}, [("a.py", "read")]),
        ("open_file", {"filename": "a.py"}, [("a.py", "read")]),
        ("write_file", {"file": "notes.txt", "content": "x"}, [("notes.txt", "created")]),
        ("createFile", {"target_file": "b.ts"}, [("b.ts", "created")]),
        ("replace_in_file", {"path": "c.go"}, [("c.go", "edited")]),
        ("insert_lines", {"path": "d.rs"}, [("d.rs", "edited")]),
        ("search_files", {"path": "/repo"}, [("/repo", "referenced")]),
        (
            "str_replace_based_edit_tool",
            {"command": "view", "path": "/r/x.py"},
            [("/r/x.py", "read")],
        ),
        (
            "str_replace_based_edit_tool",
            {"command": "create", "path": "/r/y.py"},
            [("/r/y.py", "created")],
        ),
        (
            "str_replace_based_edit_tool",
            {"command": "str_replace", "path": "/r/z.py"},
            [("/r/z.py", "edited")],
        ),
        (
            "mcp__fs__read_multiple_files",
            {"paths": ["a.py", "b/c.md"]},
            [("a.py", "read"), ("b/c.md", "read")],
        ),
        # ChatGPT code: scanned as text
        (
            "python",
            {"code": "df = pd.read_csv('data/sales.csv')"},
            [("data/sales.csv", "referenced")],
        ),
    ],
)
def test_tool_calls(name: str, tool_input: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _touches(_call(name, tool_input)) == expected


def test_tool_call_text_and_input_both_scanned() -> None:
    # The parser renders non-shell calls as JSON; the raw input strings are scanned too.
    tool_input = {"file_path": "/w/a.py", "content": "see lib/helper.py\nand docs/x.md"}
    touches = _touches(_call("Write", tool_input, json.dumps(tool_input)))
    assert touches == [
        ("/w/a.py", "created"),
        ("lib/helper.py", "referenced"),
        ("docs/x.md", "referenced"),
    ]


def test_strongest_action_wins_and_keeps_first_position() -> None:
    exchange = _exchange(
        _message("prompt", "look at app.py, bot.py and cli.py", n=0),
        _message("tool_call", "", ToolCall("Read", {"file_path": "bot.py"}), 1),
        _message("tool_call", "", ToolCall("Edit", {"file_path": "bot.py"}), 2),
        _message("tool_call", "", ToolCall("Read", {"file_path": "bot.py"}), 3),
        _message("tool_call", "", ToolCall("Write", {"file_path": "cli.py"}), 4),
        _message("tool_call", "", ToolCall("Edit", {"file_path": "cli.py"}), 5),
        _message("tool_call", "", ToolCall("Read", {"file_path": "app.py"}), 6),
        _message("text", "done with app.py, bot.py, cli.py and db.py", n=7),
    )
    assert _touches(exchange) == [
        ("app.py", "read"),
        ("bot.py", "edited"),
        ("cli.py", "created"),
        ("db.py", "referenced"),
    ]


def test_a_bare_name_beside_its_full_path_is_one_file() -> None:
    exchange = _exchange(
        _message("prompt", "run hello_world.py", n=0),
        _message("tool_call", "", ToolCall("Write", {"file_path": "/w/hello_world.py"}), 1),
        _message("text", "Created ./hello_world.py and other.py", n=2),
    )
    assert _touches(exchange) == [("/w/hello_world.py", "created"), ("other.py", "referenced")]


def test_cap_keeps_every_strong_action() -> None:
    listing = "\n".join(f"src/file_{i}.py" for i in range(3000))
    exchange = _exchange(
        _message("prompt", "list everything", n=0),
        _message("tool_result", listing, n=1),
        _message("tool_call", "", ToolCall("Edit", {"file_path": "src/file_2999.py"}), 2),
        _message("tool_call", "", ToolCall("Write", {"file_path": "late/new.py"}), 3),
    )
    touches = extract_files(exchange)
    assert len(touches) == MAX_FILES
    assert touches[0] == FileTouch("src/file_0.py", "referenced")
    assert FileTouch("src/file_2999.py", "edited") in touches
    assert touches[-1] == FileTouch("late/new.py", "created")


def test_paths_in_text_keeps_repeats_in_order() -> None:
    assert list(paths_in_text("bb.py aa.py bb.py")) == ["bb.py", "aa.py", "bb.py"]


def test_empty_exchange_text() -> None:
    assert extract_files(_exchange(_message("prompt", ""))) == []


PATHOLOGICAL = {
    "one long word": "a" * 200_000,
    "dots": "." * 200_000,
    "slashes": "/" * 200_000,
    "a/ repeated": "a/" * 100_000,
    "open quotes": '"/' * 100_000,
    "quote never closed": '"/' + "a" * 200_000,
    "drives": "C:\\" * 70_000,
    "drive then spaces": "C:\\a " * 40_000,
    "url": "http://" + "a/" * 100_000,
    "sentences": "word. " * 35_000,
    "base64": "".join(random.Random(0).choices(string.ascii_letters + "+/", k=200_000)),
    "path chain": "x.py/" * 40_000,
    "tildes": "~/" * 100_000,
    "names": "Makefile" * 25_000,
    "colons": "a:" * 100_000,
    "line suffixes": "a.py" + ":1" * 100_000,
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_is_linear(text: str) -> None:
    # No timed assert: a backtracking pattern would make this hang, not fail.
    started = time.perf_counter()
    extract_files(
        _exchange(
            _message("prompt", text),
            _message("tool_call", "", ToolCall("Bash", {"command": text}), 1),
        )
    )
    _ = time.perf_counter() - started


# --- the real Claude Code session --------------------------------------------------------


def _claude_code_exchange(path: Path) -> Exchange:
    """A minimal reading of the JSONL: every prompt, text, tool call and result, in order."""
    messages: list[Message] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        content = (
            record.get("message", {}).get("content")
            if record.get("type") in ("user", "assistant")
            else None
        )
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        )
        for block in blocks:
            if block.get("type") == "tool_use":
                call = ToolCall(block["name"], block["input"], block["id"])
                messages.append(_message("tool_call", json.dumps(block["input"]), call, n))
            elif block.get("type") == "tool_result":
                result = block.get("content")
                text = (
                    result
                    if isinstance(result, str)
                    else " ".join(
                        part.get("text", "") for part in result or [] if isinstance(part, dict)
                    )
                )
                messages.append(_message("tool_result", text, n=n))
            elif block.get("type") in ("text", "thinking"):
                kind: Kind = "prompt" if record["type"] == "user" else "text"
                messages.append(_message(kind, block.get("text") or block.get("thinking", ""), n=n))
    return _exchange(*messages)


@pytest.mark.shared_data
def test_real_claude_code_session(shared_data: Path) -> None:
    touches = dict(_touches(_claude_code_exchange(shared_data / "claude-code-session.jsonl")))
    assert touches["/workspace/hello_world.py"] == "created"  # Write, then Read: created
    assert touches["/workspace/number_generator.py"] == "created"
    assert touches["/workspace/data.txt"] == "created"
    assert touches["nonexistent.txt"] == "read"  # `cat nonexistent.txt`
    assert "hello_world.py" not in touches  # the same file as /workspace/hello_world.py
    assert all(not p.startswith(("http", "www")) for p in touches)


@pytest.mark.shared_data
def test_real_console_export(shared_data: Path) -> None:
    """Console tool lines, `⏺ Name(argument)…`, as the console parser shapes them."""
    text = (shared_data / "claude-code-console-export.md").read_text(encoding="utf-8")
    messages = [_message("prompt", "start")]
    for n, match in enumerate(re.finditer(r"^⏺ (\w+)\((.*?)\)…$", text, re.M), 1):
        name, argument = match.groups()
        if name in ("Read", "Write", "Update"):
            tool_input = {"file_path": argument.removeprefix("file_path:").strip()}
        elif name == "Bash":
            tool_input = {"command": argument}
        else:
            tool_input = {"arg": argument}
        messages.append(_message("tool_call", argument, ToolCall(name, tool_input), n))
    touches = dict(_touches(_exchange(*messages)))
    assert touches["conftest.py"] == "created"  # Write(file_path: conftest.py), later Update
    assert touches["README.md"] == "edited"  # Read, then Update
    assert touches["docs/modern_python_practices.md"] == "created"
    assert touches["/Users/palimondo/Developer/BookMinder/setup.py"] == "edited"  # rm
    assert touches["docs"] == "created"  # mkdir -p docs
    assert touches["specs/apple_books/library_spec.py"] == "referenced"
