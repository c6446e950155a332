"""Co-training and self-training on unlabelled target-language data (paper 002, Sec. 3.1, Alg. 1).

Two classifiers see each example through different pre-trained models: f_lm, the fine-tuned
multilingual LM, and f_emb, a classifier over a multilingual sentence-embedding model (LaBSE's role;
``models/sentence_embedding.py``). Alg. 1, with D the labelled source data and U the unlabelled pool:

    U_emb = U_lm = U;  D_emb = D_lm = D
    for s iterations:
        fine-tune f_lm on D_lm; fine-tune f_emb on D_emb
        predict U with both: (y^lm_u, c^lm_u), (y^emb_u, c^emb_u)
        C_v = {(x_u, y^v_u) : c^v_u > t}  for v in {lm, emb}, x_u still in U_v
        S_v = a random subset of C_v (Sec. 4.2: n/3 items, n = |D|; all of C_v when it has fewer)
        U_v = U_v minus S_v
        D_emb = D_emb u S_lm;  D_lm = D_lm u S_emb          (co-training: each teaches the OTHER)

Self-training (Dong and de Melo 2019; the paper's baseline) is the same loop with D_v = D_v u S_v: each
model learns from its own picks. ``selection: class_ratio`` (not in paper 002) draws S_v per predicted
class in proportion to D's class distribution, as Blum and Mitchell's (1998) original co-training
does (its p positive and n negative picks per round, "to match the ratio in the labeled data"), so that
a view whose confident predictions are mostly one class cannot flood the other's training set with
it. The DAG runs one round per rule (``select_round``); its artifact,
``cotrain_state``, holds every pool item with both views' latest prediction and the round it was picked
in, so D_lm and D_emb of any round are a filter away (``pseudo_labelled``). Each round re-trains f_lm from
the pre-trained model on D u its pseudo-labels (Sec. 3.1: the picks are "merged into the original
labeled data D ... to re-train the model with"); ``SelfTraining`` / ``CoTraining`` are that fine-tuning.
The confidence c is the predicted class's probability; the pool's gold labels, where the file has them,
are carried in ``gold`` for the report and never read by the selection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.train import Trainer, TrainResult
from pipeline_steps.train.determinism import derive_seed

if TYPE_CHECKING:
    from pipeline_steps.methods import MethodData

VIEWS = ("lm", "emb")
SELECTIONS = ("uniform", "class_ratio")
VARIANTS = ("self_training", "co_training")
TEXT_COLUMNS = ("id", "lang", "text_a", "text_b")


def teacher_of(student: str, variant: str) -> str:
    """The view whose picks ``student``'s training set receives: the other view (co-training) or itself."""
    if variant not in VARIANTS or student not in VIEWS:
        raise ConfigError(f"unknown co-training variant/view {variant!r}/{student!r}")
    return student if variant == "self_training" else VIEWS[1 - VIEWS.index(student)]


def pick_size(n_labelled: int, fraction: float) -> int:
    """Items picked per view and round (Sec. 4.2: n/3, n the size of D): ``ceil(n * fraction)``."""
    return max(1, math.ceil(n_labelled * fraction - 1e-9))


def class_quotas(n_pick: int, shares: dict[str, float]) -> dict[str, int]:
    """Split ``n_pick`` over classes in proportion to ``shares`` (Hamilton's largest-remainder rounding,
    ties to the class named first), so the quotas sum to ``n_pick``."""
    total = sum(shares.values())
    if not shares or total <= 0:
        raise ConfigError("class_ratio selection needs the labelled data's class shares")
    exact = {c: n_pick * s / total for c, s in shares.items()}
    quotas = {c: math.floor(x) for c, x in exact.items()}
    order = sorted(shares, key=lambda c: -(exact[c] - quotas[c]))
    for c in order[: n_pick - sum(quotas.values())]:
        quotas[c] += 1
    return quotas


