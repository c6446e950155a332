"""The results report: a method x language F1 table (paper 001 Table 1 layout) and a bar plot.

Rows are methods, columns the test languages (source first, then targets) and ``avg`` (mean over
target languages, as the papers report). Cells are mean F1 over seeds, with the standard deviation
when there is more than one seed. With both ZERO-SHOT and MTL-WS, the convergence plot (paper 001
Figure 2) is drawn from their train logs (schemas.TRAIN_LOG, whose ``phase`` column marks the warm-up).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pipeline_steps.io import atomic_path, read_artifact, write_text  # noqa: E402
from pipeline_steps.method_names import MAPPINGS, row_name, split_method  # noqa: E402
from pipeline_steps.runner import StepContext  # noqa: E402
from pipeline_steps.schemas import METRICS, TRAIN_LOG  # noqa: E402

log = logging.getLogger(__name__)

MAIN_PHASE = "main"  # the Trainer phase Figure 2 plots (MTL-WS: after the warm-up)


def merge_per_language_models(metrics: pd.DataFrame, target_langs: list[str]) -> pd.DataFrame:
    """One row per config method: a per-language model (``to-de``) contributes only its own
    language's cell to the ``to`` row, and the row's ``avg`` is the mean of those cells (per seed),
    as in paper 001 Table 1. Other methods pass through unchanged."""
    names = metrics["method"].drop_duplicates()
    lang_of = {m: split_method(m)[1] for m in names}
    row_of = {m: row_name(m) for m in names}
    model_lang = metrics["method"].map(lang_of)
    per_lang = model_lang.notna()
    kept = metrics[~per_lang]
    own = metrics[per_lang & (metrics["lang"] == model_lang)]
    own = own.assign(method=own["method"].map(row_of))
    f1 = own[(own["metric"] == "f1") & own["lang"].isin(target_langs)]
    avg = f1.groupby(["method", "seed"], as_index=False).agg(
        value=("value", "mean"), support=("support", "sum")
    )
    avg = avg.assign(lang="avg", metric="f1")[metrics.columns]
    return pd.concat([kept, own, avg], ignore_index=True)


def mapping_table(table: pd.DataFrame, default_mapping: str) -> pd.DataFrame:
    """Paper 001 Table 5: per target language run with both mappings (and their avg), TO's F1 with
    span-to-span and word-to-word projection and ``delta_lp`` = word2word - span2span. Empty when no
    ``to@mapping`` model was run."""
    to = table[table["method"].str.fullmatch(r"to(@[a-z0-9]+)?")].copy()
    to["mapping"] = [m.partition("@")[2] or default_mapping for m in to["method"]]
    if to["mapping"].nunique() < 2:
        return pd.DataFrame(columns=["lang", *MAPPINGS, "delta_lp"])
    to = to[to["lang"] != "avg"]  # each row's own avg may cover other languages: recomputed below
    wide = to.pivot_table(index="lang", columns="mapping", values="f1_mean", sort=False)
    wide = wide.reindex(columns=list(MAPPINGS)).dropna()
    if len(wide) > 1:
        wide.loc["avg"] = wide.mean()
    wide["delta_lp"] = wide["word2word"] - wide["span2span"]
    return wide.reset_index().rename_axis(columns=None)


def f1_table(metrics: pd.DataFrame, methods: list[str], langs: list[str]) -> pd.DataFrame:
    """Mean/std/n of F1 (in %) per (method, lang); rows in ``methods`` order, columns ``langs`` + avg."""
    f1 = metrics[metrics["metric"] == "f1"].copy()
    f1["value"] = 100.0 * f1["value"]
    stats = f1.groupby(["method", "lang"])["value"].agg(["mean", "std", "count"]).reset_index()
    columns = [lang for lang in langs if lang in set(stats["lang"])] + ["avg"]
    rows = []
    for method in methods:
        for lang in columns:
            hit = stats[(stats["method"] == method) & (stats["lang"] == lang)]
            if len(hit):
                s = hit.iloc[0]
                rows.append((method, lang, s["mean"], s["std"], int(s["count"])))
    return pd.DataFrame(rows, columns=["method", "lang", "f1_mean", "f1_std", "n_seeds"])


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:.2f}" if n < 2 or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


def markdown(
    table: pd.DataFrame, projection: dict | None, title: str, mappings: pd.DataFrame | None = None
) -> str:
    langs = list(dict.fromkeys(table["lang"]))
    lines = [f"# {title}", "", "Entity F1 (%), mean over seeds (± std when several).", ""]
    lines.append("| method | " + " | ".join(langs) + " |")
    lines.append("|---|" + "---:|" * len(langs))
    for method, group in table.groupby("method", sort=False):
        cells = {r.lang: _cell(r.f1_mean, r.f1_std, r.n_seeds) for r in group.itertuples()}
        lines.append(f"| {method} | " + " | ".join(cells.get(lang, "") for lang in langs) + " |")
    if mappings is not None and len(mappings):
        lines += ["", "## TO with span-to-span vs word-to-word label projection (paper 001 Table 5)", ""]
        lines += ["| lang | span2span | word2word | ΔLP |", "|---|---:|---:|---:|"]
        for r in mappings.itertuples():
            lines.append(f"| {r.lang} | {r.span2span:.2f} | {r.word2word:.2f} | {r.delta_lp:+.2f} |")
    if projection:
        lines += ["", f"## Label projection ({projection_caption(projection)})", ""]
        lines += ["| lang | P | R | F1 |", "|---|---:|---:|---:|"]
        for lang, s in projection_rows(projection):
            lines.append(f"| {lang} | {100 * s['P']:.2f} | {100 * s['R']:.2f} | {100 * s['F1']:.2f} |")
    return "\n".join(lines) + "\n"


def projection_caption(summary: dict) -> str:
    return f"aligner {summary.get('backend', '?')}, {summary.get('mapping', '?')} mapping"


def projection_rows(summary: dict) -> list[tuple[str, dict]]:
    """(lang, {P, R, F1}) rows of a projection summary.json (projection_eval), languages then avg."""
    langs = sorted(k for k, v in summary.items() if isinstance(v, dict) and "F1" in v and k != "avg")
    return [(k, summary[k]) for k in [*langs, "avg"] if k in summary]


def f1_figure(table: pd.DataFrame, title: str) -> tuple[Figure, Axes]:
    """Grouped bars of mean F1 per test language (one bar per method), with +-1 std error bars on the
    cells averaged over more than one seed only; the legend sits right of the axes, clear of the bars."""
    order = list(dict.fromkeys(table["lang"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(
        figsize=(2.6 + 1.1 * len(order) * max(1, len(methods)) ** 0.5, 3.6), layout="constrained"
    )
    for i, method in enumerate(methods):
        rows = table[table["method"] == method]
        pos = np.array([order.index(lang) for lang in rows["lang"]]) - 0.4 + width * (i + 0.5)
        ax.bar(pos, rows["f1_mean"], width, label=method)
        several = ((rows["n_seeds"] > 1) & rows["f1_std"].notna()).to_numpy()
        if several.any():
            ax.errorbar(
                pos[several],
                rows["f1_mean"].to_numpy()[several],
                yerr=rows["f1_std"].to_numpy()[several],
                fmt="none",
                ecolor="black",
                elinewidth=1,
                capsize=3,
            )
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel("entity F1 (%)")
    ax.set_xlabel("test language")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(title="method", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig, ax


def save_figure(fig: Figure, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)


def plot(table: pd.DataFrame, path: str | Path, title: str) -> None:
    save_figure(f1_figure(table, title)[0], path)


def convergence(logs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Dev F1 against fine-tuning step (paper 001 Figure 2), from the train logs alone: the steps of the
    ``main`` phase (for MTL-WS those after the warm-up) numbered from 1, so both curves start at the
    first adaptation step. A log without a ``main`` phase is plotted whole."""
    rows = []
    for method, df in logs.items():
        main = df[df["phase"] == MAIN_PHASE]
        if main.empty:
            main = df
        first = int(main["step"].min()) if len(main) else 1
        dev = main[main["dev_f1"].notna()]
        rows += [(method, int(r.step) - first + 1, 100.0 * r.dev_f1) for r in dev.itertuples()]
    return pd.DataFrame(rows, columns=["method", "step", "dev_f1"])


