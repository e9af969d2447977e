"""What a refinement run planned and did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from memdistill.refine.base import STATUS_OF_RULE, Change


@dataclass(slots=True)
class RefineReport:
    dry_run: bool
    active_before: int  # active memories the rules looked at
    planned: list[Change] = field(default_factory=list)
    written: list[Change] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)  # the store moved on meanwhile
    indexed_before: int | None = None  # exchanges in the indexes (None on a dry run)
    indexed_after: int | None = None

    @property
    def changes(self) -> list[Change]:
        """What the table shows: the plan on a dry run, what was written otherwise."""
        return self.planned if self.dry_run else self.written

    def counts(self) -> dict[str, int]:
        by_rule = Counter(change.rule for change in self.changes)
        return {rule: by_rule.get(rule, 0) for rule in STATUS_OF_RULE}
