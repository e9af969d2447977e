"""Distiller parts shared with other layers: the one stemmer, shell commands' files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import Stemmer

from memdistill.distill.rooms import concept_key
from memdistill.distill.shell import shell_touches
from memdistill.index.analyze import analyze, stem


def test_stem_is_the_bm25_stem() -> None:
    assert stem("databases") == "databas" == analyze("databases")[0]
    assert concept_key("Databases") == concept_key("database") == stem("database")
    assert concept_key("token_counts") == "token_counts"  # identifiers are kept whole


def test_stem_from_many_threads_matches_one_stemmer() -> None:
    words = [
        f"{root}{suffix}"
        for root in ("run", "index", "connect", "gener")
        for suffix in ("", "s", "ing", "ed", "ation", "ations", "ness", "ly", "er", "ers")
    ]
    words += [f"word{i}ing" for i in range(2000)]  # misses: each goes to the stemmer
    expected = Stemmer.Stemmer("english").stemWords(words)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [list(pool.map(stem, words, chunksize=16)) for _ in range(3)]
    assert all(result == expected for result in results)


def test_shell_touches_reads_a_command_line() -> None:
    assert list(shell_touches("cat a.py | tee out.log > /dev/null")) == [
        ("a.py", "read"),
        ("out.log", "created"),
    ]
    assert list(shell_touches("cat 'C:\\w\\a b.txt' 42 /proc/1/status *.py")) == [
        ("C:\\w\\a b.txt", "read")
    ]
