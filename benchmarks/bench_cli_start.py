"""Cold start of the CLI: `memdistill --help` and `memdistill search` as whole processes.

    python benchmarks/bench_cli_start.py                      # this checkout's memdistill
    python benchmarks/bench_cli_start.py --exe A --exe B      # compare installs, interleaved

Each executable runs `--help`, then `search` on a small store made from data/samples,
`--runs` times, the executables taking turns so a busy machine slows them alike. Also
prints the import time of `memdistill.cli` and of the parser registry. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run in the measured install, after the CLI's own imports (as at start-up): how many
# parser modules `import memdistill.sources` loads and how long that takes, and how long
# until every parser is loaded.
_PARSER_COST = """
import sys, time
import memdistill.cli
t0 = time.perf_counter()
import memdistill.sources as registry
t1 = time.perf_counter()
loaded = [
    m for m in sys.modules
    if m.startswith("memdistill.sources.") and m[19:] not in ("base", "common")
]
for name in registry.parser_names():
    registry.get_parser(name)
t2 = time.perf_counter()
print(len(loaded), (t1 - t0) * 1000, (t2 - t0) * 1000)
"""


def run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time suffers less from a busy machine."""
    t0 = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(command)} failed")
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exe", action="append", help="a memdistill executable (repeatable)")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exes = args.exe or [
        shutil.which("memdistill") or str(Path(sys.executable).parent / "memdistill")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        subprocess.run(
            [exes[0], "ingest", str(REPO / "data" / "samples"), "--store", str(store), "-q"],
            check=True,
            capture_output=True,
        )
        commands = {
            "--help": ["--help"],
            "search": ["search", "why is the build slow", "--store", str(store), "--json"],
        }
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for exe in exes:
                for label, rest in commands.items():
                    times.setdefault((exe, label), []).append(run([exe, *rest]))
    print(f"== whole process, {args.runs} runs: wall median (min) and CPU median (min), s")
    for (exe, label), values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"  {exe:<48} {label:<7} wall {statistics.median(walls):.3f} ({min(walls):.3f})"
            f"  cpu {statistics.median(cpus):.3f} ({min(cpus):.3f})"
        )
    print("\n== the parsers, in a fresh process after `import memdistill.cli` (15 runs, ms):")
    print("   what `import memdistill.sources` loads and costs, and the cost of every parser")
    for exe in exes:
        python = str(Path(exe).parent / "python")
        outs = [
            subprocess.run(  # outside the checkout: `-c` would import the cwd's memdistill
                [python, "-c", _PARSER_COST],
                check=True,
                capture_output=True,
                text=True,
                cwd=tempfile.gettempdir(),
            ).stdout.split()
            for _ in range(15)
        ]
        registry = [float(out[1]) for out in outs]
        every = [float(out[2]) for out in outs]
        print(
            f"  {exe:<48} import loads {outs[0][0]} parser modules: median "
            f"{statistics.median(registry):.1f} (min {min(registry):.1f}); every parser "
            f"loaded: median {statistics.median(every):.1f} (min {min(every):.1f})"
        )


if __name__ == "__main__":
    main()
