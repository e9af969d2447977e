"""What refinement works on: the active memories of a tenant (`Candidate`), the settings
of its rules, and the changes a rule proposes (`Change`).

A rule is a function `(pool, settings) -> list[Change]` registered in `RULES`
(`refine/__init__.py`); it reads the candidates still in the pool and never writes. The
planner removes what each rule changed before the next rule runs, so rules see the store
as it will be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memdistill.config import CONFIG_NAME, config_table, with_values
from memdistill.errors import ConfigError

# What each rule turns a memory into; `restore` turns it back into "active".
STATUS_OF_RULE = {"merge": "merged", "supersede": "superseded", "prune": "pruned"}
RULE_OF_STATUS = {status: rule for rule, status in STATUS_OF_RULE.items()}


@dataclass(frozen=True, slots=True)
class RefineSettings:
    """The rules' knobs. Defaults: ReMe's pruning rule; similarities measured on the
    bundled MiniLM's distilled vectors (docs/refinement.md). A store can set its own in
    config.toml:

        [refine]
        min_freq = 8
        merge_similarity = 0.95
        rules = ["merge", "prune"]
    """

    min_freq: int = 5  # prune only memories served at least this often ...
    min_utility_ratio: float = 0.5  # ... whose utility / freq is below this
    merge_similarity: float = 0.92  # cosine of distilled vectors: near-duplicates
    supersede_similarity: float = 0.55  # cosine, with words of change about the same thing
    rules: tuple[str, ...] = ("merge", "supersede", "prune")

    @classmethod
    def load(
        cls,
        store_folder: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        where: str = "the flags",
    ) -> RefineSettings:
        """The defaults, then the store's `[refine]` table in config.toml, then
        `overrides` (flags or request fields, named `where` in errors; None is not given)."""
        settings = cls()
        if store_folder is not None:
            table = config_table(store_folder, "refine")
            settings = with_values(settings, table, CONFIG_NAME, "refine")
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        return with_values(settings, given, where, "refine")

    def checked(self) -> RefineSettings:
        if self.min_freq < 1:
            raise ConfigError(f"--min-freq must be at least 1, not {self.min_freq}")
        if not 0 <= self.min_utility_ratio <= 1:
            raise ConfigError(f"--min-utility-ratio must be in 0..1, not {self.min_utility_ratio}")
        for name in ("merge_similarity", "supersede_similarity"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be in (0, 1], not {value}")
        unknown = [r for r in self.rules if r not in STATUS_OF_RULE]
        if unknown or not self.rules:
            raise ConfigError(
                f"unknown refinement rule {', '.join(unknown) or '(none given)'}; "
                f"use: {', '.join(STATUS_OF_RULE)}"
            )
        return self


@dataclass(slots=True)
class Candidate:
    """An active memory, as the rules see it."""

    id: int
    project: str
    started_at: str  # fixed-width UTC text ('' when unknown): sorts as time
    freq: int
    utility: int
    verdicts: int  # feedback calls about it, useful or not
    rooms: frozenset[str]  # room keys (unique within the project)
    files: frozenset[str]
    core: str
    prompt: str  # the person's words: where a change of mind is said
    vector: np.ndarray | None  # the distilled vector (unit length)
    restored_from: frozenset[str] = field(default_factory=frozenset)  # rules a user undid

    @property
    def order(self) -> tuple[str, int]:
        """Time order; the row id breaks ties (and stands in when times are unknown)."""
        return (self.started_at, self.id)


@dataclass(frozen=True, slots=True)
class Change:
    """One memory leaving the indexes: pruned, merged into `target`, or superseded by it."""

    rule: str
    exchange_id: int
    project: str
    reason: str
    target: int | None = None  # the canonical memory (merge), the newer one (supersede)
    score: float | None = None  # the cosine (merge, supersede) or utility ratio (prune)

    @property
    def status(self) -> str:
        return STATUS_OF_RULE[self.rule]


Rule = Callable[[dict[int, Candidate], RefineSettings], list[Change]]


def shared(a: Candidate, b: Candidate) -> str | None:
    """What two memories share, in words (a file first), or None."""
    files = sorted(a.files & b.files)
    if files:
        return f"file {files[0]}"
    rooms = sorted(a.rooms & b.rooms)
    return f"room {rooms[0]}" if rooms else None


def by_project(pool: dict[int, Candidate]) -> dict[str, list[Candidate]]:
    groups: dict[str, list[Candidate]] = {}
    for candidate in pool.values():
        if candidate.vector is not None:
            groups.setdefault(candidate.project, []).append(candidate)
    return groups


def similar_pairs(
    rows: list[Candidate], cols: list[Candidate], threshold: float, block: int = 512
) -> list[tuple[int, int, float]]:
    """(row index, column index, cosine) of every pair at or above `threshold`, computed
    in blocks so a project of any size takes bounded memory."""
    if not rows or not cols:
        return []
    right = _matrix(cols)
    out: list[tuple[int, int, float]] = []
    for start in range(0, len(rows), block):
        left = _matrix(rows[start : start + block])
        sims = left @ right.T
        for i, j in zip(*np.nonzero(sims >= threshold), strict=True):
            out.append((start + int(i), int(j), float(sims[i, j])))
    return out


def _matrix(candidates: list[Candidate]) -> np.ndarray:
    vectors = [c.vector for c in candidates if c.vector is not None]
    assert len(vectors) == len(candidates), "by_project keeps only memories with a vector"
    return np.vstack(vectors).astype(np.float32)
