"""`memdistill serve` (the HTTP API and the web page), `memdistill ui` (the page on
loopback, opened in the browser) and `memdistill keys` (the API's keys)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memdistill.cli.app import DEFAULT_TENANT, JsonOpt, StoreOpt, handle_errors
from memdistill.config import check_tenant, is_loopback, resolve_store_path
from memdistill.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from memdistill.service.http import Service

keys_app = typer.Typer(name="keys", help="API keys of the HTTP service (each acts for one tenant).",
                       no_args_is_help=True)  # fmt: skip


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8787,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="No API keys: every request acts for --tenant. Loopback only."
        ),
    ] = False,
    tenant: Annotated[
        str, typer.Option("--tenant", help="With --no-auth: whose memories.")
    ] = DEFAULT_TENANT,
    max_upload_mb: Annotated[
        int, typer.Option("--max-upload-mb", help="Largest log upload accepted.")
    ] = 64,
    print_openapi: Annotated[
        bool, typer.Option("--print-openapi", help="Print the OpenAPI schema and exit.")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn): ingest, search, drill-down, rooms,
    feedback, refine, forget, stats; and the web page at /. Requests need an API key
    (`memdistill keys create`); the page asks for one once per browser."""
    with handle_errors(False):
        _require_service()
        from memdistill.service.http import openapi_schema

        if print_openapi:
            typer.echo(json.dumps(openapi_schema(), indent=2, sort_keys=True))
            return
        if no_auth and not is_loopback(host):
            raise ConfigError(
                f"--no-auth serves anyone who can reach {host}; it is allowed only on a "
                "loopback address (127.0.0.1, ::1, localhost). Create API keys instead: "
                "`memdistill keys create --tenant NAME`"
            )
        service = _service(store, tenant if no_auth else None, max_upload_mb)
    where = "no auth, tenant " + tenant if no_auth else "API keys required"
    print(f"memdistill serving {service.store_path} on http://{host}:{port} ({where}); "
          f"the page: http://{host}:{port}/", file=sys.stderr)  # fmt: skip
    _run(service, host, port)


def ui(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8787,
    tenant: Annotated[str, typer.Option("--tenant", help="Whose memories.")] = DEFAULT_TENANT,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the address; open no browser.")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Browse your memory in the web browser: search, read, rooms, timeline, refine,
    forget, stats. Serves the page on 127.0.0.1 without keys (this machine only), for
    --tenant, and opens it; Ctrl+C stops it."""
    host = "127.0.0.1"
    with handle_errors(False):
        _require_service()
        with socket.socket() as probe:  # a clear message, not uvicorn's traceback
            try:
                probe.bind((host, port))
            except OSError:
                raise ConfigError(f"port {port} is in use (a `memdistill serve` already "
                                  "running?); pass --port N") from None  # fmt: skip
        service = _service(store, tenant, 64)
    url = f"http://{host}:{port}/"
    print(f"memdistill: {service.store_path} (tenant {tenant}) at {url}; Ctrl+C stops it",
          file=sys.stderr)  # fmt: skip
    _run(service, host, port, on_started=None if no_browser else _open_browser(url))


def _require_service() -> None:
    try:
        import uvicorn  # noqa: F401

        import memdistill.service.http  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            f"the HTTP service needs {exc.name or 'fastapi'}, which is not installed; "
            "install the service extra: pip install 'memdistill[service]'"
        ) from exc


def _service(store: Path | None, open_tenant: str | None, max_upload_mb: int) -> Service:
    from memdistill.service.http import Service

    return Service(
        resolve_store_path(store),
        open_tenant=check_tenant(open_tenant) if open_tenant is not None else None,
        max_upload_bytes=max_upload_mb * 2**20,
    )


def _open_browser(url: str) -> Callable[[], None]:
    def open_it() -> None:
        import webbrowser

        if not webbrowser.open(url):
            print(f"memdistill: no browser found; open {url}", file=sys.stderr)

    return open_it


def _run(
    service: Service, host: str, port: int, on_started: Callable[[], None] | None = None
) -> None:
    """Serve until interrupted; `on_started` runs once the server listens."""
    import uvicorn

    from memdistill.service.http import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(service), host=host, port=port,
                                           log_level="warning"))  # fmt: skip
    if on_started is not None:

        def when_listening() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.started:
                on_started()

        threading.Thread(target=when_listening, daemon=True).start()
    server.run()


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Whose memories the key reaches.")],
    name: Annotated[str, typer.Option("--name", help="A label, to tell keys apart.")] = "",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from memdistill.service.keys import create_key
    from memdistill.store.store import Store

    with handle_errors(as_json):
        db = Store(resolve_store_path(store))
        key, record = create_key(db, tenant, name)
        db.close()
    if as_json:
        typer.echo(json.dumps({"key": key, "id": record.id, "tenant": record.tenant}))
    else:
        typer.echo(key)
        typer.echo(f"(key {record.id} for tenant {record.tenant!r}; shown only now)", err=True)


@keys_app.command("list")
def keys_list(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The keys: id, tenant, name, first characters, created, revoked."""
    from dataclasses import asdict

    from memdistill.service.keys import list_keys
    from memdistill.store.store import Store

    with handle_errors(as_json):
        db = Store(resolve_store_path(store), create=False)
        keys = list_keys(db)
        db.close()
    if as_json:
        typer.echo(json.dumps([asdict(k) for k in keys], indent=2))
        return
    for k in keys:
        state = f"revoked {k.revoked_at[:10]}" if k.revoked_at else "live"
        created = k.created_at[:10]
        typer.echo(f"{k.id:>4}  {k.prefix}…  {k.tenant:<20} {k.name:<20} {created}  {state}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id, from `keys list`.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from memdistill.service.keys import revoke_key
    from memdistill.store.store import Store

    with handle_errors(as_json):
        db = Store(resolve_store_path(store), create=False)
        revoke_key(db, key_id)
        db.close()
    typer.echo(json.dumps({"revoked": key_id}) if as_json else f"Revoked key {key_id}.")


__all__ = ["keys_app", "serve", "ui"]