def _draw(
    candidates: np.ndarray, labels: np.ndarray, n_pick: int, rng, class_shares: dict[str, float] | None
) -> np.ndarray:
    """Row numbers of S_v: ``n_pick`` of ``candidates`` uniformly (all when fewer), or with
    ``class_shares`` each predicted class's quota (``class_quotas``) from its own candidates (all of
    them when fewer; a short class's quota is not handed to another, which would break the ratio)."""
    if class_shares is None:
        return candidates if len(candidates) <= n_pick else rng.choice(candidates, n_pick, replace=False)
    chosen = []
    for label, quota in class_quotas(n_pick, class_shares).items():
        mine = candidates[labels[candidates] == label]
        chosen.append(mine if len(mine) <= quota else rng.choice(mine, quota, replace=False))
    return np.concatenate(chosen) if chosen else candidates[:0]


def initial_state(pool: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Round 0: every pool example in both U_lm and U_emb, nothing predicted or picked yet. ``pool``
    has cls_examples columns; its ``label`` (null for a truly unlabelled pool) becomes ``gold``."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown co-training variant {variant!r}; expected one of {VARIANTS}")
    state = pool[list(TEXT_COLUMNS)].copy()
    state["gold"] = pool["label"]
    state["variant"], state["iteration"] = variant, 0
    for v in VIEWS:
        state[f"{v}_pred"] = None
        state[f"{v}_confidence"] = np.nan
        state[f"{v}_picked_in"] = pd.array([None] * len(state), dtype="Int64")
    return state.reset_index(drop=True)


def _apply_predictions(state: pd.DataFrame, view: str, preds: pd.DataFrame, where: str) -> None:
    """Write ``preds`` (id, pred, score) into the view's columns of the items still in U_view."""
    open_rows = state[f"{view}_picked_in"].isna()
    by_id = preds.drop_duplicates("id").set_index("id")
    ids = state.loc[open_rows, "id"]
    missing = ids[~ids.isin(by_id.index)]
    if len(missing):
        raise ArtifactError(where, None, "id", f"no {view} prediction for pool item {missing.iloc[0]!r}")
    state.loc[open_rows, f"{view}_pred"] = by_id.loc[ids, "pred"].to_numpy()
    state.loc[open_rows, f"{view}_confidence"] = by_id.loc[ids, "score"].to_numpy(dtype=float)


