"""Synthetic coding-session text modelled on the real samples in ../shared/data.

Runs of the samples' real sentences make texts whose lengths are lognormal (median ~480
tokens, mean ~900, a tail past 10,000; a token is ~4 characters), with identifiers,
paths, hashes and numbers injected so the vocabulary grows as it does in real sessions.
Everything is seeded. Shared by the benchmarks.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from memdistill.index.analyze import analyze

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEMDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))
CHARS_PER_TOKEN = 4


def _jsonl_texts(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            msg = json.loads(line).get("message") or {}
        except ValueError:
            continue
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str):
            yield content
            continue
        for block in content or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                yield json.dumps(block.get("input"))
            inner = block.get("text") or block.get("thinking") or block.get("content")
            if isinstance(inner, str):
                yield inner
            elif isinstance(inner, list):
                yield from (b.get("text", "") for b in inner if isinstance(b, dict))


def _chatgpt_texts(path: Path) -> Iterator[str]:
    for conv in json.loads(path.read_text(encoding="utf-8")):
        for node in conv.get("mapping", {}).values():
            parts = ((node.get("message") or {}).get("content") or {}).get("parts") or []
            yield from (p for p in parts if isinstance(p, str))


def sentence_pool() -> list[str]:
    texts = [
        *_jsonl_texts(DATA / "claude-code-session.jsonl"),
        *_jsonl_texts(DATA / "claude-code-subagent.jsonl"),
        (DATA / "claude-code-console-export.md").read_text(encoding="utf-8"),
        *_chatgpt_texts(DATA / "chatgpt-export-sample.json"),
    ]
    pool: list[str] = []
    for text in texts:
        for line in text.splitlines():
            pool.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.split()) >= 3)
    return pool


class Synth:
    """Documents from runs of pool sentences plus injected identifiers."""

    def __init__(self, pool: list[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = pool
        words = sorted({w.lower() for s in pool for w in re.findall(r"[A-Za-z]{3,12}", s)})
        self.words = words
        rng = self.rng
        # Shared identifiers used across sessions, Zipf-weighted.
        self.shared = [self._identifier() for _ in range(20_000)]
        self.shared_w = [1.0 / (i + 1) for i in range(len(self.shared))]
        self.fresh: list[str] = []  # identifiers that exist in one document only
        self.mu, self.sigma = math.log(480), math.sqrt(2 * math.log(900 / 480))
        rng.shuffle(self.shared)

    def _identifier(self) -> str:
        rng, w = self.rng, self.words
        kind = rng.random()
        a, b, c = rng.choice(w), rng.choice(w), rng.choice(w)
        if kind < 0.3:
            return f"{a}{b.capitalize()}{c.capitalize() if rng.random() < 0.5 else ''}"
        if kind < 0.55:
            return f"{a}_{b}" + (f"_{c}" if rng.random() < 0.4 else "")
        if kind < 0.75:
            return f"src/{a}/{b}_{c}.{rng.choice(['py', 'ts', 'rs', 'go', 'md', 'json'])}"
        if kind < 0.85:
            return f"{a.capitalize()}{b.capitalize()}Error"
        if kind < 0.93:
            return f"{rng.getrandbits(40):010x}"
        return f"{a}-{b}=={rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"

    def document(self) -> str:
        rng = self.rng
        target = min(60_000, max(15, int(rng.lognormvariate(self.mu, self.sigma))))
        session = rng.choices(self.shared, self.shared_w, k=rng.randint(2, 8))
        for _ in range(rng.randint(1, 5)):
            ident = self._identifier()
            session.append(ident)
            self.fresh.append(ident)
        out: list[str] = []
        chars = 0
        while chars < target * CHARS_PER_TOKEN:
            start = rng.randrange(len(self.pool))
            for sentence in self.pool[start : start + rng.randint(1, 20)]:
                if rng.random() < 0.3:
                    extra = rng.choice(
                        [
                            rng.choice(session),
                            rng.choice(session),
                            f"line {rng.randint(1, 2000)}",
                            f"{rng.randint(1, 99999)} ms",
                            f"exit code {rng.randint(0, 255)}",
                        ]
                    )
                    sentence = f"{sentence} {extra}"
                out.append(sentence)
                chars += len(sentence) + 1
                if chars >= target * CHARS_PER_TOKEN:
                    break
        return " ".join(out)

    def queries(self, n: int) -> list[str]:
        rng, qs = self.rng, list[str]()
        while len(qs) < n // 2:
            words = rng.choice(self.pool).split()
            if len(words) >= 5:
                start = rng.randrange(len(words) - 3)
                q = " ".join(words[start : start + rng.randint(3, 8)])
                if analyze(q):
                    qs.append(q)
        while len(qs) < n:
            fresh = self.fresh and rng.random() < 0.5  # no documents made yet: no fresh ones
            ident = rng.choice(self.fresh) if fresh else rng.choice(self.shared[:2000])
            qs.append(ident if rng.random() < 0.5 else f"{rng.choice(self.words)} {ident}")
        return qs


def write_sessions(folder: Path, exchanges: int, seed: int = 7, per_session: int = 30) -> int:
    """Claude Code session files (the real format, so ingest runs end to end) holding
    `exchanges` exchanges whose lengths follow the lognormal of `Synth.document`."""
    synth = Synth(sentence_pool(), seed)
    rng = synth.rng
    written = session = 0
    while written < exchanges:
        writer = _SessionWriter(rng, session)
        for turn in range(min(per_session, exchanges - written)):
            body = synth.document()
            prompt = " ".join(rng.choice(synth.pool) for _ in range(rng.randint(1, 3)))
            writer.line("user", {"role": "user", "content": prompt}, turn * 3)
            msg_id = f"msg_{rng.getrandbits(64):016x}"
            tool = rng.choice(("Bash", "Read", "Edit", "Write", "Grep"))
            path = next((w for w in body.split() if w.startswith("src/")), "src/app.py")
            if tool in ("Bash", "Grep"):
                tool_input = {"command": " ".join(body.split()[:6])}
            else:
                tool_input = {"file_path": f"{writer.cwd}/{path}"}
            call_id = f"toolu_{rng.getrandbits(64):016x}"
            blocks: list[dict[str, object]] = [
                {"type": "text", "text": rng.choice(synth.pool)},
                {"type": "tool_use", "id": call_id, "name": tool, "input": tool_input},
            ]
            for block in blocks:  # one block per line, sharing message.id, as Claude Code does
                writer.assistant(msg_id, block, turn * 3)
            result = {"type": "tool_result", "tool_use_id": call_id, "content": body}
            writer.line("user", {"role": "user", "content": [result]}, turn * 3 + 1)
            reply = " ".join(rng.choice(synth.pool) for _ in range(rng.randint(2, 5)))
            writer.assistant(
                f"msg_{rng.getrandbits(64):016x}", {"type": "text", "text": reply}, turn * 3 + 2
            )
            written += 1
        writer.save(folder)
        session += 1
    return written


class _SessionWriter:
    """The lines of one synthetic Claude Code session."""

    def __init__(self, rng: random.Random, session: int) -> None:
        self.rng = rng
        self.session = session
        self.session_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.cwd = f"/home/dev/project-{session % 40}"
        self.lines: list[dict[str, object]] = []
        self.parent: str | None = None

    def line(self, kind: str, message: dict[str, object], minute: int) -> None:
        uid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        day = f"2026-{1 + self.session % 12:02d}-{1 + self.session % 28:02d}"
        stamp = f"{day}T{minute // 60 % 24:02d}:{minute % 60:02d}:00.000Z"
        self.lines.append({
            "parentUuid": self.parent, "isSidechain": False, "cwd": self.cwd,
            "sessionId": self.session_id, "version": "2.0.76", "type": kind,
            "message": message, "uuid": uid, "timestamp": stamp,
        })  # fmt: skip
        self.parent = uid

    def assistant(self, msg_id: str, block: dict[str, object], minute: int) -> None:
        message: dict[str, object] = {"role": "assistant", "id": msg_id, "type": "message",
                                      "content": [block]}  # fmt: skip
        self.line("assistant", message, minute)

    def save(self, folder: Path) -> None:
        target = folder / f"-home-dev-project-{self.session % 40}" / f"{self.session_id}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(x) + "\n" for x in self.lines))
