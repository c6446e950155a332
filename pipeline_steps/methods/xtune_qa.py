"""xTune for extractive QA: stage 1 (task + example consistency R1) and stage 2 (+ model consistency R2
against the frozen stage-1 model) (paper 003, Sec. 3.1.1-3.1.3, 3.3.2). The tagging versions are in
``xtune_tagging.py`` (its docstring has the equations); this module reuses their pieces (``_ViewRecipe``,
``_check_weight``, ``check_frozen``, ``LAMBDA1``, ``LAMBDA2_OFFICIAL``, ``ConsistencyLoss``,
``Stage2Loss``), ``losses.span_consistency`` (R1) and ``models.question_answering`` (windows, loss).

Paper (Sec. 3.3.2): a span extractor predicts ``p_start`` and ``p_end`` over the sub-words; code-switch
changes the sub-word sequence, so R1 (Eq. 1, ``KL(sg(P)||Q) + KL(sg(Q)||P)``) is taken "on unchanged
positions only"; stage 2 adds ``lambda2 * R2`` (Eq. 2, ``KL(f(x; theta*) || f(x; theta))`` on the
augmented examples, Eq. 4).

Official code (``XLMRobertaForQuestionAnsweringStable``, ``src/run_qa.py``), followed here:

- L_task = (CE(start) + CE(end)) / 2 over the windows (``qa_loss``); ``noised_loss`` adds it on the views
  (``task_loss_on_view``);
- R1: softmax of each view's start (end) logits over its sequence, the unchanged positions kept and the
  rest of the mass in one bucket, symmetric KL summed and divided by the rows and by 2, times lambda1 =
  5.0 (``span_consistency``); the CLS position is always paired;
- R2 (soft, as in the released QA scripts): ``KL_probs(student, teacher)`` summed over the real tokens of
  the augmented rows, divided by their number, start and end averaged:
  ``R2 = (sum_rows KL(T_s || S_s) + sum_rows KL(T_e || S_e)) / n_view_rows / 2`` (``span_model_consistency``).
  ``losses.model_consistency`` is not used: its ``'mean'`` divides by N x C, which for a distribution
  over the sequence would divide by the window width, unlike the official QA code; lambda2 = 5.0 for
  XQuAD cross-lingual transfer (``LAMBDA2_OFFICIAL["xquad"]``);
- the teacher is frozen and read on the augmented rows only; the student restarts from the pretrained model.

Choices made here:

- pairing (``pair_positions``): an example and its view are tokenised as ``encode_qa`` does (question
  left-stripped); a sub-word belongs to the space-separated word holding its first character; word k of
  the question (context) pairs with word k of the view's question (context), sub-word by sub-word, when
  the word's text and its sub-word ids are equal in both; the special tokens pair k-th with k-th (the
  official code pairs CLS only and no question position, and does not switch the question);
- windows: R1 needs the two sequences to line up, so only examples whose original AND view each fit in
  ONE window (``doc_stride`` never applies) are paired. The others (counted in ``self.unpaired``) still
  train on ALL their original windows with the task loss and, where the view is used (stage 1 with
  ``task_loss_on_view``, stage 2), on all their view's windows with the task loss (and R2 in stage 2);
- a recipe row is one EXAMPLE: a batch of ``batch_size`` examples holds all their windows (a varying
  number of rows); the task loss averages over those windows, R1 over the paired examples;
- softmax domains (R1 and R2) are the real tokens (attention mask); the official code softmaxes over the
  padded ``max_seq_length``;
- stage-2 task = mean CE over the original windows + mean CE over the view windows (the official code
  takes one mean over the mixed batch);
- epoch e trains on ``views[e mod len(views)]`` (``augment/qa_views.py``); ``self.last`` logs the unweighted
  R1 and R2, so ``loss = task + lambda1 * r1 (+ lambda2 * r2)``; no Gaussian noise and no hard R2 here.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from pipeline_steps.losses.model_consistency import freeze
from pipeline_steps.losses.span_consistency import span_consistency
from pipeline_steps.methods.xtune_classification import align_cls_views
from pipeline_steps.methods.xtune_tagging import (
    LAMBDA1,
    LAMBDA2_OFFICIAL,
    ConsistencyLoss,
    Stage2Loss,
    _check_weight,
    _pad_to,
    _ViewRecipe,
    check_frozen,
)
from pipeline_steps.models.question_answering import QAFeatures, _model_inputs, encode_qa

log = logging.getLogger(__name__)

LAMBDA2_QA = LAMBDA2_OFFICIAL["xquad"][0]  # official R2 weight, XQuAD cross-lingual transfer

# ------------------------------------------------------------------------------------------ pairing


class PositionPairs(NamedTuple):
    """Sub-word positions paired for R1: ``orig[k]`` of the original's window with ``view[k]`` of the
    view's."""

    orig: tuple[int, ...]
    view: tuple[int, ...]


