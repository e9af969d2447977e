"""Checked LLM answers, keyed by (model, prompt version, hash of the text asked about).

Written as each answer arrives, so an ingest killed midway keeps what it paid for.
"""

from __future__ import annotations

import json
from typing import Any

from memdistill.store.store import Store, now_db_time


class LLMCache:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, model: str, version: str, key: str) -> tuple[dict[str, Any], int, int] | None:
        """The answer and the (prompt, completion) tokens it cost when it was asked."""
        row = self.store.db.execute(
            "SELECT answer, prompt_tokens, completion_tokens FROM llm_cache "
            "WHERE model = ? AND prompt_version = ? AND content_hash = ?",
            [model, version, key],
        ).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), int(row[1]), int(row[2])

    def put(
        self,
        model: str,
        version: str,
        key: str,
        answer: dict[str, Any],
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO llm_cache (model, prompt_version, content_hash, answer, "
                "prompt_tokens, completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    model,
                    version,
                    key,
                    json.dumps(answer, ensure_ascii=False),
                    prompt_tokens,
                    completion_tokens,
                    now_db_time(),
                ],
            )
