"""Paper 000's Figure 4b across experiments: the few-shot rows of several experiments' reports on one
curve, each experiment a line (e.g. with / without continued pre-training, with / without [QUE]).

    .venv/bin/python scripts/few_shot_compare.py OUT.png qa-clism qa-clism-base qa-clism-noque

reads results/{experiment}/report/table.csv, prints the Table 3/9 rows (target average, F1 / EM for QA)
as markdown and draws the target-average F1 (else the first metric) against the number of examples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

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


def main(out: str, *experiments: str) -> None:
    table = compare(list(experiments))
    metric = "f1" if "f1_mean" in table.columns else table.columns[2][: -len("_mean")]
    cells = [f"{metric}_mean"] + (["em_mean"] if metric == "f1" else [])
    print(table.pivot(index="method", columns="size", values=cells).round(1).to_markdown())
    plot_few_shot(table, f"{metric}_mean", out, "Few-shot (paper 000 Figure 4b)", metric.upper())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
