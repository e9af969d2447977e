"""A small segmented BM25 index on numpy: fast queries, cheap incremental adds.

Shaped like Lucene. Every `add` analyzes its texts into a new immutable segment; `remove`
only flips a segment's live mask; a merge policy keeps the segment count bounded by
concatenating the smallest segments' postings (never re-analyzing) and purging deleted
documents. Terms are 64-bit hashes, so segments share no vocabulary.

Segment arrays: `terms` (sorted unique uint64 term ids), `indptr` (int64, CSR offsets into
the postings), `docs` (int32 doc indexes in the segment; no order within a term), `tfs`
(uint16 term frequencies, clipped), `ids` (int64 SQLite row ids, sorted, one per doc),
`lengths` (int32 analyzed terms per doc) and `live` (bool, absent while all are live).

Statistics are exact for the live documents: N and avgdl sum live documents only, and df
counts only live postings (a segment holding deletions pays one extra gather per query
term). Scores therefore equal rank-bm25's `BM25Okapi` with Lucene's idf over the live
corpus: a term repeated in the query counts once per repetition, as in rank-bm25.
`allowed` restricts candidates, not statistics: idf and avgdl are those of the whole index.

Thread safety: one writer at a time (the caller serialises add/remove/merge/save) and any
number of concurrent `search` calls. Writers build new segments and swap in a new tuple.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memdistill.errors import StoreError
from memdistill.index.analyze import ANALYZER_VERSION, CACHE_LIMIT, analyze

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = {
    "terms": np.uint64, "indptr": np.int64, "docs": np.int32,
    "tfs": np.uint16, "ids": np.int64, "lengths": np.int32,
}  # fmt: skip
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
_term_ids: dict[str, int] = {}


def term_id(term: str) -> int:
    """The stable 64-bit id of a term (blake2b, 8 bytes), cached."""
    tid = _term_ids.get(term)
    if tid is None:
        if len(_term_ids) > CACHE_LIMIT:
            _term_ids.clear()
        digest = hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        tid = _term_ids[term] = int.from_bytes(digest, "little")
    return tid


@dataclass(frozen=True, eq=False)
class Segment:
    name: str
    terms: U64
    indptr: I64
    docs: I32
    tfs: npt.NDArray[np.uint16]
    ids: I64
    lengths: I32
    live: npt.NDArray[np.bool_] | None = None  # None: every doc is live
    live_name: str | None = None  # a fresh file name for each new mask, so saves never clash
    n_live: int = 0
    live_length: int = 0  # sum of the live docs' lengths

    @classmethod
    def build(
        cls, arrays: dict[str, Any], live: Any = None, live_name: str | None = None, name: str = ""
    ) -> Segment:
        """A segment from its arrays, checked for consistency (cheap checks only)."""
        a = {key: np.asarray(arrays[key]) for key in _ARRAYS}  # plain views of memmaps
        n = len(a["ids"])
        lv = None if live is None else np.asarray(live)
        if (
            any(a[key].dtype != dt or a[key].ndim != 1 for key, dt in _ARRAYS.items())
            or len(a["indptr"]) != len(a["terms"]) + 1
            or int(a["indptr"][0]) != 0
            or int(a["indptr"][-1]) != len(a["docs"])
            or bool(np.any(np.diff(a["indptr"]) < 0))
            or len(a["docs"]) != len(a["tfs"])
            or len(a["lengths"]) != n
            or bool(np.any(np.diff(a["ids"]) <= 0))
            or (lv is not None and (lv.dtype != np.bool_ or lv.shape != (n,)))
        ):
            raise ValueError("segment arrays are inconsistent")
        n_live = n if lv is None else int(lv.sum())
        total = int(a["lengths"].sum() if lv is None else a["lengths"][lv].sum())
        name = name or f"seg-{uuid.uuid4().hex[:16]}"
        return cls(name, **a, live=lv, live_name=live_name, n_live=n_live, live_length=total)

    @classmethod
    def from_postings(
        cls, term_ids: U64, docs: I32, tfs: npt.NDArray[Any], ids: I64, lengths: I64
    ) -> Segment:
        """A segment from unsorted (term, doc, tf) triples; docs index `ids`."""
        order = np.argsort(term_ids, kind="stable")
        sorted_terms = term_ids[order]
        starts = np.flatnonzero(np.diff(sorted_terms)) + 1
        head = np.zeros(min(1, len(sorted_terms)), np.int64)
        indptr = np.concatenate([head, starts, [len(sorted_terms)]]).astype(np.int64)
        arrays = {
            "terms": sorted_terms[indptr[:-1]], "indptr": indptr,
            "docs": docs[order],
            "tfs": np.minimum(tfs[order], 65535).astype(np.uint16),
            "ids": ids, "lengths": lengths.astype(np.int32),
        }  # fmt: skip
        return cls.build(arrays)


def _ranges(starts: I64, lens: I64) -> I64:
    """Concatenated aranges [starts[i], starts[i] + lens[i])."""
    offsets = np.cumsum(lens) - lens
    out: I64 = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(offsets - starts, lens)
    return out


def _merge(segments: Sequence[Segment]) -> Segment:
    """One segment holding the live docs of `segments`: postings are concatenated, doc
    indexes remapped to the merged id order, deleted docs dropped; nothing is re-analyzed."""
    lives = [np.ones(len(s.ids), np.bool_) if s.live is None else s.live for s in segments]
    ids = np.concatenate([s.ids[m] for s, m in zip(segments, lives, strict=True)])
    lengths = np.concatenate([s.lengths[m] for s, m in zip(segments, lives, strict=True)])
    order = np.argsort(ids, kind="stable")
    new_pos = np.empty(len(ids), np.int32)
    new_pos[order] = np.arange(len(ids), dtype=np.int32)
    terms, docs, tfs, offset = [], [], [], 0
    for s, live in zip(segments, lives, strict=True):
        remap = np.full(len(s.ids), -1, np.int32)
        remap[live] = new_pos[offset : offset + s.n_live]
        offset += s.n_live
        d = remap[s.docs]
        m = d >= 0
        terms.append(np.repeat(s.terms, np.diff(s.indptr))[m])
        docs.append(d[m])
        tfs.append(s.tfs[m])
    return Segment.from_postings(
        np.concatenate(terms), np.concatenate(docs), np.concatenate(tfs), ids[order],
        lengths[order].astype(np.int64),
    )  # fmt: skip


def _write_npy(path: Path, array: npt.NDArray[Any]) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def _damaged(folder: Path, why: object) -> StoreError:
    msg = f"The BM25 index at {folder} is damaged ({why}); run `memdistill reindex` to rebuild it."
    return StoreError(msg)


class BM25Index:
    """Okapi BM25 (Lucene idf) over SQLite row ids; see the module docstring."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, max_segments: int = 8) -> None:
        self.k1, self.b = float(k1), float(b)
        self.max_segments = max(1, int(max_segments))
        self._segments: tuple[Segment, ...] = ()

    def __len__(self) -> int:
        return sum(s.n_live for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def ids(self) -> I64:
        """The live row ids, sorted."""
        parts = [s.ids if s.live is None else s.ids[s.live] for s in self._segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def search(
        self, query: str, k: int, allowed: npt.ArrayLike | None = None
    ) -> list[tuple[int, float]]:
        """Top `k` (row id, score), score descending then id ascending; only scores > 0.

        `allowed` (row ids, ideally sorted int64) restricts the candidates before ranking.
        """
        segments = self._segments  # one snapshot for the whole query
        n_docs = sum(s.n_live for s in segments)
        counts = Counter(analyze(query))
        if k <= 0 or n_docs == 0 or not counts:
            return []
        allow = None
        if allowed is not None:
            allow = np.asarray(allowed, dtype=np.int64).ravel()
            if len(allow) == 0:
                return []
            if bool(np.any(allow[1:] < allow[:-1])):
                allow = np.sort(allow)
        qids = np.fromiter((term_id(t) for t in counts), np.uint64, len(counts))
        qweight = np.fromiter(counts.values(), np.float64, len(counts))
        nq = len(qids)
        df = np.zeros(nq, np.int64)
        hits: list[tuple[Segment, I32, npt.NDArray[np.uint16], I64]] = []
        for s in segments:
            if len(s.terms) == 0:
                continue
            pos = np.minimum(np.searchsorted(s.terms, qids), len(s.terms) - 1)
            lens = np.where(s.terms[pos] == qids, s.indptr[pos + 1] - s.indptr[pos], 0)
            if not lens.any():
                continue
            idx = _ranges(s.indptr[pos], lens)
            docs, tfs, tix = s.docs[idx], s.tfs[idx], np.repeat(np.arange(nq), lens)
            if s.live is not None:
                m = s.live[docs]
                docs, tfs, tix = docs[m], tfs[m], tix[m]
                df += np.bincount(tix, minlength=nq)
            else:
                df += lens
            hits.append((s, docs, tfs, tix))
        avgdl = sum(s.live_length for s in segments) / n_docs
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        weight = idf * qweight * (self.k1 + 1.0)
        base, slope = self.k1 * (1.0 - self.b), self.k1 * self.b / avgdl if avgdl else 0.0
        found_scores, found_ids = [], []
        for s, docs, tfs, tix in hits:
            tf = tfs.astype(np.float64)
            contrib = weight[tix] * tf / (tf + base + slope * s.lengths[docs])
            scores = np.bincount(docs, contrib, minlength=len(s.ids))
            cand = np.flatnonzero(scores > 0)  # deleted docs' postings were dropped above
            cand_ids = s.ids[cand]
            if allow is not None:
                p = np.minimum(np.searchsorted(allow, cand_ids), len(allow) - 1)
                ok = allow[p] == cand_ids
                cand, cand_ids = cand[ok], cand_ids[ok]
            found_scores.append(scores[cand])
            found_ids.append(cand_ids)
        if not found_ids:
            return []
        all_scores, all_ids = np.concatenate(found_scores), np.concatenate(found_ids)
        if len(all_scores) > k:  # keep everything tied with the k-th score, then order
            kth = np.partition(all_scores, len(all_scores) - k)[len(all_scores) - k]
            keep = all_scores >= kth
            all_scores, all_ids = all_scores[keep], all_ids[keep]
        order = np.lexsort((all_ids, -all_scores))[:k]
        return list(zip(all_ids[order].tolist(), all_scores[order].tolist(), strict=True))

    def add(self, ids: Iterable[int], texts: Iterable[str]) -> None:
        """Index texts under their row ids; an id already indexed is replaced."""
        latest = dict(zip((int(i) for i in ids), texts, strict=True))  # last one wins
        if not latest:
            return
        row_ids = np.array(sorted(latest), np.int64)
        term_list: list[int] = []
        tf_list: list[int] = []
        n_terms = np.zeros(len(row_ids), np.int64)
        lengths = np.zeros(len(row_ids), np.int64)
        for i, row_id in enumerate(row_ids.tolist()):
            counts = Counter(analyze(latest[row_id]))
            try:  # C-level lookups while every term is cached; hashing only on misses
                term_list.extend(list(map(_term_ids.__getitem__, counts)))
            except KeyError:
                term_list.extend(map(term_id, counts))
            tf_list.extend(counts.values())
            n_terms[i] = len(counts)
            lengths[i] = counts.total()
        doc_of = np.repeat(np.arange(len(row_ids), dtype=np.int32), n_terms)
        tf_arr, term_arr = np.array(tf_list, np.int64), np.array(term_list, np.uint64)
        segment = Segment.from_postings(term_arr, doc_of, tf_arr, row_ids, lengths)
        self._segments = self._after_merges((*self._without(self._segments, row_ids), segment))

    def remove(self, ids: Iterable[int]) -> int:
        """Delete row ids (unknown ones are ignored); returns how many were live."""
        gone = np.unique(np.fromiter((int(i) for i in ids), np.int64))
        before, self._segments = len(self), self._without(self._segments, gone)
        return before - len(self)

    def merge(self, max_segments: int = 1) -> None:
        """Merge the smallest segments until at most `max_segments` remain (after a reindex),
        and rewrite any other segment holding deleted documents: after a forget, no posting
        of a deleted document may stay on disk behind a live mask."""
        segments, keep = self._segments, max(1, max_segments)
        if len(segments) > keep:
            group = sorted(segments, key=lambda s: s.n_live)[: len(segments) - keep + 1]
            segments = (*(s for s in segments if s not in group), _merge(group))
        self._segments = tuple(s if s.live is None else _merge([s]) for s in segments)

    @staticmethod
    def _without(segments: tuple[Segment, ...], gone: I64) -> tuple[Segment, ...]:
        out = []
        for s in segments:
            if len(gone) and len(s.ids):
                pos = np.minimum(np.searchsorted(s.ids, gone), len(s.ids) - 1)
                doc = pos[s.ids[pos] == gone]
                if s.live is not None:
                    doc = doc[s.live[doc]]
                if len(doc):
                    live = np.ones(len(s.ids), np.bool_) if s.live is None else s.live.copy()
                    live[doc] = False
                    n_live = s.n_live - len(doc)
                    if n_live == 0:
                        continue
                    length = s.live_length - int(s.lengths[doc].sum())
                    name = f"live-{uuid.uuid4().hex[:16]}.npy"
                    s = replace(s, live=live, live_name=name, n_live=n_live, live_length=length)
            out.append(s)
        return tuple(out)

    def _after_merges(self, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
        """Merge policy: past `max_segments`, merge the smallest segments (at least two), and
        keep taking the next smallest while it is no bigger than the group so far, so a doc
        is rewritten O(log N) times. A segment more than half deleted joins the next merge."""
        if len(segments) <= self.max_segments:
            return segments
        by_size = sorted(segments, key=lambda s: s.n_live)
        take = max(2, len(segments) - self.max_segments + 1)
        while take < len(by_size) and by_size[take].n_live <= sum(s.n_live for s in by_size[:take]):
            take += 1
        group = by_size[:take]
        group += [s for s in by_size[take:] if s.n_live * 2 < len(s.ids)]
        return (*(s for s in segments if s not in group), _merge(group))

    def save(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        """Write new segments and changed live masks, then the manifest atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        segments = self._segments
        entries = []
        for s in segments:
            seg_dir = folder / s.name
            if not seg_dir.is_dir():
                tmp = folder / f".tmp-{s.name}"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                for key in _ARRAYS:
                    _write_npy(tmp / f"{key}.npy", getattr(s, key))
                os.replace(tmp, seg_dir)
            if s.live is not None and s.live_name and not (seg_dir / s.live_name).exists():
                _write_npy(seg_dir / s.live_name, s.live)
            entries.append({"name": s.name, "live": s.live_name, "docs": len(s.ids),
                            "live_docs": s.n_live})  # fmt: skip
        manifest = {
            "format": "memdistill-bm25", "version": FORMAT_VERSION,
            "analyzer": ANALYZER_VERSION, "k1": self.k1, "b": self.b,
            "max_segments": self.max_segments, "segments": entries, "meta": meta or {},
        }  # fmt: skip
        tmp_manifest = folder / f"{MANIFEST}.tmp"
        with open(tmp_manifest, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_manifest, folder / MANIFEST)
        current = {e["name"]: e["live"] for e in entries}
        for child in folder.iterdir():  # what the new manifest no longer names
            if child.name.startswith((".tmp-", "seg-")) and child.name not in current:
                shutil.rmtree(child, ignore_errors=True)
            elif child.name in current:
                for stale in child.glob("*live-*.npy"):
                    if stale.name != current[child.name]:
                        stale.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path) -> tuple[BM25Index, dict[str, Any]]:
        """Open a saved index (arrays memory-mapped); a missing folder is an empty index."""
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.exists():
            if folder.is_dir() and any(c.name.startswith("seg-") for c in folder.iterdir()):
                raise _damaged(folder, "segments without a manifest")
            return cls(), {}
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
            if m.get("format") != "memdistill-bm25" or m.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown format {m.get('format')!r} {m.get('version')!r}")
            if m.get("analyzer") != ANALYZER_VERSION:
                raise ValueError("built with another analyzer version")
            index = cls(m["k1"], m["b"], m.get("max_segments", 8))
            segments = []
            for e in m["segments"]:
                live_ok = e["live"] is None or re.fullmatch(r"live-[0-9a-f]{16}\.npy", e["live"])
                if not (re.fullmatch(r"seg-[0-9a-f]{16}", e["name"]) and live_ok):
                    raise ValueError(f"bad segment entry {e!r}")
                d = folder / e["name"]
                arrays = {
                    key: np.load(d / f"{key}.npy", mmap_mode="r", allow_pickle=False)
                    for key in _ARRAYS
                }
                live = None if e["live"] is None else np.load(d / e["live"], allow_pickle=False)
                segments.append(Segment.build(arrays, live, e["live"], e["name"]))
            index._segments, meta = tuple(segments), m["meta"]
            if not isinstance(meta, dict):
                raise ValueError("meta is not an object")
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _damaged(folder, exc) from exc
        return index, meta
