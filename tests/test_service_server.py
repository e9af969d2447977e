"""A real `memdistill serve` process on loopback, with parallel clients ingesting and
searching at once: no errors, no exchange lost. And schemathesis, generating requests from
the OpenAPI schema against the app, finds no server error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from memdistill.service.http import Service, create_app
from memdistill.service.keys import create_key

CLIENTS, ROUNDS = 8, 4
EXAMPLES = 10  # per operation (ingest and forget do real work: ~8 s each)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    store = tmp_path_factory.mktemp("server") / "store"
    cli = [sys.executable, "-m", "memdistill.cli"]
    made = subprocess.run([*cli, "keys", "create", "--tenant", "team", "--json", "--store",
                           str(store)], capture_output=True, text=True, check=True)  # fmt: skip
    key = json.loads(made.stdout)["key"]
    port = free_port()
    process = subprocess.Popen([*cli, "serve", "--port", str(port), "--store", str(store)],
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            said = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"server did not start: {said}")
        time.sleep(0.2)
    yield url, key, store
    process.terminate()
    process.wait(timeout=30)


def test_parallel_clients_ingest_and_search_without_errors_or_losses(
    server: tuple[str, str, Path],
) -> None:
    url, key, _ = server
    headers = {"Authorization": f"Bearer {key}"}

    def client(n: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for r in range(ROUNDS):
                talk = [{"role": "user", "content": f"client {n} round {r}: how do I tune "
                         f"widget{n}x{r} for throughput?"},
                        {"role": "assistant", "content": f"Set widget{n}x{r}.threads to {r + 2} "
                         "and batch the writes."}]  # fmt: skip
                posted = http.post(
                    "/v1/ingest/messages",
                    json={"conversation_id": f"client-{n}", "project": "load", "messages": talk},
                )
                statuses.append(posted.status_code)
                found = http.get("/v1/search", params={"q": f"tune widget{n}x{r}", "k": 3})
                statuses.append(found.status_code)
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [s for statuses in pool.map(client, range(CLIENTS)) for s in statuses]
    assert results and set(results) == {200}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        assert http.get("/v1/stats").json()["exchanges"] == CLIENTS * ROUNDS
        for n in range(CLIENTS):
            hits = http.get("/v1/search", params={"q": f"widget{n}x{ROUNDS - 1}", "k": 1,
                                                   "mode": "verbatim-bm25"}).json()  # fmt: skip
            assert hits[0]["conversation_id"] == f"client-{n}"


def test_a_chunked_body_over_the_limit_is_refused_by_the_real_server(
    server: tuple[str, str, Path],
) -> None:
    """uvicorn hands the app a body with no Content-Length in pieces: it is counted."""
    url, key, _ = server

    def pieces() -> Iterator[bytes]:
        for _ in range(48):  # 3 MB, over the 2 MB limit of a JSON body
            yield b" " * 2**16

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        answer = http.post("/v1/feedback", content=pieces())
        assert answer.status_code == 413 and "over" in answer.json()["error"]
        assert http.get("/health").status_code == 200


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    store = tmp_path_factory.mktemp("schema") / "store"
    service = Service(store, max_upload_bytes=100_000)
    key, _ = create_key(service.keys, "fuzz")
    app = create_app(service)
    with TestClient(app) as http:  # something to find, so searches do real work
        http.post("/v1/ingest/messages", headers={"Authorization": f"Bearer {key}"}, json={
            "conversation_id": "f", "messages": [
                {"role": "user", "content": "why is the build slow?"},
                {"role": "assistant", "content": "the docker context is 300 MB"}]})  # fmt: skip
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.headers = {"Authorization": f"Bearer {key}"}  # type: ignore[attr-defined]
    return schema


def test_generated_requests_find_no_server_error(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, positive and negative cases. (Driven through hypothesis directly:
    schemathesis's pytest plugin does not run under this pytest version.)"""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect them all, then fail with every operation named
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
