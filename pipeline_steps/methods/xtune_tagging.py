"""xTune for a tagger: stage 1 (task + example consistency R1) and stage 2 (+ model consistency R2 against
the frozen stage-1 model) (paper 003, Sec. 3.1.1-3.1.3, 3.3.3). Stage 2 is ``ModelConsistencyTagging``
(its docstring has the stage-2 details); everything below up to it is stage 1.

Paper. Eq. 1 (Sec. 3.1.1): ``R1(D, theta, A) = sum_x KLS(f(x) || f(A(x)))`` with
``KLS(P, Q) = KL(sg(P) || Q) + KL(sg(Q) || P)``; stage 1 (Sec. 3.1.3) fits
``theta* = argmin L_task(D, theta) + R1(D, theta, A*)``; for sequence labelling (Sec. 3.3.3) f predicts
one tag distribution per word, on its first sub-word, and subword sampling / code-switch keep the number
of words, so word k of x is compared with word k of A(x).

Official code (``../shared/papers/README.md``): R1 is weighted by lambda1 = 5.0 (also in stage 1, where
the paper writes no weight); both views are tokenised word by word and R1 and the labels sit on first
sub-words only; KL uses ``F.kl_div``'s ``reduction='mean'`` (over N x C) -- all three from
``losses.symmetric_kl``. Its ``noised_loss`` switch adds the task loss on the augmented view
(``task_loss_on_view`` here: the "Data Aug." ablation and stage 2).

Choices made here:

- L_task is ``sentence_ce`` (paper 001 Eq. 3, every sentence weighs the same), not the official
  token-level mean cross-entropy;
- the original and its view are two forward passes, each padded on its own (dropout is drawn
  independently in each, as in the official code);
- truncation at ``max_length`` may keep fewer words of one view than of the other: R1 pairs word k only
  when both views keep its first sub-word (also skipping words with no sub-word at all);
- with several augmented views per sentence, epoch e trains on view ``e mod views`` (``augment/views.py``);
- ``self.last["r1"]`` logs the unweighted R1, so ``loss = task + lambda1 * r1``;
- ``que`` (paper 000's [QUE] fine-tuning, ``models/token_classification.py``): the original and every
  view are the second sequence after ``[QUE]`` (``encode(..., que=True)``; a subword-sampled view gets
  the same prefix and suffix from ``special_ids``), so word k still sits at ``first[k]`` of each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn

from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.model_consistency import freeze, model_consistency
from pipeline_steps.losses.symmetric_kl import REDUCTIONS, first_subword_mask, symmetric_kl
from pipeline_steps.methods.supervised import sentence_ce
from pipeline_steps.models.token_classification import IGNORE, Encoded, collate, encode, que_min_length
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token
from pipeline_steps.train import ShuffledBatches

LAMBDA1 = 5.0  # official xTune weight of R1, every task
NOISE_STD = 1e-5  # official ``noise_eps`` (Gaussian noise on the input embeddings; unused in its scripts)

# --------------------------------------------------------------------------------------- encoding


def special_ids(tokenizer, que: bool = False) -> tuple[list[int], list[int]]:
    """The special ids ``encode`` puts before and after a sentence's sub-words (XLM-R: <s> ... </s>),
    read from the tokenizer's own output for a one-word sentence; with ``que`` the prefix is the pair
    template's up to the sentence (XLM-R: <s> [QUE] </s></s>; the tokenizer learns [QUE])."""
    if que:
        add_que_token(tokenizer)
        enc = tokenizer([[QUE_TOKEN]], [["a"]], is_split_into_words=True)
        sequence = enc.sequence_ids(0)
        in_sentence = [w is not None and sequence[pos] == 1 for pos, w in enumerate(enc.word_ids(0))]
    else:
        enc = tokenizer([["a"]], is_split_into_words=True)
        in_sentence = [w is not None for w in enc.word_ids(0)]
    ids = list(enc["input_ids"][0])
    inside = [pos for pos, keep in enumerate(in_sentence) if keep]
    if not inside:
        raise ValueError(f"{type(tokenizer).__name__} gives no sub-word for the word 'a'")
    return ids[: inside[0]], ids[inside[-1] + 1 :]


