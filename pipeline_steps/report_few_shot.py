"""The report's few-shot parts (paper 000 App. C): the Table 3/9 layout and the Figure 4b curve.

Rows of the results table whose method says ``-Nshot`` are regrouped by size: one row per (size,
method), the target-language average of each metric (QA: F1 / EM, as Table 3), mean over the sampling
seeds; the curve draws that average against the size, one line per method (Figure 4b).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline_steps.io import atomic_path  # noqa: E402
from pipeline_steps.method_names import method_shots, without_shots  # noqa: E402


def few_shot_table(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Columns size, method, then ``{metric}_mean``/``_std`` of each metric and n_seeds, of the ``avg``
    rows of the few-shot methods of ``table`` (the report's csv layout), by size then method order."""
    columns = ["size", "method", *(f"{m}_{s}" for m in metrics for s in ("mean", "std")), "n_seeds"]
    rows = table[(table["lang"] == "avg") & table["method"].map(lambda m: method_shots(m) is not None)]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    order = {m: i for i, m in enumerate(dict.fromkeys(rows["method"].map(without_shots)))}
    out = rows.assign(size=rows["method"].map(method_shots), method=rows["method"].map(without_shots))
    out = out.sort_values(["size", "method"], key=lambda c: c.map(order) if c.name == "method" else c)
    return out[[c for c in columns if c in out.columns]].reset_index(drop=True)


def few_shot_markdown(table: pd.DataFrame, metric: str, qa: bool, label: str) -> list[str]:
    """Table 3/9 as markdown lines (QA cells ``F1 / EM``, else ``metric`` mean ± sd), empty without
    few-shot rows."""
    if table.empty:
        return []
    lines = ["", f"## Few-shot (paper 000 Table 3/9; target-language average, {label} %, mean over seeds)"]
    lines += ["", "| examples | method | score | seeds |", "|---:|---|---:|---:|"]
    for r in table.itertuples(index=False):
        mean, std = getattr(r, f"{metric}_mean"), getattr(r, f"{metric}_std")
        if qa:
            cell = f"{r.f1_mean:.1f} / {r.em_mean:.1f}"
        else:
            cell = f"{mean:.2f}" if pd.isna(std) else f"{mean:.2f} ± {std:.2f}"
        lines.append(f"| {r.size} | {r.method} | {cell} | {r.n_seeds} |")
    return lines


def plot_few_shot(table: pd.DataFrame, value: str, path: str | Path, title: str, label: str) -> None:
    """Figure 4b: ``value`` (target average) against the number of training examples, one line per
    method, the sizes on a log-2 axis."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, group in table.groupby("method", sort=False):
        ax.plot(group["size"], group[value], marker="o", label=method)
    ax.set_xscale("log", base=2)
    sizes = sorted(table["size"].unique())
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set(xlabel="training examples", ylabel=f"target-language average {label} (%)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)
