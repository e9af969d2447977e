"""A small corpus in the generic format, written by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

# (conversation, project, day, prompt, reply, tool command or None, tool output or None)
EXCHANGES = [
    (
        "c1",
        "tidewater",
        2,
        "The importer crashes on the NOAA CSV, can you look?",
        "The crash is a UnicodeDecodeError in src/tidewater/importer.py: the CSV is latin-1. "
        "I changed the reader to open it with encoding='latin-1'.",
        "pytest tests/test_import.py",
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9",
    ),
    (
        "c1",
        "tidewater",
        2,
        "yes",
        "Committed the encoding fix as 'Read NOAA CSV as latin-1'.",
        "git commit -am 'Read NOAA CSV as latin-1'",
        "[main 3f2a1c9] Read NOAA CSV as latin-1",
    ),
    (
        "c1",
        "tidewater",
        3,
        "Why do writes fail under load?",
        "sqlite3.OperationalError: database is locked happens because two workers write at once. "
        "We decided to enable WAL mode and set busy_timeout to 5000 ms in src/tidewater/db.py.",
        None,
        None,
    ),
    (
        "c2",
        "tidewater",
        5,
        "Add a Dockerfile for the API",
        "I wrote a Dockerfile based on python:3.11-slim that runs uvicorn on port 8080.",
        "docker build -t tidewater .",
        "Successfully built 9c1d2e",
    ),
    (
        "c2",
        "tidewater",
        6,
        "The GitHub Actions workflow times out",
        "The CI job hit the 10 minute limit while installing numpy; I pinned numpy<2 and "
        "cached pip in .github/workflows/ci.yml.",
        None,
        None,
    ),
    (
        "c3",
        "garden",
        8,
        "When should I plant tomatoes outside?",
        "Plant tomatoes outdoors after the last frost, when nights stay above 10 degrees.",
        None,
        None,
    ),
    (
        "c3",
        "garden",
        9,
        "How often do I water basil?",
        "Water basil when the top inch of soil is dry, usually every two or three days.",
        None,
        None,
    ),
    (
        "c4",
        "tidewater",
        12,
        "Switch the HTTP client from requests to httpx",
        "Replaced requests with httpx.AsyncClient in src/tidewater/noaa.py so fetches run "
        "concurrently; requests is removed from pyproject.toml.",
        None,
        None,
    ),
]


def write_generic(path: Path, exchanges: list[tuple] = EXCHANGES) -> Path:
    """One JSONL line per message; tool traffic as OpenAI-style tool calls."""
    lines = []
    for n, (conv, project, day, prompt, reply, command, output) in enumerate(exchanges):
        stamp = f"2026-03-{day:02d}T{10 + n // 60:02d}:{n % 60:02d}:00Z"
        base = {"conversation_id": conv, "project": project, "timestamp": stamp}
        lines.append({**base, "message_id": f"m{n}-u", "role": "user", "content": prompt})
        if command:
            lines.append(
                {
                    **base,
                    "message_id": f"m{n}-call",
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": f"call{n}",
                            "type": "function",
                            "function": {
                                "name": "bash",
                                "arguments": json.dumps({"command": command}),
                            },
                        }
                    ],
                }
            )
            lines.append(
                {
                    **base,
                    "message_id": f"m{n}-out",
                    "role": "tool",
                    "tool_call_id": f"call{n}",
                    "content": output,
                }
            )
        lines.append({**base, "message_id": f"m{n}-a", "role": "assistant", "content": reply})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