def _piece_ids(tokenizer, word: Sequence[str], unk_id: int) -> list[int]:
    ids = tokenizer.convert_tokens_to_ids(list(word)) if len(word) else []
    return [unk_id if i is None else int(i) for i in ids]


def _label_row(width: int, first: Sequence[int], tags: Sequence[str], label2id: dict[str, int]) -> list[int]:
    row = [IGNORE] * width
    for w, pos in enumerate(first):
        if pos >= 0:
            row[pos] = label2id[tags[w]]
    return row


def encode_pieces(
    tokenizer,
    pieces: Sequence[Sequence[Sequence[str]]],
    tags: Sequence[Sequence[str]] | None,
    label2id: dict[str, int] | None,
    max_length: int,
    *,
    que: bool = False,
) -> Encoded:
    """``encode`` for sentences whose words come with their own sub-word pieces (a subword-sampled view).

    Pieces become ids with ``convert_tokens_to_ids`` (a piece outside the vocabulary -> the unk id); the
    special tokens and the truncation (``max_length`` ids in all, specials included) are ``encode``'s,
    and so is the result: labels on each word's first piece, ``first`` = -1 for a word without pieces or
    cut off, ``n_empty`` / ``n_truncated`` counting those. ``que``: after the [QUE] prefix, as
    ``encode(..., que=True)`` (only the sentence is cut)."""
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (got {max_length})")
    prefix, suffix = special_ids(tokenizer, que)
    if que and max_length < que_min_length(tokenizer):
        raise ValueError(f"with [QUE], max_length must be at least {que_min_length(tokenizer)}")
    budget = max_length - len(prefix) - len(suffix)
    unk = int(tokenizer.unk_token_id)
    labelled = tags is not None and label2id is not None
    out = Encoded([], [] if labelled else None, [], [], [])
    for i, words in enumerate(pieces):
        ids: list[int] = []
        first: list[int] = []
        for word in words:
            first.append(len(prefix) + len(ids) if len(word) and len(ids) < budget else -1)
            ids.extend(_piece_ids(tokenizer, word, unk))
        row = prefix + ids[:budget] + suffix
        out.input_ids.append(row)
        out.first.append(first)
        n_empty = sum(1 for word in words if not len(word))
        out.n_empty.append(n_empty)
        out.n_truncated.append(sum(1 for f in first if f < 0) - n_empty)
        if out.labels is not None:
            out.labels.append(_label_row(len(row), first, tags[i], label2id))
    return out


def _merge(parts: Sequence[tuple[Sequence[int], Encoded]], n: int, labelled: bool) -> Encoded:
    """Rows of several encodings put back in frame order (``parts``: (frame rows, their encoding))."""
    where: dict[int, tuple[Encoded, int]] = {}
    for rows, enc in parts:
        where.update({i: (enc, k) for k, i in enumerate(rows)})

    def column(name: str) -> list:
        return [getattr(where[i][0], name)[where[i][1]] for i in range(n)]

    labels = column("labels") if labelled else None
    return Encoded(column("input_ids"), labels, column("first"), column("n_truncated"), column("n_empty"))


def encode_view(
    tokenizer, frame: pd.DataFrame, label2id: dict[str, int] | None, max_length: int, *, que: bool = False
) -> Encoded:
    """An AUGMENTED frame's rows: ``encode_pieces`` of ``pieces`` where set (subword), else ``encode`` of
    ``tokens`` (code_switch). Labelled when every row has tags (and ``label2id`` is given). ``que``:
    after the [QUE] prefix (module docstring)."""
    has_tags = [t is not None for t in frame["tags"]]
    if any(has_tags) and not all(has_tags):
        raise ValueError("some augmented rows have tags and others not")
    labelled = all(has_tags) and label2id is not None
    tags = list(frame["tags"]) if labelled else None
    by_pieces = [i for i, p in enumerate(frame["pieces"]) if p is not None]
    by_tokens = [i for i, p in enumerate(frame["pieces"]) if p is None]
    parts = []
    if by_pieces:
        pieces = [frame["pieces"].iloc[i] for i in by_pieces]
        sub = None if tags is None else [tags[i] for i in by_pieces]
        parts.append((by_pieces, encode_pieces(tokenizer, pieces, sub, label2id, max_length, que=que)))
    if by_tokens:
        tokens = [frame["tokens"].iloc[i] for i in by_tokens]
        sub = None if tags is None else [tags[i] for i in by_tokens]
        parts.append((by_tokens, encode(tokenizer, tokens, sub, label2id, max_length, que=que)))
    return _merge(parts, len(frame), labelled)


