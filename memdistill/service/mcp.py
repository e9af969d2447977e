"""The MCP server: memdistill's tools for coding agents (Claude Code, Cursor, Codex, ...).

One server wraps one `Memory`: one store, one tenant, fixed when it starts. Answers are
sized for an agent's context, which is the point of distillation: search gives distilled
memories only, and the verbatim exchange comes on request, in bounded pages. Tools are
plain functions; the SDK runs them on worker threads (a Memory is safe to search from
several threads). A MemdistillError becomes a tool error carrying its message, so the
agent reads what to do and the server keeps serving.

Only `memdistill mcp` imports this module: the `mcp` SDK never loads for other commands.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from memdistill import __version__
from memdistill.api import Memory
from memdistill.config import parse_time
from memdistill.errors import MemdistillError, NotFoundError, QueryError
from memdistill.models import Hit
from memdistill.retrieve.modes import DEFAULT_MODE
from memdistill.sources import get_parser, parser_names
from memdistill.store.store import ROW_ID_MAX

MAX_K = 20
PAGE_CHARS = 6000  # one page of a verbatim exchange: about 1,500 tokens
MAX_PAGE_CHARS = 50_000
FILES_SHOWN = 8  # per memory; some exchanges touch dozens
ROOMS_SHOWN = 50
ROOM_PAGE = 10
PROBLEMS_SHOWN = 20

INSTRUCTIONS = (
    "memdistill is the user's memory of their past sessions with AI agents, across "
    "projects: bugs and their fixes, decisions and their reasons, commands, files touched. "
    "Search it (search_memory) before work that may have history, or when the user refers "
    "to something done before. Results are distilled memories; get_exchange(id) gives the "
    "verbatim exchange when the details matter. When the task is over, call give_feedback "
    "once with every id you were given and whether the task succeeded."
)

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_FORMATS = ", ".join(parser_names())

Query = Annotated[
    str,
    Field(description="What you are looking for, in plain words: an error, a file, a topic."),
]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many memories to return.")]
Project = Annotated[str | None, Field(description="Only this project, spelt as results show it.")]
FileFilter = Annotated[
    str | None,
    Field(description="Only exchanges that touched this file: a path or its end, e.g. db.py."),
]
Since = Annotated[
    str | None, Field(description="Only exchanges from this time on: ISO, e.g. 2026-01-31.")
]
Until = Annotated[str | None, Field(description="Only exchanges before this time (ISO).")]
Mode = Annotated[
    str,
    Field(
        description="Which indexes to fuse; the default measured best. Others: "
        "distilled-hybrid, verbatim-bm25, verbatim-vector, distilled-bm25, "
        "distilled-vector, all."
    ),
]
ExchangeId = Annotated[
    int, Field(ge=1, le=ROW_ID_MAX, description="An exchange id from search_memory or get_room.")
]
Offset = Annotated[
    int, Field(ge=0, description="Character to start from; a cut answer says what to pass.")
]
MaxChars = Annotated[
    int, Field(ge=200, le=MAX_PAGE_CHARS, description="Most characters to return.")
]
RoomKey = Annotated[
    str, Field(description="A room key from list_rooms or a memory's rooms, e.g. file:src/db.py.")
]
Limit = Annotated[int, Field(ge=1, le=100, description="Most entries to return.")]
Ids = Annotated[
    list[Annotated[int, Field(ge=1, le=ROW_ID_MAX)]],
    Field(min_length=1, description="Every exchange id this task was given, helpful or not."),
]
Useful = Annotated[bool, Field(description="True if the task succeeded, false if it failed.")]
LogPath = Annotated[
    str, Field(description="A chat-log file or folder on this machine; ~ is expanded.")
]
Format = Annotated[str | None, Field(description=f"Skip format detection: {_FORMATS}.")]
IngestProject = Annotated[
    str | None,
    Field(description="Project for conversations whose log names none."),
]


def build_server(memory: Memory) -> MCPServer[Any]:
    """The server, its six tools bound to `memory`. The caller runs and closes them."""
    server: MCPServer[Any] = MCPServer(
        "memdistill",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",  # stderr is the client's log: no line per request
    )
    ingesting = threading.Lock()  # tool calls run on threads; one ingest at a time

    @server.tool(annotations=_READ_ONLY)
    def search_memory(
        query: Query,
        k: K = 5,
        project: Project = None,
        file: FileFilter = None,
        since: Since = None,
        until: Until = None,
        mode: Mode = DEFAULT_MODE,
    ) -> CallToolResult:
        """Search the user's memory of past sessions with AI agents: earlier bugs and how
        they were fixed, decisions and why, commands that worked, files changed. Call it
        before work that may have history, or when the user mentions something done
        before. Returns distilled memories, best first: id, score, project, date,
        exchange_core (what was asked and done, about 50 words), specific_context (the
        exact error, command or value), rooms, files, supersedes (ids of older decisions
        it replaced) and merged (ids of near-copies folded into it). No verbatim text:
        get_exchange(id) gives it. Keep the ids: get_exchange and give_feedback take them."""
        with _errors():
            hits = memory.search(
                query,
                k=k,
                mode=mode,
                project=project,
                file=file,
                since=parse_time(since, "since"),
                until=parse_time(until, "until"),
            )
        return _answer(search_answer(hits))

    @server.tool(annotations=_READ_ONLY)
    def get_exchange(
        exchange_id: ExchangeId, offset: Offset = 0, max_chars: MaxChars = PAGE_CHARS
    ) -> CallToolResult:
        """The verbatim exchange behind a memory: the person's prompt, the agent's
        replies, its tool calls and their output, as the log holds them. Call it when a
        memory from search_memory or get_room matters and you need what the distilled
        memory leaves out (the full error, the code, the command output). Long exchanges
        come in pages of max_chars characters; a cut answer gives next_offset, to pass
        as offset for the rest."""
        with _errors(f"no exchange {exchange_id}: use an id search_memory or get_room gave"):
            hit = memory.get(exchange_id)
            text = memory.verbatim(exchange_id)
            if offset and offset >= len(text):
                raise QueryError(f"offset {offset} is past the end: the text has {len(text)}")
        page = text[offset : offset + max_chars]
        end = offset + len(page)
        data: dict[str, Any] = {
            "id": hit.exchange_id,
            "project": hit.project,
            "date": _date(hit.started_at),
            "exchange_core": hit.memory.exchange_core,
            "text": page,
            "offset": offset,
            "total_chars": len(text),
        }
        if end < len(text):
            data["next_offset"] = end
            data["note"] = (
                f"Cut at character {end} of {len(text)}: "
                f"get_exchange(exchange_id={exchange_id}, offset={end}) gives more."
            )
        return _answer(data)

    @server.tool(annotations=_READ_ONLY)
    def list_rooms(project: Project = None, limit: Limit = ROOMS_SHOWN) -> CallToolResult:
        """The rooms of the memory, largest first: the topics exchanges are grouped in, a
        file (file:src/db.py), a concept (concept:wal_mode) or a workflow
        (workflow:docker_build), each with its project, how many exchanges it holds and
        their first and last dates. Call it to see what the memory knows about a project,
        or to pick a room to read with get_room."""
        with _errors():
            found = memory.rooms(project)
        rooms = [
            {
                "key": r.key,
                "label": r.label,
                "project": r.project,
                "exchanges": r.exchanges,
                "first": _date(r.first_at),
                "last": _date(r.last_at),
            }
            for r in found[:limit]
        ]
        data: dict[str, Any] = {"rooms": rooms, "total": len(found)}
        if len(found) > limit:
            data["note"] = f"{len(found) - limit} smaller rooms left out: raise limit."
        return _answer(data)

    @server.tool(annotations=_READ_ONLY)
    def get_room(
        key: RoomKey, project: Project = None, limit: Limit = ROOM_PAGE, offset: Offset = 0
    ) -> CallToolResult:
        """The exchanges of one room, newest first, as distilled memories (the same
        fields as search_memory, without a score). Call it to follow one file or topic
        through time: what was tried, decided and changed. A key can exist in several
        projects; project keeps one. A cut answer gives next_offset for older ones."""
        where = f" in project {project!r}" if project else ""
        with _errors(f"no room {key!r}{where}: list_rooms gives the room keys"):
            hits = memory.room(key, project)
        hits.reverse()  # newest first: a later decision usually overrides an earlier one
        page = hits[offset : offset + limit]
        data: dict[str, Any] = {
            "key": key,
            "exchanges": [_memory(h, score=False) for h in page],
            "total": len(hits),
        }
        if offset + limit < len(hits):
            data["next_offset"] = offset + limit
        return _answer(data)

    @server.tool(annotations=ToolAnnotations(idempotent_hint=False, open_world_hint=False))
    def give_feedback(exchange_ids: Ids, useful: Useful) -> CallToolResult:
        """Say whether the memories you were given helped, once per task, when it is
        over: pass every id search_memory or get_room gave you for the task (not only
        those you think helped), with useful=true if the task succeeded and false if it
        failed. Memories served often that rarely help are retired later, so per-task
        verdicts keep the memory useful. Unknown ids are an error and nothing is
        recorded."""
        with _errors():  # its message names the unknown ids
            recorded = memory.feedback(exchange_ids, useful=useful)
        return _answer({"recorded": recorded, "useful": useful})

    @server.tool(
        annotations=ToolAnnotations(
            destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
    )
    def ingest_session(
        path: LogPath, format: Format = None, project: IngestProject = None
    ) -> CallToolResult:
        """Add chat logs from this machine to the memory: a session file or a folder of
        them (Claude Code ~/.claude/projects/<project>/<session>.jsonl, Codex rollouts,
        ChatGPT exports, generic JSON/JSONL message lists). Call it when the user asks
        to remember a session or import logs. Re-ingesting adds only what is new. Returns
        counts (files, conversations, exchanges added, updated or already stored) and
        the problems met. A relative path is taken from the server's folder."""
        with _errors():
            if format is not None:
                get_parser(format)  # an unknown format fails before any work
            with ingesting:
                report = memory.ingest(path, format=format, project=project)
        problems = [str(p) for p in report.problems]
        if report.files_failed and report.files_failed >= report.files:
            raise ToolError("Nothing was ingested: " + "; ".join(problems[:PROBLEMS_SHOWN]))
        data: dict[str, Any] = {
            name: getattr(report, name)
            for name in (
                "files",
                "files_unchanged",
                "files_failed",
                "files_skipped",
                "conversations",
                "exchanges_added",
                "exchanges_updated",
                "exchanges_skipped",
                "exchanges_forgotten_skipped",
            )
        }
        data["seconds"] = round(report.timings.get("total", 0.0), 1)
        data["problems"] = problems[:PROBLEMS_SHOWN]
        if len(problems) > PROBLEMS_SHOWN:
            data["problems_left_out"] = len(problems) - PROBLEMS_SHOWN
        return _answer(data)

    return server


