"""The results report: a method x language F1 table (paper 001 Table 1 layout) and a bar plot.

Rows are methods, columns the test languages (source first, then targets) and ``avg`` (mean over
target languages, as the papers report). Cells are mean F1 over seeds, with the standard deviation
when there is more than one seed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline_steps.io import atomic_path, read_artifact, write_text  # noqa: E402
from pipeline_steps.runner import StepContext  # noqa: E402
from pipeline_steps.schemas import METRICS  # noqa: E402

log = logging.getLogger(__name__)


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


def markdown(table: pd.DataFrame, projection: dict | None, title: str) -> str:
    langs = list(dict.fromkeys(table["lang"]))
    lines = [f"# {title}", "", "Entity F1 (%), mean over seeds (± std when several).", ""]
    lines.append("| method | " + " | ".join(langs) + " |")
    lines.append("|---|" + "---:|" * len(langs))
    for method, group in table.groupby("method", sort=False):
        cells = {r.lang: _cell(r.f1_mean, r.f1_std, r.n_seeds) for r in group.itertuples()}
        lines.append(f"| {method} | " + " | ".join(cells.get(lang, "") for lang in langs) + " |")
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


def plot(table: pd.DataFrame, path: str | Path, title: str) -> None:
    pivot = table.pivot(index="lang", columns="method", values="f1_mean")
    errs = table.pivot(index="lang", columns="method", values="f1_std").fillna(0.0)
    order = list(dict.fromkeys(table["lang"]))
    pivot, errs = pivot.loc[order], errs.loc[order]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(order) * max(1, len(pivot.columns)) ** 0.5, 3.6))
    pivot.plot.bar(ax=ax, yerr=errs, capsize=3, rot=0, width=0.8)
    ax.set_ylabel("entity F1 (%)")
    ax.set_xlabel("test language")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(title="method", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main(ctx: StepContext) -> None:
    frames = [read_artifact(p, METRICS) for p in ctx.input["metrics"]]
    metrics = pd.concat(frames, ignore_index=True)
    p = ctx.params
    langs = [p["source_lang"]] + list(p["target_langs"])
    table = f1_table(metrics, list(p["methods"]), langs)
    projection = None
    if ctx.input.get("projection"):
        projection = json.loads(Path(ctx.input["projection"][0]).read_text(encoding="utf-8"))
    title = f"xlt results: {p['experiment']}"
    write_text(markdown(table, projection, title), ctx.output["table"])
    with atomic_path(ctx.output["csv"], suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    plot(table, ctx.output["plot"], title)
    log.info("report: %d methods x %d languages", table["method"].nunique(), table["lang"].nunique())
