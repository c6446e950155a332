"""Entity-level evaluation with seqeval: micro P/R/F1 and per-type F1 per language, and their average
over the target languages.

A predicted entity counts only if its boundaries and type match a gold entity exactly (paper 001
footnote 10; CoNLL). BIO is scored the conlleval way (seqeval's default mode: a stray I- opens an
entity); BIOES in seqeval's strict IOBES mode, where an ill-formed predicted chunk (e.g. B- not closed
by E-) is no entity at all, so a boundary error costs the whole span.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import METRICS, PREDICTIONS
from pipeline_steps.tags import TagError, check_scheme, spans_from_tags, split_tag

log = logging.getLogger(__name__)

AVG = "avg"


def entity_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str = "bio"
) -> dict[str, Any]:
    """Micro precision/recall/F1 over entities, support (= gold entities) and per-type scores.

    Returns ``{"precision", "recall", "f1", "support", "types": {TYPE: {"precision", "recall", "f1",
    "support"}}}``; a type is listed when it occurs in the gold or the predicted tags.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOBES

    check_scheme(scheme)
    gold = [list(g) for g in gold]
    pred = [list(p) for p in pred]
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred, strict=True)):
        raise ValueError("gold and predicted tag sequences differ in number or length")
    kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOBES} if scheme == "bioes" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
    micro = report["micro avg"]
    types = {
        name: {
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for name, v in report.items()
        if not name.endswith(" avg")
    }
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "support": int(micro["support"]),
        "types": types,
    }


def f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str = "bio") -> float:
    """Entity-level micro F1 (the dev-set model-selection criterion)."""
    return entity_scores(gold, pred, scheme)["f1"]


def _rows(scores: dict[str, Any]) -> list[tuple[str, float, int]]:
    rows = [(m, scores[m], scores["support"]) for m in ("precision", "recall", "f1")]
    rows += [(f"f1_{t}", v["f1"], v["support"]) for t, v in sorted(scores["types"].items())]
    return rows


def metrics_frame(
    predictions: pd.DataFrame, method: str, seed: int, scheme: str, source_lang: str | None
) -> pd.DataFrame:
    """schemas.METRICS rows of tagging predictions (seqeval, see ``with_average``)."""
    per_lang: dict[str, list[tuple[str, float, int]]] = {}
    for lang in sorted(predictions["lang"].unique()):
        part = predictions[predictions["lang"] == lang]
        per_lang[lang] = _rows(entity_scores(list(part["gold"]), list(part["pred"]), scheme))
    return with_average(per_lang, method, seed, source_lang)


def with_average(
    per_lang: dict[str, list[tuple[str, float, int]]], method: str, seed: int, source_lang: str | None
) -> pd.DataFrame:
    """schemas.METRICS rows: ``(metric, value, support)`` per language, then 'avg' = mean over the
    target languages (all but ``source_lang``) of each metric, with the summed support. A metric that
    only some languages have (a per-type F1) is averaged over the target languages that have it."""
    records: list[dict[str, Any]] = []
    targets = [lang for lang in per_lang if lang != source_lang]
    for lang, rows in per_lang.items():
        records += [{"lang": lang, "metric": m, "value": v, "support": s} for m, v, s in rows]
    if targets:
        table = pd.DataFrame(
            [
                {"lang": lang, "metric": m, "value": v, "support": s}
                for lang in targets
                for m, v, s in per_lang[lang]
            ]
        )
        order = list(dict.fromkeys(table["metric"]))
        agg = table.groupby("metric", sort=False).agg(value=("value", "mean"), support=("support", "sum"))
        for metric in order:
            records.append(
                {
                    "lang": AVG,
                    "metric": metric,
                    "value": float(agg.loc[metric, "value"]),
                    "support": int(agg.loc[metric, "support"]),
                }
            )
    else:
        log.warning("no target language among %s (source %s): no 'avg' rows", sorted(per_lang), source_lang)
    frame = pd.DataFrame(records, columns=["lang", "metric", "value", "support"])
    frame.insert(0, "seed", int(seed))
    frame.insert(0, "method", method)
    return frame