def _word_starts(words: Sequence[str]) -> list[int]:
    out, pos = [], 0
    for word in words:
        out.append(pos)
        pos += len(word) + 1
    return out


@dataclass(frozen=True)
class _Tokenised:
    """One (question, context) pair: ids, special-token positions, words and each word's sub-words."""

    ids: list[int]
    specials: list[int]
    words: tuple[list[str], list[str]]  # question, context
    pieces: tuple[list[list[int]], list[list[int]]]


def _tokenise(tokenizer, questions: Sequence[str], contexts: Sequence[str]) -> list[_Tokenised]:
    """Whole (untruncated) encodings as ``encode_qa`` makes them, each sub-word assigned to the
    space-separated word of its sequence that holds its first character (none when it starts on a space)."""
    stripped = [q.lstrip() for q in questions]
    enc = tokenizer(stripped, list(contexts), return_offsets_mapping=True, verbose=False)
    out = []
    for i, (question, context) in enumerate(zip(questions, contexts, strict=True)):
        shift = len(question) - len(stripped[i])  # offsets of the question are into its stripped text
        words = (question.split(" "), context.split(" "))
        starts = (_word_starts(words[0]), _word_starts(words[1]))
        pieces: tuple[list[list[int]], list[list[int]]] = ([[] for _ in words[0]], [[] for _ in words[1]])
        specials = []
        for t, (seq, (a, _)) in enumerate(zip(enc.sequence_ids(i), enc["offset_mapping"][i], strict=True)):
            if seq is None:
                specials.append(t)
                continue
            a += shift if seq == 0 else 0
            k = bisect.bisect_right(starts[seq], a) - 1
            if a < starts[seq][k] + len(words[seq][k]):
                pieces[seq][k].append(t)
        out.append(_Tokenised(list(enc["input_ids"][i]), specials, words, pieces))
    return out


def _pairs(orig: _Tokenised, view: _Tokenised) -> PositionPairs:
    for s, name in enumerate(("question", "context")):
        if len(orig.words[s]) != len(view.words[s]):
            raise ValueError(
                f"the view's {name} has {len(view.words[s])} words, the original's {len(orig.words[s])}"
            )
    if len(orig.specials) != len(view.specials):
        raise ValueError(
            f"{len(orig.specials)} special tokens in the original, {len(view.specials)} in the view"
        )
    po, pv = list(orig.specials), list(view.specials)
    for s in (0, 1):
        for k, (a, b) in enumerate(zip(orig.pieces[s], view.pieces[s], strict=True)):
            same_ids = [orig.ids[t] for t in a] == [view.ids[t] for t in b]
            if orig.words[s][k] == view.words[s][k] and a and same_ids:
                po += a
                pv += b
    order = sorted(range(len(po)), key=po.__getitem__)
    return PositionPairs(tuple(po[i] for i in order), tuple(pv[i] for i in order))


