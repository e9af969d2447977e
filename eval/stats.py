"""Paired comparisons of configurations over the same queries (scipy).

Every configuration is compared with one baseline on its per-query MRR@10: a paired
two-sided t-test and the Wilcoxon signed-rank test (zeros split between the signs, so a
query on which both rank the same counts), both Bonferroni-corrected over the family of
comparisons (p * m, capped at 1: simple enough not to need statsmodels), and the paired
effect size Cohen's d_z (mean difference / standard deviation of the differences).

Confidence intervals are t intervals over queries: deterministic (no resampling seed to
record), the same model as the paired t-test beside them, and adequate for the tens of
queries a run has; a mean of reciprocal ranks cannot leave [0, 1], so the bounds are
clipped there.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from memdistill.errors import ConfigError, QueryError
from memdistill.models import LAYERS
from memdistill.retrieve.modes import layers_of

from .extras import needs

VERBATIM_LAYERS = tuple(layer for layer in LAYERS if layer.startswith("verbatim-"))


@dataclass(frozen=True, slots=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class PairedTest:
    n: int
    mean_diff: float
    t_stat: float | None
    p_t: float | None
    w_stat: float | None
    p_wilcoxon: float | None
    cohens_d: float


@dataclass(frozen=True, slots=True)
class Comparison:
    config: str
    baseline: str
    test: PairedTest
    p_t_bonferroni: float | None
    p_wilcoxon_bonferroni: float | None
    ratio: float | None  # config MRR / baseline MRR

    def as_json(self) -> dict[str, Any]:
        test = asdict(self.test)
        return {
            "config": self.config,
            "baseline": self.baseline,
            **test,
            "p_t_bonferroni": self.p_t_bonferroni,
            "p_wilcoxon_bonferroni": self.p_wilcoxon_bonferroni,
            "ratio": self.ratio,
        }


def mode_of(config: str) -> str:
    """A configuration's name starts with its mode, then a dot (docs/evaluation.md)."""
    return config.split(".", 1)[0]


def layers(config: str) -> tuple[str, ...]:
    """The layers of a configuration's mode; none for a name that is not one of our
    modes (runs other tools put in the folder)."""
    try:
        return layers_of(mode_of(config))
    except QueryError:
        return ()


def is_verbatim(config: str) -> bool:
    """The mode has layers, and every one is a verbatim one."""
    found = layers(config)
    return bool(found) and all(layer in VERBATIM_LAYERS for layer in found)


def is_cross_layer(config: str) -> bool:
    """The mode fuses a verbatim layer with a distilled one."""
    found = layers(config)
    return any(x.startswith("verbatim-") for x in found) and any(
        x.startswith("distilled-") for x in found
    )


def choose_baseline(mrr: Mapping[str, float], explicit: str | None = None) -> tuple[str, str]:
    """(baseline, why). Default: the best all-verbatim configuration by MRR@10."""
    if not mrr:
        raise ConfigError("no configurations to compare; the runs folder has no runs")
    if explicit is not None:
        if explicit not in mrr:
            names = ", ".join(sorted(mrr))
            raise ConfigError(f"unknown baseline {explicit!r}; use one of: {names}")
        return explicit, "chosen explicitly"
    verbatim = best_verbatim(mrr)
    if verbatim is not None:
        return verbatim, "the best verbatim configuration by MRR@10"
    why = "the best configuration by MRR@10 (no verbatim-only configuration ran)"
    return _best(mrr, list(mrr)), why


def best_verbatim(mrr: Mapping[str, float]) -> str | None:
    """The best configuration whose layers are all verbatim, by MRR@10; None if none ran.
    The default baseline, and what the goals are measured against."""
    verbatim = [c for c in mrr if is_verbatim(c)]
    return _best(mrr, verbatim) if verbatim else None


def _best(mrr: Mapping[str, float], names: list[str]) -> str:
    return max(sorted(names), key=lambda c: mrr[c])  # sorted: ties go to the first name


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student t interval for the mean, clipped to [0, 1]."""
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, mean, mean, n)
    half = (
        float(_scipy_stats().t.ppf(0.5 + confidence / 2, n - 1)) * statistics.stdev(values) / n**0.5
    )
    return Interval(mean, max(0.0, mean - half), min(1.0, mean + half), n)


def cohens_d(diffs: Sequence[float]) -> float:
    """Paired d_z; 0 when nothing differs, +-inf for a constant non-zero shift."""
    if not diffs:
        return 0.0
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    if sd == 0.0 or _constant(diffs):
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """a against b, query by query (same order). p-values None when n < 2."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else 0.0
    d = cohens_d(diffs)
    if n < 2:
        return PairedTest(n, mean, None, None, None, None, d)
    if _constant(diffs):
        # scipy returns nan (or warns) here; the limits are exact.
        t, p_t = (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    else:
        result = _scipy_stats().ttest_rel(a, b)
        t, p_t = float(result.statistic), float(result.pvalue)
    if all(x == 0.0 for x in diffs):
        # zsplit gives every zero half a rank on each side: W = n(n+1)/4, p = 1.
        w, p_w = n * (n + 1) / 4, 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-sample / ties notes; p is still defined
            result_w = _scipy_stats().wilcoxon(diffs, zero_method="zsplit")
        w, p_w = float(result_w.statistic), float(result_w.pvalue)
    return PairedTest(n, mean, t, p_t, w, p_w, d)


def bonferroni(p_values: Sequence[float | None], m: int | None = None) -> list[float | None]:
    """p * m capped at 1; m defaults to the number of tests in the family."""
    family = len(p_values) if m is None else m
    return [None if p is None else min(1.0, p * family) for p in p_values]


def compare_all(
    per_query: Mapping[str, Mapping[str, float]], qids: Sequence[str], baseline: str
) -> list[Comparison]:
    """Every other configuration against the baseline, on the given queries."""
    base = [per_query[baseline][q] for q in qids]
    others = sorted(c for c in per_query if c != baseline)
    tests = {c: paired_test([per_query[c][q] for q in qids], base) for c in others}
    p_t = bonferroni([tests[c].p_t for c in others])
    p_w = bonferroni([tests[c].p_wilcoxon for c in others])
    base_mean = statistics.fmean(base) if base else 0.0
    comparisons = []
    for i, config in enumerate(others):
        mean = statistics.fmean(per_query[config][q] for q in qids) if qids else 0.0
        ratio = mean / base_mean if base_mean > 0 else None
        comparisons.append(Comparison(config, baseline, tests[config], p_t[i], p_w[i], ratio))
    return comparisons


def _scipy_stats() -> Any:  # scipy.stats, which has no type hints
    with needs("scipy", "the paired tests and confidence intervals"):
        from scipy import stats
    return stats


def _constant(values: Sequence[float]) -> bool:
    # Exact equality: stdev of identical floats can come out as rounding noise.
    return all(v == values[0] for v in values)