def select_round(
    state: pd.DataFrame,
    predictions: dict[str, pd.DataFrame],
    *,
    threshold: float,
    n_pick: int,
    seed: int,
    sources: dict[str, str] | None = None,
    class_shares: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One round of Alg. 1 after both models predicted U: ``predictions[view]`` has ``id``, ``pred``,
    ``score`` for (at least) every item still in U_view. Per view, the items of U_view with confidence
    > ``threshold`` are the candidates C_view; ``n_pick`` of them (all when fewer; per predicted class in
    proportion to ``class_shares`` when given, ``_draw``) are drawn with a generator seeded by (seed,
    round, view) and get ``{view}_picked_in`` = this round, which takes them out of U_view. Where they
    go (the other view's training set, or their own) is ``pseudo_labelled``'s business. Returns the next
    state; ``state`` is not modified."""
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"cotrain.threshold must be in [0, 1), got {threshold}")
    missing = [v for v in VIEWS if v not in predictions]
    if missing:
        raise ConfigError(f"a co-training round needs the predictions of both views; missing {missing}")
    out = state.copy()
    k = int(state["iteration"].iloc[0]) + 1 if len(state) else 1
    out["iteration"] = k
    for i, view in enumerate(VIEWS):
        _apply_predictions(out, view, predictions[view], (sources or {}).get(view, f"{view} predictions"))
        open_rows = out[f"{view}_picked_in"].isna()
        candidates = np.flatnonzero(open_rows & (out[f"{view}_confidence"] > threshold))
        rng = np.random.default_rng(derive_seed(seed, k, i))
        labels = out[f"{view}_pred"].to_numpy(dtype=object)
        chosen = _draw(candidates, labels, n_pick, rng, class_shares)
        out.loc[np.sort(chosen), f"{view}_picked_in"] = k
    return out


def pseudo_labelled(state: pd.DataFrame, student: str) -> pd.DataFrame:
    """The pseudo-labelled examples in ``student``'s training set after this state's round: the items
    its teacher (``teacher_of``) picked so far, labelled with the teacher's prediction at pick time;
    cls_examples-like columns (id, lang, text_a, text_b, label) in pool order."""
    if not len(state):
        return pd.DataFrame(columns=[*TEXT_COLUMNS, "label"])
    teacher = teacher_of(student, str(state["variant"].iloc[0]))
    picked = state[state[f"{teacher}_picked_in"].notna()]
    out = picked[list(TEXT_COLUMNS)].copy()
    out["label"] = picked[f"{teacher}_pred"].to_numpy()
    return out.reset_index(drop=True)


def round_summary(state: pd.DataFrame) -> pd.DataFrame:
    """Per view: items picked in this round and in total, still in the pool, and the pseudo-labels'
    accuracy against ``gold`` where the pool has gold labels (NaN otherwise)."""
    k = int(state["iteration"].iloc[0]) if len(state) else 0
    rows = []
    for view in VIEWS:
        picked = state[f"{view}_picked_in"]
        new = state[picked == k]
        known = new[new["gold"].notna()]
        acc = float((known[f"{view}_pred"] == known["gold"]).mean()) if len(known) else float("nan")
        rows.append(
            {
                "iteration": k,
                "view": view,
                "picked": len(new),
                "picked_total": int(picked.notna().sum()),
                "pool_left": int(picked.isna().sum()),
                "pseudo_label_accuracy": acc,
            }
        )
    return pd.DataFrame(rows)


class PseudoLabelTraining:
    """Fine-tune f_lm on D u its pseudo-labels of round k (one phase, source-dev selection): the f_lm
    step of Alg. 1. ``data.pseudo`` holds the pseudo-labelled examples (``pseudo_labelled``)."""

    name = "pseudo_label_training"

    def __init__(self, data: MethodData):
        self.data = data

    def training_frame(self) -> pd.DataFrame:
        columns = [c for c in self.data.columns if c != "lang"]
        pseudo = self.data.pseudo
        if pseudo is None:
            raise ConfigError(f"method {self.name!r} needs input.pseudo (a cotrain state artifact)")
        frame = pd.concat([self.data.train[columns], pseudo[columns]], ignore_index=True)
        self.data.log.info(
            "%s trains on %d examples (D: %d, pseudo-labelled: %d)",
            self.name,
            len(frame),
            len(self.data.train),
            len(pseudo),
        )
        return frame

    def fit(self, model, trainer: Trainer) -> TrainResult:
        """``method_params.lm_method``: ``zero_shot`` (cross-entropy) or ``lang_adapt`` (paper 002 Table
        2/3 "lang. adaptation & co-training": Sec. 3.2's two phases over D u pseudo-labels and D_bi)."""
        frame = self.training_frame()
        lm_method = self.data.method_params.get("lm_method", "zero_shot")
        if lm_method == "lang_adapt":  # classification only (wfc.check)
            from pipeline_steps.methods.language_adaptation import LanguageAdaptation

            return LanguageAdaptation(self.data, train=frame).fit(model, trainer)
        if lm_method != "zero_shot":
            raise ConfigError(f"cotrain.lm_method must be zero_shot or lang_adapt, got {lm_method!r}")
        return trainer.run("main", model, self.data.recipe(frame))


class SelfTraining(PseudoLabelTraining):
    """Self-training (paper 002 Sec. 4.2 baseline): f_lm on D u the items f_lm itself picked."""

    name = "self_training"


class CoTraining(PseudoLabelTraining):
    """Co-training (paper 002 Alg. 1): f_lm on D u the items f_emb picked."""

    name = "co_training"


CONFIDENCES = ("min", "mean")


def sentence_confidence(word_probs: Sequence[float], how: str = "min") -> float:
    """A tagged sentence's confidence (the issue's tagging loop at sentence granularity): the minimum
    (or mean) over its words of the probability of the predicted tag; words without a prediction (NaN:
    cut at max_length) are left out; 0 for a sentence with none."""
    if how not in CONFIDENCES:
        raise ConfigError(f"cotrain.confidence must be one of {CONFIDENCES}, got {how!r}")
    probs = [float(p) for p in word_probs if p == p]
    if not probs:
        return 0.0
    return min(probs) if how == "min" else sum(probs) / len(probs)
