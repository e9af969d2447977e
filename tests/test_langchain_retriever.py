"""The LangChain retriever (issue 6) over a real store: SQLite, FAISS and the bundled ONNX
embedder, the corpus written by the test; the chain's model is the real local llama.cpp
server (tests/llm_server.py) behind a proxy that records what it was asked."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from corpus import write_generic
from fault_proxy import FaultProxy
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from pydantic import ValidationError

from memdistill.api import Memory
from memdistill.errors import ConfigError, DependencyError, QueryError
from memdistill.retrieve.langchain import MemdistillRetriever

METADATA = {
    *("exchange_id", "score", "ranks", "project", "conversation_id", "started_at", "rooms"),
    *("files", "supersedes", "merged", "source_message_ids", "distiller"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: every test here only reads (usage counters aside)."""
    folder = tmp_path_factory.mktemp("langchain")
    with Memory.open(folder / "store") as memory:
        memory.ingest([write_generic(folder / "c.jsonl")])
    return folder / "store"


@pytest.fixture
def memory(store: Path) -> Iterator[Memory]:
    with Memory.open(store) as memory:
        yield memory


def ids(documents: list[Document]) -> list[int]:
    return [d.metadata["exchange_id"] for d in documents]


def test_documents_hold_the_distilled_text_and_the_hit_as_metadata(memory: Memory) -> None:
    hits = memory.search("why do writes fail, database is locked", k=3)
    documents = MemdistillRetriever(memory=memory, k=3).invoke(
        "why do writes fail, database is locked"
    )
    assert ids(documents) == [hit.exchange_id for hit in hits]
    top, hit = documents[0], hits[0]
    assert top.page_content == hit.memory.text and "database is locked" in top.page_content
    assert top.id == str(hit.exchange_id) and set(top.metadata) == METADATA
    meta = top.metadata
    assert meta["score"] == pytest.approx(hit.score) and meta["ranks"] == hit.ranks
    assert (meta["project"], meta["conversation_id"]) == ("tidewater", "c1")
    assert datetime.fromisoformat(meta["started_at"]) == hit.started_at
    assert meta["rooms"] == [room.key for room in hit.rooms] and meta["rooms"]
    assert "src/tidewater/db.py" in meta["files"]
    assert meta["source_message_ids"] == ["m2-u", "m2-a"]
    assert meta["distiller"] == hit.memory.distiller and meta["supersedes"] == []
    memory.usage.flush()  # the retriever's search counted as served, like any search
    freq = sqlite3.connect(memory.store.path).execute(
        "SELECT freq FROM usage WHERE exchange_id = ?", [hit.exchange_id]
    )
    assert freq.fetchone()[0] == 2


def test_filters_k_and_verbatim_pass_through(memory: Memory) -> None:
    garden = MemdistillRetriever(memory=memory, project="garden").invoke("how often to water")
    assert garden and {d.metadata["project"] for d in garden} == {"garden"}
    one = MemdistillRetriever(memory=memory, conversation="c2", k=1).invoke("Dockerfile")
    assert len(one) == 1 and one[0].metadata["conversation_id"] == "c2"
    assert len(MemdistillRetriever(memory=memory, k=4).invoke("tidewater")) == 4
    late = MemdistillRetriever(memory=memory, since=datetime(2026, 3, 10)).invoke("client")
    assert [d.metadata["conversation_id"] for d in late] == ["c4"]

    plain, verbatim = (
        MemdistillRetriever(memory=memory, k=2, include_verbatim=flag).invoke("NOAA CSV crash")
        for flag in (False, True)
    )
    assert "verbatim" not in plain[0].metadata
    assert [d.page_content for d in verbatim] == [d.page_content for d in plain]
    text = verbatim[0].metadata["verbatim"]
    assert text == memory.verbatim(verbatim[0].metadata["exchange_id"])
    assert "can't decode byte 0xe9" in text  # the tool output: in the verbatim text only


def test_a_store_path_and_tenant_open_their_own_memory(store: Path) -> None:
    with MemdistillRetriever(store=store, k=2) as retriever:
        assert len(retriever.invoke("basil")) == 2
    with MemdistillRetriever(store=store, tenant="bob") as retriever:
        assert retriever.invoke("basil") == []  # another tenant's memories are not his


