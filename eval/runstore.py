"""The store a run searches when none is given: `store/` inside the runs folder.

Ingest is incremental, so a store left by an earlier run would also hold that run's
corpus (or refuse another embedder). It is reused only when the runs folder's config.json
says the previous run searched it with the same corpus paths (resolved) and the same
embedder; otherwise it is deleted and made afresh. `eval run` writes config.json before
it ingests, so a run that stops half-way still says what its store holds. A store given
explicitly is never touched here.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memdistill.embed import DEFAULT_EMBEDDER, get_embedder
from memdistill.errors import ConfigError

from .textfiles import read_json

STORE = "store"


@dataclass(frozen=True, slots=True)
class RunStore:
    path: Path
    reused: bool  # False: a new store (none was there, or the old one was deleted)
    why: str  # what was decided, in words


def corpus_key(corpus: Sequence[Path]) -> list[str]:
    """The corpus as config.json records it: resolved paths, sorted, once each."""
    return sorted({str(Path(p).resolve()) for p in corpus})


def runs_folder_store(runs_out: Path, corpus: Sequence[Path], embedder: str | None) -> RunStore:
    """`runs_out/store`: reused when the previous run made it for this corpus and embedder,
    else deleted so the run starts from an empty one."""
    path = runs_out / STORE
    if not path.exists():
        return RunStore(path, False, "new store")
    previous = read_json(runs_out / "config.json")
    if not isinstance(previous, dict):
        # Not evidently an evaluation's store: it might be someone's memory. Never delete it.
        raise ConfigError(
            f"{path} exists, but no {runs_out / 'config.json'} says `memdistill eval run` "
            f"made it; delete that folder (or use another --runs-out), or pass --store {path} "
            "to search it as it is"
        )
    mismatch = _mismatch(previous, path, corpus, embedder)
    if mismatch is None:
        return RunStore(path, True, "reused: the previous run's corpus and embedder")
    shutil.rmtree(path)
    return RunStore(path, False, f"made afresh: {mismatch}")


def _mismatch(
    previous: dict[str, object], path: Path, corpus: Sequence[Path], embedder: str | None
) -> str | None:
    stored = previous.get("store")
    if not isinstance(stored, str) or Path(stored).expanduser().resolve() != path.resolve():
        return "the previous run searched another store"
    if previous.get("corpus") != corpus_key(corpus):
        return "the previous run ingested another corpus"
    # The model id, as config.json records it; the embedder is only built here, not loaded.
    if previous.get("embedder") != get_embedder(embedder or DEFAULT_EMBEDDER).model_id:
        return "the previous run used another embedder"
    return None
