"""The text analyzer shared by BM25 indexing and BM25 queries.

`analyze(text)` lowercases, cuts word tokens (unicode word characters), splits code
identifiers into their parts while keeping the whole (`getUserName` -> getusername, get,
user, name; `hello_world` -> hello_world, hello, world; `app.py` -> app, py; hex runs such
as hashes stay whole), drops English stopwords, tokens longer than 64 characters and digit
runs longer than 8 (ids), and stems with Snowball English. Any string is a valid input:
query syntax, punctuation, emoji or 100 KB of text just yield tokens, possibly none.

Each distinct raw token is analyzed once and cached (vocabularies are Zipfian), so the work
per token of a large corpus is a dictionary lookup done in C.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from itertools import chain

import Stemmer

# Bump when the output changes: indexes record it and must be rebuilt when it differs.
ANALYZER_VERSION = 1

MAX_TOKEN_CHARS = 64
MAX_DIGITS = 8
# Distinct entries each cache holds before it restarts. Coding logs bring a long tail of
# one-off identifiers and hashes: at 500,000 the three caches (raw tokens, stems, term
# ids) held ~200 MB of an ingest's peak; at 100,000 ~40 MB, and the frequent terms that
# give the cache its value come back within a batch.
CACHE_LIMIT = 100_000

# NLTK's English list without the apostrophe forms (our tokens never hold an apostrophe)
# and without "re", which in coding logs is mostly Python's regex module.
_STOPWORDS = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now d ll m o ve y ain aren couldn didn doesn hadn hasn haven isn ma
    mightn mustn needn shan shouldn wasn weren won wouldn
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORDS.split())

_WORD = re.compile(r"\w+")
# Parts of an ASCII identifier piece: HTTPServer2 -> HTTP, Server, 2; getUserName -> get, User, Name
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Hex mixing digits and letters (hashes, uuid chunks) is kept whole: its parts are noise.
_HEXLIKE = re.compile(r"(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{4,}")

_stemmer = Stemmer.Stemmer("english")
_stem_lock = threading.Lock()  # a PyStemmer object is not safe to share between threads
_stems: dict[str, str] = {}
# Raw token (case kept) -> its analyzed terms. Replaced, never cleared, when full, so a
# reader holding the old dict is never surprised by a missing key.
_cache: dict[str, tuple[str, ...]] = {}


def _keep(term: str) -> bool:
    return term not in STOPWORDS and not (len(term) > MAX_DIGITS and term.isdigit())


def _terms_of(token: str) -> list[str]:
    """The unstemmed terms of one raw token, stopwords and long digit runs dropped."""
    if len(token) > MAX_TOKEN_CHARS:
        return []
    whole = token.lower()
    pieces = [p for p in token.split("_") if p] if "_" in token else [token]
    parts: list[str] = []
    for piece in pieces:
        if piece.isascii() and not _HEXLIKE.fullmatch(piece):
            parts.extend(p.lower() for p in _CAMEL.findall(piece))
        else:
            parts.append(piece.lower())
    if not parts:  # only underscores
        return []
    terms = [whole] if parts == [whole] else [whole, *parts]
    return [t for t in terms if _keep(t)]


def _fill(cache: dict[str, tuple[str, ...]], tokens: Iterable[str]) -> None:
    """Analyze the tokens missing from the cache and store them."""
    missing = [t for t in set(tokens) if t not in cache]
    if not missing:
        return
    unstemmed = {t: _terms_of(t) for t in missing}
    new = {w for terms in unstemmed.values() for w in terms if w not in _stems}
    if new:
        words = sorted(new)
        with _stem_lock:
            stems = _stemmer.stemWords(words)
        if len(_stems) > CACHE_LIMIT:
            _stems.clear()
        _stems.update(zip(words, stems, strict=True))
    stems_now = _stems
    for token, terms in unstemmed.items():
        # stem() is reached only when another thread restarted the cache since the update
        cache[token] = tuple(stems_now.get(w) or stem(w) for w in terms)


def stem(word: str) -> str:
    """The Snowball English stem of one word, as BM25 stems it: cached, and safe to call
    from any thread (the one stemmer object is used under its lock)."""
    cached = _stems.get(word)
    if cached is not None:
        return cached
    with _stem_lock:
        result: str = _stemmer.stemWord(word)
    if len(_stems) > CACHE_LIMIT:
        _stems.clear()
    _stems[word] = result
    return result


def _tokens(text: str) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    global _cache
    if len(_cache) > CACHE_LIMIT:
        _cache = {}
    cache = _cache
    tokens = _WORD.findall(text)
    _fill(cache, tokens)
    return tokens, cache


def analyze(text: str) -> list[str]:
    """The analyzed terms of `text`, in order (an identifier's whole first, then its parts)."""
    tokens, cache = _tokens(text)
    return list(chain.from_iterable(map(cache.__getitem__, tokens)))


def analyze_counts(text: str) -> Counter[str]:
    """Term -> count for `text`: the multiset of `analyze(text)` (what BM25 indexes)."""
    return Counter(analyze(text))


def analyze_many(texts: Iterable[str]) -> list[list[str]]:
    """`analyze` over many texts (the shared cache is what makes bulk analysis fast)."""
    return [analyze(t) for t in texts]
