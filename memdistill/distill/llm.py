"""The LLM distiller: an OpenAI-compatible model writes exchange_core, specific_context and
the rooms; files_touched stays regex-made.

Per exchange: render it, redact secrets, cut it to size, look the text up in the cache
(model, prompt version, hash of that text), else ask (bounded concurrency, validated and
repaired answers, retries); what still fails is distilled offline, with the reason in the
memory's note. After `breaker` failures in a row the endpoint is taken for down: the rest
of the run goes offline at once (and `memdistill distill --only-fallbacks` redoes them).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from memdistill.distill.base import Distiller, OnEach
from memdistill.distill.context import specific_context
from memdistill.distill.files import extract_files
from memdistill.distill.llm_prompt import PROMPT_VERSION, SCHEMA, Answer, check, messages
from memdistill.distill.llm_settings import LLMSettings, load_settings
from memdistill.distill.offline import OfflineDistiller
from memdistill.errors import LLMError
from memdistill.exchanges import render_verbatim
from memdistill.models import Distilled, Exchange, Message, Room
from memdistill.redact import redact
from memdistill.store.llm_cache import LLMCache
from memdistill.store.store import Store

if TYPE_CHECKING:
    from memdistill.llm import Usage

CUT_MARK = "\n[... {n} characters cut ...]\n"
log = logging.getLogger(__name__)


class TokenAccount:
    """What a distiller spent, summed over its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.memories = self.requests = self.prompt_tokens = self.completion_tokens = 0
        self.cache_hits = self.fallbacks = self.redactions = 0
        self.reasons: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def fell_back(self, reason: str) -> None:
        with self._lock:
            self.fallbacks += 1
            self.reasons[_kind(reason)] += 1


