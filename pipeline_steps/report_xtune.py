"""The report's xTune parts (paper 003): the Table 4 grid of augmentations x their use, and the training
curves of the xTune methods (dev score and the unweighted loss terms R1, R2 of the train logs' ``terms``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pipeline_steps.io import atomic_path  # noqa: E402
from pipeline_steps.method_names import split_method  # noqa: E402

# paper 003 Table 4 columns: the xTune method of each
XTUNE_COLUMNS = {"xtune_da": "Data Aug.", "xtune_r1": "xTune R1", "xtune_r2": "xTune R2"}


def augmentation_table(table: pd.DataFrame, augmentations: dict[str, str], value: str) -> pd.DataFrame:
    """Paper 003 Table 4: one row per augmentation, one column per use of it (``XTUNE_COLUMNS``: plain
    data augmentation, example consistency R1 only, model consistency R2 only), cells the target-language
    average ``value`` of ``table``. ``augmentations``: report row name -> its augmentation (e.g.
    ``xtune_r1`` -> ``subword``, ``xtune_r1@noise`` -> ``noise``). Empty when no such method ran."""
    rows = table[(table["lang"] == "avg") & table["method"].isin(augmentations)]
    columns = ["augmentation", *XTUNE_COLUMNS.values()]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(
        augmentation=rows["method"].map(augmentations),
        use=[XTUNE_COLUMNS[split_method(m)[0]] for m in rows["method"]],
    )
    wide = rows.pivot_table(index="augmentation", columns="use", values=value, aggfunc="first", sort=False)
    return wide.reindex(columns=list(XTUNE_COLUMNS.values())).reset_index().rename_axis(columns=None)


SMOOTHING = 10  # steps of the rolling mean drawn for the loss terms


def loss_terms(logs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long frame (method, step, term, value) of every logged loss term of each train log."""
    rows = []
    for method, df in logs.items():
        for step, terms in zip(df["step"], df["terms"], strict=True):
            if terms:
                rows += [(method, int(step), str(k), float(v)) for k, v in dict(terms).items()]
    return pd.DataFrame(rows, columns=["method", "step", "term", "value"])


def xtune_curves_figure(logs: dict[str, pd.DataFrame], title: str, label: str) -> Figure:
    """Left: source dev score against step, one line per method. Right: R1 and R2 (unweighted, rolling
    mean of ``SMOOTHING`` steps) against step, for the methods whose logs have them."""
    fig, (dev_ax, terms_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    color = {method: f"C{i}" for i, method in enumerate(logs)}  # one colour per method in both panels
    for method, df in logs.items():
        dev = df[df["dev_f1"].notna()]
        dev_ax.plot(
            dev["step"], 100.0 * dev["dev_f1"], marker="o", markersize=3, label=method, color=color[method]
        )
    terms = loss_terms(logs)
    for (method, term), group in terms[terms["term"].isin(["r1", "r2"])].groupby(
        ["method", "term"], sort=False
    ):
        if (group["value"] > 0).any():
            smooth = group["value"].rolling(SMOOTHING, min_periods=1).mean()
            style = "-" if term == "r1" else "--"
            terms_ax.plot(group["step"], smooth, style, label=f"{method} {term.upper()}", color=color[method])
    dev_ax.set(xlabel="fine-tuning step", ylabel=f"source dev {label} (%)", title=title)
    terms_ax.set(xlabel="fine-tuning step", ylabel="unweighted term (log scale)", title="consistency terms")
    terms_ax.set_yscale("log")  # R1 (a KL of near-identical views) sits orders of magnitude below R2
    dev_ax.legend(fontsize=8)
    if terms_ax.lines:
        terms_ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_xtune_curves(logs: dict[str, pd.DataFrame], path: str | Path, title: str, label: str) -> None:
    fig = xtune_curves_figure(logs, title, label)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)
