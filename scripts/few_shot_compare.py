"""Paper 000's Figure 4b across experiments: the few-shot rows of several experiments' reports on one
curve, each experiment a line (e.g. with / without continued pre-training, with / without [QUE]).

    .venv/bin/python scripts/few_shot_compare.py OUT.png qa-clism qa-clism-base qa-clism-noque

reads results/{experiment}/report/table.csv, prints the Table 3/9 rows (target average, F1 / EM for QA)
as markdown and draws the target-average F1 (else the first metric) against the number of examples.
For QA it also prints, per size, each other experiment's F1 difference to the first with a 95% paired
bootstrap interval over the target-language questions (every language but en) of
results/{experiment}/predict/ (seed 13, or SEED=...; QA_METRIC=mlqa for MLQA's normalisation).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_steps.method_names import with_shots
from pipeline_steps.metrics.qa import example_scores
from pipeline_steps.report_few_shot import few_shot_table, plot_few_shot


def compare(experiments: list[str]) -> pd.DataFrame:
    """The few-shot table of each experiment, its method renamed ``{experiment}: {method}``."""
    parts = []
    for experiment in experiments:
        path = Path(f"results/{experiment}/report/table.csv")
        if not path.exists():
            sys.exit(f"{path}: no report; run that experiment first")
        table = pd.read_csv(path)
        metrics = [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]
        rows = few_shot_table(table, metrics)
        if rows.empty:
            sys.exit(f"{path}: no few-shot (-Nshot) rows")
        parts.append(rows.assign(method=experiment + ": " + rows["method"]))
    return pd.concat(parts, ignore_index=True)


def markdown(table: pd.DataFrame, metric: str) -> str:
    """One row per line (in the experiments' order), one column per size; QA cells ``F1 / EM``."""
    cell = table[f"{metric}_mean"].map("{:.1f}".format)
    if metric == "f1" and "em_mean" in table.columns:
        cell = cell + " / " + table["em_mean"].map("{:.1f}".format)
    wide = table.assign(cell=cell).pivot(index="method", columns="size", values="cell")
    wide = wide.loc[list(dict.fromkeys(table["method"]))]
    lines = ["| method | " + " | ".join(f"{s} examples" for s in wide.columns) + " |"]
    lines.append("|---|" + "---:|" * len(wide.columns))
    lines += [f"| {method} | " + " | ".join(row) + " |" for method, row in wide.iterrows()]
    return "\n".join(lines)


def question_f1(experiment: str, method: str, seed: int, source: str, variant: str) -> pd.Series:
    """F1 (0-100) of every target-language question a run predicted, indexed by question id."""
    parts = []
    for path in sorted(Path(f"results/{experiment}/predict/{method}/{seed}").glob("*.parquet")):
        pred = pd.read_parquet(path)
        lang = pred["lang"].iloc[0]
        if lang != source:
            scores = example_scores(list(pred["pred_text"]), list(pred["gold_texts"]), lang, variant)
            parts.append(pd.Series([100 * f1 for _, f1 in scores], index=pred["id"]))
    if not parts:
        sys.exit(f"results/{experiment}/predict/{method}/{seed}: no target-language predictions")
    return pd.concat(parts)


def paired_difference(a: pd.Series, b: pd.Series, draws: int = 2000, seed: int = 0) -> tuple[float, ...]:
    """Mean of ``b - a`` over the questions both scored, and its 95% paired bootstrap interval."""
    diff = (b - a).dropna().to_numpy()
    if len(diff) != len(a) or len(diff) != len(b):
        sys.exit(f"the runs scored different questions ({len(a)} and {len(b)})")
    means = np.random.default_rng(seed).choice(diff, size=(draws, len(diff))).mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def differences(table: pd.DataFrame, experiments: list[str], seed: int, variant: str) -> list[str]:
    """Markdown rows: per size and method, each other experiment minus the first (target F1)."""
    lines = [f"| examples | method | F1 difference to {experiments[0]} | 95% interval |"]
    lines.append("|---:|---|---:|---|")
    first = experiments[0] + ": "
    for row in table[table["method"].str.startswith(first)].itertuples(index=False):
        method = with_shots(row.method[len(first) :], row.size)
        base = question_f1(experiments[0], method, seed, "en", variant)
        for other in experiments[1:]:
            mean, low, high = paired_difference(base, question_f1(other, method, seed, "en", variant))
            lines.append(f"| {row.size} | {other}: {method} | {mean:+.1f} | [{low:+.1f}, {high:+.1f}] |")
    return lines


def main(out: str, *experiments: str) -> None:
    table = compare(list(experiments))
    metric = "f1" if "f1_mean" in table.columns else table.columns[2][: -len("_mean")]
    print(markdown(table, metric))
    if metric == "f1":
        seed, variant = int(os.environ.get("SEED", 13)), os.environ.get("QA_METRIC", "squad")
        print("\n".join(["", *differences(table, list(experiments), seed, variant)]))
    plot_few_shot(table, f"{metric}_mean", out, "Few-shot (paper 000 Figure 4b)", metric.upper())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
