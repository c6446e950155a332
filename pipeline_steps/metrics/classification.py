"""Sentence(-pair) classification metrics: accuracy and macro-F1 over the configured label set.

Macro-F1 averages the per-label F1 over the labels of the configured set that occur in the gold
labels OR the predictions (a label nobody used and nothing predicted is left out rather than
counted as 0 or 1; a label predicted but absent from the gold counts with F1 0). Per-label F1 is
``2 tp / (2 tp + fp + fn)``, i.e. 0 when precision or recall is 0 -- no division by zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _ids(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not len(gold):
        raise ValueError("no examples to score")
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({x for x in (*gold, *pred) if x not in index})
    if unknown:
        raise ValueError(f"label(s) {unknown} not in the label set {list(labels)}")
    return np.array([index[x] for x in gold]), np.array([index[x] for x in pred])


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of examples whose prediction equals the gold label."""
    if len(gold) != len(pred) or not len(gold):
        raise ValueError(f"need as many predictions as gold labels, at least one ({len(gold)}, {len(pred)})")
    return float(np.mean(np.asarray(gold, dtype=object) == np.asarray(pred, dtype=object)))


def per_label(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and gold support of every label of ``labels`` (in that order)."""
    g, p = _ids(gold, pred, labels)
    k = len(labels)
    tp = np.bincount(g[g == p], minlength=k)
    n_gold, n_pred = np.bincount(g, minlength=k), np.bincount(p, minlength=k)
    out = {}
    for i, lab in enumerate(labels):
        out[lab] = {
            "precision": float(tp[i] / n_pred[i]) if n_pred[i] else 0.0,
            "recall": float(tp[i] / n_gold[i]) if n_gold[i] else 0.0,
            "f1": float(2 * tp[i] / (n_gold[i] + n_pred[i])) if n_gold[i] + n_pred[i] else 0.0,
            "support": int(n_gold[i]),
            "used": bool(n_gold[i] + n_pred[i]),
        }
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Mean F1 over the labels of ``labels`` present in ``gold`` or ``pred`` (see the module doc)."""
    scores = per_label(gold, pred, labels)
    return float(np.mean([s["f1"] for s in scores.values() if s["used"]]))


def classification_scores(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    """``{"accuracy": ..., "macro_f1": ...}`` of predictions against gold labels over ``labels``."""
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, labels)}