def check_predictions(df: pd.DataFrame, path: str, scheme: str, method: str, seed: int) -> None:
    """Gold tags must be well-formed in ``scheme``; predicted tags valid tags; method/seed as expected."""
    for row, (gold, pred, m, s) in enumerate(
        zip(df["gold"], df["pred"], df["method"], df["seed"], strict=True)
    ):
        if m != method:
            raise ArtifactError(path, row, "method", f"{m!r} but this evaluation is for method {method!r}")
        if int(s) != int(seed):
            raise ArtifactError(path, row, "seed", f"{s} but this evaluation is for seed {seed}")
        try:
            spans_from_tags(gold, scheme, strict=True)
        except TagError as exc:
            raise ArtifactError(path, row, "gold", f"word {exc.index}: {exc}") from None
        for k, tag in enumerate(pred):
            try:
                prefix, _ = split_tag(tag)
            except TagError as exc:
                raise ArtifactError(path, row, "pred", f"word {k}: {exc}") from None
            if scheme == "bio" and prefix in {"E", "S"}:
                raise ArtifactError(path, row, "pred", f"word {k}: BIOES tag {tag!r} but the scheme is bio")


def main(ctx) -> None:
    """Rule ``evaluate``. input: predictions (list of prediction artifacts, one per language);
    output: metrics; params: task, labels, method, seed, scheme, source_lang, qa_variants (per
    language, ``squad`` or ``mlqa``: the answer normalisation of QA test sets)."""
    from pipeline_steps.tasks import make_task, task_info

    if task_info(ctx.params["task"]).kind == "tagging":  # seqeval only: no torch to import
        evaluate_tagging(ctx)
    else:
        evaluate_examples(ctx, make_task(ctx.params["task"], ctx.params))


def _paths(ctx) -> list[str]:
    paths = ctx.input_paths("predictions")
    if not paths:
        raise ConfigError("evaluate: no prediction files")
    return paths


def evaluate_examples(ctx, task) -> None:
    """Classification (accuracy, macro-F1) or QA (F1, EM) scores per language and their average."""
    p = ctx.params
    per_lang: dict[str, list[tuple[str, float, int]]] = {}
    for path in _paths(ctx):
        df = read_artifact(path, task.predictions)
        for lang, part in df.groupby("lang", sort=True):
            if lang in per_lang:
                raise ArtifactError(str(path), None, "lang", f"language {lang!r} is in two prediction files")
            if "gold" in part and part["gold"].isna().any():
                raise ArtifactError(str(path), None, "gold", "test examples need gold labels")
            variant = (p.get("qa_variants") or {}).get(lang)
            per_lang[str(lang)] = task.scores(part, str(lang), variant)
    metrics = with_average(dict(sorted(per_lang.items())), p["method"], int(p["seed"]), p["source_lang"])
    write_artifact(metrics, ctx.output["metrics"], METRICS)
    head = metrics[metrics["metric"] == task.info.headline]
    log.info("%s: %s", task.info.headline, ", ".join(f"{r.lang} {r.value:.4f}" for r in head.itertuples()))


def evaluate_tagging(ctx) -> None:
    """seqeval scores of tagging predictions."""
    p = ctx.params
    method, seed, scheme = p["method"], int(p["seed"]), p["scheme"]
    check_scheme(scheme)
    paths = _paths(ctx)
    frames = []
    for path in paths:
        df = read_artifact(path, PREDICTIONS)
        check_predictions(df, str(path), scheme, method, seed)
        frames.append(df)
    predictions = pd.concat(frames, ignore_index=True)
    dup = predictions["sentence_id"].duplicated()
    if dup.any():
        first = predictions["sentence_id"][dup].iloc[0]
        raise ArtifactError(
            str(paths[-1]), None, "sentence_id", f"sentence {first!r} appears in two prediction files"
        )
    metrics = metrics_frame(predictions, method, seed, scheme, p["source_lang"])
    write_artifact(metrics, ctx.output["metrics"], METRICS)
    f1_rows = metrics[metrics["metric"] == "f1"]
    log.info("F1: %s", ", ".join(f"{r.lang} {r.value:.4f}" for r in f1_rows.itertuples()))