def plot_convergence(curves: pd.DataFrame, path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, group in curves.groupby("method", sort=False):
        ax.plot(group["step"], group["dev_f1"], marker="o", markersize=3, label=method)
    ax.set_xlabel("fine-tuning step (after warm-up)")
    ax.set_ylabel("source dev F1 (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(ctx: StepContext) -> None:
    """Rule ``report``. input: metrics (eval artifacts), projection (optional: [summary.json]),
    train_logs (one per ``curve_methods``; nothing else of a model is read); output: table, csv, plot,
    convergence (optional: [png]); params: experiment, source_lang, target_langs, methods, mapping,
    curve_methods."""
    frames = [read_artifact(p, METRICS) for p in ctx.input["metrics"]]
    p = ctx.params
    metrics = merge_per_language_models(pd.concat(frames, ignore_index=True), list(p["target_langs"]))
    langs = [p["source_lang"]] + list(p["target_langs"])
    table = f1_table(metrics, list(p["methods"]), langs)
    convergence_png = ctx.output.get("convergence")  # a one-element list, or empty without curves
    if isinstance(convergence_png, list):
        convergence_png = convergence_png[0] if convergence_png else None
    if convergence_png:
        logs = {
            m: read_artifact(f, TRAIN_LOG)
            for m, f in zip(p["curve_methods"], ctx.input["train_logs"], strict=True)
        }
        plot_convergence(convergence(logs), convergence_png, "Effect of warm-up on convergence")
    projection = None
    if ctx.input.get("projection"):
        projection = json.loads(Path(ctx.input["projection"][0]).read_text(encoding="utf-8"))
    title = f"xlt results: {p['experiment']}"
    mappings = mapping_table(table, p["mapping"])
    write_text(markdown(table, projection, title, mappings), ctx.output["table"])
    with atomic_path(ctx.output["csv"], suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot(table, ctx.output["plot"], title)
    log.info("report: %d methods x %d languages", table["method"].nunique(), table["lang"].nunique())
