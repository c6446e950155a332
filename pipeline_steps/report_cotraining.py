"""The co-/self-training report (paper 002 Fig. 3): accuracy after each round, and how the sets evolve.

For each variant (self_training, co_training), view (lm: the fine-tuned LM f_lm; emb: the sentence-
embedding classifier f_emb) and round k = 0..s: the target-language average accuracy on the test sets,
mean and sd over seeds (round 0 is both models trained on D alone: the zero_shot model and f_emb on D).
The table adds, per round, how many items each view picked, how many are left in its pool, and the
pseudo-labels' accuracy where the pool file has gold labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline_steps.evaluate import f1 as entity_f1  # noqa: E402
from pipeline_steps.io import atomic_path, read_artifact  # noqa: E402
from pipeline_steps.methods.co_training import round_summary  # noqa: E402
from pipeline_steps.metrics.classification import accuracy  # noqa: E402
from pipeline_steps.schemas import COTRAIN_STATE, EMB_PREDICTIONS, METRICS  # noqa: E402


def lm_rows(
    metrics: pd.DataFrame, lm_methods: dict[str, list[str]], targets: Sequence[str], metric: str = "accuracy"
) -> pd.DataFrame:
    """(variant, view 'lm', iteration, seed, accuracy): f_lm's target-language average per round of the
    task's headline metric (``metric``: accuracy; entity F1 for tagging, still in the column accuracy)."""
    acc = metrics[(metrics["metric"] == metric) & metrics["lang"].isin(targets)]
    rows = []
    for variant, names in lm_methods.items():
        for k, name in enumerate(names):
            part = acc[acc["method"] == name]
            for seed, g in part.groupby("seed"):
                rows.append(
                    {
                        "variant": variant,
                        "view": "lm",
                        "iteration": k,
                        "seed": int(seed),
                        "accuracy": g["value"].mean(),
                    }
                )
    return pd.DataFrame(rows)


def emb_rows(
    emb: pd.DataFrame, variants: Sequence[str], targets: Sequence[str], scheme: str | None = None
) -> pd.DataFrame:
    """(variant, view 'emb', iteration, seed, accuracy): f_emb's target-language average per round;
    round 0 (trained on D, ``variant`` 'base') counts for every variant. With a tag ``scheme`` (tagging:
    labels are space-joined tags) the score is entity F1 instead of accuracy."""
    test = emb[(emb["split"] == "test") & emb["lang"].isin(targets)]

    def score(part: pd.DataFrame) -> float:
        if scheme is None:
            return accuracy(list(part["gold"]), list(part["pred"]))
        split = [[t.split(" ") for t in part[c]] for c in ("gold", "pred")]
        return entity_f1(*split, scheme)

    rows = []
    for (variant, seed, k), g in test.groupby(["variant", "seed", "iteration"]):
        per_lang = [score(p) for _, p in g.groupby("lang")]
        for v in variants if variant == "base" else [variant]:
            rows.append(
                {
                    "variant": v,
                    "view": "emb",
                    "iteration": int(k),
                    "seed": int(seed),
                    "accuracy": sum(per_lang) / len(per_lang),
                }
            )
    return pd.DataFrame(rows)


def curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd (over seeds) of the accuracy per (variant, view, iteration)."""
    g = rows.groupby(["variant", "view", "iteration"])["accuracy"]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n_seeds": g.size()}).reset_index()


def plot(table: pd.DataFrame, out: str | Path, metric: str = "accuracy") -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    names = {"lm": "f_lm", "emb": "f_emb"}
    for (variant, view), g in table.groupby(["variant", "view"], sort=False):
        style = "-" if variant == "co_training" else "--"
        ax.errorbar(
            g["iteration"],
            100 * g["mean"],
            yerr=100 * g["std"].fillna(0),
            fmt=style + "o",
            color="C0" if view == "lm" else "C1",  # one colour per model, one line style per variant
            capsize=3,
            label=f"{names[view]}, {variant.replace('_', '-')}",
        )
    ax.set_xlabel("iteration (selection rounds)")
    ax.set_ylabel(f"target-language {metric} (%)")
    ax.set_xticks(sorted(table["iteration"].unique()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def markdown(table: pd.DataFrame, rounds: pd.DataFrame, metric: str = "accuracy") -> str:
    lines = ["# Co-training and self-training by round (paper 002 Fig. 3)", ""]
    lines += [f"Target-language average {metric}, mean ± sd over seeds (round 0: trained on D alone).", ""]
    wide = table.assign(
        cell=[
            f"{100 * m:.2f} ± {100 * s:.2f}" if s == s else f"{100 * m:.2f}"
            for m, s in zip(table["mean"], table["std"], strict=True)
        ]
    )
    wide = wide.pivot_table(index=["variant", "view"], columns="iteration", values="cell", aggfunc="first")
    lines.append(wide.reset_index().to_markdown(index=False))
    lines += [
        "",
        "Picks per round (mean over seeds; pseudo-label accuracy where the pool has gold labels).",
        "",
    ]
    if len(rounds):
        agg = rounds.groupby(["variant", "iteration", "view"]).agg(
            picked=("picked", "mean"),
            pool_left=("pool_left", "mean"),
            pseudo_label_accuracy=("pseudo_label_accuracy", "mean"),
        )
        lines.append(agg.reset_index().to_markdown(index=False, floatfmt=".3f"))
    return "\n".join(lines) + "\n"


def main(ctx) -> None:
    """Rule ``report_cotraining``. input: lm_metrics (metrics of f_lm per round), emb (emb_predictions),
    states (cotrain_state); output: plot, table. params: variants, lm_methods, target_langs."""
    p = ctx.params
    targets = list(p["target_langs"])
    tagging = p["task_kind"] == "tagging"
    metric, label = ("f1", "entity F1") if tagging else ("accuracy", "accuracy")
    metrics = pd.concat([read_artifact(x, METRICS) for x in ctx.input["lm_metrics"]], ignore_index=True)
    emb = pd.concat([read_artifact(x, EMB_PREDICTIONS) for x in ctx.input["emb"]], ignore_index=True)
    emb = emb.drop_duplicates(["id", "variant", "seed", "iteration"])
    rows = pd.concat(
        [
            lm_rows(metrics, dict(p["lm_methods"]), targets, metric),
            emb_rows(emb, list(p["variants"]), targets, p["scheme"] if tagging else None),
        ]
    )
    table = curve(rows)
    rounds = []
    for path in ctx.input["states"]:
        state = read_artifact(path, COTRAIN_STATE)
        rounds.append(round_summary(state).assign(variant=state["variant"].iloc[0]))
    plot(table, ctx.output["plot"], label)
    text = markdown(table, pd.concat(rounds, ignore_index=True) if rounds else pd.DataFrame(), label)
    with atomic_path(ctx.output["table"]) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
