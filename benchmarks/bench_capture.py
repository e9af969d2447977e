"""What capturing without asking costs (`memdistill/capture/`): the hook Claude Code waits
for, re-reading a grown session, `memdistill watch` at rest and on a change, and the index
save every automatic ingest ends with.

    python benchmarks/bench_capture.py              # idle CPU over 60 s
    python benchmarks/bench_capture.py --idle 300

Uses the largest real Claude Code session in ../shared/data/real (2.8 MB), else the
project's fixture. Everything runs in a temporary home and store; figures are printed.
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
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from memdistill.api import Memory  # noqa: E402
from memdistill.capture import claude_hooks  # noqa: E402
from memdistill.capture.hook_run import log_path  # noqa: E402
from memdistill.index.vectors import VectorIndex  # noqa: E402

SHARED = Path(os.environ.get("MEMDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL = SHARED / "real" / "claude-code"
FIXTURE = REPO / "tests" / "fixtures" / "sources" / "claude-code-session.jsonl"


def biggest_session() -> Path:
    sessions = (
        sorted(REAL.rglob("*.jsonl"), key=lambda p: p.stat().st_size) if REAL.is_dir() else []
    )
    sessions = [p for p in sessions if "subagents" not in p.parts]
    return sessions[-1] if sessions else FIXTURE


def exchange_lines(template: str, n: int, parent: str | None) -> tuple[str, str]:
    """One more prompt and reply, shaped like the session's own lines."""
    last = json.loads(template)
    keep = {k: last.get(k) for k in ("sessionId", "cwd", "version", "gitBranch", "userType")}
    user = {
        **keep,
        "type": "user",
        "isSidechain": False,
        "uuid": str(uuid.uuid4()),
        "parentUuid": parent,
        "timestamp": "2026-12-08T10:00:00.000Z",
        "message": {"role": "user", "content": f"why does the quokka{n} migration stall?"},
    }
    reply = {**keep, "type": "assistant", "isSidechain": False, "uuid": str(uuid.uuid4()),
             "parentUuid": user["uuid"], "timestamp": "2026-12-08T10:00:05.000Z",
             "message": {"id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message",
                         "role": "assistant", "model": "claude-opus-4-5", "stop_reason": "end_turn",
                         "content": [{"type": "text", "text": f"The quokka{n} migration waits "
                                      "on the lock the vacuum job holds."}]}}  # fmt: skip
    return json.dumps(user), json.dumps(reply)


def grow(session: Path, n: int) -> None:
    last = session.read_text().splitlines()[-1]
    user, reply = exchange_lines(last, n, json.loads(last).get("uuid"))
    with session.open("a") as out:
        out.write(user + "\n" + reply + "\n")


def bench_regrown(work: Path, source: Path) -> None:
    session = work / "regrown" / source.name
    session.parent.mkdir()
    shutil.copy(source, session)
    with Memory.open(work / "regrown-store") as memory:
        started = time.perf_counter()
        memory.ingest([session])
        first = time.perf_counter() - started
        runs = []
        for n in range(5):
            grow(session, n)
            report = memory.ingest([session])
            runs.append(report.timings)
    size = session.stat().st_size / 1e6
    print(f"\nA {size:.1f} MB session grown by one exchange, ingested again (5 runs, median s):")
    print(f"  first ingest of the whole file: {first:.2f} s")
    for stage in ("parse", "distill", "embed", "index", "save", "total"):
        values = [t.get(stage, 0.0) for t in runs]
        print(f"  {stage:<8} {statistics.median(values):.3f}")


def bench_hook(work: Path, source: Path) -> None:
    home, store = work / "home", work / "hook-store"
    session = home / ".claude" / "projects" / "-home-dev-app" / source.name
    session.parent.mkdir(parents=True)
    shutil.copy(source, session)
    settings = home / ".claude" / "settings.json"
    claude_hooks.install(settings, claude_hooks.hook_command(store))
    command = json.loads(settings.read_text())["hooks"]["Stop"][0]["hooks"][0]["command"]
    event = json.dumps({"session_id": "bench", "transcript_path": str(session),
                        "hook_event_name": "Stop", "cwd": "/home/dev/app"})  # fmt: skip
    env = {**os.environ, "HOME": str(home)}
    waits, done_after = [], []
    for n in range(6):
        if n:
            grow(session, 100 + n)
        lines_before = _log_lines(store)
        started = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", command], input=event, text=True, env=env, check=True)
        waits.append(time.perf_counter() - started)
        while _log_lines(store) == lines_before:
            time.sleep(0.05)
        done_after.append(time.perf_counter() - started)
    print("\nThe Claude Code hook (what Claude Code waits for, then the detached ingest):")
    print(f"  hand-over: median {statistics.median(waits) * 1000:.0f} ms, max "
          f"{max(waits) * 1000:.0f} ms over {len(waits)} runs")  # fmt: skip
    print(
        f"  detached ingest done after: first (whole session) {done_after[0]:.1f} s, "
        f"grown by one exchange median {statistics.median(done_after[1:]):.1f} s"
    )


def _log_lines(store: Path) -> int:
    path = log_path(store)
    return len(path.read_text().splitlines()) if path.exists() else 0


def bench_watch(work: Path, source: Path, idle: float) -> None:
    folder = work / "watched"
    folder.mkdir()
    session = folder / source.name
    shutil.copy(source, session)
    command = [sys.executable, "-m", "memdistill.cli", "watch", str(folder), "--store",
               str(work / "watch-store"), "--json", "--settle", "2"]  # fmt: skip
    print(f"\n`{' '.join(['memdistill', *command[3:]])}`:")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    events: list[dict[str, Any]] = []
    arrived = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            events.append(json.loads(line))
            arrived.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        while not any(e["event"] == "caught-up" for e in events):
            arrived.wait(1)
        watcher = psutil.Process(process.pid)
        time.sleep(2)
        before = watcher.cpu_times()
        time.sleep(idle)
        after = watcher.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        print(f"  idle: {used:.3f} s CPU over {idle:.0f} s ({100 * used / idle:.3f} % of a core); "
              f"RSS {watcher.memory_info().rss / 1e6:.0f} MB")  # fmt: skip
        arrived.clear()
        started = time.perf_counter()
        grow(session, 999)
        cpu0 = watcher.cpu_times()
        while not any(e["event"] == "ingested" for e in events):
            arrived.wait(1)
        latency = time.perf_counter() - started
        cpu1 = watcher.cpu_times()
        spent = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        print(f"  one appended exchange: ingested {latency:.1f} s after the write (settle 2 s), "
              f"{spent:.2f} s CPU")  # fmt: skip
    finally:
        process.send_signal(2)
        process.wait(timeout=60)
    print(f"  Ctrl-C: exit code {process.returncode}")


def bench_save(sizes: list[int]) -> None:
    print("\nThe vector part of the index save each automatic ingest ends with (both layers):")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            index = VectorIndex(384)
            vectors = rng.standard_normal((n, 384)).astype(np.float32)
            index.update([], list(range(1, n + 1)), vectors)
            started = time.perf_counter()
            for layer in ("verbatim", "distilled"):
                index.save(Path(folder) / f"{layer}.faiss")
            print(f"  {n:>7,} exchanges: {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    args = parser.parse_args()
    source = biggest_session()
    print(f"Session: {source} ({source.stat().st_size / 1e6:.1f} MB)")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bench_hook(work, source)
        bench_regrown(work, source)
        bench_watch(work, source, args.idle)
    bench_save([10_000, 50_000, 200_000])


if __name__ == "__main__":
    main()