def pair_positions(
    tokenizer, question: str, context: str, view_question: str, view_context: str
) -> PositionPairs:
    """The R1 position pairs of an example and its word-for-word view, both tokenised whole as one
    ``encode_qa`` window (question, then context): the special tokens k-th with k-th, and the sub-words of
    every question / context word whose text and sub-word ids the view left unchanged (word k with word
    k, in order). ValueError when the view has other word counts (split on single spaces)."""
    orig, view = _tokenise(tokenizer, [question, view_question], [context, view_context])
    return _pairs(orig, view)


def _windows_per_example(features: QAFeatures, n: int) -> np.ndarray:
    return np.bincount(features.example_index, minlength=n)


def encode_qa_views(
    train: pd.DataFrame,
    views: Sequence[pd.DataFrame],
    tokenizer,
    max_length: int,
    doc_stride: int,
) -> tuple[QAFeatures, list[QAFeatures], list[list[PositionPairs | None]]]:
    """``encode_qa`` of the labelled QA_EXAMPLES frame ``train`` and of each view frame (AUGMENTED_QA rows,
    matched to ``train`` by ``src_id``, ``align_cls_views``), and per view the ``pair_positions`` of every
    example whose original and view each fit in one window (None for the others)."""

    def encode(frame: pd.DataFrame) -> QAFeatures:
        return encode_qa(
            tokenizer,
            list(frame["question"]),
            list(frame["context"]),
            max_length=max_length,
            doc_stride=doc_stride,
            answer_starts=[[int(s) for s in x] for x in frame["answer_starts"]],
            answer_texts=[list(x) for x in frame["answer_texts"]],
        )

    n = len(train)
    orig = encode(train)
    n_orig = _windows_per_example(orig, n)
    encoded, pairs = [], []
    for v, frame in enumerate(align_cls_views(train, views)):
        feats = encode(frame)
        fit = np.flatnonzero((n_orig == 1) & (_windows_per_example(feats, n) == 1)).tolist()
        row: list[PositionPairs | None] = [None] * n
        for lo in range(0, len(fit), 1000):
            idx = fit[lo : lo + 1000]
            toks = _tokenise(
                tokenizer,
                [str(train["question"].iloc[i]) for i in idx] + [str(frame["question"].iloc[i]) for i in idx],
                [str(train["context"].iloc[i]) for i in idx] + [str(frame["context"].iloc[i]) for i in idx],
            )
            for j, i in enumerate(idx):
                try:
                    row[i] = _pairs(toks[j], toks[len(idx) + j])
                except ValueError as exc:
                    raise ValueError(f"view {v}, example {train['id'].iloc[i]!r}: {exc}") from None
        encoded.append(feats)
        pairs.append(row)
    return orig, encoded, pairs


# ------------------------------------------------------------------------------------------- losses


def span_ce(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
) -> torch.Tensor:
    """``qa_loss`` from given logits: (CE(start) + CE(end)) / 2, mean over the rows (positions outside
    the sequence clamped to its length and ignored)."""
    width = start_logits.size(1)
    start = start_positions.to(start_logits.device).clamp(0, width)
    end = end_positions.to(end_logits.device).clamp(0, width)
    return (
        F.cross_entropy(start_logits, start, ignore_index=width)
        + F.cross_entropy(end_logits, end, ignore_index=width)
    ) / 2


