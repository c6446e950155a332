"""xTune for a sentence(-pair) classifier: stage 1 (task + example consistency R1) and stage 2 (+ model
consistency R2 against the frozen stage-1 model) (paper 003, Sec. 3.1.1-3.1.3, 3.3.1). The tagging
versions are in ``xtune_tagging.py`` (its docstring has the equations and the official-code details);
this module reuses their pieces (``_ViewRecipe``, the option checks, ``LAMBDA1``, ``LAMBDA2_OFFICIAL``,
``check_frozen``) and the losses ``symmetric_kl`` and ``model_consistency``.

Classification (Sec. 3.3.1): f predicts one distribution per example, so R1 compares the class
distribution of example i with that of its view i (logits ``[B, C]``: one "position" per example; the
official ``'mean'`` reduction divides the summed KL by B x C). Every view keeps its example's label
(subword sampling, code-switch and machine translation all leave the class unchanged), so the task loss
may use the views too.

- Stage 1 (``ExampleConsistencyClassification``): ``CE(orig) [+ CE(view)] + lambda1 * R1``; the original
  and its view are two forward passes. ``task_loss_on_view`` adds the view's cross-entropy (official
  ``noised_loss``); with ``lambda1=0`` that is the "Data Aug." baseline.
- Stage 2 (``ModelConsistencyClassification``): ``CE(orig) + CE(view) + lambda1 * R1 + lambda2 * R2``,
  R2 = ``model_consistency`` (soft KL(teacher || student) by default, xnli/pawsx; ``hard`` = cross-entropy
  on the teacher's argmax) on the VIEW rows only; originals and views are stacked in one forward pass.

Choices made here (as in the tagging module): L_task is the sum of the two batch-mean cross-entropies (the
official code averages over the D u A(D) rows of a batch, i.e. half of this); stage 2's R1 pairs each
original with its view (the official code pairs each row with a subword-resampled twin of it); epoch e
trains on ``views[e mod len(views)]``; ``self.last`` logs the unweighted R1 and R2.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from pipeline_steps.losses.model_consistency import model_consistency
from pipeline_steps.losses.symmetric_kl import symmetric_kl
from pipeline_steps.methods.xtune_tagging import (
    LAMBDA1,
    LAMBDA2_OFFICIAL,
    ConsistencyLoss,
    Stage2Loss,
    _check_options,
    _pad_to,
    _ViewRecipe,
    check_frozen,
    stage2_settings,
    stage2_total,
)
from pipeline_steps.models.sequence_classification import ClsEncoded, _logits, collate, encode_cls

LAMBDA2_CLS = LAMBDA2_OFFICIAL["xnli"][0]  # official R2 weight, XNLI cross-lingual transfer
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# ------------------------------------------------------------------------------------------- loss


def cls_consistency_loss(
    orig_logits: torch.Tensor,
    labels: torch.Tensor,
    view_logits: torch.Tensor,
    lambda1: float = LAMBDA1,
    *,
    view_labels: torch.Tensor | None = None,
    stop_gradient: bool = True,
    task_loss_on_view: bool = False,
    reduction: str = "mean",
) -> ConsistencyLoss:
    """Stage-1 objective on one batch: ``CE(orig) [+ CE(view)] + lambda1 * R1`` (Eq. 1).

    ``orig_logits`` / ``view_logits``: ``[B, C]``, row i of the view augmenting example i; ``labels``
    ``[B]`` class ids (``view_labels``: the view's, by default the same). R1 = ``symmetric_kl`` of the
    two class distributions, ``KL(sg(P) || Q) + KL(sg(Q) || P)``, reduced over B x C (``'mean'``)."""
    if orig_logits.dim() != 2 or orig_logits.shape != view_logits.shape:
        raise ValueError(
            f"expected two [B, C] logits of one shape, got {tuple(orig_logits.shape)} and "
            f"{tuple(view_logits.shape)}"
        )
    task = F.cross_entropy(orig_logits, labels)
    if task_loss_on_view:
        task = task + F.cross_entropy(view_logits, labels if view_labels is None else view_labels)
    r1 = symmetric_kl(orig_logits, view_logits, None, reduction, stop_gradient)
    return ConsistencyLoss(task + lambda1 * r1, task, r1)


def cls_stage2_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    is_view: torch.Tensor,
    *,
    lambda1: float = LAMBDA1,
    lambda2: float = LAMBDA2_CLS,
    hard: bool = False,
    stop_gradient: bool = True,
    use_r1: bool = True,
    use_r2: bool = True,
    reduction: str = "mean",
) -> Stage2Loss:
    """Full xTune (Sec. 3.1.3) on one batch of stacked rows: ``logits`` ``[N, C]`` (the student),
    ``labels`` ``[N]``, ``is_view`` ``[N]`` (bool; the k-th view row augments the k-th original row).

    task = CE(original rows) + CE(view rows); R1 = ``symmetric_kl`` between the k-th original and the k-th
    view row; R2 (Eq. 2) = ``model_consistency`` against ``teacher_logits`` (``[N, C]``) on the view rows
    only (its original rows are never read): KL(teacher || student), or cross-entropy on the teacher's
    argmax (``hard``). ``use_r1`` / ``use_r2`` = False drop that part (logged as 0; ``teacher_logits`` may
    then be None). ``loss = task + lambda1 * r1 + lambda2 * r2``."""
    if is_view.dtype != torch.bool or is_view.shape != logits.shape[:1] or logits.dim() != 2:
        raise ValueError(f"is_view must be bool of shape {tuple(logits.shape[:1])} over [N, C] logits")
    orig = ~is_view
    if int(is_view.sum()) != int(orig.sum()):
        raise ValueError(f"{int(is_view.sum())} view rows for {int(orig.sum())} original rows")
    first = cls_consistency_loss(
        logits[orig],
        labels[orig],
        logits[is_view],
        lambda1,
        view_labels=labels[is_view],
        stop_gradient=stop_gradient,
        task_loss_on_view=True,
        reduction=reduction,
    )
    return stage2_total(
        first,
        lambda: model_consistency(logits, teacher_logits, None, hard, reduction, rows=is_view),
        teacher_logits is not None,
        lambda1,
        lambda2,
        use_r1,
        use_r2,
    )


# -------------------------------------------------------------------------------------- encoding


def align_cls_views(train: pd.DataFrame, views: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Each view frame's rows in ``train``'s order, matched by ``src_id`` == ``train.id``; every view must
    hold each training id exactly once (ValueError naming the first offending id otherwise)."""
    ids = list(train["id"])
    dup = train["id"][train["id"].duplicated()]
    if len(dup):
        raise ValueError(f"training id {dup.iloc[0]!r} occurs more than once")
    if not views:
        raise ValueError("no augmented view to train on")
    known = set(ids)
    out = []
    for v, frame in enumerate(views):
        src = frame["src_id"]
        stray = [s for s in src if s not in known]
        if stray:
            raise ValueError(f"view {v}: src_id {stray[0]!r} is not a training id")
        twice = src[src.duplicated()]
        if len(twice):
            raise ValueError(f"view {v}: training id {twice.iloc[0]!r} has more than one row")
        have = set(src)
        missing = [i for i in ids if i not in have]
        if missing:
            raise ValueError(f"view {v}: no row for training id {missing[0]!r} ({len(missing)} missing)")
        out.append(frame.set_index("src_id", drop=False).loc[ids].reset_index(drop=True))
    return out


def _second_texts(frame: pd.DataFrame) -> list[str] | None:
    if "text_b" not in frame.columns or not frame["text_b"].notna().any():
        return None
    return list(frame["text_b"])


def encode_cls_frames(
    train: pd.DataFrame,
    views: Sequence[pd.DataFrame],
    tokenizer,
    label2id: dict[str, int],
    max_length: int,
) -> tuple[ClsEncoded, list[ClsEncoded]]:
    """``encode_cls`` of the labelled CLS_EXAMPLES frame ``train`` and of its views (aligned by
    ``align_cls_views``), each view row labelled with its training example's label."""
    unknown = [x for x in train["label"] if x not in label2id]
    if unknown:
        raise ValueError(f"label {unknown[0]!r} is not in the label set {sorted(label2id)}")
    label_ids = [label2id[x] for x in train["label"]]
    pairs = _second_texts(train) is not None
    orig = encode_cls(tokenizer, list(train["text_a"]), _second_texts(train), label_ids, max_length)
    encoded = []
    for v, frame in enumerate(align_cls_views(train, views)):
        text_b = _second_texts(frame)
        if (text_b is not None) != pairs:
            want = "pairs (text_b)" if pairs else "single texts (no text_b)"
            raise ValueError(f"view {v}: the training set has {want}, the view does not")
        encoded.append(encode_cls(tokenizer, list(frame["text_a"]), text_b, label_ids, max_length))
    return orig, encoded


# ----------------------------------------------------------------------------------------- recipes


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


class _ClsViewRecipe(_ViewRecipe):
    """``_ViewRecipe`` over ClsEncoded: a view's labels, when set, must be its examples' labels."""

    def __init__(self, orig: ClsEncoded, views: Sequence[ClsEncoded], batch_size: int, seed: int):
        super().__init__(orig, views, batch_size, seed, orig.pad_id)
        for v, view in enumerate(views):
            if view.pad_id != orig.pad_id:
                raise ValueError(f"view {v} pads with id {view.pad_id}, the originals with {orig.pad_id}")
            if view.labels is not None and list(view.labels) != list(orig.labels):
                raise ValueError(f"view {v} has other labels than its original examples")

    def _pair(self, indices: Sequence[int]) -> tuple[dict, dict]:
        orig = collate(self.orig, indices)
        view = collate(self.views[self.view_index], indices)
        view["labels"] = orig["labels"].clone()  # a view keeps its example's label
        return orig, view


class ExampleConsistencyClassification(_ClsViewRecipe):
    """xTune stage 1 for a classifier: (example, view) pairs, loss ``cls_consistency_loss``.

    ``orig``: the labelled training examples; ``views``: one encoding per augmented view, row i a view of
    example i (``from_frames`` builds both). Epoch e uses ``views[e mod len(views)]``; a batch holds both
    sides, each padded on its own. After each ``loss`` call ``self.last = {"task", "r1"}`` (floats, R1
    unweighted). ``lambda1=0, task_loss_on_view=True``: the "Data Aug." baseline."""

    def __init__(
        self,
        orig: ClsEncoded,
        views: Sequence[ClsEncoded],
        batch_size: int,
        seed: int,
        *,
        lambda1: float = LAMBDA1,
        stop_gradient: bool = True,
        task_loss_on_view: bool = False,
        reduction: str = "mean",
    ):
        super().__init__(orig, views, batch_size, seed)
        _check_options(lambda1, reduction)
        self.options = {
            "stop_gradient": bool(stop_gradient),
            "task_loss_on_view": bool(task_loss_on_view),
            "reduction": reduction,
        }
        self.lambda1 = float(lambda1)

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        views: list[pd.DataFrame],
        tokenizer,
        label2id: dict[str, int],
        max_length: int,
        batch_size: int,
        seed: int,
        **options,
    ) -> ExampleConsistencyClassification:
        """From the CLS_EXAMPLES training frame and its view frames (src_id, text_a, text_b)."""
        orig, encoded = encode_cls_frames(train, views, tokenizer, label2id, max_length)
        return cls(orig, encoded, batch_size, seed, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        orig, view = self._pair(indices)
        return {"orig": orig, "view": view}

    def loss(self, model, batch) -> torch.Tensor:
        orig_logits = _logits(model, _inputs(batch["orig"]))
        labels = batch["orig"]["labels"].to(orig_logits.device)
        parts = cls_consistency_loss(
            orig_logits, labels, _logits(model, _inputs(batch["view"])), self.lambda1, **self.options
        )
        self.last = {"task": float(parts.task.detach()), "r1": float(parts.r1.detach())}
        return parts.loss


class ModelConsistencyClassification(_ClsViewRecipe):
    """xTune stage 2 for a classifier (Sec. 3.1.2-3.1.3): loss ``cls_stage2_loss`` against a frozen teacher.

    A batch stacks B originals and their B views (one width; ``is_view`` marks the views), one student
    forward pass. ``teacher``: the stage-1 model theta*, a separate module, frozen here (``freeze``: eval
    mode, no trainable parameter -- checked at construction and each step) and run under
    ``torch.no_grad()`` on the view rows only. ``self.last = {"task", "r1", "r2"}`` (floats, unweighted).
    Ablations: ``use_r1=False`` ("R2 only"), ``use_r2=False`` (no teacher needed)."""

    def __init__(
        self,
        orig: ClsEncoded,
        views: Sequence[ClsEncoded],
        teacher: nn.Module | None,
        batch_size: int,
        seed: int,
        *,
        lambda1: float = LAMBDA1,
        lambda2: float = LAMBDA2_CLS,
        hard: bool = False,
        stop_gradient: bool = True,
        use_r1: bool = True,
        use_r2: bool = True,
        reduction: str = "mean",
    ):
        super().__init__(orig, views, batch_size, seed)
        for v, view in enumerate(views):
            if (view.token_type_ids is None) != (orig.token_type_ids is None):
                raise ValueError(f"view {v} and the originals differ in having token_type_ids")
        self.teacher, self.options = stage2_settings(
            teacher, lambda1, lambda2, hard, stop_gradient, use_r1, use_r2, reduction
        )

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        views: list[pd.DataFrame],
        teacher: nn.Module | None,
        tokenizer,
        label2id: dict[str, int],
        max_length: int,
        batch_size: int,
        seed: int,
        **options,
    ) -> ModelConsistencyClassification:
        """From the CLS_EXAMPLES training frame and its view frames (src_id, text_a, text_b)."""
        orig, encoded = encode_cls_frames(train, views, tokenizer, label2id, max_length)
        return cls(orig, encoded, teacher, batch_size, seed, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        o, v = self._pair(indices)
        width = max(o["input_ids"].shape[1], v["input_ids"].shape[1])
        pad = {"input_ids": self.pad_id, "attention_mask": 0, "token_type_ids": 0}
        batch = {
            k: torch.cat([_pad_to(o[k], width, p), _pad_to(v[k], width, p)]) for k, p in pad.items() if k in o
        }
        batch["labels"] = torch.cat([o["labels"], v["labels"]])
        batch["is_view"] = torch.tensor([False] * len(indices) + [True] * len(indices))
        return batch

    def teacher_logits(self, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        """The frozen teacher's logits ``[N, C]`` on the view rows (eval mode, no graph); 0 on the others."""
        check_frozen(self.teacher)
        rows = batch["is_view"]
        self.teacher.to(device).eval()
        with torch.no_grad():
            view = _logits(self.teacher, {k: t[rows] for k, t in _inputs(batch).items()})
        out = view.new_zeros((len(rows), view.shape[-1]))
        out[rows.to(out.device)] = view
        return out

    def loss(self, model, batch) -> torch.Tensor:
        if model is self.teacher:
            raise ValueError("the student and the R2 teacher must be separate modules")
        logits = _logits(model, _inputs(batch))
        teacher = self.teacher_logits(batch, logits.device) if self.options["use_r2"] else None
        parts = cls_stage2_loss(
            logits,
            batch["labels"].to(logits.device),
            teacher,
            batch["is_view"].to(logits.device),
            **self.options,
        )
        self.last = {k: float(getattr(parts, k).detach()) for k in ("task", "r1", "r2")}
        return parts.loss