def serve(
    memory: Memory,
    transport: Literal["stdio", "http"] = "stdio",
    *,
    host: str = "127.0.0.1",
    port: int = 8788,
) -> None:
    """Run until the client goes (stdio) or the process is interrupted (HTTP)."""
    server = build_server(memory)
    # The model and indexes load in about a second: do it while the client connects, so
    # the first search does not wait. A failure here recurs, with its message, in a tool.
    threading.Thread(target=_warm_up, args=(memory,), daemon=True).start()
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


def _warm_up(memory: Memory) -> None:
    with suppress(Exception):  # the tool that needs them reports it
        memory.indexes  # noqa: B018


@contextmanager
def _errors(not_found: str | None = None) -> Iterator[None]:
    """memdistill's own errors become tool errors the agent reads (not crashes).
    `not_found` rewords a NotFoundError for an agent (the library's messages name
    CLI commands)."""
    try:
        yield
    except NotFoundError as exc:
        raise ToolError(not_found or str(exc)) from exc
    except MemdistillError as exc:
        raise ToolError(str(exc)) from exc


def _answer(data: dict[str, Any]) -> CallToolResult:
    # One line of JSON for the model (no indentation: it costs tokens) and the same as
    # structured content for clients that read that.
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def search_answer(hits: list[Hit]) -> dict[str, Any]:
    """What search_memory answers (benchmarks/bench_mcp_context.py measures its size)."""
    note = (
        "get_exchange(id) gives an exchange verbatim."
        if hits
        else "Nothing matched: try other words, or fewer filters."
    )
    return {"results": [_memory(h, score=True) for h in hits], "note": note}


def _memory(hit: Hit, *, score: bool) -> dict[str, Any]:
    """A distilled memory, compact: empty fields are left out."""
    out: dict[str, Any] = {"id": hit.exchange_id}
    if score:
        out["score"] = round(hit.score, 4)
    out |= {
        "project": hit.project,
        "date": _date(hit.started_at),
        "exchange_core": hit.memory.exchange_core,
    }
    if hit.memory.specific_context:
        out["specific_context"] = hit.memory.specific_context
    if hit.rooms:
        out["rooms"] = [r.key for r in hit.rooms]
    if hit.files:
        out["files"] = [f"{f.path} ({f.action})" for f in hit.files[:FILES_SHOWN]]
        if len(hit.files) > FILES_SHOWN:
            out["files_left_out"] = len(hit.files) - FILES_SHOWN
    if hit.supersedes:
        out["supersedes"] = hit.supersedes
    if hit.merged:
        out["merged"] = hit.merged
    return out


def _date(value: datetime | None) -> str | None:
    """UTC to the minute, e.g. 2026-03-09T13:42Z: sorts as text, and short."""
    if value is None:
        return None
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%MZ")
