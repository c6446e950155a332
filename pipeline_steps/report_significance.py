"""Is a method's target-language average different from the baseline's? (issue 15's significance note)

For each method with a target ``avg`` row, the difference of its mean over seeds from the baseline's
(ZERO-SHOT, the row every paper compares against), and where both have two or more seeds Student's
two-sample t-test on the per-seed averages with the pooled standard deviation

    s_p = sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2)),  t = (m1 - m2) / (s_p sqrt(1/n1 + 1/n2)),

two-sided, n1 + n2 - 2 degrees of freedom (``scipy.stats.ttest_ind_from_stats``, ``equal_var=True``).
With three seeds a side a difference needs |t| > 2.78 to be significant at p < 0.05: a seed sd of 1
point then asks for a difference of about 2.3 points.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import ttest_ind_from_stats

BASELINE = "zero_shot"
ALPHA = 0.05
COLUMNS = ["method", "delta", "pooled_sd", "t", "p", "n_seeds", "n_baseline"]


def pooled_sd(s1: float, n1: int, s2: float, n2: int) -> float:
    """The pooled standard deviation of two samples (n1 + n2 - 2 degrees of freedom)."""
    return math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))


def significance_table(table: pd.DataFrame, metric: str, baseline: str = BASELINE) -> pd.DataFrame:
    """One row per method other than ``baseline`` with a target ``avg`` row in ``table`` (the report's
    ``{metric}_mean``/``_std``/``n_seeds`` layout): ``COLUMNS``; ``pooled_sd``, ``t`` and ``p`` are NaN
    unless both sides have two or more seeds. Empty without a baseline ``avg`` row."""
    avg = table[table["lang"] == "avg"].set_index("method")
    if baseline not in avg.index:
        return pd.DataFrame(columns=COLUMNS)
    base = avg.loc[baseline]
    m2, s2, n2 = float(base[f"{metric}_mean"]), float(base[f"{metric}_std"]), int(base["n_seeds"])
    rows = []
    for method, row in avg.drop(index=baseline).iterrows():
        m1, s1, n1 = float(row[f"{metric}_mean"]), float(row[f"{metric}_std"]), int(row["n_seeds"])
        sp = t = p = math.nan
        if n1 >= 2 and n2 >= 2:
            sp = pooled_sd(s1, n1, s2, n2)
            if sp > 0:
                t, p = ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=True)
        rows.append((method, m1 - m2, sp, float(t), float(p), n1, n2))
    return pd.DataFrame(rows, columns=COLUMNS)


def significance_markdown(sig: pd.DataFrame, label: str, baseline: str = BASELINE) -> list[str]:
    """The report section; nothing when no method has a test (fewer than two seeds a side)."""
    if sig.empty or sig["t"].isna().all():
        return []
    lines = [
        "",
        f"## Against {baseline}: target average, {label} (Student's t, pooled sd, two-sided)",
        "",
        "| method | Δ (points) | pooled sd | t | p | seeds (method / baseline) | p < 0.05 |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in sig.itertuples(index=False):
        if math.isnan(r.t):
            cells = ["", "", "", "no test"]
        else:
            cells = [f"{r.pooled_sd:.2f}", f"{r.t:+.2f}", f"{r.p:.3f}", "yes" if r.p < ALPHA else "no"]
        lines.append(
            f"| {r.method} | {r.delta:+.2f} | {cells[0]} | {cells[1]} | {cells[2]} | "
            f"{r.n_seeds} / {r.n_baseline} | {cells[3]} |"
        )
    return lines