def _sequence_kl(teacher: torch.Tensor, student: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Summed KL(teacher || student) of the softmaxes over the ``valid`` positions of every row."""
    dtype = torch.promote_types(student.dtype, torch.float32)
    lt = F.log_softmax(teacher.to(dtype).masked_fill(~valid, float("-inf")), dim=-1).masked_fill(~valid, 0.0)
    ls = F.log_softmax(student.to(dtype).masked_fill(~valid, float("-inf")), dim=-1).masked_fill(~valid, 0.0)
    return (lt.exp() * (lt - ls)).masked_fill(~valid, 0.0).sum()


def span_model_consistency(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    teacher_start: torch.Tensor,
    teacher_end: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """R2 for span extraction (Eq. 2), official reduction: ``(sum_rows KL(T_s || S_s) + sum_rows KL(T_e ||
    S_e)) / rows / 2``, each KL between softmaxes over the ``valid`` (bool ``[N, L]``, e.g. the attention
    mask) positions of a row; the teacher's logits are detached. 0 for no row."""
    if not (
        start_logits.shape == end_logits.shape == teacher_start.shape == teacher_end.shape == valid.shape
    ):
        raise ValueError(
            f"student {tuple(start_logits.shape)}, teacher {tuple(teacher_start.shape)} and valid "
            f"{tuple(valid.shape)} must all be [N, L]"
        )
    if valid.dtype != torch.bool:
        raise ValueError(f"valid must be a bool tensor, got {valid.dtype}")
    rows = start_logits.shape[0]
    if rows == 0:
        return start_logits.new_zeros((), dtype=torch.promote_types(start_logits.dtype, torch.float32))
    total = _sequence_kl(teacher_start.detach(), start_logits, valid)
    total = total + _sequence_kl(teacher_end.detach(), end_logits, valid)
    return total / rows / 2


def _r1(
    p: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    q: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    r1: dict,
    stop_gradient: bool,
) -> torch.Tensor:
    """``span_consistency`` between the rows ``r1["orig_rows"]`` of ``p`` and ``r1["view_rows"]`` of ``q``
    (each ``(start, end, attention_mask)``) at their paired positions; 0 when nothing is paired."""
    po, pv = r1["orig_rows"], r1["view_rows"]
    if len(po) == 0:
        return p[0].new_zeros((), dtype=torch.promote_types(p[0].dtype, torch.float32))
    po, pv = po.to(p[0].device), pv.to(q[0].device)
    return span_consistency(
        p[0][po],
        p[1][po],
        q[0][pv],
        q[1][pv],
        [t.to(p[0].device) for t in r1["orig_pos"]],
        [t.to(q[0].device) for t in r1["view_pos"]],
        stop_gradient,
        p_valid=p[2][po].bool(),
        q_valid=q[2][pv].bool(),
    )


# ------------------------------------------------------------------------------------------ recipes


@dataclass(frozen=True)
class ExampleWindows:
    """``features`` grouped by example: ``rows[e]`` are the feature rows (windows) of example e."""

    features: QAFeatures
    rows: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, features: QAFeatures, n: int, what: str) -> ExampleWindows:
        rows: list[list[int]] = [[] for _ in range(n)]
        for f, e in enumerate(features.example_index.tolist()):
            if not 0 <= e < n:
                raise ValueError(f"{what}: window {f} belongs to example {e}, but there are {n} examples")
            rows[e].append(f)
        empty = [e for e, r in enumerate(rows) if not r]
        if empty:
            raise ValueError(f"{what}: example {empty[0]} has no window")
        return cls(features, tuple(tuple(r) for r in rows))

    @property
    def labels(self) -> np.ndarray | None:
        return self.features.start_positions

    def __len__(self) -> int:
        return len(self.rows)


def _check_pairs(
    orig: ExampleWindows, view: ExampleWindows, pairs: Sequence[PositionPairs | None], v: int
) -> None:
    if len(pairs) != len(orig):
        raise ValueError(f"view {v}: {len(pairs)} pair entries for {len(orig)} examples")
    for e, pair in enumerate(pairs):
        if pair is None:
            continue
        if len(orig.rows[e]) != 1 or len(view.rows[e]) != 1:
            raise ValueError(f"view {v}, example {e}: positions are paired only for one-window examples")
        if len(pair.orig) != len(pair.view) or len(set(pair.orig)) != len(pair.orig):
            raise ValueError(f"view {v}, example {e}: the paired positions must be distinct and one to one")
        (fo,), (fv,) = orig.rows[e], view.rows[e]
        o_len, v_len = (
            int(orig.features.attention_mask[fo].sum()),
            int(view.features.attention_mask[fv].sum()),
        )
        if any(not 0 <= p < o_len for p in pair.orig) or any(not 0 <= q < v_len for q in pair.view):
            raise ValueError(f"view {v}, example {e}: a paired position lies outside its window")
        if (
            orig.features.input_ids[fo, list(pair.orig)] != view.features.input_ids[fv, list(pair.view)]
        ).any():
            raise ValueError(f"view {v}, example {e}: paired positions hold different sub-words")


