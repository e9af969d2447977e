"""Refinement after ReMe: memories that keep being served without helping are pruned,
near-duplicates merged, superseded decisions retired. All soft: a refined-away memory
leaves the indexes, keeps its exchange, messages and history, and `restore` brings it back.

`plan` decides on a snapshot of the active memories (nothing is written, so a dry run is
the same call); `apply_changes` writes the plan in batches, each batch one transaction.
A new rule is a function in its own module, registered in `RULES`.
"""

from __future__ import annotations

from memdistill.refine.base import Candidate, Change, RefineSettings, Rule
from memdistill.refine.merge import merge
from memdistill.refine.prune import prune
from memdistill.refine.supersede import supersede

# In the order they run: merging first adds duplicates' counters up before pruning judges
# them, and a superseded memory is not worth pruning.
RULES: dict[str, Rule] = {"merge": merge, "supersede": supersede, "prune": prune}

__all__ = ["RULES", "Change", "RefineSettings", "plan"]


def plan(pool: dict[int, Candidate], settings: RefineSettings) -> list[Change]:
    """The changes the enabled rules make, each rule seeing what the earlier ones left.
    `pool` is consumed: changed memories leave it, canonical ones gain merged counters."""
    settings = settings.checked()
    changes: list[Change] = []
    for name, rule in RULES.items():
        if name not in settings.rules:
            continue
        for change in rule(pool, settings):
            gone = pool.pop(change.exchange_id)
            if change.rule == "merge" and change.target is not None:
                pool[change.target].freq += gone.freq
                pool[change.target].utility += gone.utility
                pool[change.target].verdicts += gone.verdicts
            changes.append(change)
    return changes
