"""The offline distiller: extractive, deterministic, no model and no network.

exchange_core = the sentence of the prompt that carries the request + the sentence of the
reply that carries the outcome, both copied from the exchange and trimmed. Sentences are
chosen by the specificity of their words (identifiers and rare terms weigh most), with a
pull towards outcome verbs in the reply and towards the agent's final message, and
filler ("Great!", "Let me check...") pushed out. A terse prompt ("yes", "1", "continue")
is kept as it is and the topic comes from the reply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from memdistill.distill.base import Distiller
from memdistill.distill.context import specific_context
from memdistill.distill.files import extract_files
from memdistill.distill.rooms import assign_rooms
from memdistill.distill.text import (
    FILLER,
    META_TALK,
    content_words,
    sentences,
    specificity,
    trim,
    words,
)
from memdistill.models import Distilled, Exchange

ASK_WORDS = 22
OUTCOME_WORDS = 26
TERSE_CONTENT_WORDS = 2

_OUTCOME = re.compile(
    r"\b(created?|fixed|added|updated|removed|deleted|renamed|moved|committed|installed|"
    r"configured|changed|replaced|implemented|wrote|passe[sd]|fails?|failed|works?|"
    r"because|caused|decided|recommend\w*|should|instead|solution|the (issue|problem|error))\b",
    re.I,
)


class OfflineDistiller(Distiller):
    name = "offline-v1"

    def distill(self, exchange: Exchange) -> Distilled:
        files = extract_files(exchange)
        core = exchange_core(exchange)
        return Distilled(
            exchange_core=core,
            specific_context=specific_context(exchange, core, (f.path for f in files)),
            room_assignments=assign_rooms(exchange, files),
            files_touched=files,
            distiller=self.name,
        )


def exchange_core(exchange: Exchange) -> str:
    prompt = exchange.prompt.strip()
    replies = [m.text for m in exchange.messages if m.kind == "text" and m.text.strip()]
    terse = len(content_words(prompt)) <= TERSE_CONTENT_WORDS and len(prompt) <= 40
    if terse:
        ask = " ".join(prompt.split())
        outcome = _best_reply_sentences(replies, count=2 if not prompt else 1)
        if not outcome:
            outcome = _fallback_topic(exchange)
    else:
        ask = _best_sentence(sentences(prompt), ASK_WORDS, first_bonus=0.6)
        outcome = _best_reply_sentences(replies, count=1)
    parts = [p for p in (ask, outcome) if p]
    return _join(parts) if parts else _fallback_topic(exchange)


def _best_sentence(candidates: Sequence[str], max_words: int, first_bonus: float = 0.0) -> str:
    if not candidates:
        return ""
    scored = [
        (_salience(s) + (first_bonus if i == 0 else 0.0), -i, s)
        for i, s in enumerate(candidates[:40])
    ]
    return trim(max(scored)[2], max_words)


def _best_reply_sentences(replies: list[str], count: int) -> str:
    """The reply's most telling sentence(s); the agent's last message sums up, so it leads."""
    scored: list[tuple[float, int, str]] = []
    position = 0
    for turn, reply in enumerate(replies):
        last = turn == len(replies) - 1
        for i, sentence in enumerate(sentences(reply)[:60]):
            position += 1
            if META_TALK.match(sentence) and not last:
                continue
            stripped = FILLER.sub("", sentence).strip()
            if len(words(stripped)) < 3:
                continue
            score = _salience(stripped)
            score += 0.8 if _OUTCOME.search(stripped) else 0.0
            score += 0.7 if last else 0.0
            score += 0.5 if i == 0 else 0.0
            score -= 0.6 if META_TALK.match(stripped) else 0.0
            scored.append((score, -position, stripped))
    best = sorted(scored, reverse=True)[:count]
    best.sort(key=lambda item: -item[1])  # back into text order
    return _join([trim(s, OUTCOME_WORDS) for _, _, s in best])


def _salience(sentence: str) -> float:
    """Specific words per sentence, saturating so long sentences do not win by length."""
    values = [specificity(w) for w in words(sentence)]
    if not values:
        return 0.0
    total = float(sum(values))
    return total / math.sqrt(len(values)) + min(total, 6.0) * 0.15


def _fallback_topic(exchange: Exchange) -> str:
    """No prose to choose from: name the tools used and the files they touched."""
    calls = exchange.tool_calls
    if calls:
        names = list(dict.fromkeys(c.name for c in calls))
        return "Used " + ", ".join(names[:4]) + "."
    text = " ".join(m.text for m in exchange.messages if m.text.strip())
    return trim(" ".join(text.split()), ASK_WORDS)


def _join(parts: list[str]) -> str:
    out = []
    for part in parts:
        part = part.strip()
        if part and part[-1] not in ".!?…":
            part += "."
        out.append(part)
    return " ".join(out)