class _QAViewRecipe(_ViewRecipe):
    """``_ViewRecipe`` over examples (one recipe row per example, with all its windows) of QA features,
    ``pairs[v][e]`` the R1 positions of example e in view v (None: not paired)."""

    def __init__(
        self,
        orig: QAFeatures,
        views: Sequence[QAFeatures],
        pairs: Sequence[Sequence[PositionPairs | None]],
        batch_size: int,
        seed: int,
    ):
        name = type(self).__name__
        if not views:
            raise ValueError(f"{name} needs at least one augmented view")
        if len(pairs) != len(views):
            raise ValueError(f"{len(pairs)} lists of pairs for {len(views)} views")
        n = len(pairs[0])
        grouped = ExampleWindows.of(orig, n, "originals")
        windows = [ExampleWindows.of(f, n, f"view {v}") for v, f in enumerate(views)]
        super().__init__(grouped, windows, batch_size, seed, orig.pad_id)
        for v, (view, p) in enumerate(zip(windows, pairs, strict=True)):
            if view.features.pad_id != orig.pad_id:
                raise ValueError(
                    f"view {v} pads with id {view.features.pad_id}, the originals with {orig.pad_id}"
                )
            _check_pairs(grouped, view, p, v)
        self.pairs = [list(p) for p in pairs]
        self.unpaired = [sum(x is None for x in p) for p in self.pairs]
        for v, k in enumerate(self.unpaired):
            log.info("%s view %d: %d of %d examples have no R1 (several windows)", name, v, k, n)

    def _view_parts(
        self, indices: Sequence[int], all_view_windows: bool
    ) -> tuple[list[int], list[int], dict]:
        """Original rows, view rows, and the R1 rows (into those lists) and positions of ``indices``."""
        view, pairs = self.views[self.view_index], self.pairs[self.view_index]
        orig_rows = [f for e in indices for f in self.orig.rows[e]]
        paired = [e for e in indices if pairs[e] is not None]
        view_rows = [f for e in (indices if all_view_windows else paired) for f in view.rows[e]]
        at_orig = {f: i for i, f in enumerate(orig_rows)}
        at_view = {f: i for i, f in enumerate(view_rows)}
        r1 = {
            "orig_rows": torch.tensor([at_orig[self.orig.rows[e][0]] for e in paired], dtype=torch.long),
            "view_rows": torch.tensor([at_view[view.rows[e][0]] for e in paired], dtype=torch.long),
            "orig_pos": [torch.tensor(pairs[e].orig, dtype=torch.long) for e in paired],
            "view_pos": [torch.tensor(pairs[e].view, dtype=torch.long) for e in paired],
        }
        return orig_rows, view_rows, r1