class LLMDistiller(Distiller):
    batch_size = 32  # a commit every 32 memories: a killed run loses little paid work

    def __init__(
        self, settings: LLMSettings, cache: LLMCache | None = None, chat_model: Any = None
    ) -> None:
        """Asks `settings`' endpoint, or `chat_model` (a LangChain chat model) if given."""
        self.chat_model = chat_model
        if chat_model is not None:
            from memdistill.llm_langchain import describe, model_name

            settings = replace(settings, model=settings.model or model_name(chat_model))
            self.where = describe(chat_model)
        else:
            self.where = settings.base_url
        self.settings = settings.checked(endpoint=chat_model is None)
        self.endpoint = settings.endpoint()
        self.version = PROMPT_VERSION
        self.name = f"llm-{self.version}:{settings.model}"
        self.cache = cache
        self.offline = OfflineDistiller()
        self.spent = TokenAccount()
        self._failures_in_row = 0
        self._down: str | None = None  # why the endpoint is taken for down, once it is
        self._lock = threading.Lock()

    @classmethod
    def create(cls, store: Store | None = None, **options: Any) -> LLMDistiller:
        """Settings from the store's config.toml, the environment and `options`; answers
        cached in the store."""
        chat_model = options.pop("chat_model", None)
        settings = load_settings(store.folder if store else None, **options)
        return cls(settings, LLMCache(store) if store else None, chat_model)

    def distill(self, exchange: Exchange) -> Distilled:
        return self.distill_many([exchange])[0]

    def begin_run(self) -> None:
        """A new run asks the endpoint again, whatever the last one concluded."""
        with self._lock:
            self._down, self._failures_in_row = None, 0

    def distill_many(
        self, exchanges: Sequence[Exchange], on_each: OnEach | None = None
    ) -> list[Distilled]:
        def one(exchange: Exchange) -> Distilled:
            memory = self._distill_one(exchange)
            if on_each:
                on_each(memory)
            return memory

        if self.settings.concurrency == 1 or len(exchanges) == 1:
            return [one(e) for e in exchanges]
        with ThreadPoolExecutor(self.settings.concurrency, "memdistill-llm") as pool:
            return list(pool.map(one, exchanges))

    def account(self) -> dict[str, Any]:
        spent = self.spent
        return {
            "distiller": self.name,
            "base_url": self.where,
            "memories": spent.memories,
            "requests": spent.requests,
            "prompt_tokens": spent.prompt_tokens,
            "completion_tokens": spent.completion_tokens,
            "cache_hits": spent.cache_hits,
            "fallbacks": spent.fallbacks,
            "fallback_reasons": dict(spent.reasons),
            "redactions": spent.redactions,
            "cost_usd": self.settings.cost(spent.prompt_tokens, spent.completion_tokens),
            "price_in": self.settings.price_in,
            "price_out": self.settings.price_out,
        }

    # one exchange ----------------------------------------------------------------------

    def _distill_one(self, exchange: Exchange) -> Distilled:
        files = extract_files(exchange)
        text, key, redactions = asked_text(
            exchange.project, exchange.messages, self.settings.max_input_chars
        )
        self.spent.add(memories=1, redactions=redactions)
        if self.cache is not None:
            cached = self.cache.get(self.settings.model, self.version, key)
            if cached is not None:
                self.spent.add(cache_hits=1)
                answer_json = _answer_from_json(cached[0])
                return self._memory(exchange, files, answer_json, (0, 0), key)
        if self._down is not None:
            return self._fallback(exchange, self._down)
        answer: list[Answer] = []

        def checked(data: dict[str, Any]) -> dict[str, Any]:
            answer[:] = [check(data, text, files, exchange.project)]
            return data

        try:
            usage = self._ask(messages(text, self.version), checked)
        except LLMError as exc:
            spent = exc.usage
            if spent is not None:
                self.spent.add(
                    requests=getattr(spent, "requests", 0),
                    prompt_tokens=getattr(spent, "prompt_tokens", 0),
                    completion_tokens=getattr(spent, "completion_tokens", 0),
                )
            if exc.kind == "config":
                raise  # a bad key, model or URL: every exchange would fail; stop and say so
            return self._failed(exchange, str(exc), counts=exc.kind == "transport")
        self.spent.add(
            requests=usage.requests,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        with self._lock:
            self._failures_in_row = 0
        tokens = (usage.prompt_tokens, usage.completion_tokens)
        if self.cache is not None:
            try:
                self.cache.put(
                    self.settings.model, self.version, key, _answer_to_json(answer[0]), *tokens
                )
            except sqlite3.Error as exc:  # the memory still gets written; only reuse is lost
                log.warning("LLM answer not cached: %s", exc)
        return self._memory(exchange, files, answer[0], tokens, key)

    def _ask(self, asked: list[dict[str, str]], checked: Callable[..., dict[str, Any]]) -> Usage:
        if self.chat_model is not None:
            from memdistill.llm_langchain import complete_json_langchain

            _, usage = complete_json_langchain(
                self.chat_model,
                asked,
                SCHEMA,
                check=checked,
                max_retries=self.settings.max_retries,
            )
            return usage
        from memdistill.llm import complete_json

        _, usage = complete_json(
            self.endpoint,
            asked,
            SCHEMA,
            name="memory",
            max_tokens=self.settings.max_tokens,
            check=checked,
        )
        return usage

    def _memory(
        self,
        exchange: Exchange,
        files: list[Any],
        answer: Answer,
        tokens: tuple[int, int],
        cache_key: str,
    ) -> Distilled:
        context = answer.specific_context
        notes = list(answer.repairs)
        if not context:  # none given, or not copied from the exchange: the offline detail
            context = specific_context(exchange, answer.exchange_core, (f.path for f in files))
            notes.append("specific_context from the offline extractor")
        return Distilled(
            exchange_core=answer.exchange_core,
            specific_context=context,
            room_assignments=answer.rooms,
            files_touched=files,
            distiller=self.name,
            note="; ".join(notes),
            llm_tokens=tokens,
            cache_key=cache_key,
        )

    def _failed(self, exchange: Exchange, reason: str, *, counts: bool) -> Distilled:
        """A fallback; `counts`: the endpoint did not answer at all, which the breaker
        counts (bad answers from a working model do not take it for down)."""
        with self._lock:
            if not counts:
                return self._fallback(exchange, reason)
            self._failures_in_row += 1
            if self._failures_in_row >= self.settings.breaker and self._down is None:
                self._down = (
                    f"{self.where} failed {self._failures_in_row} times in a "
                    f"row; not asked again this run (last: {reason})"
                )
        return self._fallback(exchange, reason)

    def _fallback(self, exchange: Exchange, reason: str) -> Distilled:
        self.spent.fell_back(reason)
        memory = self.offline.distill(exchange)
        memory.note = f"LLM fallback: {reason}"[:1000]
        return memory


def _kind(reason: str) -> str:
    """What went wrong, without the details, to count alike failures together."""
    if "not asked again this run" in reason:
        return "endpoint taken for down after failures in a row"
    _, found, cause = reason.partition(" attempts: ")
    text = cause if found else reason
    for cut in (": '", ': "', " ("):  # the answer or details quoted after it
        text = text.split(cut)[0]
    return text[:160]


def asked_text(
    project: str | None, messages: list[Message], max_input_chars: int
) -> tuple[str, str, int]:
    """What the model is asked about an exchange, the llm_cache key of it, and how many
    secrets were redacted: the verbatim text, secrets redacted, cut to `max_input_chars`.
    `memdistill forget` recomputes the key to drop the cached answer, so both use this."""
    text, fired = redact(render_verbatim(messages))
    text = cut_middle(text, max_input_chars)
    # The project too: file rooms are keyed by project-relative paths.
    key = hashlib.sha256(f"{project}\0{text}".encode()).hexdigest()
    return text, key, len(fired)


def cut_middle(text: str, limit: int) -> str:
    """Keep the start (the request) and the end (the outcome) of a long exchange."""
    if len(text) <= limit:
        return text
    head = int(limit * 0.6)
    tail = limit - head
    return text[:head] + CUT_MARK.format(n=len(text) - limit) + text[-tail:]


def _answer_to_json(answer: Answer) -> dict[str, Any]:
    return {
        "exchange_core": answer.exchange_core,
        "specific_context": answer.specific_context,
        "rooms": [[r.type, r.key, r.label, r.relevance] for r in answer.rooms],
        "repairs": answer.repairs,
    }


def _answer_from_json(data: dict[str, Any]) -> Answer:
    return Answer(
        exchange_core=data["exchange_core"],
        specific_context=data["specific_context"],
        rooms=[Room(*room) for room in data["rooms"]],
        repairs=list(data.get("repairs", [])),
    )
