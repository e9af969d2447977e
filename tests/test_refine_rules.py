"""Refinement rules (issue 5) on hand-made candidates, for their exact boundaries: prune,
merge, supersede and its words of change; the settings and where they come from. End to end
on a real store: test_refine.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memdistill.errors import ConfigError
from memdistill.refine import RefineSettings, plan
from memdistill.refine.base import Candidate
from memdistill.refine.supersede import change_said


def unit(*values: float) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def candidate(i: int, *, freq: int = 0, utility: int = 0, verdicts: int = 1,
              vector: np.ndarray | None = None,
              rooms: tuple[str, ...] = ("concept:db",), files: tuple[str, ...] = (),
              day: int = 1, prompt: str = "", core: str = "") -> Candidate:  # fmt: skip
    return Candidate(
        id=i, project="p", started_at=f"2026-03-{day:02d}T10:00:00.000000Z", freq=freq,
        utility=utility, verdicts=verdicts, rooms=frozenset(rooms), files=frozenset(files),
        core=core or prompt,
        prompt=prompt, vector=unit(1.0) if vector is None else vector,
    )  # fmt: skip


def pruned(*candidates: Candidate, **settings: object) -> set[int]:
    pool = {c.id: c for c in candidates}
    changes = plan(pool, RefineSettings(rules=("prune",), **settings))  # type: ignore[arg-type]
    return {c.exchange_id for c in changes}


def test_prune_boundaries_freq_4_vs_5_and_ratio_049_vs_05() -> None:
    assert pruned(candidate(1, freq=4, utility=0), candidate(2, freq=5, utility=0)) == {2}
    assert pruned(candidate(1, freq=100, utility=49), candidate(2, freq=100, utility=50)) == {1}
    assert pruned(candidate(1, freq=0), candidate(2, freq=5, utility=5)) == set()
    # No verdict, no prune: a caller who never gives feedback never loses a memory.
    assert pruned(candidate(1, freq=50, utility=0, verdicts=0)) == set()
    # Both thresholds are settings.
    assert pruned(candidate(1, freq=4, utility=0), min_freq=4) == {1}
    assert pruned(candidate(1, freq=10, utility=7), min_utility_ratio=0.75) == {1}


def test_merge_needs_similarity_and_a_shared_room_or_file_and_keeps_the_most_useful() -> None:
    close = unit(1.0, 0.2)  # cosine with unit(1) is 0.98
    pool = {c.id: c for c in (
        candidate(1, utility=0, day=5),
        candidate(2, utility=3, day=1, vector=close),  # most useful: canonical
        candidate(3, utility=0, day=9, vector=close, rooms=("concept:other",)),  # no share
        candidate(4, utility=0, day=2, vector=unit(1.0, 1.0)),  # cosine 0.71: not close
    )}  # fmt: skip
    changes = plan(pool, RefineSettings(rules=("merge",)))
    assert [(c.exchange_id, c.target) for c in changes] == [(1, 2)]
    assert pool[2].utility == 3 and 1 not in pool
    # Equally useful: the newest is canonical; a shared file is enough.
    pool = {c.id: c for c in (
        candidate(1, day=1, freq=2, rooms=(), files=("db.py",)),
        candidate(2, day=3, freq=3, rooms=(), files=("db.py",), vector=close),
    )}  # fmt: skip
    changes = plan(pool, RefineSettings(rules=("merge",)))
    assert [(c.exchange_id, c.target) for c in changes] == [(1, 2)]
    assert pool[2].freq == 5  # counters add up in the canonical one (before pruning judges)


def test_merge_threshold_is_inclusive_and_configurable() -> None:
    a, b = candidate(1, day=1), candidate(2, day=2, vector=unit(1.0, 0.5))  # cosine 0.894
    assert plan({1: a, 2: b}, RefineSettings(rules=("merge",))) == []
    changes = plan({1: a, 2: b}, RefineSettings(rules=("merge",), merge_similarity=0.89))
    assert [(c.exchange_id, c.target) for c in changes] == [(1, 2)]


def test_supersede_needs_later_time_change_words_about_the_earlier_one() -> None:
    old = candidate(1, day=1, prompt="use requests for the NOAA fetcher", files=("fetch.py",))
    new = candidate(2, day=5, prompt="switch fetch.py to httpx and drop requests",
                    files=("fetch.py",), vector=unit(1.0, 0.9))  # fmt: skip
    changes = plan({1: old, 2: new}, RefineSettings(rules=("supersede",)))
    assert [(c.exchange_id, c.target) for c in changes] == [(1, 2)]
    assert "requests" in changes[0].reason and "switch" in changes[0].reason
    # Earlier in time: nothing (the later one is never superseded by an earlier one).
    early = candidate(2, day=1, prompt=new.prompt, files=("fetch.py",))
    late = candidate(1, day=5, prompt=old.prompt, files=("fetch.py",))
    assert plan({1: late, 2: early}, RefineSettings(rules=("supersede",))) == []
    # No words of change, or change about something the earlier one never named: nothing.
    plain = candidate(2, day=5, prompt="the fetcher uses requests with a 30 s timeout",
                      files=("fetch.py",))  # fmt: skip
    assert plan({1: old, 2: plain}, RefineSettings(rules=("supersede",))) == []
    other = candidate(2, day=5, prompt="switch the docs theme to furo instead",
                      files=("fetch.py",))  # fmt: skip
    assert plan({1: old, 2: other}, RefineSettings(rules=("supersede",))) == []


@pytest.mark.parametrize(("text", "said"), [
    ("switch fetch.py to httpx and drop requests", "switch fetch.py to"),
    ("let's use sqlite instead", "instead"),
    ("revert the WAL change", "revert"),
    ("we no longer pin numpy", "no longer"),
    ("the rollback journal is the default", None),
    ("add a test for the importer", None),
])  # fmt: skip
def test_change_words(text: str, said: str | None) -> None:
    found = change_said(text)
    assert (found.words if found else None) == said


def test_bad_settings_say_what_to_do() -> None:
    with pytest.raises(ConfigError, match="min-freq"):
        RefineSettings(min_freq=0).checked()
    with pytest.raises(ConfigError, match="rule"):
        RefineSettings(rules=("dedupe",)).checked()
    with pytest.raises(ConfigError, match="merge-similarity"):
        RefineSettings(merge_similarity=1.5).checked()


def test_settings_come_from_the_stores_config_then_the_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[llm]\nmodel = "m"\n\n[refine]\nmin_freq = 8\nmerge_similarity = 0.95\n'
        'rules = ["merge", "prune"]\n'
    )
    loaded = RefineSettings.load(tmp_path)
    assert (loaded.min_freq, loaded.merge_similarity, loaded.rules) == (8, 0.95, ("merge", "prune"))
    assert loaded.min_utility_ratio == 0.5  # what the table does not name keeps its default
    flagged = RefineSettings.load(tmp_path, {"min_freq": 3, "rules": ["prune"],
                                             "merge_similarity": None})  # fmt: skip
    assert (flagged.min_freq, flagged.merge_similarity, flagged.rules) == (3, 0.95, ("prune",))
    assert RefineSettings.load(tmp_path / "nowhere") == RefineSettings()
    (tmp_path / "config.toml").write_text("[refine]\nmin_frequency = 8\n")
    with pytest.raises(ConfigError, match=r"unknown refine setting 'min_frequency' in config"):
        RefineSettings.load(tmp_path)
    for wrong in ('"often"', "2.9", "true", '["merge"]'):  # no silent 2.9 -> 2, true -> 1
        (tmp_path / "config.toml").write_text(f"[refine]\nmin_freq = {wrong}\n")
        with pytest.raises(ConfigError, match=r"min_freq in config\.toml must be of type int"):
            RefineSettings.load(tmp_path)
    (tmp_path / "config.toml").write_text("[refine]\nrules = {merge = 1}\n")
    with pytest.raises(ConfigError, match=r"rules in config\.toml must be of type tuple"):
        RefineSettings.load(tmp_path)
    # Found in review: a number too big for a float was a crash (a 500 from the server),
    # and nan or inf passed as thresholds nothing compares with.
    for wrong in ("9" * 400, "nan", "inf", '"-inf"'):
        (tmp_path / "config.toml").write_text(f"[refine]\nmerge_similarity = {wrong}\n")
        with pytest.raises(ConfigError, match=r"merge_similarity .* must be a finite number"):
            RefineSettings.load(tmp_path)
