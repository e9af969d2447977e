"""The MCP server (issue 6), through the SDK's own client over stdio: `memdistill mcp`
runs as a subprocess against a real store (SQLite, FAISS, the bundled ONNX model)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from corpus import EXCHANGES, write_generic
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from memdistill.api import Memory

pytestmark = pytest.mark.anyio

TOOLS = {
    "search_memory",
    "get_exchange",
    "list_rooms",
    "get_room",
    "give_feedback",
    "ingest_session",
}
# Tenant bob's one exchange: nothing like it is in the default tenant's corpus.
BOB = [("b1", "aquarium", 4, "What pH do neon tetras need?", "Keep neon tetras at pH 6.0 to "
        "7.0 in soft water; the tank sits at 6.8 now.", None, None)]  # fmt: skip


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mcp")
    with Memory.open(folder / "store") as memory:
        memory.ingest([write_generic(folder / "corpus.jsonl", EXCHANGES[:-1])])
    with Memory.open(folder / "store", tenant="bob") as memory:
        memory.ingest([write_generic(folder / "bob.jsonl", BOB)])
    return folder / "store"


@pytest.fixture(scope="module")
def errlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextIO]:
    """The servers' stderr: a real file, since pytest's capture has no descriptor."""
    with open(tmp_path_factory.mktemp("log") / "stderr.txt", "w+") as log:
        yield log
        log.seek(0)
        sys.stderr.write(log.read())  # shown when a test fails


def server(store: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "memdistill.cli", "mcp", "--store", str(store), *extra],
        env={"HF_HUB_OFFLINE": "1", "MEMDISTILL_HOME": str(store.parent / "home")},
    )


@pytest.fixture(scope="module")
async def session(store: Path, errlog: TextIO) -> AsyncIterator[ClientSession]:
    """One server for the module: it starts in about a second."""
    async with (
        stdio_client(server(store), errlog=errlog) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    data = json.loads(text(result))
    assert data == result.structured_content  # the text and the structured content agree
    return data  # type: ignore[no-any-return]


async def error(client: ClientSession, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return text(result)


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert block.type == "text"
    return block.text


def usage(store: Path) -> dict[int, tuple[int, int]]:
    db = sqlite3.connect(store / "memdistill.db")
    try:
        rows = db.execute("SELECT exchange_id, freq, utility FROM usage").fetchall()
    finally:
        db.close()
    return {row[0]: (row[1], row[2]) for row in rows}


async def test_the_tools_are_listed_with_descriptions(session: ClientSession) -> None:
    listed = (await session.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    for tool in listed:
        assert tool.description and len(tool.description) > 100, tool.name
        for name, field in tool.input_schema["properties"].items():
            assert field.get("description"), f"{tool.name}.{name}"
    search = next(tool for tool in listed if tool.name == "search_memory")
    assert "get_exchange" in (search.description or "")  # the ids lead on


async def test_search_returns_distilled_memories_only(session: ClientSession) -> None:
    data = await call(session, "search_memory", query="why do writes fail, database locked", k=3)
    first = data["results"][0]
    assert "database is locked" in first["exchange_core"]
    assert first["project"] == "tidewater" and first["date"].startswith("2026-03-03")
    assert "file:src/tidewater/db.py" in first["rooms"]
    assert {"id", "score", "exchange_core"} <= set(first)
    assert not {"text", "messages", "verbatim"} & set(first)  # verbatim only on request
    assert len(data["results"]) == 3

    garden = await call(session, "search_memory", query="water", project="garden")
    assert garden["results"] and {r["project"] for r in garden["results"]} == {"garden"}
    later = await call(session, "search_memory", query="tidewater", since="2026-03-06")
    assert all(r["date"] >= "2026-03-06" for r in later["results"])


async def test_get_exchange_gives_the_verbatim_text_in_pages(session: ClientSession) -> None:
    (hit,) = (await call(session, "search_memory", query="NOAA CSV crash", k=1))["results"]
    whole = await call(session, "get_exchange", exchange_id=hit["id"])
    # The tool's output is in the verbatim text, not in the distilled memory.
    assert "codec can't decode byte 0xe9" in whole["text"]
    assert "next_offset" not in whole and whole["total_chars"] == len(whole["text"])

    first = await call(session, "get_exchange", exchange_id=hit["id"], max_chars=200)
    assert first["next_offset"] == 200 and "offset=200" in first["note"]
    rest = await call(session, "get_exchange", exchange_id=hit["id"], offset=200, max_chars=50_000)
    assert first["text"] + rest["text"] == whole["text"]


async def test_rooms_can_be_walked(session: ClientSession) -> None:
    rooms = (await call(session, "list_rooms"))["rooms"]
    assert rooms and all(room["exchanges"] >= 1 for room in rooms)
    counts = [room["exchanges"] for room in rooms]
    assert counts == sorted(counts, reverse=True)
    garden = (await call(session, "list_rooms", project="garden"))["rooms"]
    assert garden and {room["project"] for room in garden} == {"garden"}

    busiest = rooms[0]
    room = await call(session, "get_room", key=busiest["key"], project=busiest["project"])
    assert room["total"] == busiest["exchanges"] == len(room["exchanges"])
    dates = [memory["date"] for memory in room["exchanges"]]
    assert dates == sorted(dates, reverse=True)  # newest first
    page = await call(session, "get_room", key=busiest["key"], project=busiest["project"], limit=1)
    assert len(page["exchanges"]) == 1 and page["next_offset"] == 1

    message = await error(session, "get_room", key="concept:no-such-room")
    assert "no room 'concept:no-such-room'" in message and "list_rooms" in message


async def test_feedback_updates_usage_in_sqlite(session: ClientSession, store: Path) -> None:
    found = await call(session, "search_memory", query="Dockerfile uvicorn port", k=2)
    ids = [r["id"] for r in found["results"]]
    before = usage(store)
    answer = await call(session, "give_feedback", exchange_ids=ids, useful=True)
    assert answer == {"recorded": 2, "useful": True}
    after = usage(store)
    for i in ids:
        # Searches through MCP count as served (feedback writes the buffered counts first).
        assert after[i][0] > before[i][0] and after[i][1] == before[i][1] + 1


async def test_ingest_session_adds_exchanges(session: ClientSession, tmp_path: Path) -> None:
    log = write_generic(tmp_path / "new.jsonl", EXCHANGES[-1:])
    report = await call(session, "ingest_session", path=str(log))
    assert report["exchanges_added"] == 1 and report["problems"] == []
    found = await call(session, "search_memory", query="switch requests to httpx", k=1)
    assert "httpx" in found["results"][0]["exchange_core"]
    again = await call(session, "ingest_session", path=str(log))
    assert again["exchanges_added"] == 0 and again["files_unchanged"] == 1

    message = await error(session, "ingest_session", path=str(tmp_path / "missing.jsonl"))
    assert "no such file" in message
    message = await error(session, "ingest_session", path=str(log), format="nonsense")
    assert "nonsense" in message


async def test_errors_are_tool_errors_and_the_server_keeps_serving(
    session: ClientSession,
) -> None:
    message = await error(session, "get_exchange", exchange_id=987654)
    assert "no exchange 987654" in message and "search_memory" in message
    assert "no memory 987654" in await error(
        session, "give_feedback", exchange_ids=[987654], useful=False
    )
    assert "ISO" in await error(session, "search_memory", query="x", since="last week")
    assert "unknown" in (await error(session, "search_memory", query="x", mode="bogus")).lower()
    assert "20" in await error(session, "search_memory", query="x", k=500)
    still = await call(session, "search_memory", query="tomatoes frost", k=1)
    assert "tomatoes" in still["results"][0]["exchange_core"]


async def test_a_server_for_another_tenant_sees_none_of_it(
    session: ClientSession, store: Path, errlog: TextIO
) -> None:
    default_ids = [r["id"] for r in (await call(session, "search_memory", query="CSV"))["results"]]
    async with (
        stdio_client(server(store, "--tenant", "bob"), errlog=errlog) as (read, write),
        ClientSession(read, write) as bob,
    ):
        await bob.initialize()
        found = await call(bob, "search_memory", query="NOAA CSV database locked Dockerfile", k=10)
        assert {r["project"] for r in found["results"]} == {"aquarium"}
        assert {r["project"] for r in (await call(bob, "list_rooms"))["rooms"]} == {"aquarium"}
        for exchange_id in default_ids:
            assert "no exchange" in await error(bob, "get_exchange", exchange_id=exchange_id)
        assert "no memory" in await error(
            bob, "give_feedback", exchange_ids=default_ids, useful=True
        )
    # And the default tenant's server does not see bob's exchange.
    mine = await call(session, "search_memory", query="neon tetras pH aquarium", k=10)
    assert "aquarium" not in {r["project"] for r in mine["results"]}


def test_served_counts_are_written_when_the_server_is_terminated(store: Path) -> None:
    """Clients stop stdio servers with SIGTERM; the buffered served counts survive it."""
    params = server(store)
    process = subprocess.Popen(
        [params.command, *params.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(params.env or {})},
    )
    stdin, stdout = process.stdin, process.stdout
    assert stdin and stdout

    def send(method: str, params: dict[str, Any], id: int | None = None) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        stdin.write(json.dumps(message if id is None else {**message, "id": id}) + "\n")
        stdin.flush()
        return {} if id is None else json.loads(stdout.readline())

    try:
        client = {"name": "test", "version": "0"}
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        send("initialize", hello, id=1)
        send("notifications/initialized", {})
        search = {"name": "search_memory", "arguments": {"query": "basil", "k": 1}}
        answer = send("tools/call", search, id=2)
        (hit,) = answer["result"]["structuredContent"]["results"]
        before = usage(store)[hit["id"]][0]  # still buffered in the server
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    assert usage(store)[hit["id"]][0] == before + 1
