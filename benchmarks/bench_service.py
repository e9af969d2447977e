"""The HTTP service's figures (issue 6): search requests per second and p50/p95 latency
through HTTP with 1, 4 and 16 concurrent clients on loopback, beside the in-process
latency of the same searches, on the store bench_core.py builds.

    python benchmarks/bench_core.py --exchanges 14000    # once: builds bench-out/store-14000
    python benchmarks/bench_service.py                   # then this

The server is the real `memdistill serve` (uvicorn, one process, FastAPI's thread pool)
with an API key; clients are threads with their own keep-alive httpx connection, in this
process. Server and clients share the machine's cores, so the figures are for one laptop
serving itself. Same queries (benchmarks/synth.py), k=10, default mode, for every level.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.synth import REPO, Synth, sentence_pool
from memdistill.api import Memory
from memdistill.retrieve.retriever import Retriever

CLI = [sys.executable, "-m", "memdistill.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    command = [*CLI, "keys", "create", "--tenant", "default", "--name", "bench", "--json"]
    made = subprocess.run([*command, "--store", str(store)], capture_output=True, check=True)
    key = json.loads(made.stdout)["key"]
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--store", str(store)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the server did not start")


def load(url: str, key: str, queries: list[str], clients: int, k: int) -> tuple[float, list[float]]:
    """Every query once, spread over `clients` threads; (seconds, latencies in ms)."""
    local = threading.local()
    latencies: list[float] = []
    lock = threading.Lock()

    def one(query: str) -> None:
        http = getattr(local, "http", None)
        if http is None:
            auth = {"Authorization": f"Bearer {key}"}
            http = local.http = httpx.Client(base_url=url, timeout=60, headers=auth)
        t0 = time.perf_counter()
        response = http.get("/v1/search", params={"q": query, "k": k})
        elapsed = (time.perf_counter() - t0) * 1000
        response.raise_for_status()
        with lock:
            latencies.append(elapsed)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, queries))
    return time.perf_counter() - t0, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=REPO / "bench-out" / "store-14000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    if not (args.store / "memdistill.db").exists():
        sys.exit(f"no store at {args.store}: run benchmarks/bench_core.py first")
    queries = Synth(sentence_pool(), 7).queries(args.queries)

    with Memory.open(args.store, create=False) as memory:
        exchanges = memory.stats().exchanges
        retriever = Retriever(memory.store, memory.tenant, memory.indexes, memory.embedder)
        for query in queries[:20]:
            retriever.search(query, k=args.k)
        inproc = []
        for query in queries:
            t0 = time.perf_counter()
            retriever.search(query, k=args.k)
            inproc.append((time.perf_counter() - t0) * 1000)
    print(f"store: {args.store} ({exchanges} exchanges); {len(queries)} queries, k={args.k}")
    print(f"in process (Retriever.search): p50 {np.percentile(inproc, 50):.1f} ms, "
          f"p95 {np.percentile(inproc, 95):.1f} ms, {1000 / statistics.fmean(inproc):.0f} "
          "searches/s on one thread")  # fmt: skip

    server, url, key = start_server(args.store)
    try:
        load(url, key, queries[:40], 4, args.k)  # warm up: models, indexes, connections
        print("\n| clients | requests/s | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        for clients in (1, 4, 16):
            seconds, latencies = load(url, key, queries, clients, args.k)
            p50, p95 = np.percentile(latencies, 50), np.percentile(latencies, 95)
            print(f"| {clients} | {len(queries) / seconds:.0f} | {p50:.1f} | {p95:.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
