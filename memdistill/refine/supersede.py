"""Superseded decisions: a later exchange on the same room or file, close in meaning, that
says it changes course ("instead", "revert", "no longer", "switch to") about something the
earlier one named marks the earlier one superseded. Search then finds the newer one, which
says what it supersedes.

Similarity and words of change alone catch too much ("instead" is everywhere), so the
change must be about the earlier memory: a telling word near the words of change (within
the window, e.g. "requests" in "switch fetch.py to httpx and drop requests") must appear in
the earlier memory's prompt or core.

Each earlier memory is superseded by the first later one that qualifies, so a decision
revisited twice forms a chain (a -> b -> c) and only the latest stays searchable.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from memdistill.distill.text import specificity, words
from memdistill.refine.base import (
    Candidate,
    Change,
    RefineSettings,
    by_project,
    shared,
    similar_pairs,
)

CHANGE_WORDS = re.compile(
    r"\b(?:instead|rather than|no longer|not anymore"
    r"|revert(?:s|ed|ing)?|roll(?:s|ed|ing)? back|undo|scrap (?:that|this|it)"
    r"|switch(?:es|ed|ing)? (?:\S+ ){0,3}?(?:back |over )?(?:to|from)"
    r"|go(?:es|ing)? back to|move[ds]? (?:away )?from|get rid of|drop(?:s|ped|ping)? (?:the )?\S+"
    r"|remove[ds]? the \S+ (?:pin|dependency|requirement)"
    r"|replace(?:s|d)? (?:\S+ ){0,3}?with|stop(?:ped)? using|(?:do not|don'?t) use"
    r"|deprecate(?:d)?|changed? (?:my|our) mind|on second thought|actually,? (?:let'?s|use|we))\b",
    re.IGNORECASE,
)


WINDOW = 8  # words either side of the words of change that say what changed
SUBJECT_SPECIFICITY = 0.55  # telling words only (names, identifiers), not "file" or "use"
SUBJECT_SHARE = 0.1  # ... and rare in the project: the project's own name tells nothing


@dataclass(frozen=True, slots=True)
class ChangeSaid:
    words: str  # the words of change, as said
    subject: frozenset[str]  # telling words near them, lowercased


def change_said(text: str) -> ChangeSaid | None:
    """The words of change in `text` and what they are about, or None."""
    found = [m for m in CHANGE_WORDS.finditer(text)]
    if not found:
        return None
    subject: set[str] = set()
    for match in found:
        before = words(text[: match.start()])[-WINDOW:]
        after = words(text[match.end() :])[:WINDOW]
        inside = words(match.group(0))
        subject.update(
            w.lower() for w in (*before, *inside, *after) if specificity(w) >= SUBJECT_SPECIFICITY
        )
    return ChangeSaid(found[0].group(0).lower(), frozenset(subject))


def supersede(pool: dict[int, Candidate], settings: RefineSettings) -> list[Change]:
    changes = []
    for members in by_project(pool).values():
        vocabularies = {c.id: _vocabulary(c) for c in members}
        counts = Counter(w for vocabulary in vocabularies.values() for w in vocabulary)
        common_words = {w for w, n in counts.items() if n > max(3, SUBJECT_SHARE * len(members))}
        said = {c.id: w for c in members if (w := change_said(f"{c.prompt}\n{c.core}"))}
        newer = [c for c in members if c.id in said]
        successor: dict[int, tuple[Candidate, float, str]] = {}
        for i, j, sim in similar_pairs(newer, members, settings.supersede_similarity):
            new, old = newer[i], members[j]
            if old.order >= new.order or "supersede" in old.restored_from:
                continue
            common = shared(new, old)
            about = (said[new.id].subject - common_words) & vocabularies[old.id]
            if common is None or not about:
                continue
            best = successor.get(old.id)
            if best is None or new.order < best[0].order:  # the first later one
                successor[old.id] = (new, sim, f"{common}, about {sorted(about)[0]}")
        # Oldest first: in a chain a -> b -> c, a is written while b is still active.
        order = {c.id: c.order for c in members}
        for old_id in sorted(successor, key=order.__getitem__):
            new, sim, common = successor[old_id]
            reason = (
                f"superseded by #{new.id} (cosine {sim:.3f}, shares {common}, "
                f"says {said[new.id].words!r})"
            )
            changes.append(Change("supersede", old_id, new.project, reason, new.id, round(sim, 4)))
    return changes


def _vocabulary(candidate: Candidate) -> set[str]:
    return {w.lower() for w in words(f"{candidate.prompt}\n{candidate.core}")}
