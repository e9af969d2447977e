"""Query sets: the JSONL format, and LoCoMo's QA turned into labelled queries.

LoCoMo evidence ids are normalised ("D8:6; D9:17" is two ids, "D:11:26" is "D11:26",
"D30:05" is "D30:5"); ids that name no turn are dropped. Every change is recorded in the
notes that go into the runs folder, so the numbers can be traced back to the data.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memdistill.errors import FormatError

from .textfiles import bad_line, json_lines

LOCOMO_CATEGORIES = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}


@dataclass(slots=True)
class Query:
    qid: str
    query: str
    type: str | None = None
    project: str | None = None
    relevant: dict[str, int] | None = None  # None: unlabelled (LLM graders); {}: absent
    category: str | None = None

    @property
    def absent(self) -> bool:
        return self.relevant == {}

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "absent": self.absent}


@dataclass
class Notes:
    """What the loaders changed or dropped."""

    fixed: list[dict[str, str]] = field(default_factory=list)  # {"qid", "from", "to"}
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"qid", "id", "why"}

    def as_json(self) -> dict[str, Any]:
        return {
            "fixed": self.fixed,
            "dropped": self.dropped,
            "counts": {"fixed": len(self.fixed), "dropped": len(self.dropped)},
        }


QUERY_LINE = 'each line is {"qid", "query", "type"?, "project"?, "relevant"?: {message_id: grade}}'


def load_queries(path: Path) -> list[Query]:
    """A JSONL query set; a bad line is an error naming the file and line."""
    queries: list[Query] = []
    seen: set[str] = set()
    for number, record in json_lines(path, hint=QUERY_LINE):
        try:
            query = _query(record)
        except (ValueError, TypeError, KeyError) as exc:
            raise bad_line(path, number, f"not a query ({exc})", QUERY_LINE) from exc
        if query.qid in seen:
            raise FormatError(f"qid {query.qid!r} appears twice", path=str(path), line=number)
        seen.add(query.qid)
        queries.append(query)
    if not queries:
        raise FormatError("the query set is empty", path=str(path))
    return queries


def _query(record: Any) -> Query:
    if not isinstance(record, dict):
        raise TypeError("a JSON object is needed")
    relevant = record.get("relevant")
    if relevant is not None:
        if not isinstance(relevant, dict):
            raise TypeError("`relevant` must map message ids to grades")
        relevant = {str(k): int(v) for k, v in relevant.items()}
        if any(g not in (0, 1, 2) for g in relevant.values()):
            raise ValueError("grades are 0, 1 or 2")
        relevant = {k: g for k, g in relevant.items() if g > 0} if relevant else {}
    text = record["query"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("`query` must be a non-empty string")
    return Query(
        qid=str(record["qid"]),
        query=text,
        type=record.get("type"),
        project=record.get("project"),
        relevant=relevant,
        category=None if record.get("category") is None else str(record["category"]),
    )


def is_locomo(path: Path) -> bool:
    head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    return '"qa"' in head or '"speaker_a"' in head


def locomo_queries(path: Path) -> tuple[list[Query], Notes]:
    """Each QA of each sample as a query over that sample's conversation (its project)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"not a readable LoCoMo file: {exc}", path=str(path)) from exc
    samples = data if isinstance(data, list) else [data]
    notes = Notes()
    queries: list[Query] = []
    for sample in samples:
        if not isinstance(sample, dict) or not isinstance(sample.get("qa"), list):
            raise FormatError("a LoCoMo sample needs a `qa` list", path=str(path))
        sample_id = str(sample.get("sample_id", "sample"))
        turns = _turn_ids(sample.get("conversation") or {})
        for number, qa in enumerate(sample["qa"], start=1):
            if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                notes.dropped.append({"qid": f"{sample_id}:q{number}", "id": "",
                                      "why": "no question"})  # fmt: skip
                continue
            qid = f"{sample_id}:q{number}"
            category = str(qa.get("category", ""))
            relevant: dict[str, int] = {}
            for raw in qa.get("evidence") or []:
                for turn in normalise_evidence(str(raw), qid, notes):
                    if turn in turns:
                        relevant[f"{sample_id}:{turn}"] = 2
                    else:
                        notes.dropped.append({"qid": qid, "id": turn, "why": "no such turn"})
            queries.append(
                Query(
                    qid=qid,
                    query=qa["question"],
                    type=LOCOMO_CATEGORIES.get(category, category or None),
                    project=sample_id,
                    # No evidence left: unlabelled (graders may judge it), not "absent".
                    relevant=relevant or None,
                    category=category or None,
                )
            )
    return queries, notes


_EVIDENCE = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


def normalise_evidence(raw: str, qid: str, notes: Notes) -> list[str]:
    """ "D8:6; D9:17" -> ["D8:6", "D9:17"]; "D:11:26" -> ["D11:26"]; "D30:05" -> ["D30:5"]."""
    found = [f"D{int(s)}:{int(t)}" for s, t in _EVIDENCE.findall(raw)]
    if not found:
        notes.dropped.append({"qid": qid, "id": raw, "why": "not an evidence id"})
    elif found != [raw]:
        notes.fixed.append({"qid": qid, "from": raw, "to": "; ".join(found)})
    return found


def _turn_ids(conversation: Any) -> set[str]:
    ids: set[str] = set()
    if isinstance(conversation, dict):
        for key, turns in conversation.items():
            if key.startswith("session_") and isinstance(turns, list):
                ids.update(str(t.get("dia_id")) for t in turns if isinstance(t, dict))
    return ids
