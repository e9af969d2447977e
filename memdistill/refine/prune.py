"""Utility pruning, ReMe's rule: a memory served often that rarely helped leaves the index.

Pruned when `freq >= min_freq` and `utility / freq < min_utility_ratio` (defaults 5 and
0.5). Only memories a caller gave a verdict on are judged: `freq` counts every search hit,
so a person who searches and never says what helped would otherwise lose every memory
served five times. ReMe credits a task's outcome to every memory the task was given, and
`Memory.feedback(ids, useful=...)` is meant to be called that way (docs/refinement.md
measures what per-hit feedback does instead).
"""

from __future__ import annotations

from memdistill.refine.base import Candidate, Change, RefineSettings


def prune(pool: dict[int, Candidate], settings: RefineSettings) -> list[Change]:
    changes = []
    for c in sorted(pool.values(), key=lambda c: c.id):
        if "prune" in c.restored_from or c.freq < settings.min_freq or c.verdicts == 0:
            continue
        ratio = c.utility / c.freq
        if ratio < settings.min_utility_ratio:
            reason = (
                f"served {c.freq} times, useful {c.utility} "
                f"(ratio {ratio:.2f} < {settings.min_utility_ratio}; {c.verdicts} verdicts)"
            )
            changes.append(Change("prune", c.id, c.project, reason, score=ratio))
    return changes
