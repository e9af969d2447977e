"""What a forget's pass over the service's kept copies costs (`memdistill/kept_scrub.py`):
every kept file of the tenant is parsed as ingest would, so the cost grows with what the
tenant uploaded.

    python benchmarks/bench_kept_scrub.py                 # 200 uploads + 200 posted files
    python benchmarks/bench_kept_scrub.py --uploads 1000

Uploads are copies of the real Claude Code session and ChatGPT export in ../shared/data;
posted files are generic JSONL conversations of 20 messages. The store holds one tombstone
(of none of them), so the pass reads everything and removes nothing, the worst case for
time. The baseline, in the same process, only reads the same files' bytes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from memdistill.kept_scrub import scrub_kept  # noqa: E402
from memdistill.store import kept  # noqa: E402
from memdistill.store.store import Store  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
LOGS = ("claude-code-session.jsonl", "chatgpt-export-sample.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--posted", type=int, default=200)
    args = parser.parse_args()
    found = [SHARED / name for name in LOGS if (SHARED / name).exists()]
    logs = [path.read_text(encoding="utf-8") for path in found]
    if not logs:
        sys.exit(f"no real logs found in {SHARED}")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "store")
        tenant = "bench"
        with store.transaction() as db:
            db.execute(
                "INSERT INTO forgotten (tenant, exchange_id, conversation_external_id, "
                "exchange_external_id, generation, at) VALUES (?, 1, 'gone', 'gone:0', 1, '')",
                [tenant],
            )
        for n in range(args.uploads):
            text = logs[n % len(logs)]
            name = f"log{n}{Path(LOGS[n % len(logs)]).suffix}"
            kept.upload_path(store.folder, tenant, name).write_text(text, encoding="utf-8")
        for n in range(args.posted):
            path = kept.posted_path(store.folder, tenant, f"conv{n}")
            messages = [{"role": "user" if i % 2 == 0 else "assistant",
                         "content": f"message {i} of conversation {n} about the tide tables"}
                        for i in range(20)]  # fmt: skip
            with kept.posting(path, f"conv{n}", None, messages):
                pass
        files = kept.kept_files(store.folder, tenant)
        size = sum(p.stat().st_size for p in files)

        t0 = time.perf_counter()
        for path in files:
            path.read_bytes()
        read = time.perf_counter() - t0
        t0 = time.perf_counter()
        with store.transaction() as db:
            done = scrub_kept(db, store.folder, tenant)
        scrub = time.perf_counter() - t0
        assert not done.paths, "nothing held the tombstoned exchange"
        store.close()
    print(f"{len(files)} kept files, {size / 2**20:.1f} MB "
          f"({args.uploads} uploads, {args.posted} posted)")  # fmt: skip
    print(f"read only: {read * 1000:.0f} ms")
    print(f"forget's pass: {scrub * 1000:.0f} ms ({size / 2**20 / scrub:.1f} MB/s, "
          f"{scrub / read:.0f}x reading)")  # fmt: skip


if __name__ == "__main__":
    main()
