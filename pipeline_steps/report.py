"""The results report: a method x language table (paper 001 Table 1 layout) and a bar plot.

Rows are methods, columns the test languages (source first, then targets) and ``avg`` (mean over
target languages, as the papers report). What a cell holds follows the task (``tasks.task_info``),
always in %, mean over seeds, with the standard deviation when there is more than one seed:

- tagging (ner, absa): entity F1; csv columns method, lang, f1_mean, f1_std, n_seeds.
- classification (cls): accuracy, then a macro-F1 table; csv columns method, lang, accuracy_mean,
  accuracy_std, macro_f1_mean, macro_f1_std, n_seeds.
- qa: ``F1 / EM`` as in paper 003 Table 1 (the ± is F1's std); csv columns method, lang, f1_mean,
  f1_std, em_mean, em_std, n_seeds.

In general the csv has ``{metric}_mean`` and ``{metric}_std`` for each of the task's metrics, in
``TaskInfo.metrics`` order, and ``n_seeds`` counts the seeds of the headline (first) metric; a std is
empty with one seed. With two or more seeds, table.md says whether each method's target average differs
from ZERO-SHOT's (``report_significance``). With both ZERO-SHOT and MTL-WS, the convergence plot (paper
001 Figure 2) is drawn from their train logs of every seed, as the mean and a ± sd band
(schemas.TRAIN_LOG, whose ``phase`` column marks the warm-up; its ``dev_f1`` column holds the task's
model-selection score, the headline metric).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
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
from pipeline_steps.report_few_shot import few_shot_markdown, few_shot_table, plot_few_shot  # noqa: E402
from pipeline_steps.report_significance import significance_markdown, significance_table  # noqa: E402
from pipeline_steps.report_throughput import figure as throughput_figure  # noqa: E402
from pipeline_steps.report_throughput import job_throughput  # noqa: E402
from pipeline_steps.report_throughput import markdown as throughput_markdown  # noqa: E402
from pipeline_steps.report_xtune import XTUNE_COLUMNS, augmentation_table, plot_xtune_curves  # noqa: E402
from pipeline_steps.runner import StepContext  # noqa: E402
from pipeline_steps.schemas import METRICS, TRAIN_LOG  # noqa: E402
from pipeline_steps.tasks import TaskInfo, task_info  # noqa: E402

log = logging.getLogger(__name__)

MAIN_PHASE = "main"  # the Trainer phase Figure 2 plots (MTL-WS: after the warm-up)
DEFAULT_TASK = "ner"  # markdown()'s task when a caller renders a table directly (the rule always passes one)


def _task(task: TaskInfo | str) -> TaskInfo:
    return task if isinstance(task, TaskInfo) else task_info(task)


def _label(task: TaskInfo, metric: str) -> str:
    return task.metric_labels[task.metrics.index(metric)]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def merge_per_language_models(metrics: pd.DataFrame, target_langs: list[str]) -> pd.DataFrame:
    """One row per config method: a per-language model (``to-de``) contributes only its own
    language's cells to the ``to`` row, and the row's ``avg`` of each metric is the mean of those
    cells over the target languages (per seed, support summed), as in paper 001 Table 1. Other methods
    pass through unchanged."""
    names = metrics["method"].drop_duplicates()
    lang_of = {m: split_method(m)[1] for m in names}
    row_of = {m: row_name(m) for m in names}
    model_lang = metrics["method"].map(lang_of)
    per_lang = model_lang.notna()
    kept = metrics[~per_lang]
    own = metrics[per_lang & (metrics["lang"] == model_lang)]
    own = own.assign(method=own["method"].map(row_of))
    targets = own[own["lang"].isin(target_langs)]
    avg = targets.groupby(["method", "seed", "metric"], as_index=False, sort=False).agg(
        value=("value", "mean"), support=("support", "sum")
    )
    avg = avg.assign(lang="avg")[metrics.columns]
    return pd.concat([kept, own, avg], ignore_index=True)


def mapping_table(table: pd.DataFrame, default_mapping: str, value: str = "f1_mean") -> pd.DataFrame:
    """Paper 001 Table 5: per target language run with both mappings (and their avg), TO's score
    (the ``value`` column of ``table``: the headline metric) with span-to-span and word-to-word
    projection and ``delta_lp`` = word2word - span2span. Empty when no ``to@mapping`` model was run."""
    to = table[table["method"].str.fullmatch(r"to(@[a-z0-9]+)?")].copy()
    to["mapping"] = [m.partition("@")[2] or default_mapping for m in to["method"]]
    if to["mapping"].nunique() < 2:
        return pd.DataFrame(columns=["lang", *MAPPINGS, "delta_lp"])
    to = to[to["lang"] != "avg"]  # each row's own avg may cover other languages: recomputed below
    wide = to.pivot_table(index="lang", columns="mapping", values=value, sort=False)
    wide = wide.reindex(columns=list(MAPPINGS)).dropna()
    if len(wide) > 1:
        wide.loc["avg"] = wide.mean()
    wide["delta_lp"] = wide["word2word"] - wide["span2span"]
    return wide.reset_index().rename_axis(columns=None)


def metric_table(
    metrics: pd.DataFrame, methods: list[str], langs: list[str], names: tuple[str, ...] | list[str] = ("f1",)
) -> pd.DataFrame:
    """Mean/std (in %) of each metric in ``names`` per (method, lang) and the number of seeds of the
    first (headline) one: columns method, lang, ``{name}_mean``, ``{name}_std`` per name, n_seeds.
    Rows in ``methods`` order, each method's languages in ``langs`` order then avg; a cell exists where
    the headline metric was measured (another metric missing there is NaN)."""
    names = list(names)
    part = metrics[metrics["metric"].isin(names)]
    part = part.assign(value=100.0 * part["value"])
    stats = part.groupby(["method", "lang", "metric"])["value"].agg(["mean", "std", "count"])
    measured = set(part.loc[part["metric"] == names[0], "lang"])
    columns = [lang for lang in langs if lang in measured] + ["avg"]
    rows = []
    for method in methods:
        for lang in columns:
            if (method, lang, names[0]) not in stats.index:
                continue
            row: list = [method, lang]
            for name in names:
                hit = stats.loc[(method, lang, name)] if (method, lang, name) in stats.index else None
                row += [np.nan, np.nan] if hit is None else [hit["mean"], hit["std"]]
            rows.append((*row, int(stats.loc[(method, lang, names[0]), "count"])))
    stat_columns = [f"{name}_{stat}" for name in names for stat in ("mean", "std")]
    return pd.DataFrame(rows, columns=["method", "lang", *stat_columns, "n_seeds"])


def f1_table(metrics: pd.DataFrame, methods: list[str], langs: list[str]) -> pd.DataFrame:
    """Mean/std/n of F1 (in %) per (method, lang); rows in ``methods`` order, columns ``langs`` + avg."""
    return metric_table(metrics, methods, langs, ("f1",))


def task_table(
    metrics: pd.DataFrame, methods: list[str], langs: list[str], task: TaskInfo | str
) -> pd.DataFrame:
    """:func:`metric_table` of every metric of ``task`` (the layout of table.csv)."""
    return metric_table(metrics, methods, langs, _task(task).metrics)


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:.2f}" if n < 2 or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


def _qa_cell(f1: float, f1_std: float, em: float, n: int) -> str:
    """``F1 / EM`` as in paper 003 (xTune) Table 1, one decimal; ``F1 ± std / EM`` over several seeds."""
    head = f"{f1:.1f}" if n < 2 or pd.isna(f1_std) else f"{f1:.1f} ± {f1_std:.1f}"
    return head if pd.isna(em) else f"{head} / {em:.1f}"


def _caption(task: TaskInfo) -> str:
    if task.kind == "qa":
        return "F1 / EM (%) as in xTune (paper 003) Table 1, mean over seeds (± std of F1 when several)."
    return f"{_capitalised(task.metric_labels[0])} (%), mean over seeds (± std when several)."


def _grid(table: pd.DataFrame, langs: list[str], cell) -> list[str]:
    """A method x language markdown table; ``cell(row)`` formats one row of ``table``."""
    lines = ["| method | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
    for method, group in table.groupby("method", sort=False):
        cells = {r.lang: cell(r) for r in group.itertuples()}
        lines.append(f"| {method} | " + " | ".join(cells.get(lang, "") for lang in langs) + " |")
    return lines


def _stat_cell(metric: str):
    return lambda r: _cell(getattr(r, f"{metric}_mean"), getattr(r, f"{metric}_std"), r.n_seeds)


def markdown(
    table: pd.DataFrame,
    projection: dict | None,
    title: str,
    mappings: pd.DataFrame | None = None,
    task: TaskInfo | str = DEFAULT_TASK,
    augmentation: pd.DataFrame | None = None,
    few_shot: pd.DataFrame | None = None,
    significance: pd.DataFrame | None = None,
) -> str:
    """table.md: the headline table (tagging: entity F1; classification: accuracy; QA: ``F1 / EM``),
    then a table per further metric not shown in the cells (classification: macro-F1), each method's
    difference from ZERO-SHOT with a t-test (``report_significance``; with 2+ seeds a side), Table 5 (when
    both projection mappings ran), paper 003 Table 4 (when an xTune ablation ran), paper 000 Table 3/9
    (when few-shot runs ran) and the label projection scores (when given)."""
    info = _task(task)
    langs = list(dict.fromkeys(table["lang"]))
    lines = [f"# {title}", "", _caption(info), ""]
    if info.kind == "qa":
        shown = ["f1", "em"]
        lines += _grid(table, langs, lambda r: _qa_cell(r.f1_mean, r.f1_std, r.em_mean, r.n_seeds))
    else:
        shown = [info.headline]
        lines += _grid(table, langs, _stat_cell(info.headline))
    for metric in info.metrics:
        if metric not in shown and f"{metric}_mean" in table.columns:
            lines += ["", f"## {_capitalised(_label(info, metric))} (%)", ""]
            lines += _grid(table, langs, _stat_cell(metric))
    if significance is not None:
        lines += significance_markdown(significance, info.metric_labels[0])
    if mappings is not None and len(mappings):
        scored = "" if info.kind == "tagging" else f"; {info.metric_labels[0]} %"
        heading = f"## TO with span-to-span vs word-to-word label projection (paper 001 Table 5{scored})"
        lines += ["", heading, ""]
        lines += ["| lang | span2span | word2word | ΔLP |", "|---|---:|---:|---:|"]
        for r in mappings.itertuples():
            lines.append(f"| {r.lang} | {r.span2span:.2f} | {r.word2word:.2f} | {r.delta_lp:+.2f} |")
    if augmentation is not None and len(augmentation):
        scored = f"target-language average, {info.metric_labels[0]} %"
        lines += ["", f"## Augmentation x consistency (paper 003 Table 4; {scored})"]
        lines += ["", "| augmentation | " + " | ".join(XTUNE_COLUMNS.values()) + " |", "|---|---:|---:|---:|"]
        for r in augmentation.itertuples(index=False):
            cells = ["" if pd.isna(v) else f"{v:.2f}" for v in r[1:]]
            lines.append(f"| {r[0]} | " + " | ".join(cells) + " |")
    if few_shot is not None:
        lines += few_shot_markdown(few_shot, info.headline, info.kind == "qa", info.metric_labels[0])
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


def f1_figure(
    table: pd.DataFrame, title: str, metric: str = "f1", label: str = "entity F1"
) -> tuple[Figure, Axes]:
    """Grouped bars of the mean ``metric`` (the task's headline, named ``label`` on the axis) per test
    language (one bar per method), with +-1 std error bars on the cells averaged over more than one seed
    only; the legend sits right of the axes, clear of the bars."""
    mean, std = table[f"{metric}_mean"], table[f"{metric}_std"]
    order = list(dict.fromkeys(table["lang"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(
        figsize=(2.6 + 1.1 * len(order) * max(1, len(methods)) ** 0.5, 3.6), layout="constrained"
    )
    for i, method in enumerate(methods):
        mine = (table["method"] == method).to_numpy()
        rows = table[mine]
        pos = np.array([order.index(lang) for lang in rows["lang"]]) - 0.4 + width * (i + 0.5)
        ax.bar(pos, mean[mine], width, label=method)
        several = ((rows["n_seeds"] > 1) & std[mine].notna()).to_numpy()
        if several.any():
            ax.errorbar(
                pos[several],
                mean[mine].to_numpy()[several],
                yerr=std[mine].to_numpy()[several],
                fmt="none",
                ecolor="black",
                elinewidth=1,
                capsize=3,
            )
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel(f"{label} (%)")
    ax.set_xlabel("test language")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(title="method", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig, ax


def save_figure(fig: Figure, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)


def plot(
    table: pd.DataFrame, path: str | Path, title: str, metric: str = "f1", label: str = "entity F1"
) -> None:
    save_figure(f1_figure(table, title, metric, label)[0], path)


def convergence(logs: Mapping[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Dev score against fine-tuning step (paper 001 Figure 2), from the train logs alone, one log per
    (method, seed): the steps of the ``main`` phase (for MTL-WS those after the warm-up) numbered from
    1, so both curves start at the first adaptation step. A log without a ``main`` phase is plotted
    whole. The score is the train log's ``dev_f1`` (the task's model-selection metric), in %."""
    rows = []
    for (method, seed), df in logs.items():
        main = df[df["phase"] == MAIN_PHASE]
        if main.empty:
            main = df
        first = int(main["step"].min()) if len(main) else 1
        dev = main[main["dev_f1"].notna()]
        rows += [(method, int(seed), int(r.step) - first + 1, 100.0 * r.dev_f1) for r in dev.itertuples()]
    return pd.DataFrame(rows, columns=["method", "seed", "step", "dev_f1"])


def mean_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """:func:`convergence`'s curves averaged over seeds at each step: method, step, dev_f1 (mean),
    dev_f1_std (NaN with one seed), n_seeds."""
    grouped = curves.groupby(["method", "step"], sort=False)["dev_f1"]
    out = grouped.agg(dev_f1="mean", dev_f1_std="std", n_seeds="count").reset_index()
    return out.sort_values(["method", "step"], key=_method_order(curves)).reset_index(drop=True)


def _method_order(curves: pd.DataFrame):
    """A sort key keeping the methods in their order of first appearance in ``curves``."""
    rank = {m: i for i, m in enumerate(dict.fromkeys(curves["method"]))}
    return lambda col: col.map(rank) if col.name == "method" else col


def convergence_figure(curves: pd.DataFrame, title: str, label: str = "entity F1") -> tuple[Figure, Axes]:
    """One line per method of :func:`convergence` (the mean over its seeds, a band of ± one standard
    deviation where several seeds have a step); the y axis names the task's headline metric."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, group in mean_curves(curves).groupby("method", sort=False):
        n = int(group["n_seeds"].max())
        name = f"{method} ({n} seed{'s' * (n > 1)})"
        (line,) = ax.plot(group["step"], group["dev_f1"], marker="o", markersize=3, label=name)
        band = group[group["n_seeds"] > 1]
        if len(band):
            low, high = band["dev_f1"] - band["dev_f1_std"], band["dev_f1"] + band["dev_f1_std"]
            ax.fill_between(band["step"], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("fine-tuning step (after warm-up)")
    ax.set_ylabel(f"source dev {label} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, ax


def plot_convergence(curves: pd.DataFrame, path: str | Path, title: str, label: str = "entity F1") -> None:
    save_figure(convergence_figure(curves, title, label)[0], path)


def main(ctx: StepContext) -> None:
    """Rule ``report``. input: metrics (eval artifacts), projection (optional: [summary.json]),
    train_logs (one per ``curve_methods`` x ``seeds``, method-major; nothing else of a model is read);
    output: table, csv, plot, convergence (optional: [png]); params: experiment, source_lang,
    target_langs, methods, mapping, curve_methods, seeds, task (ner | absa | cls | qa; ``ner`` when
    absent), augmentations (report row -> augmentation of the xTune ablations, for paper 003 Table 4;
    optional). Throughput
    (``report_throughput``): input all_train_logs, predictions; params benchmarks, batch_size; output
    throughput (png) and a section of the table."""
    frames = [read_artifact(p, METRICS) for p in ctx.input["metrics"]]
    p = ctx.params
    task = task_info(p["task"])
    label = task.metric_labels[0]
    metrics = merge_per_language_models(pd.concat(frames, ignore_index=True), list(p["target_langs"]))
    langs = [p["source_lang"]] + list(p["target_langs"])
    table = task_table(metrics, list(p["methods"]), langs, task)
    convergence_png = ctx.output.get("convergence")  # a one-element list, or empty without curves
    if isinstance(convergence_png, list):
        convergence_png = convergence_png[0] if convergence_png else None
    if convergence_png:
        runs = [(m, int(s)) for m in p["curve_methods"] for s in p["seeds"]]
        files = zip(runs, ctx.input["train_logs"], strict=True)
        logs = {run: read_artifact(f, TRAIN_LOG) for run, f in files}
        plot_convergence(convergence(logs), convergence_png, "Effect of warm-up on convergence", label=label)
    projection = None
    if ctx.input.get("projection"):
        projection = json.loads(Path(ctx.input["projection"][0]).read_text(encoding="utf-8"))
    title = f"xlt results: {p['experiment']}"
    mappings = mapping_table(table, p["mapping"], f"{task.headline}_mean")
    augmentation = augmentation_table(table, dict(p.get("augmentations") or {}), f"{task.headline}_mean")
    xtune_png = ctx.output.get("xtune_curves")  # a one-element list, or empty without xTune methods
    if xtune_png:
        logs = {
            m: read_artifact(f, TRAIN_LOG)
            for m, f in zip(p["xtune_curve_methods"], ctx.input["xtune_logs"], strict=True)
        }
        plot_xtune_curves(logs, xtune_png[0], f"xTune training ({p['experiment']}, first seed)", label)
    few_shot = few_shot_table(table, list(task.metrics))
    few_shot_png = ctx.output.get("few_shot")  # a one-element list, or empty without few-shot runs
    if few_shot_png:
        plot_few_shot(
            few_shot, f"{task.headline}_mean", few_shot_png[0], f"Few-shot ({p['experiment']})", label
        )
    significance = significance_table(table, task.headline)
    text = markdown(table, projection, title, mappings, task, augmentation, few_shot, significance)
    if ctx.output.get("throughput"):  # the rule always asks for it
        speed = job_throughput(
            p["benchmarks"], ctx.input["all_train_logs"], ctx.input["predictions"], int(p["batch_size"])
        )
        save_figure(throughput_figure(speed, f"Throughput ({p['experiment']})"), ctx.output["throughput"])
        text += "\n" + throughput_markdown(speed)
    write_text(text, ctx.output["table"])
    with atomic_path(ctx.output["csv"], suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot(table, ctx.output["plot"], f"{title} ({label})", task.headline, label)
    log.info("report: %d methods x %d languages", table["method"].nunique(), table["lang"].nunique())
