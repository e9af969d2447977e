"""How much of an agent's context a search through the MCP server costs (issue 6): the
tokens of `search_memory`'s answer against the same exchanges verbatim.

    python benchmarks/bench_mcp_context.py      # data/samples, the 40 queries of data/queries.jsonl

Tokens are o200k_base (memdistill.tokens). The answer is exactly what the tool returns
(one line of JSON: the distilled memories, no verbatim text); verbatim is each hit's
exchange as `get_exchange` would page it out, summed over the same hits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from memdistill.api import Memory  # noqa: E402
from memdistill.service.mcp import search_answer  # noqa: E402
from memdistill.tokens import count_tokens_many  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "samples")
    parser.add_argument("--queries", type=Path, default=REPO / "data" / "queries.jsonl")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    queries = [json.loads(line)["query"] for line in args.queries.read_text().splitlines()
               if line.strip()]  # fmt: skip
    answers, verbatims = [], []
    with tempfile.TemporaryDirectory() as folder, Memory.open(Path(folder)) as memory:
        memory.ingest([args.corpus])
        for query in queries:
            hits = memory.search(query, k=args.k)
            answer = json.dumps(search_answer(hits), ensure_ascii=False)
            texts = [memory.verbatim(h) for h in hits]
            answer_tokens, *verbatim_tokens = count_tokens_many([answer, *texts])
            answers.append(answer_tokens)
            verbatims.append(sum(verbatim_tokens))
    print(f"{len(queries)} queries, k={args.k}, corpus {args.corpus}")
    print(f"search_memory answer: median {statistics.median(answers):.0f} tokens, "
          f"max {max(answers)}")  # fmt: skip
    print(f"same hits verbatim:   median {statistics.median(verbatims):.0f} tokens, "
          f"max {max(verbatims)}")  # fmt: skip


if __name__ == "__main__":
    main()
