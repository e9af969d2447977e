"""The evaluation report: Markdown, JSON for machines, PNG plots (docs/evaluation.md).

`build_report(runs_dir, out_dir)` writes `report.md`, `results.json`, `mrr.png`,
`layers.png` and `compression.png`. The keys of results.json: runs_dir, min_grade,
measures, queries {scored, adversarial, absent, no_relevant}, configurations (sorted by
MRR@10: name, mode, fusion, metrics, mrr_ci, latency_ms {p50, p95, n, k}: k is 10
when the runs recorded `latency_ms_k10`, else the run depth), baseline {name, why},
comparisons, goals, by_type, by_category, absent, compression, judgments, commands,
per_query {config: {measure: {qid: value}}}, notes, files. Non-finite numbers (an
infinite Cohen's d) are written as null. Optional inputs that are missing leave their
section out, with one line saying so.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from memdistill.retrieve.fusion import DEFAULT_FUSION
from memdistill.retrieve.modes import DEFAULT_MODE

from .datasets import LOCOMO_CATEGORIES
from .extras import REPORT_MODULES, require
from .metrics import (
    ADVERSARIAL,
    MEASURES,
    Evaluation,
    RunsFolder,
    absent_summary,
    compression_summary,
    evaluate,
    judgments_summary,
    load_runs_folder,
    run_latency,
)
from .plots import write_plots
from .stats import (
    best_verbatim,
    choose_baseline,
    compare_all,
    mode_of,
    t_interval,
)
from .textfiles import read_json

DISTILLED_GOAL = 0.96  # distilled-vector MRR >= 96% of the best verbatim mode (issue 3)


def build_report(
    runs_dir: Path, out_dir: Path, *, baseline: str | None = None, min_grade: int = 1
) -> dict[str, Any]:
    """Score the runs folder and write the report files; returns results.json's content."""
    require(REPORT_MODULES, "`memdistill eval report`")
    folder = load_runs_folder(runs_dir)
    ev = evaluate(folder, min_grade)
    notes = folder.notes
    overall = ev.overall()
    mrr = {c: m["MRR@10"] for c, m in overall.items()}
    base, why = choose_baseline(mrr, baseline)
    config_json = read_json(runs_dir / "config.json")
    config_json = config_json if isinstance(config_json, dict) else {}
    configurations = _configurations(folder, ev, overall)
    by_query = {c: values["MRR@10"] for c, values in ev.per_query.items()}
    comparisons = compare_all(by_query, ev.scored, base)
    results: dict[str, Any] = {
        "runs_dir": str(runs_dir),
        "min_grade": min_grade,
        "measures": list(MEASURES),
        "queries": ev.query_sets(),
        "configurations": configurations,
        "baseline": {"name": base, "why": why},
        "comparisons": [c.as_json() for c in comparisons],
        "goals": _goals(mrr, configurations),
        "by_type": ev.by_type(),
        "by_category": ev.by_category(),
        "absent": absent_summary(folder, ev.absent),
        "compression": compression_summary(runs_dir / "compression.jsonl"),
        "judgments": judgments_summary(runs_dir),
        "commands": _commands(config_json),
        "per_query": ev.per_query,
        "notes": notes,
    }
    notes += _loader_notes(runs_dir / "notes.json")
    if not ev.scored:
        notes.append("no query has a relevant exchange in qrels.txt: every mean above is 0")
    out_dir.mkdir(parents=True, exist_ok=True)
    results["files"] = {"report": "report.md", "plots": write_plots(results, out_dir)}
    (out_dir / "report.md").write_text(_markdown(results), encoding="utf-8")
    text = json.dumps(_finite(results), indent=1, allow_nan=False, ensure_ascii=False)
    (out_dir / "results.json").write_text(text + "\n", encoding="utf-8")
    return results


