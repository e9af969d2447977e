"""The core benchmark of issue 2: ingest, search per mode, cold start, memory, compression.

    python benchmarks/bench_core.py --exchanges 14000        # the full run (long: embedding)
    python benchmarks/bench_core.py --exchanges 1000         # a quick look

Builds (and caches in bench-out/) a corpus of Claude Code session files shaped like real
coding sessions (benchmarks/synth.py), ingests it with the real CLI in a child process
(so its peak memory is the child's), then measures search latency per mode in this process
(query embedding included), the whole-process cold start of `memdistill search`, and the
compression of the offline distiller on the real samples in ../shared/data. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.synth import DATA, REPO, Synth, sentence_pool, write_sessions
from memdistill.api import Memory
from memdistill.retrieve.modes import MODES

OUT = REPO / "bench-out"
SAMPLES = [
    "claude-code-session.jsonl",
    "claude-code-subagent.jsonl",
    "claude-code-console-export.md",
    "chatgpt-export-sample.json",
]


def cli(*args: str) -> tuple[str, float]:
    """Run the real CLI; returns its stdout and that process's own peak RSS in MB."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        command = [sys.executable, "-m", "memdistill.cli", *args]
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            sys.exit(f"memdistill {args[0]} failed: {err.read().decode()[-2000:]}")
        return out.read().decode(), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=14_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="reuse an ingested store if present")
    args = parser.parse_args()

    corpus = OUT / f"corpus-{args.exchanges}"
    if not corpus.exists():
        t0 = time.perf_counter()
        write_sessions(corpus, args.exchanges)
        print(f"corpus: {args.exchanges} exchanges written in {time.perf_counter() - t0:.1f} s")
    size_mb = sum(p.stat().st_size for p in corpus.rglob("*.jsonl")) / 2**20
    store = OUT / f"store-{args.exchanges}"

    print(f"\n== ingest ({args.exchanges} exchanges, {size_mb:.0f} MB of session files)")
    if not (args.keep and store.exists()):
        shutil.rmtree(store, ignore_errors=True)
        t0 = time.perf_counter()
        stdout, peak = cli("ingest", str(corpus), "--store", str(store), "--json")
        wall = time.perf_counter() - t0
        report = json.loads(stdout)
        timings = report["timings"]
        total = timings["total"]
        embed = timings.get("embed", 0.0)
        added = report["exchanges_added"]
        print(f"  exchanges/s end to end        {added / wall:.1f}  ({added} in {wall:.0f} s)")
        print(f"  embedding (the floor)         {embed:.0f} s = {embed / total:.0%} of ingest")
        print(f"  everything else over embed    {(total - embed) / max(embed, 1e-9):.0%}")
        for stage in ("parse", "distill", "tokens", "write", "index", "save"):
            print(f"    {stage:<10} {timings.get(stage, 0.0):8.1f} s")
        print(f"  peak RSS of the ingest        {peak:.0f} MB")

    print("\n== search latency per mode (in process, query embedding included)")
    synth = Synth(sentence_pool(), 99)
    queries = synth.queries(args.queries)
    with Memory.open(store, create=False) as memory:
        memory.search("warm up", k=args.k)
        table = []
        for mode in MODES:
            for query in queries[:10]:
                memory.search(query, k=args.k, mode=mode)
            times = []
            for query in queries:
                t0 = time.perf_counter()
                memory.search(query, k=args.k, mode=mode)
                times.append((time.perf_counter() - t0) * 1000)
            table.append((mode, np.percentile(times, 50), np.percentile(times, 95)))
        embed_times = []
        for query in queries:
            t0 = time.perf_counter()
            memory.embedder.embed_query(query)
            embed_times.append((time.perf_counter() - t0) * 1000)
    print(f"  {'mode':<36} {'p50 ms':>8} {'p95 ms':>8}")
    for mode, p50, p95 in table:
        print(f"  {mode:<36} {p50:8.2f} {p95:8.2f}")
    print(f"  (query embedding alone: p50 {np.percentile(embed_times, 50):.2f} ms)")

    print("\n== cold start: `memdistill search` as a whole process")
    walls, peaks = [], []
    for query in queries[:7]:
        t0 = time.perf_counter()
        peaks.append(cli("search", query, "--store", str(store), "--json")[1])
        walls.append(time.perf_counter() - t0)
    print(
        f"  median {statistics.median(walls):.2f} s, max {max(walls):.2f} s over {len(walls)}"
        f"; peak RSS of a search process {max(peaks):.0f} MB"
    )

    print("\n== compression on the real samples (offline distiller)")
    if not DATA.is_dir():
        print(f"  {DATA} is absent; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in SAMPLES:
            with Memory.open(Path(tmp) / name) as memory:
                memory.ingest(DATA / name)
                s = memory.stats()
                print(
                    f"  {name:<32} {s.exchanges:>4} exchanges  verbatim/distilled tokens: "
                    f"overall {s.compression:5.1f}x  mean {s.compression_mean:5.1f}x  "
                    f"median {s.compression_median:5.1f}x  "
                    f"(distilled mean {s.distilled_tokens / max(s.exchanges, 1):.0f} tokens)"
                )
        with Memory.open(Path(tmp) / "all") as memory:
            memory.ingest([DATA / name for name in SAMPLES])
            s = memory.stats()
            print(
                f"  {'all four':<32} {s.exchanges:>4} exchanges  overall {s.compression:5.1f}x"
                f"  mean {s.compression_mean:5.1f}x  median {s.compression_median:5.1f}x"
            )


if __name__ == "__main__":
    main()
