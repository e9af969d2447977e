"""`memdistill mcp`: the MCP server for coding agents (memdistill/service/mcp.py)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from memdistill.cli.app import DEFAULT_TENANT, StoreOpt, TenantOpt, handle_errors, open_memory
from memdistill.config import is_loopback
from memdistill.errors import ConfigError, DependencyError

INSTALL = "pip install 'memdistill[service]'"


def mcp(
    transport: Annotated[
        str, typer.Option("--transport", help="stdio (what agents launch) or http.")
    ] = "stdio",
    host: Annotated[str, typer.Option("--host", help="Address to bind, with http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port, with http.")] = 8788,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Serve the memory to AI agents over MCP: search, drill down to the verbatim
    exchange, rooms, feedback and ingest, for one store and tenant. Add it to Claude Code
    with `claude mcp add memdistill -- memdistill mcp`."""
    interrupted = False
    with handle_errors(False):
        if transport not in ("stdio", "http"):
            raise ConfigError(f"--transport takes stdio or http, not {transport!r}")
        if transport == "http" and not is_loopback(host):
            # The HTTP transport has no authentication: anyone who reaches it reads the store.
            raise ConfigError(
                f"the MCP server has no authentication, so it binds only to a loopback "
                f"address (127.0.0.1, ::1, localhost), not {host!r}; for remote clients "
                "use `memdistill serve` with API keys"
            )
        try:
            from memdistill.service.mcp import serve
        except ImportError as exc:
            raise DependencyError(
                f"the MCP server needs the mcp package (2.x): {INSTALL}  ({exc})"
            ) from exc
        # create: a new user adds the server first and ingests through it.
        with open_memory(store, tenant, create=True) as memory:
            if transport == "http":
                typer.echo(
                    f"memdistill MCP server for {memory.store.folder} (tenant {tenant}) on "
                    f"http://{host}:{port}/mcp",
                    err=True,
                )
            # Clients stop a server with SIGTERM (uvicorn passes it on once it has shut down):
            # as an interrupt, it lets the store close and write the buffered served counts.
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                serve(memory, "http" if transport == "http" else "stdio", host=host, port=port)
            except KeyboardInterrupt:
                interrupted = True
    if interrupted:
        # The SDK's stdin reader may still be blocked in a thread that exit would wait for;
        # the store is closed, so nothing is left to wait for.
        sys.stderr.flush()
        os._exit(0)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
