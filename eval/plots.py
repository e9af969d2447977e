"""The report's plots (docs/evaluation.md): `mrr.png` (MRR@10 with its 95% CI per
configuration), `layers.png` (verbatim vs distilled per engine, and the cross-layer modes)
and `compression.png` (verbatim / distilled tokens per exchange).

They are drawn from results.json's content, so they show exactly what the report says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .extras import needs
from .stats import is_cross_layer


def write_plots(r: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG files written; Agg canvases on Figure objects, so no global pyplot state."""
    with needs("matplotlib", "the report's plots"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    written: list[str] = []

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)
        fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        written.append(name)

    rows = r["configurations"]
    fig = Figure(figsize=(7, 1.2 + 0.32 * len(rows)))
    ax = fig.add_subplot()
    means = [c["mrr_ci"]["mean"] for c in rows]
    errors = [[m - c["mrr_ci"]["low"] for m, c in zip(means, rows, strict=True)],
              [c["mrr_ci"]["high"] - m for m, c in zip(means, rows, strict=True)]]  # fmt: skip
    ax.barh(range(len(rows)), means, xerr=errors, color="#4c72b0", capsize=3)
    ax.set_yticks(range(len(rows)), [c["name"] for c in rows])
    ax.invert_yaxis()
    ax.set_xlabel("MRR@10 (95% CI)")
    ax.set_xlim(0, 1)
    save(fig, "mrr.png")

    bars = _layer_bars(rows)
    if bars:
        fig = Figure(figsize=(7, 1.2 + 0.32 * len(bars)))
        ax = fig.add_subplot()
        colors = {"verbatim": "#4c72b0", "distilled": "#dd8452", "cross-layer": "#55a868"}
        for y, (_, kind, _, mrr) in enumerate(bars):
            ax.barh(y, mrr, color=colors[kind], label=kind)
            ax.text(mrr + 0.01, y, f"{mrr:.3f}", va="center", fontsize=8)
        ax.set_yticks(range(len(bars)), [f"{g}: {n}" for g, _, n, _ in bars])
        ax.invert_yaxis()
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.set_xlabel("MRR@10")
        ax.set_xlim(0, 1.1)
        save(fig, "layers.png")

    compression = r["compression"]
    if compression and compression["ratios"]:
        ratios = np.asarray(compression["ratios"])
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        low, high = float(ratios.min()), float(ratios.max())
        wide = high > 10 * low  # a log axis only pays when ratios span a decade
        bins = list(np.geomspace(low, high, 30)) if wide else 20
        ax.hist(ratios, bins=bins, color="#4c72b0")
        if wide:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axvline(float(np.median(ratios)), color="#c44e52", label="median")
        if compression["total_ratio"]:
            ax.axvline(compression["total_ratio"], color="#55a868", ls="--", label="total")
        ax.set_xlabel("verbatim / distilled tokens per exchange")
        ax.set_ylabel("exchanges")
        ax.legend()
        save(fig, "compression.png")
    return written


def _layer_bars(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    """(group, kind, config, MRR@10): per engine the best verbatim and distilled
    configuration side by side, then every cross-layer one."""
    best: dict[str, dict[str, Any]] = {}
    for c in rows:  # rows are sorted by MRR@10, so the first of a mode is its best
        best.setdefault(c["mode"], c)
    bars = []
    for engine in ("bm25", "vector"):
        for kind in ("verbatim", "distilled"):
            if (one := best.get(f"{kind}-{engine}")) is not None:
                bars.append((engine, kind, one["name"], one["metrics"]["MRR@10"]))
    for c in rows:
        if is_cross_layer(c["name"]):
            bars.append(("cross", "cross-layer", c["name"], c["metrics"]["MRR@10"]))
    return bars