def align_views(
    train: pd.DataFrame, augmented: pd.DataFrame, *, untagged_any_length: bool = False
) -> list[pd.DataFrame]:
    """One frame per view number (ascending): the augmented rows in ``train``'s order, matched by
    ``src_id`` == ``train.id``; every view must hold each training sentence once, with as many words
    (``untagged_any_length``: except a view whose tags are all null, e.g. machine translations)."""
    ids = list(train["id"])
    if len(set(ids)) != len(ids):
        raise ValueError("the training sentences' ids are not unique")
    stray = set(augmented["src_id"]) - set(ids)
    if stray:
        raise ValueError(f"{len(stray)} augmented rows have no training sentence, e.g. {sorted(stray)[0]!r}")
    n_words = [len(t) for t in train["tokens"]]
    views = []
    for view, rows in augmented.groupby("view", sort=True):
        if rows["src_id"].duplicated().any() or len(rows) != len(ids):
            raise ValueError(f"view {view}: {len(rows)} rows for {len(ids)} training sentences")
        rows = rows.set_index("src_id", drop=False).loc[ids].reset_index(drop=True)
        if untagged_any_length and all(t is None for t in rows["tags"]):
            views.append(rows)
            continue
        bad = [i for i, t in enumerate(rows["tokens"]) if len(t) != n_words[i]]
        if bad:
            raise ValueError(
                f"view {view}: {ids[bad[0]]!r} has {len(rows['tokens'][bad[0]])} words, not {n_words[bad[0]]}"
            )
        views.append(rows)
    if not views:
        raise ValueError("no augmented view to train on")
    return views


# ------------------------------------------------------------------------------------------- loss


class ConsistencyLoss(NamedTuple):
    """``loss = task + lambda1 * r1`` (``r1``: unweighted symmetric KL, Eq. 1)."""

    loss: torch.Tensor
    task: torch.Tensor
    r1: torch.Tensor


def prefix_pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the first ``min(a.sum(), b.sum())`` True positions of the bool masks ``a`` and ``b``."""
    keep = torch.minimum(a.sum(dim=1), b.sum(dim=1)).unsqueeze(1)
    return a & (a.cumsum(dim=1) <= keep), b & (b.cumsum(dim=1) <= keep)


def consistency_loss(
    orig_logits: torch.Tensor,
    orig_labels: torch.Tensor,
    aug_logits: torch.Tensor,
    aug_labels: torch.Tensor | None,
    lambda1: float = LAMBDA1,
    *,
    orig_mask: torch.Tensor | None = None,
    aug_mask: torch.Tensor | None = None,
    stop_gradient: bool = True,
    task_loss_on_view: bool = False,
    reduction: str = "mean",
) -> ConsistencyLoss:
    """Stage-1 objective on one batch: ``sentence_ce(orig) [+ sentence_ce(view)] + lambda1 * R1``.

    R1 = ``symmetric_kl`` between the original's and the view's logits at the paired word positions:
    ``orig_mask`` / ``aug_mask`` (bool, ``[B, T]`` of each view), or by default the first sub-words
    (labelled positions) of each, word k with word k, as many per row as both views label."""
    if (orig_mask is None) != (aug_mask is None):
        raise ValueError("pass both orig_mask and aug_mask, or neither")
    if orig_mask is None:
        if aug_labels is None:
            raise ValueError("aug_labels or the masks are needed to pair the words")
        orig_mask, aug_mask = prefix_pairs(first_subword_mask(orig_labels), first_subword_mask(aug_labels))
    task = sentence_ce(orig_logits, orig_labels)
    if task_loss_on_view:
        if aug_labels is None:
            raise ValueError("task_loss_on_view needs the view's labels")
        task = task + sentence_ce(aug_logits, aug_labels)
    r1 = symmetric_kl(orig_logits, aug_logits, orig_mask, reduction, stop_gradient, q_mask=aug_mask)
    return ConsistencyLoss(task + lambda1 * r1, task, r1)


# ----------------------------------------------------------------------------------------- recipe


def paired_masks(
    a: Encoded, b: Encoded, idx: Sequence[int], width_a: int, width_b: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool masks ``[len(idx), width]`` of rows ``idx``: the first sub-words of the words both ``a`` and
    ``b`` keep (word k of ``a`` pairs with word k of ``b``)."""
    mask_a = torch.zeros((len(idx), width_a), dtype=torch.bool)
    mask_b = torch.zeros((len(idx), width_b), dtype=torch.bool)
    for r, i in enumerate(idx):
        for pa, pb in zip(a.first[i], b.first[i], strict=True):
            if pa >= 0 and pb >= 0:
                mask_a[r, pa] = mask_b[r, pb] = True
    return mask_a, mask_b


