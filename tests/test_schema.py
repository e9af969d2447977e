"""Migrations carry an existing store forward (m003: refinement statuses and counters)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from memdistill.store.schema import MIGRATIONS, SET
from memdistill.store.store import DB_NAME, Store


def test_m003_renames_gone_exchanges_and_counts_past_verdicts(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path)
    old = Migrations(SET)
    for fn in MIGRATIONS[:2]:  # a store made before m003
        old(name=fn.__name__)(fn)
    old.apply(Database(conn))
    conn.executescript(
        """
        INSERT INTO conversations VALUES (1, 't', 'p', 'c', 'generic', NULL, NULL);
        INSERT INTO exchanges VALUES (1, 't', 'p', 1, 'e1', 0, NULL, NULL, 'h', 1, 1, NULL);
        INSERT INTO exchanges VALUES (2, 't', 'p', 1, 'e2', 1, NULL, NULL, 'h', 1, 1, NULL);
        INSERT INTO memories (exchange_id, tenant, project, exchange_core, specific_context,
            distilled_tokens, distiller, status, created_at, updated_at)
            VALUES (1, 't', 'p', 'a', '', 1, 'offline-v1', 'superseded', 'x', 'x'),
                   (2, 't', 'p', 'b', '', 1, 'offline-v1', 'active', 'x', 'x');
        INSERT INTO usage (exchange_id, tenant, project, freq, utility) VALUES
            (1, 't', 'p', 0, 0), (2, 't', 'p', 6, 1);
        INSERT INTO history (tenant, project, exchange_id, at, action, generation, detail)
            VALUES ('t', 'p', 1, 'x', 'superseded', 1, '{}'),
                   ('t', 'p', 2, 'x', 'feedback', 1, '{"useful": true}'),
                   ('t', 'p', 2, 'x', 'feedback', 1, '{"useful": false}');
        """
    )
    conn.commit()
    conn.close()
    store = Store(tmp_path)  # applies m003
    db = store.db
    assert db.execute("SELECT exchange_id, status, replaced_by FROM memories").fetchall() == [
        (1, "left_source", None), (2, "active", None)]  # fmt: skip
    assert db.execute("SELECT action FROM history WHERE exchange_id = 1").fetchone() == (
        "left_source",)  # fmt: skip
    assert db.execute("SELECT exchange_id, verdicts FROM usage ORDER BY 1").fetchall() == [
        (1, 0), (2, 2)]  # fmt: skip
    store.close()


def test_every_subpackage_is_listed_for_installation() -> None:
    """setuptools installs only the packages pyproject.toml names: a new folder left out
    works in an editable install and is missing from a wheel."""
    import tomllib

    repo = Path(__file__).resolve().parents[1]
    config = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for name, folder in config["package-dir"].items():
        for init in (repo / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(repo / folder).parts
            assert ".".join((name, *parts)) in listed, init


def test_stored_times_are_fixed_width_for_any_year() -> None:
    """Found by schemathesis: strftime's %Y wrote year 311 as '311', which then failed
    to parse back and broke every read of that row."""
    from datetime import UTC, datetime, timedelta, timezone

    from memdistill.store.store import from_db_time, to_db_time

    for value in (datetime(311, 8, 8, 22, 12, 59, tzinfo=UTC), datetime(2026, 3, 1, 10, 0)):
        text = to_db_time(value)
        assert text is not None and len(text) == 27 and from_db_time(text) == value.replace(
            tzinfo=UTC)  # fmt: skip
    # No UTC equivalent: clamped to the first or last time, so a filter bound keeps its sense.
    first = to_db_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    assert first == "0001-01-01T00:00:00.000000Z"
    last = to_db_time(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))))
    assert last == "9999-12-31T23:59:59.999999Z"