def test_mistakes_fail_when_the_retriever_is_built(memory: Memory, store: Path) -> None:
    with pytest.raises(QueryError, match="unknown search mode"):
        MemdistillRetriever(memory=memory, mode="verbatim-bm26")
    with pytest.raises(QueryError, match="unknown fusion"):
        MemdistillRetriever(memory=memory, fusion="borda")
    with pytest.raises(ValidationError, match="projet"):
        MemdistillRetriever(memory=memory, projet="garden")
    with pytest.raises(ValidationError):
        MemdistillRetriever(memory=memory, k=0)
    with pytest.raises(ConfigError, match="not both"):
        MemdistillRetriever(memory=memory, store=store)


def test_batch_and_async_give_what_invoke_gives(memory: Memory) -> None:
    retriever = MemdistillRetriever(memory=memory, k=2)
    queries = ["database is locked", "when to plant tomatoes", "GitHub Actions timeout"]
    expected = [ids(retriever.invoke(q)) for q in queries]
    assert [ids(docs) for docs in retriever.batch(queries)] == expected  # threads

    async def both() -> list[list[Document]]:
        one = await retriever.ainvoke(queries[0])
        return [one, *await retriever.abatch(queries[1:])]

    assert [ids(docs) for docs in asyncio.run(both())] == expected


def test_feedback_through_the_retriever_reaches_the_store(memory: Memory) -> None:
    retriever = MemdistillRetriever(memory=memory, k=1)
    (document,) = retriever.invoke("httpx AsyncClient")
    assert retriever.feedback([document], useful=True) == 1
    assert memory.history(document.metadata["exchange_id"])[-1].action == "feedback"


def format_docs(documents: list[Document]) -> str:
    return "\n".join(f"- {d.page_content} (files: {', '.join(d.metadata['files'])})"
                     for d in documents)  # fmt: skip


def test_a_real_chain_answers_from_the_retrieved_memories(
    memory: Memory, fault_proxy: Callable[..., FaultProxy]
) -> None:
    """retriever | format_docs feeds a prompt, a real chat model (SmolLM2-135M on llama.cpp,
    through langchain-openai) answers. The tiny model's answer is not judged: the test
    checks that the retrieved memories reached the model and a string came back."""
    from langchain_openai import ChatOpenAI

    proxy = fault_proxy(record=True)
    model = ChatOpenAI(model="smollm2-135m", base_url=proxy.base_url, api_key="not-needed",
                       temperature=0, max_tokens=24, max_retries=0)  # fmt: skip
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from these memories:\n{context}"), ("human", "{question}")]
    )
    seen: list[str] = []

    def capture(value: PromptValue) -> PromptValue:
        seen.append(value.to_string())
        return value

    retriever = MemdistillRetriever(memory=memory, k=2, project="tidewater")
    chain = (
        {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(capture)
        | model
        | StrOutputParser()
    )
    answer = chain.invoke("Why do writes fail under load?")
    assert isinstance(answer, str) and answer.strip()
    assert "busy_timeout" in seen[0] and "src/tidewater/db.py" in seen[0]
    (request,) = proxy.requests  # what the server was sent: the memories, not the verbatim
    system, question = (message["content"] for message in request["messages"])
    context = format_docs(retriever.invoke("Why do writes fail under load?"))
    assert system == f"Answer from these memories:\n{context}"
    assert question == "Why do writes fail under load?"


def test_the_library_does_not_import_langchain() -> None:
    code = ("import sys, memdistill, memdistill.api, memdistill.retrieve; memdistill.Memory; "
            "print(sorted(m for m in sys.modules if m.startswith('langchain')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_langchain_core_the_import_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "langchain_core"]:
        monkeypatch.setitem(sys.modules, name, None)  # None: "not installed" to importlib
    monkeypatch.delitem(sys.modules, "memdistill.retrieve.langchain")
    with pytest.raises(DependencyError, match=r"pip install 'memdistill\[langchain\]'"):
        import memdistill.retrieve.langchain  # noqa: F401
