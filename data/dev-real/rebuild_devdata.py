"""Rebuild /work/devdata (the fetched part of the dev corpus) from the fetch tool's mirrors.

The fetched logs are third-party data and are not committed; `manifest.jsonl` beside this
script names each file by repository, commit and path, with its licence, size and sha256.
Given the mirrors that `fetch github:OWNER/NAME` brings (`/work/.mirror/OWNER+NAME/repo`),
this writes every file to its `dest` under the devdata folder and checks its digest:

    python data/dev-real/rebuild_devdata.py [--mirror /work/.mirror] [--out /work/devdata]

A file whose repository is not mirrored, or whose blob is missing or differs, is reported
and skipped; the exit status is 1 when anything was skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=Path("/work/devdata"))
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.jsonl")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
    written = skipped = 0
    for row in rows:
        target = args.out / row["dest"]
        if target.is_file() and _sha256(target.read_bytes()) == row["sha256"]:
            written += 1
            continue
        git_dir = args.mirror / row["repo"].replace("/", "+") / "repo"
        if not git_dir.is_dir():
            print(f"skipped {row['dest']}: no mirror of {row['repo']} (fetch it first)")
            skipped += 1
            continue
        blob = subprocess.run(
            ["git", f"--git-dir={git_dir}", "cat-file", "blob", f"{row['commit']}:{row['path']}"],
            capture_output=True,
        )
        if blob.returncode != 0 or _sha256(blob.stdout) != row["sha256"]:
            print(
                f"skipped {row['dest']}: {row['repo']}@{row['commit'][:10]}:{row['path']} "
                "is missing from the mirror or differs from the manifest"
            )
            skipped += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.stdout)
        written += 1
    print(f"{written} files in {args.out}, {skipped} skipped")
    return 1 if skipped else 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