def _check_weight(name: str, value: float, official: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number (xTune: {official}), got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")


def _check_options(lambda1: float, reduction: str) -> None:
    _check_weight("lambda1", lambda1, LAMBDA1)
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")


class _ViewRecipe(ShuffledBatches):
    """Original sentences and their augmented views (row i of every view augments sentence i); epoch e
    trains on ``views[e mod len(views)]`` (``augment/views.py``). ``noise_std`` > 0 adds Gaussian noise
    to the view's input embeddings in the forward pass (``embedding_noise``). Subclasses collate and
    score."""

    def noise_for(self, model, input_ids: torch.Tensor) -> torch.Tensor | None:
        """Gaussian noise for the input embeddings of ``input_ids`` (None when ``noise_std`` is 0)."""
        return embedding_noise(model, input_ids, self.noise_std)

    def __init__(
        self,
        orig: Encoded,
        views: Sequence[Encoded],
        batch_size: int,
        seed: int,
        pad_id: int,
        noise_std: float = 0.0,
    ):
        name = type(self).__name__
        super().__init__(len(orig), batch_size, seed, name)
        _check_weight("noise_std", noise_std, NOISE_STD)
        if orig.labels is None:
            raise ValueError(f"{name} needs labelled original sentences")
        if not views:
            raise ValueError(f"{name} needs at least one augmented view")
        for v, view in enumerate(views):
            if len(view) != len(orig):
                raise ValueError(f"view {v} has {len(view)} rows for {len(orig)} original sentences")
        self.orig, self.views, self.pad_id = orig, list(views), int(pad_id)
        self.noise_std = float(noise_std)
        self.view_index = 0
        self.last: dict[str, float] = {}

    def batches(self, epoch: int):
        self.view_index = epoch % len(self.views)
        yield from super().batches(epoch)


class ExampleConsistencyTagging(_ViewRecipe):
    """xTune stage 1 for a tagger: (original, augmented view) pairs, loss ``consistency_loss``.

    ``orig``: the labelled training sentences; ``views``: one encoding per augmented view, row i being a
    view of sentence i with as many words (``from_frames`` builds both). Epoch e uses ``views[e mod
    len(views)]``. A batch holds both views, each padded on its own, and the paired R1 masks. After each
    ``loss`` call, ``self.last`` = ``{"task": ..., "r1": ...}`` (floats, R1 unweighted)."""

    def __init__(
        self,
        orig: Encoded,
        views: Sequence[Encoded],
        batch_size: int,
        seed: int,
        pad_id: int,
        *,
        lambda1: float = LAMBDA1,
        stop_gradient: bool = True,
        task_loss_on_view: bool = False,
        reduction: str = "mean",
        noise_std: float = 0.0,
    ):
        super().__init__(orig, views, batch_size, seed, pad_id, noise_std)
        _check_options(lambda1, reduction)
        for v, view in enumerate(views):
            if [len(f) for f in view.first] != [len(f) for f in orig.first]:
                raise ValueError(f"view {v} does not have the original sentences' word counts")
            if task_loss_on_view and view.labels is None:
                raise ValueError(f"task_loss_on_view: view {v} has no labels")
        self.lambda1, self.stop_gradient = float(lambda1), bool(stop_gradient)
        self.task_loss_on_view, self.reduction = bool(task_loss_on_view), reduction

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        augmented: pd.DataFrame,
        tokenizer,
        label2id: dict[str, int],
        max_length: int,
        batch_size: int,
        seed: int,
        *,
        que: bool = False,
        **options,
    ) -> ExampleConsistencyTagging:
        """From the SENTENCES training frame and its AUGMENTED views (paired by ``src_id``); ``que``:
        both encoded after the [QUE] prefix."""
        tokens, tags = list(train["tokens"]), list(train["tags"])
        orig = encode(tokenizer, tokens, tags, label2id, max_length, que=que)
        views = [
            encode_view(tokenizer, v, label2id, max_length, que=que) for v in align_views(train, augmented)
        ]
        return cls(orig, views, batch_size, seed, tokenizer.pad_token_id, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        view = self.views[self.view_index]
        orig_batch = collate(self.orig, indices, self.pad_id)
        view_batch = collate(view, indices, self.pad_id)
        widths = orig_batch["input_ids"].shape[1], view_batch["input_ids"].shape[1]
        orig_mask, view_mask = paired_masks(self.orig, view, indices, *widths)
        return {"orig": orig_batch, "view": view_batch, "orig_mask": orig_mask, "view_mask": view_mask}

    def loss(self, model, batch) -> torch.Tensor:
        view = batch["view"]
        parts = consistency_loss(
            _logits(model, batch["orig"]),
            batch["orig"]["labels"],
            _logits(model, view, self.noise_for(model, view["input_ids"])),
            batch["view"].get("labels"),
            self.lambda1,
            orig_mask=batch["orig_mask"],
            aug_mask=batch["view_mask"],
            stop_gradient=self.stop_gradient,
            task_loss_on_view=self.task_loss_on_view,
            reduction=self.reduction,
        )
        self.last = {"task": float(parts.task.detach()), "r1": float(parts.r1.detach())}
        return parts.loss


def _logits(model, batch: dict[str, torch.Tensor], noise: torch.Tensor | None = None) -> torch.Tensor:
    """The model's logits on a batch; with ``noise``, on its input embeddings plus the noise."""
    if noise is None:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    embeds = model.get_input_embeddings()(batch["input_ids"]) + noise
    return model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits


def embedding_noise(
    model, input_ids: torch.Tensor, std: float, rows: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Gaussian noise N(0, std^2) of the shape of ``input_ids``' input embeddings (Sec. 3.2.2; official
    code: ``Normal(0, noise_eps)`` added to the word embeddings, ``noise_eps`` 1e-5), zero outside the
    bool ``rows`` when given; None when ``std`` is 0. Drawn from torch's global generator (seeded by the
    training loop), so a run is reproducible."""
    if std == 0:
        return None
    dim = model.get_input_embeddings().embedding_dim
    noise = torch.randn((*input_ids.shape, dim), device=input_ids.device) * std
    if rows is not None:
        noise[~rows] = 0.0
    return noise


# ---------------------------------------------------------------------------------------------- stage 2

# Official weight of R2 per task, (cross-lingual transfer, translate-train-all), from the released scripts
# (``../shared/papers/README.md``); NER (panx) uses hard R2 (``--use_hard_labels``), POS (udpos) soft KL.
LAMBDA2_OFFICIAL: dict[str, tuple[float, float]] = {
    "panx": (5.0, 1.0),
    "udpos": (0.3, 0.3),
    "xnli": (5.0, 1.0),
    "pawsx": (2.0, 1.0),
    "mlqa": (5.0, 0.5),
    "xquad": (5.0, 0.1),
    "tydiqa": (5.0, 0.3),
}
LAMBDA2 = LAMBDA2_OFFICIAL["panx"][0]  # NER, cross-lingual transfer


class Stage2Loss(NamedTuple):
    """``loss = task + lambda1 * r1 + lambda2 * r2`` (``r1``, ``r2`` unweighted; a switched-off part is 0)."""

    loss: torch.Tensor
    task: torch.Tensor
    r1: torch.Tensor
    r2: torch.Tensor


def _check_rows(
    is_view: torch.Tensor, logits: torch.Tensor, r1_masks: tuple[torch.Tensor, torch.Tensor]
) -> None:
    if is_view.dtype != torch.bool or is_view.shape != logits.shape[:1]:
        raise ValueError(f"is_view must be bool of shape {tuple(logits.shape[:1])}, got {is_view.dtype}")
    r1_orig, r1_view = r1_masks
    if bool(r1_orig[is_view].any()) or bool(r1_view[~is_view].any()):
        raise ValueError("r1_masks[0] may select original rows only and r1_masks[1] view rows only")


def stage2_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    is_view: torch.Tensor,
    r1_masks: tuple[torch.Tensor, torch.Tensor],
    r2_mask: torch.Tensor,
    *,
    lambda1: float = LAMBDA1,
    lambda2: float = LAMBDA2,
    hard: bool = True,
    stop_gradient: bool = True,
    use_r1: bool = True,
    use_r2: bool = True,
    reduction: str = "mean",
) -> Stage2Loss:
    """Full xTune (Sec. 3.1.3): ``L_task(D_A) + lambda1 * R1(D_A, A') + lambda2 * R2(D_A, theta, theta*)``
    on one batch whose original and view rows are stacked in ``logits`` (``[N, T, C]``, the student).

    ``labels`` ``[N, T]``: IGNORE off labelled first sub-words (an untagged view row is all IGNORE);
    ``is_view`` ``[N]`` (bool) marks the view rows. task and R1 are stage 1's ``consistency_loss`` (task on
    the original rows + on the labelled view rows; R1 between the positions ``r1_masks[0]`` of original
    rows and ``r1_masks[1]`` of view rows, k-th with k-th). R2 (Eq. 2) is ``model_consistency`` against
    ``teacher_logits`` (``[N, T, C]``, the frozen model on the same rows) at ``r2_mask`` on the VIEW rows
    only (original rows of ``teacher_logits`` are never read): cross-entropy on the teacher's argmax
    (``hard``, NER) or KL(teacher || student). ``use_r1`` / ``use_r2`` = False drop that part (logged as
    0; ``teacher_logits`` may then be None)."""
    _check_rows(is_view, logits, r1_masks)
    orig = ~is_view
    first = consistency_loss(
        logits[orig],
        labels[orig],
        logits[is_view],
        labels[is_view],
        lambda1,
        orig_mask=r1_masks[0][orig],
        aug_mask=r1_masks[1][is_view],
        stop_gradient=stop_gradient,
        task_loss_on_view=True,
        reduction=reduction,
    )
    return stage2_total(
        first,
        lambda: model_consistency(logits, teacher_logits, r2_mask, hard, reduction, rows=is_view),
        teacher_logits is not None,
        lambda1,
        lambda2,
        use_r1,
        use_r2,
    )


def stage2_total(
    first: ConsistencyLoss,
    r2_of: Callable[[], torch.Tensor],
    has_teacher: bool,
    lambda1: float,
    lambda2: float,
    use_r1: bool,
    use_r2: bool,
) -> Stage2Loss:
    """``task + lambda1 * r1 + lambda2 * r2`` from stage 1's parts and R2 (computed by ``r2_of`` only when
    ``use_r2``); a switched-off part is logged as 0."""
    zero = first.r1.new_zeros(())
    r1 = first.r1 if use_r1 else zero
    r2 = zero
    if use_r2:
        if not has_teacher:
            raise ValueError("R2 needs the teacher's logits (or use_r2=False)")
        r2 = r2_of()
    return Stage2Loss(first.task + lambda1 * r1 + lambda2 * r2, first.task, r1, r2)


def _pad_to(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)


def first_mask(enc: Encoded, idx: Sequence[int], width: int) -> torch.Tensor:
    """Bool ``[len(idx), width]``: the first sub-word of every word row ``idx`` of ``enc`` keeps."""
    mask = torch.zeros((len(idx), width), dtype=torch.bool)
    for r, i in enumerate(idx):
        mask[r, [p for p in enc.first[i] if p >= 0]] = True
    return mask


def check_frozen(teacher: nn.Module) -> None:
    """Raise unless ``teacher`` (the R2 model theta*) has no trainable parameter."""
    trainable = [name for name, p in teacher.named_parameters() if p.requires_grad]
    if trainable:
        raise RuntimeError(f"the R2 teacher has {len(trainable)} trainable parameters, e.g. {trainable[0]}")


def stage2_settings(
    teacher: nn.Module | None,
    lambda1: float,
    lambda2: float,
    hard: bool,
    stop_gradient: bool,
    use_r1: bool,
    use_r2: bool,
    reduction: str,
) -> tuple[nn.Module | None, dict]:
    """The checked stage-2 options of any task's recipe and its teacher, frozen (``freeze``, then
    ``check_frozen``); R2 without a teacher is an error."""
    _check_options(lambda1, reduction)
    _check_weight("lambda2", lambda2, LAMBDA2)
    if use_r2 and teacher is None:
        raise ValueError("R2 needs a teacher (the stage-1 model), or use_r2=False")
    if teacher is not None:
        teacher = freeze(teacher)
        check_frozen(teacher)
    options = {
        "lambda1": float(lambda1),
        "lambda2": float(lambda2),
        "hard": bool(hard),
        "stop_gradient": bool(stop_gradient),
        "use_r1": bool(use_r1),
        "use_r2": bool(use_r2),
        "reduction": reduction,
    }
    return teacher, options


class ModelConsistencyTagging(_ViewRecipe):
    """xTune stage 2 for a tagger (Sec. 3.1.2-3.1.3): loss ``stage2_loss`` against a frozen teacher.

    ``orig``: the labelled training sentences D; ``views``: one encoding per augmented view, row i a view
    of sentence i (``from_frames`` pairs them by ``src_id``). Epoch e uses ``views[e mod len(views)]``
    (augment ratio 1.0: one view per original). A batch stacks B originals and their B views (padded to
    one width; ``is_view`` marks the views). ``teacher``: the stage-1 model theta*, a separate module,
    frozen here (``freeze``: eval mode, no trainable parameter -- checked at construction and each step)
    and run under ``torch.no_grad()`` on the view rows only. The student (the trained ``model``) should
    restart from the pretrained encoder, as the official code does. ``self.last`` = ``{"task", "r1",
    "r2"}`` (floats, R1 and R2 unweighted).

    A TAGGED view (subword sampling, code-switch) has the original's words: task loss on it, R1 word k
    with word k, R2. An UNTAGGED view (machine translation) is not paired word by word with its original,
    so it gets no task loss and no R1 -- only R2, which needs no labels (Sec. 3.1.2). The official code
    also takes R1 between an MT sentence and a subword-sampled re-tokenisation of it (its subword sampling
    stays on in stage 2); that is NOT done here. Official structure, for comparison: D and A(D) are
    separate shuffled rows, each row's R1 partner is its own subword-sampled twin, task is one token-mean
    cross-entropy; here stage 1's pairing is kept (R1 between an original and its view, ``sentence_ce``).

    Options: ``lambda1`` (5.0), ``lambda2`` (official per task, ``LAMBDA2_OFFICIAL``: panx 5.0
    cross-lingual transfer / 1.0 translate-train-all, udpos 0.3 / 0.3; default 5.0), ``hard`` (R2 as
    cross-entropy on the teacher's argmax, the official choice for NER; False: KL for POS),
    ``stop_gradient`` (R1), ``reduction`` (R1 and soft R2), and the ablations ``use_r1=False`` ("with
    only model consistency R2"; the paper's teacher is then fine-tuned without R1, Sec. 3.1.2 -- the
    caller's choice) and ``use_r2=False`` ("with only example consistency R1"; no teacher needed)."""

    def __init__(
        self,
        orig: Encoded,
        views: Sequence[Encoded],
        teacher: nn.Module | None,
        batch_size: int,
        seed: int,
        pad_id: int,
        *,
        lambda1: float = LAMBDA1,
        lambda2: float = LAMBDA2,
        hard: bool = True,
        stop_gradient: bool = True,
        use_r1: bool = True,
        use_r2: bool = True,
        reduction: str = "mean",
        noise_std: float = 0.0,
    ):
        super().__init__(orig, views, batch_size, seed, pad_id, noise_std)
        for v, view in enumerate(views):
            if view.labels is None and not use_r2:
                raise ValueError(f"view {v} has no tags: only R2 could use it, and use_r2 is False")
            if view.labels is not None and [len(f) for f in view.first] != [len(f) for f in orig.first]:
                raise ValueError(f"tagged view {v} does not have the original sentences' word counts")
        self.teacher, self.options = stage2_settings(
            teacher, lambda1, lambda2, hard, stop_gradient, use_r1, use_r2, reduction
        )

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        augmented: pd.DataFrame,
        teacher: nn.Module | None,
        tokenizer,
        label2id: dict[str, int],
        max_length: int,
        batch_size: int,
        seed: int,
        *,
        que: bool = False,
        **options,
    ) -> ModelConsistencyTagging:
        """From the SENTENCES training frame and its AUGMENTED views (paired by ``src_id``); a view whose
        tags are all null (machine translation; ``pieces`` may be absent) may have any number of words.
        ``que``: every row encoded after the [QUE] prefix."""
        if "pieces" not in augmented.columns:
            augmented = augmented.assign(pieces=None)
        tokens, tags = list(train["tokens"]), list(train["tags"])
        orig = encode(tokenizer, tokens, tags, label2id, max_length, que=que)
        aligned = align_views(train, augmented, untagged_any_length=True)
        views = [encode_view(tokenizer, v, label2id, max_length, que=que) for v in aligned]
        return cls(orig, views, teacher, batch_size, seed, tokenizer.pad_token_id, **options)

    def collate(self, indices: Sequence[int]) -> dict:
        view = self.views[self.view_index]
        o, v = collate(self.orig, indices, self.pad_id), collate(view, indices, self.pad_id)
        width = max(o["input_ids"].shape[1], v["input_ids"].shape[1])
        v_labels = v.get("labels", torch.full_like(v["input_ids"], IGNORE))
        none = torch.zeros((len(indices), width), dtype=torch.bool)
        mo, mv = (
            paired_masks(self.orig, view, indices, width, width) if view.labels is not None else (none, none)
        )
        return {
            "input_ids": torch.cat(
                [_pad_to(o["input_ids"], width, self.pad_id), _pad_to(v["input_ids"], width, self.pad_id)]
            ),
            "attention_mask": torch.cat(
                [_pad_to(o["attention_mask"], width, 0), _pad_to(v["attention_mask"], width, 0)]
            ),
            "labels": torch.cat([_pad_to(o["labels"], width, IGNORE), _pad_to(v_labels, width, IGNORE)]),
            "is_view": torch.tensor([False] * len(indices) + [True] * len(indices)),
            "r1_orig": torch.cat([mo, none]),
            "r1_view": torch.cat([none, mv]),
            "r2_mask": torch.cat([first_mask(self.orig, indices, width), first_mask(view, indices, width)]),
        }

    def teacher_logits(self, batch: dict[str, torch.Tensor], noise: torch.Tensor | None = None):
        """The frozen teacher's logits on the view rows (eval mode, no graph; with ``noise``, the same
        noise on its input embeddings as the student's); zeros on original rows."""
        check_frozen(self.teacher)
        rows, ids = batch["is_view"], batch["input_ids"]
        self.teacher.to(ids.device).eval()
        view_batch = {"input_ids": ids[rows], "attention_mask": batch["attention_mask"][rows]}
        with torch.no_grad():
            view = _logits(self.teacher, view_batch, None if noise is None else noise[rows])
        out = view.new_zeros((*ids.shape, view.shape[-1]))
        out[rows] = view
        return out

    def loss(self, model, batch) -> torch.Tensor:
        if model is self.teacher:
            raise ValueError("the student and the R2 teacher must be separate modules")
        use_r2 = self.options["use_r2"]
        noise = embedding_noise(model, batch["input_ids"], self.noise_std, rows=batch["is_view"])
        parts = stage2_loss(
            _logits(model, batch, noise),
            batch["labels"],
            self.teacher_logits(batch, noise) if use_r2 else None,
            batch["is_view"],
            (batch["r1_orig"], batch["r1_view"]),
            batch["r2_mask"],
            **self.options,
        )
        self.last = {k: float(getattr(parts, k).detach()) for k in ("task", "r1", "r2")}
        return parts.loss
