"""Text tools for extractive distillation: clean markdown, split sentences, weigh words.

A word's specificity comes from the o200k_base vocabulary: byte-pair merges are learnt in
order of frequency, so a whole word with a low merge rank (" the", " file") is common and
one that is not a single token at all ("django_session") is rare. That gives every word a
corpus-free weight, offline and deterministic.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from memdistill import tokens

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]{1,200})`")
_MD_DECOR = re.compile(r"(\*\*|__|~~|^#{1,6}\s+|^\s*>\s?|^\s*[-*+•]\s+|^\s*\d{1,3}[.)]\s+)", re.M)
_URL = re.compile(r"https?://\S+")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[`A-Z0-9])|\n+")
WORD = re.compile(r"[A-Za-z][\w.\-/]*[A-Za-z0-9_]|[A-Za-z]")
_IDENTIFIER = re.compile(r"[a-z0-9]_[a-z0-9]|[a-z][A-Z]|\w\.\w|/|\d")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just let lets me more most my myself no nor not now of off
    on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves ok okay yes yeah please thanks thank
    hi hello hey sure also still well really s t d ll m re ve dont didnt doesnt isnt
    wasnt cant wont im ive youre thats theres whats can't don't i'm it's that's there's
    what's i've you're let's we're won't
    """.split()  # noqa: SIM905 - a word list reads best as text
)

# Words that say nothing about the topic however rare their spelling.
GENERIC = frozenset(
    """
    want need like make made get got use used using try tried see look looks looking
    know think thing things way something anything everything work works working go
    going come run running ran do done doing help give show tell said say says new good
    great perfect now also just here there able sure right left back first next last one
    two three many much lot bit kind sort maybe actually probably currently following
    follow file files code user assistant
    """.split()  # noqa: SIM905 - a word list reads best as text
)

FILLER = re.compile(
    r"^(great|perfect|done|sure|certainly|absolutely|of course|okay|ok|alright|excellent|"
    r"good|nice|yes|no problem|got it|understood|you'?re (absolutely )?right|thanks?)"
    r"\b[!.,:]+\s*",  # only when punctuation follows: "Great!" goes, "Good to see you" stays
    re.I,
)
META_TALK = re.compile(
    r"^(let me|i'?ll|i will|i'?m going to|now i|first,? i|next,? i|here'?s|here is|"
    r"below is|i can|i need to|i should)\b",
    re.I,
)


def clean(text: str) -> str:
    """Prose without code fences, URLs and markdown decoration; inline code kept bare."""
    text = _FENCE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _MD_DECOR.sub("", text)
    return text


def sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE_END.split(clean(text)):
        part = _SPACES.sub(" ", part).strip(" -:;,")
        if len(part) >= 2:
            out.append(part)
    return out


def words(text: str) -> list[str]:
    return WORD.findall(text)


def is_identifier(word: str) -> bool:
    """snake_case, camelCase, dotted or slashed names, names with digits."""
    return bool(_IDENTIFIER.search(word))


@lru_cache(maxsize=65536)
def specificity(word: str) -> float:
    """0 for stopwords and generic words, up to 1 for rare words and identifiers."""
    lower = word.lower()
    if lower in STOPWORDS or lower in GENERIC or len(lower) < 2:
        return 0.0
    if is_identifier(word):
        return 1.0
    rank = _merge_rank(" " + lower)
    if rank is None:
        return 1.0
    # " the" ranks ~300, the vocabulary ends at ~200,000: map log-rank onto 0.05..1.
    low, high = math.log(300), math.log(200_000)
    return min(1.0, max(0.05, (math.log(rank + 1) - low) / (high - low)))


def _merge_rank(token: str) -> int | None:
    try:
        return int(tokens.encoding().encode_single_token(token.encode()))
    except KeyError:
        return None


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if specificity(w) > 0]


def trim(sentence: str, max_words: int) -> str:
    """Cut a sentence to at most `max_words`, at a clause boundary when there is one."""
    parts = sentence.split()
    if len(parts) <= max_words:
        return sentence.rstrip()
    head = " ".join(parts[:max_words])
    cut = max(head.rfind(", "), head.rfind("; "), head.rfind(" - "), head.rfind(": "))
    if cut >= len(head) * 0.6:
        head = head[:cut]
    return head.rstrip(" ,;:-") + "…"


def one_line(text: str, max_chars: int) -> str:
    text = _SPACES.sub(" ", text.replace("\n", " ")).strip()
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars].rstrip() + "…"