def _configurations(
    folder: RunsFolder, ev: Evaluation, overall: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    rows = []
    for name, metrics in overall.items():
        meta = read_json(folder.path / "runs" / f"{name}.json")
        meta = meta if isinstance(meta, dict) else {}
        ci = t_interval([ev.per_query[name]["MRR@10"][q] for q in ev.scored])
        rows.append({
            "name": name,
            "mode": meta.get("mode") or mode_of(name),
            "fusion": meta.get("fusion", name.split(".")[1] if "." in name else None),
            "metrics": metrics,
            "mrr_ci": {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n,
                       "confidence": 0.95, "method": "t interval over queries"},
            "latency_ms": run_latency(meta),
        })  # fmt: skip
    return sorted(rows, key=lambda r: (-r["metrics"]["MRR@10"], r["name"]))


def _goals(mrr: dict[str, float], configurations: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 3's targets, always against the best verbatim configuration."""
    best = best_verbatim(mrr)
    if best is None:
        return {"best_verbatim": None}
    target = mrr[best]

    def row(c: dict[str, Any], meets: bool) -> dict[str, Any]:
        value = c["metrics"]["MRR@10"]
        return {"config": c["name"], "mrr": value,
                "ratio": value / target if target else None, "meets": meets}  # fmt: skip

    distilled = [c for c in configurations if c["mode"] == "distilled-vector"]
    default = [c for c in configurations
               if c["mode"] == DEFAULT_MODE and c["fusion"] in (DEFAULT_FUSION, None)]  # fmt: skip
    return {
        "best_verbatim": {"config": best, "mrr": target},
        "distilled_vector": [
            row(c, c["metrics"]["MRR@10"] >= DISTILLED_GOAL * target) for c in distilled
        ],
        "default_cross_layer": [row(c, c["metrics"]["MRR@10"] > target) for c in default],
    }


def _commands(config_json: dict[str, Any]) -> list[str]:
    found = config_json.get("commands", config_json.get("command"))
    items = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    return [shlex.join(map(str, c)) if isinstance(c, list) else str(c) for c in items]


def _loader_notes(path: Path) -> list[str]:
    data = read_json(path)
    counts = data.get("counts") if isinstance(data, dict) else None
    if not isinstance(counts, dict) or not any(counts.values()):
        return []
    return [f"notes.json: the loaders fixed {counts.get('fixed', 0)} labels and dropped "
            f"{counts.get('dropped', 0)} (details there)"]  # fmt: skip


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --- Markdown --------------------------------------------------------------------------


def _markdown(r: dict[str, Any]) -> str:
    q = r["queries"]
    out = [
        "# Evaluation report", "",
        f"Runs folder `{r['runs_dir']}`; relevant means grade >= {r['min_grade']} "
        "(nDCG@10 uses the grades as gains). Metrics by ir-measures on pytrec_eval.", "",
        f"Scored queries: {len(q['scored'])} (a query a run returned nothing for scores 0); "
        f"absent: {len(q['absent'])}; LoCoMo adversarial, apart: {len(q['adversarial'])}; "
        f"not scorable (nothing relevant at the threshold): {len(q['no_relevant'])}"
        + (f" ({', '.join(q['no_relevant'][:10])})" if q["no_relevant"] else "") + ".", "",
        "## Configurations", "",
        "| configuration | MRR@10 | 95% CI | Recall@5 | Recall@10 | nDCG@10 | P@5 "
        "| p50 ms | p95 ms |", "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c in r["configurations"]:
        m, ci, lat = c["metrics"], c["mrr_ci"], c["latency_ms"] or {}
        cells = [_f(m["MRR@10"]), f"{_f(ci['low'])}–{_f(ci['high'])}"]
        cells += [_f(m[k]) for k in MEASURES[1:]] + [_f(lat.get(p), 1) for p in ("p50", "p95")]
        out.append(f"| {c['name']} | " + " | ".join(cells) + " |")
    out += ["", "CI: t interval over the scored queries, clipped to [0, 1]."]
    out += _latency_md(r["configurations"])
    out += _comparisons_md(r) + _goals_md(r["goals"]) + _groups_md(r)
    out += _absent_md(r["absent"]) + _compression_md(r["compression"])
    out += _judgments_md(r["judgments"])
    out += ["", "## Commands", ""]
    out += [f"```\n{c}\n```" for c in r["commands"]] or ["config.json records no command."]
    if r["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    out += ["", "## Plots", ""] + [f"![{p}]({p})" for p in r["files"]["plots"]]
    if "layers.png" not in r["files"]["plots"]:
        out.append("No layers.png: no single-layer bm25/vector or cross-layer configuration.")
    if "compression.png" not in r["files"]["plots"]:
        out.append("No compression.png: no per-exchange token ratios.")
    return "\n".join(out) + "\n"


def _latency_md(configurations: list[dict[str, Any]]) -> list[str]:
    at: dict[int | None, list[str]] = {}
    for c in configurations:
        if c["latency_ms"] is not None:
            at.setdefault(c["latency_ms"]["k"], []).append(c["name"])
    if not at:
        return ["No latency recorded (no `latency_ms_k10` or `latency_ms` in runs/*.json)."]
    out = []
    if 10 in at:
        out.append("Latency (p50, p95 over queries): search at k=10, query embedding included.")
    older = [name for k, names in at.items() if k != 10 for name in names]
    if older:
        which = "every configuration" if 10 not in at else ", ".join(f"`{n}`" for n in older)
        out.append(f"Latency of {which}: no `latency_ms_k10` recorded (an older runs "
                   "folder), so each search at the run depth (k=100 by default, 10x k "
                   "candidates per layer), query embedding included: slower than the "
                   "default search at k=10.")  # fmt: skip
    return out


def _comparisons_md(r: dict[str, Any]) -> list[str]:
    base = r["baseline"]
    out = ["", "## Against the baseline", "",
           f"Baseline: `{base['name']}` ({base['why']}). Per-query MRR@10, paired over the "
           f"scored queries; Bonferroni over {len(r['comparisons'])} comparisons; "
           "d = Cohen's d_z (mean difference / sd of differences).", "",
           "| configuration | Δ MRR@10 | ratio | t-test p | p (Bonf.) | Wilcoxon p "
           "| p (Bonf.) | d |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in sorted(r["comparisons"], key=lambda c: -c["mean_diff"]):
        out.append(f"| {c['config']} | {c['mean_diff']:+.3f} | {_f(c['ratio'])} | "
                   f"{_p(c['p_t'])} | {_p(c['p_t_bonferroni'])} | {_p(c['p_wilcoxon'])} | "
                   f"{_p(c['p_wilcoxon_bonferroni'])} | {_f(c['cohens_d'], 2)} |")  # fmt: skip
    return out


def _goals_md(goals: dict[str, Any]) -> list[str]:
    best = goals["best_verbatim"]
    if best is None:
        return ["", "## Goals", "", "No verbatim-only configuration ran: goals not assessed."]
    out = ["", "## Goals", "", f"Best verbatim: `{best['config']}`, MRR@10 {_f(best['mrr'])}."]
    for key, what in (("distilled_vector", f">= {DISTILLED_GOAL:.0%} of it"),
                      ("default_cross_layer", "above it")):  # fmt: skip
        for g in goals[key]:
            verdict = "met" if g["meets"] else "not met"
            out.append(f"- `{g['config']}` ({what}): {_f(g['mrr'])}, "
                       f"ratio {_f(g['ratio'])}: {verdict}")  # fmt: skip
        if not goals[key]:
            out.append(f"- {key.replace('_', ' ')}: no such configuration ran.")
    return out


def _groups_md(r: dict[str, Any]) -> list[str]:
    names = [c["name"] for c in r["configurations"]]
    out = ["", "## By query type (MRR@10; every measure in results.json)", ""]
    out += _group_table(r["by_type"], names, lambda t: t)
    if not r["by_category"]:
        return [*out, "", "No LoCoMo categories in these queries."]
    out += ["", "## LoCoMo categories (MRR@10)", "",
            f"Category {ADVERSARIAL} (adversarial) is not in the overall mean.", ""]  # fmt: skip
    return out + _group_table(
        r["by_category"], names, lambda c: f"{c} {LOCOMO_CATEGORIES.get(c, '')}".strip()
    )


def _group_table(groups: dict[str, Any], names: list[str], label: Any) -> list[str]:
    keys = list(groups)
    out = ["| configuration | " + " | ".join(f"{label(k)} (n={groups[k]['n']})" for k in keys)
           + " |", "|---" * (len(keys) + 1) + "|"]  # fmt: skip
    for name in names:
        cells = [_f(groups[k]["metrics"][name]["MRR@10"]) for k in keys]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _absent_md(absent: dict[str, Any]) -> list[str]:
    out = ["", "## Absent queries", ""]
    if not absent["n"]:
        return [*out, "No absent queries."]
    out += [f"Queries with nothing to find: {absent['n']}. What came back is information, "
            "not quality; top scores are on each configuration's own scale.", "",
            "| configuration | queries with hits | mean top score |", "|---|---|---|"]  # fmt: skip
    for name, a in absent["configs"].items():
        out.append(f"| {name} | {a['queries_with_hits']}/{absent['n']} | "
                   f"{_f(a['mean_top_score'], 4)} |")  # fmt: skip
    listed = [f"{q}: {v['configs_with_hits']}" for q, v in absent["queries"].items()]
    more = f" (and {len(listed) - 40} more in results.json)" if len(listed) > 40 else ""
    return [*out, "", f"Configurations returning hits, per query: {', '.join(listed[:40])}{more}."]


def _compression_md(c: dict[str, Any] | None) -> list[str]:
    if c is None:
        return ["", "## Compression", "", "No compression.jsonl: compression not reported."]
    out = ["", "## Compression", "", f"{c['exchanges']} exchanges; total ratio "
           f"{_f(c['total_ratio'], 1)}x (all verbatim tokens / all distilled tokens).", "",
           "| tokens per exchange | mean | median | p90 |", "|---|---|---|---|"]  # fmt: skip
    labels = {"verbatim_tokens": "verbatim", "distilled_tokens": "distilled",
              "ratio": "verbatim / distilled"}  # fmt: skip
    for key, label in labels.items():
        if (s := c[key]) is not None:
            out.append(f"| {label} | {_f(s['mean'], 1)} | {_f(s['median'], 1)} | "
                       f"{_f(s['p90'], 1)} |")  # fmt: skip
    if c["without_distilled_tokens"]:
        out.append(f"\n{c['without_distilled_tokens']} exchanges have no distilled tokens "
                   "(no ratio; counted in the totals).")  # fmt: skip
    return out


def _judgments_md(j: dict[str, Any]) -> list[str]:
    out = ["", "## Judgments", "", "Scored with `qrels.txt`."]
    for name, f in j["files"].items():
        grades = ", ".join(f"grade {g}: {n}" for g, n in f["grades"].items())
        out.append(f"- `{name}`: {f['judgments']} judgments over {f['queries']} queries "
                   f"({grades})")  # fmt: skip
    if not j["llm"]:
        return [*out, "", "No LLM grader agreement (no grades.json, or no `agreement` in it)."]
    for key, value in j["llm"].items():
        out.append(f"- {key}: `{json.dumps(_finite(value), ensure_ascii=False)}`")
    return out


def _f(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if math.isfinite(value) else ("∞" if value > 0 else "-∞")


def _p(value: float | None) -> str:
    return "–" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")