def _forward(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    out = model(**_model_inputs(batch))
    return out.start_logits, out.end_logits, batch["attention_mask"].to(out.start_logits.device)


def _labels(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch["start_positions"], batch["end_positions"]


class ExampleConsistencyQA(_QAViewRecipe):
    """xTune stage 1 for QA: ``qa_loss(orig) [+ qa_loss(view)] + lambda1 * R1`` (``span_consistency`` on
    the paired positions).

    ``orig``: the labelled training windows (``encode_qa``); ``views``: one encoding per augmented view,
    its example i a view of example i; ``pairs[v][i]``: the R1 positions of example i in view v (None
    when either side needs several windows). ``from_frames`` builds all three. A batch is ``batch_size``
    examples: all their original windows and, in a second forward pass, the view windows of the paired
    examples (with ``task_loss_on_view``: all their view windows). After each ``loss`` call ``self.last =
    {"task", "r1"}`` (floats, R1 unweighted). ``lambda1=0, task_loss_on_view=True``: "Data Aug."."""

    def __init__(
        self,
        orig: QAFeatures,
        views: Sequence[QAFeatures],
        pairs: Sequence[Sequence[PositionPairs | None]],
        batch_size: int,
        seed: int,
        *,
        lambda1: float = LAMBDA1,
        stop_gradient: bool = True,
        task_loss_on_view: bool = False,
    ):
        super().__init__(orig, views, pairs, batch_size, seed)
        _check_weight("lambda1", lambda1, LAMBDA1)
        if task_loss_on_view and any(v.start_positions is None for v in views):
            raise ValueError("task_loss_on_view needs labelled views (answer_starts)")
        self.lambda1, self.stop_gradient = float(lambda1), bool(stop_gradient)
        self.task_loss_on_view = bool(task_loss_on_view)

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        views: list[pd.DataFrame],
        tokenizer,
        max_length: int,
        doc_stride: int,
        batch_size: int,
        seed: int,
        **options,
    ) -> ExampleConsistencyQA:
        """From the QA_EXAMPLES training frame and its view frames (AUGMENTED_QA rows, one frame per view)."""
        orig, encoded, pairs = encode_qa_views(train, views, tokenizer, max_length, doc_stride)
        return cls(orig, encoded, pairs, batch_size, seed, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        orig_rows, view_rows, r1 = self._view_parts(indices, self.task_loss_on_view)
        view = self.views[self.view_index].features.batch(view_rows) if view_rows else None
        return {"orig": self.orig.features.batch(orig_rows), "view": view, "r1": r1}

    def loss(self, model, batch) -> torch.Tensor:
        o = _forward(model, batch["orig"])
        task = span_ce(o[0], o[1], *_labels(batch["orig"]))
        r1 = task.new_zeros(())
        if batch["view"] is not None:
            v = _forward(model, batch["view"])
            if self.task_loss_on_view:
                task = task + span_ce(v[0], v[1], *_labels(batch["view"]))
            r1 = _r1(o, v, batch["r1"], self.stop_gradient)
        parts = ConsistencyLoss(task + self.lambda1 * r1, task, r1)
        self.last = {"task": float(parts.task.detach()), "r1": float(parts.r1.detach())}
        return parts.loss


class ModelConsistencyQA(_QAViewRecipe):
    """xTune stage 2 for QA (Sec. 3.1.2-3.1.3): ``qa_loss(orig) + qa_loss(view) + lambda1 * R1 + lambda2 *
    R2``, R2 = ``span_model_consistency`` against a frozen teacher on the VIEW windows only.

    A batch is ``batch_size`` examples: all their original windows and all their view windows, stacked in
    one student forward pass (padded to one width; ``is_view`` marks the view rows); R1 as in stage 1 on
    the paired (one-window) examples. ``teacher``: the stage-1 model theta*, a separate module, frozen here
    (``freeze``: eval mode, no trainable parameter -- checked at construction and each step) and run under
    ``torch.no_grad()`` on the view rows only. ``self.last = {"task", "r1", "r2"}`` (floats, unweighted).
    Ablations: ``use_r1=False`` ("R2 only"), ``use_r2=False`` (no teacher needed)."""

    def __init__(
        self,
        orig: QAFeatures,
        views: Sequence[QAFeatures],
        pairs: Sequence[Sequence[PositionPairs | None]],
        teacher: nn.Module | None,
        batch_size: int,
        seed: int,
        *,
        lambda1: float = LAMBDA1,
        lambda2: float = LAMBDA2_QA,
        stop_gradient: bool = True,
        use_r1: bool = True,
        use_r2: bool = True,
    ):
        super().__init__(orig, views, pairs, batch_size, seed)
        _check_weight("lambda1", lambda1, LAMBDA1)
        _check_weight("lambda2", lambda2, LAMBDA2_QA)
        for v, view in enumerate(views):
            if view.start_positions is None:
                raise ValueError(f"view {v} has no answers: stage 2 trains the task on the views")
            if (view.token_type_ids is None) != (orig.token_type_ids is None):
                raise ValueError(f"view {v} and the originals differ in having token_type_ids")
        if use_r2 and teacher is None:
            raise ValueError("R2 needs a teacher (the stage-1 model), or use_r2=False")
        self.teacher = None if teacher is None else freeze(teacher)
        if self.teacher is not None:
            check_frozen(self.teacher)
        self.lambda1, self.lambda2 = float(lambda1), float(lambda2)
        self.stop_gradient, self.use_r1, self.use_r2 = bool(stop_gradient), bool(use_r1), bool(use_r2)

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        views: list[pd.DataFrame],
        teacher: nn.Module | None,
        tokenizer,
        max_length: int,
        doc_stride: int,
        batch_size: int,
        seed: int,
        **options,
    ) -> ModelConsistencyQA:
        """From the QA_EXAMPLES training frame and its view frames (AUGMENTED_QA rows, one frame per view)."""
        orig, encoded, pairs = encode_qa_views(train, views, tokenizer, max_length, doc_stride)
        return cls(orig, encoded, pairs, teacher, batch_size, seed, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        orig_rows, view_rows, r1 = self._view_parts(indices, True)
        o = self.orig.features.batch(orig_rows)
        v = self.views[self.view_index].features.batch(view_rows)
        width = max(o["input_ids"].shape[1], v["input_ids"].shape[1])
        pad = {"input_ids": self.pad_id, "attention_mask": 0, "token_type_ids": 0}
        batch = {
            k: torch.cat([_pad_to(o[k], width, p), _pad_to(v[k], width, p)]) for k, p in pad.items() if k in o
        }
        for k in ("start_positions", "end_positions"):
            batch[k] = torch.cat([o[k], v[k]])
        batch["is_view"] = torch.tensor([False] * len(orig_rows) + [True] * len(view_rows))
        r1["view_rows"] = r1["view_rows"] + len(orig_rows)  # into the stacked rows
        batch["r1"] = r1
        return batch

    def teacher_logits(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen teacher's start and end logits on the view rows (eval mode, no graph)."""
        check_frozen(self.teacher)
        rows = batch["is_view"]
        self.teacher.to(rows.device).eval()
        with torch.no_grad():
            out = self.teacher(**{k: t[rows] for k, t in _model_inputs(batch).items()})
        return out.start_logits, out.end_logits

    def loss(self, model, batch) -> torch.Tensor:
        if model is self.teacher:
            raise ValueError("the student and the R2 teacher must be separate modules")
        s, e, mask = _forward(model, batch)
        rows = batch["is_view"].to(s.device)
        start, end = (t.to(s.device) for t in _labels(batch))
        task = span_ce(s[~rows], e[~rows], start[~rows], end[~rows]) + span_ce(
            s[rows], e[rows], start[rows], end[rows]
        )
        zero = task.new_zeros(())
        r1 = _r1((s, e, mask), (s, e, mask), batch["r1"], self.stop_gradient) if self.use_r1 else zero
        r2 = zero
        if self.use_r2:
            ts, te = self.teacher_logits(batch)
            r2 = span_model_consistency(s[rows], e[rows], ts.to(s.device), te.to(s.device), mask[rows].bool())
        parts = Stage2Loss(task + self.lambda1 * r1 + self.lambda2 * r2, task, r1, r2)
        self.last = {k: float(getattr(parts, k).detach()) for k in ("task", "r1", "r2")}
        return parts.loss
