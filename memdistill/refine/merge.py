"""Near-duplicates: memories of one project with nearly the same distilled vector that
share a room or a file become one.

Star clustering, not chains: memories are taken in canonical order (most useful, then
newest), and each one not yet taken keeps the neighbours not yet taken, so every merged
memory is itself close to its canonical one (a chain a~b~c could drift far from a).
"""

from __future__ import annotations

from memdistill.refine.base import (
    Candidate,
    Change,
    RefineSettings,
    by_project,
    shared,
    similar_pairs,
)


def merge(pool: dict[int, Candidate], settings: RefineSettings) -> list[Change]:
    changes = []
    for members in by_project(pool).values():
        members.sort(key=lambda c: (c.utility, c.order), reverse=True)  # canonical first
        neighbours: dict[int, list[tuple[int, float]]] = {}
        for i, j, sim in similar_pairs(members, members, settings.merge_similarity):
            if i != j:
                neighbours.setdefault(i, []).append((j, sim))
        taken: set[int] = set()
        for i, canonical in enumerate(members):
            if i in taken:
                continue
            taken.add(i)
            for j, sim in sorted(neighbours.get(i, []), key=lambda p: -p[1]):
                other = members[j]
                if j in taken or "merge" in other.restored_from:
                    continue
                common = shared(canonical, other)
                if common is None:
                    continue
                taken.add(j)
                reason = f"near-duplicate of #{canonical.id} (cosine {sim:.3f}, shares {common})"
                changes.append(
                    Change("merge", other.id, other.project, reason, canonical.id, round(sim, 4))
                )
    return changes
