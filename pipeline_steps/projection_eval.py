"""Projection quality: projected target spans against gold target spans (exact span and type).

Precision, recall and F1 are micro-averaged over sentences per language and entity type, and over
all types (label ``'ALL'``); ``lang='avg'`` is the unweighted mean of the languages' ``ALL`` scores
(its support is the total). This is the span-level F1 of the label-projection literature (e.g.
T-Projection's Europarl benchmark). Projected and gold sentences are matched by position; their
tokens must be identical.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact, write_json
from pipeline_steps.schemas import PROJECTED, PROJECTION_SCORES, SENTENCES
from pipeline_steps.tags import Span, TagError, spans_from_tags

log = logging.getLogger(__name__)

ALL = "ALL"


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (0.0 where a denominator is 0)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def count_matches(
    pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]
) -> dict[str, tuple[int, int, int]]:
    """Per label (and ``'ALL'``): (true positives, predicted, gold) over aligned sentence lists."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted sentences but {len(gold)} gold sentences")
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for p_spans, g_spans in zip(pred, gold, strict=True):
        p_set, g_set = set(p_spans), set(g_spans)
        for span in p_set:
            n_pred[span[2]] += 1
        for span in g_set:
            n_gold[span[2]] += 1
        for span in p_set & g_set:
            tp[span[2]] += 1
    labels = sorted(set(n_pred) | set(n_gold))
    counts = {lab: (tp[lab], n_pred[lab], n_gold[lab]) for lab in labels}
    counts[ALL] = (sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return counts


def _spans(tags: Any, scheme: str, path: str, row: int) -> list[Span]:
    if tags is None:
        raise ArtifactError(path, row, "tags", "no tags (a gold target sentence must be labelled)")
    try:
        return spans_from_tags(list(tags), scheme, strict=True)
    except TagError as exc:
        raise ArtifactError(path, row, "tags", f"position {exc.index}: {exc}") from None


def score_language(
    projected: pd.DataFrame,
    gold: pd.DataFrame,
    scheme: str,
    paths: tuple[str, str] = ("<projected>", "<gold>"),
) -> dict[str, tuple[int, int, int]]:
    """Counts of one language; ``projected`` (PROJECTED) and ``gold`` (SENTENCES) row-aligned."""
    p_path, g_path = paths
    if len(projected) != len(gold):
        raise ArtifactError(
            p_path, None, None, f"{len(projected)} projected sentences but {len(gold)} in {g_path}"
        )
    pred_spans, gold_spans = [], []
    for r, (p_tok, p_tags, g_tok, g_tags) in enumerate(
        zip(projected["tokens"], projected["tags"], gold["tokens"], gold["tags"], strict=True)
    ):
        if list(p_tok) != list(g_tok):
            raise ArtifactError(
                p_path, r, "tokens", f"tokens differ from row {r} of {g_path} (gold id {gold['id'].iloc[r]})"
            )
        pred_spans.append(_spans(p_tags, scheme, p_path, r))
        gold_spans.append(_spans(g_tags, scheme, g_path, r))
    return count_matches(pred_spans, gold_spans)


def scores_frame(
    counts_by_lang: dict[str, dict[str, tuple[int, int, int]]], backend: str, mapping: str
) -> pd.DataFrame:
    """PROJECTION_SCORES rows: one per language and label, plus lang 'avg' (macro mean of 'ALL')."""
    rows = []
    for lang, counts in counts_by_lang.items():
        for label, (tp, n_pred, n_gold) in counts.items():
            p, r, f = prf(tp, n_pred, n_gold)
            rows.append(
                {"lang": lang, "label": label, "precision": p, "recall": r, "f1": f, "support": n_gold}
            )
    if counts_by_lang:
        alls = [row for row in rows if row["label"] == ALL]
        rows.append(
            {
                "lang": "avg",
                "label": ALL,
                **{k: sum(row[k] for row in alls) / len(alls) for k in ("precision", "recall", "f1")},
                "support": sum(row["support"] for row in alls),
            }
        )
    df = pd.DataFrame(rows, columns=["lang", "label", "precision", "recall", "f1", "support"])
    df["backend"] = backend
    df["mapping"] = mapping
    return df


def summary_of(scores: pd.DataFrame, backend: str, mapping: str) -> dict[str, Any]:
    """Summary JSON: ``{lang: {P, R, F1, support, per_type: {label: {...}}}, avg, backend, mapping}``."""

    def entry(row: Any) -> dict[str, Any]:
        return {"P": row.precision, "R": row.recall, "F1": row.f1, "support": int(row.support)}

    out: dict[str, Any] = {"backend": backend, "mapping": mapping}
    for lang, group in scores.groupby("lang", sort=False):
        per_type = {row.label: entry(row) for row in group.itertuples() if row.label != ALL}
        (all_row,) = [row for row in group.itertuples() if row.label == ALL]
        out[str(lang)] = {**entry(all_row), **({"per_type": per_type} if lang != "avg" else {})}
    return out


def main(ctx) -> None:
    """input {projected: [paths], gold: [paths]} in the order of params langs; output {scores, summary};
    params {langs, backend, mapping, scheme}."""
    langs = list(ctx.params["langs"])
    projected_paths, gold_paths = ctx.input_paths("projected"), ctx.input_paths("gold")
    if not len(langs) == len(projected_paths) == len(gold_paths):
        raise ConfigError(
            f"{len(langs)} languages, {len(projected_paths)} projected and {len(gold_paths)} gold files"
        )
    scheme = ctx.params["scheme"]
    backend, mapping = str(ctx.params["backend"]), str(ctx.params["mapping"])
    counts_by_lang = {}
    for lang, p_path, g_path in zip(langs, projected_paths, gold_paths, strict=True):
        projected = read_artifact(p_path, PROJECTED)
        gold = read_artifact(g_path, SENTENCES)
        counts_by_lang[lang] = score_language(projected, gold, scheme, (str(p_path), str(g_path)))
        tp, n_pred, n_gold = counts_by_lang[lang][ALL]
        log.info("%s: P/R/F1 %.4f/%.4f/%.4f (%d gold spans)", lang, *prf(tp, n_pred, n_gold), n_gold)
    scores = scores_frame(counts_by_lang, backend, mapping)
    summary = summary_of(scores, backend, mapping)
    write_artifact(scores, ctx.output["scores"], PROJECTION_SCORES)
    write_json(summary, ctx.output["summary"])
