"""The offline distiller: extractive, deterministic, no model and no network.

exchange_core = the prompt's most telling sentences within ASK_WORDS words, then the
reply's within what is left of CORE_WORDS, all copied from the exchange. In each part
sentences are ranked by salience (the specificity of their words: identifiers and rare
terms weigh most, growing ever more slowly with length), the best ones that fit the
budget are kept (the single best one trimmed to fit rather than lost) and put back in
text order. A message's speaker prefix ("Caroline: ...") is kept in front of its first
chosen sentence. Adjustments: the first real sentence of a prompt (and, less, of a
reply) states the topic and counts more; the reply's last message and outcome words
("fixed", "because", "decided") count more; sentences saying when ("yesterday", a
month, a year) count more; pleasantries ("Hey Mel!", "Thanks!"), sentences ending in ":"
(their code block or list was cut away) and step narration ("Let me check...") count
less, narration outside the last message not at all; an opening "Great!" is dropped.
A terse prompt ("yes", "1", "continue") is kept as it is and the reply carries the
topic; with no reply text, the names of the tools used stand in for it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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

# Word budgets: the core is about 50 words whatever the exchange's length, so a short
# exchange keeps nearly everything and a long one is compressed ~10x or more.
CORE_WORDS = 50
ASK_WORDS = 22  # the prompt's share; what it leaves unused goes to the reply
MIN_PART_WORDS = 4  # a budget left smaller than this is not worth a fragment
TERSE_CONTENT_WORDS = 2
PROMPT_FIRST_BONUS = 0.8  # a prompt's first real sentence usually states the request

_OUTCOME = re.compile(
    r"\b(created?|fixed|added|updated|removed|deleted|renamed|moved|committed|installed|"
    r"configured|changed|replaced|implemented|wrote|passe[sd]|fails?|failed|works?|"
    r"because|caused|decided|recommend\w*|should|instead|solution|the (issue|problem|error))\b",
    re.I,
)
# Pleasantries carry no topic: "Hey Mel!", "Thanks, Caroline!", "Sounds awesome!".
_PLEASANTRY = re.compile(
    r"^(hey|hi|hello|yo|wow|oh|aw+|thanks|thank you|sounds (great|awesome|good|amazing|fun)|"
    r"have (fun|a great)|good (luck|morning|night)|how'?s it going|how are you|"
    r"great to (hear|see|chat)|nice to|glad to|no worries|you'?re welcome)\b",
    re.I,
)
# When something happened is what many questions ask: keep sentences that say it.
_WHEN = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|ago|last|next|this (week|month|year|morning|weekend)|"
    r"(mon|tues|wednes|thurs|fri|satur|sun)day|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|(19|20)\d\d)\b",
    re.I,
)
# "Caroline: ..." in multi-party chats: who spoke is part of what is searched for.
_SPEAKER = re.compile(r"^([A-Z][\w.'-]{0,30}(?: [A-Z][\w.'-]{0,30})?): (?=\S)")


@dataclass(slots=True)
class _Candidate:
    score: float
    position: int  # text order
    sentence: str
    speaker: str  # the message's speaker prefix, "" if none


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
    # "yes", "1", "do it": kept as it is; the topic then comes from the reply
    ask = " ".join(prompt.split()) if terse else _select(_prompt_candidates(exchange), ASK_WORDS)
    outcome = _select(_reply_candidates(replies), CORE_WORDS - len(ask.split()))
    if not outcome and (exchange.tool_calls or not ask):
        outcome = _fallback_topic(exchange)  # no reply text: say what the agent did
    return _join([part for part in (ask, outcome) if part])


def _prompt_candidates(exchange: Exchange) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    for message in exchange.messages:
        if message.kind == "prompt":
            candidates += _scored(message.text, len(candidates), first_bonus=PROMPT_FIRST_BONUS)
    return candidates


def _reply_candidates(replies: list[str]) -> list[_Candidate]:
    """The agent's last message sums up, so it counts most; narration of steps least."""
    candidates: list[_Candidate] = []
    for turn, reply in enumerate(replies):
        last = turn == len(replies) - 1
        for candidate in _scored(reply, len(candidates), first_bonus=0.5):
            if META_TALK.match(candidate.sentence) and not last:
                continue
            candidate.score += 0.8 if _OUTCOME.search(candidate.sentence) else 0.0
            candidate.score += 0.7 if last else 0.0
            candidate.score -= 0.6 if META_TALK.match(candidate.sentence) else 0.0
            candidates.append(candidate)
    return candidates


def _scored(text: str, offset: int, first_bonus: float) -> list[_Candidate]:
    text = text.strip()
    match = _SPEAKER.match(text)
    speaker = match.group(1) if match else ""
    if match:
        text = text[match.end() :]
    out = []
    first = True  # the first sentence that is not a pleasantry states the topic
    for i, sentence in enumerate(sentences(text)[:60]):
        stripped = FILLER.sub("", sentence).strip()
        if len(words(stripped)) < 2:
            continue
        score = _salience(stripped)
        if _PLEASANTRY.match(stripped):
            score -= 1.0
        elif first:
            score += first_bonus
            first = False
        if _WHEN.search(stripped):
            score += 0.5
        if stripped.endswith(":"):
            score -= 0.8  # it introduces a code block or list that was cut away
        out.append(_Candidate(score, offset + i, stripped, speaker))
    return out


def _select(candidates: list[_Candidate], budget: int) -> str:
    """The best sentences that fit `budget` words, back in text order; the single best one
    is trimmed to fit rather than lost."""
    if budget < MIN_PART_WORDS or not candidates:
        return ""
    ranked = sorted(candidates, key=lambda c: (-c.score, c.position))
    chosen: list[tuple[_Candidate, str]] = []
    seen: set[str] = set()
    left = budget
    for candidate in ranked:
        if candidate.sentence in seen:
            continue
        seen.add(candidate.sentence)
        length = len(candidate.sentence.split())
        if not chosen and length > left:
            chosen.append((candidate, trim(candidate.sentence, left)))
            break
        if length <= left:
            chosen.append((candidate, candidate.sentence))
            left -= length
        if left < MIN_PART_WORDS:
            break
    chosen.sort(key=lambda item: item[0].position)
    parts: list[str] = []
    speaker = ""
    for candidate, sentence in chosen:
        if candidate.speaker and candidate.speaker != speaker:
            sentence = f"{candidate.speaker}: {sentence}"
            speaker = candidate.speaker
        parts.append(sentence)
    return _join(parts)


def _salience(sentence: str) -> float:
    """How much specific content a sentence carries. It grows with the content but ever
    more slowly, so a long sentence does not win by length alone, and "Thanks, Mel!"
    (one rare word) loses to a sentence that says something."""
    values = [specificity(w) for w in words(sentence)]
    if not values:
        return 0.0
    total = float(sum(values))
    return math.sqrt(total) * 1.5 + total / len(values)


def _fallback_topic(exchange: Exchange) -> str:
    """No reply text to choose from: "Used Bash, Edit." (the first four tool names, in
    order of first use); without tool calls, the exchange's text trimmed to ASK_WORDS."""
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
