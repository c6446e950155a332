"""Any Hugging Face encoder as an extractive-QA span pointer (XQuAD / MLQA / TyDiQA-GoldP; paper 003).

The model is ``AutoModelForQuestionAnswering``: one linear layer over the encoder's hidden states gives a
start and an end logit per sub-word; the answer is the context span maximising start + end logit. The
recipe is Hugging Face's ``run_qa.py`` (BERT's ``run_squad.py``):

- Encoding (``encode_qa``): question first, context second, ``truncation="only_second"``; a context
  longer than one window is cut into overlapping windows (``return_overflowing_tokens``,
  ``stride=doc_stride`` sub-words shared by neighbouring windows), each a *feature* that remembers its
  example (``example_index``) and the character offsets of its context sub-words (``offsets``; -1 for
  the question, special tokens and padding). Training labels: the sub-word indices of the first gold
  answer's first and last sub-word when the answer lies entirely inside the window, else the CLS
  position 0 for both ("no answer in this window").
- Decoding (``decode_answers``): per window the ``n_best`` highest start and end logits among context
  sub-words; every pair with end >= start and at most ``max_answer_length`` sub-words is a candidate
  scored start + end logit; the example's answer is the best candidate over ALL its windows, read off
  the context by character offsets. A span never starts or ends in the question.
- Loss (``qa_loss``): mean of the start and end cross-entropies, as ``*ForQuestionAnswering`` computes
  it when given ``start_positions`` / ``end_positions``.

Offsets need a fast (Rust ``tokenizers``) tokenizer: a slow one is a ``ConfigError``.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from pipeline_steps.errors import ConfigError
from pipeline_steps.models import token_classification as _tc
from pipeline_steps.models.batching import length_sorted_batches
from pipeline_steps.train import ShuffledBatches

log = logging.getLogger(__name__)

NO_OFFSET = -1


def load_tokenizer(name_or_path: str):
    """A fast tokenizer from a hub name or a local folder (``token_classification.load_tokenizer``);
    a slow one is a ``ConfigError``: QA needs its offset mapping."""
    try:
        return _tc.load_tokenizer(name_or_path)
    except ValueError as exc:
        if "not a fast tokenizer" not in str(exc):
            raise
        raise ConfigError(f"{exc}; extractive QA needs a fast tokenizer (offset mapping)") from None


def load_qa_model(name_or_path: str, seed: int | None = None):
    """``AutoModelForQuestionAnswering`` from a hub name or a local folder; a span head the checkpoint
    lacks (e.g. an encoder saved for masked LM) is freshly initialised from ``seed``."""
    from transformers import AutoModelForQuestionAnswering

    if seed is not None:
        torch.manual_seed(seed)
    return AutoModelForQuestionAnswering.from_pretrained(name_or_path)


@dataclass
class QAFeatures:
    """Windows ("features") of encoded (question, context) examples, all padded to one width W.

    ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the tokenizer makes them): (n, W)
    int64 arrays, padded on the right with ``pad_id`` / 0. ``example_index[i]``: the example window i
    belongs to. ``offsets``: (n, W, 2) int64 character offsets ``[start, end)`` into the example's
    context, ``-1`` for every position outside the context (question, special tokens, padding);
    ``context_offsets(i)`` gives one window's as a list with None there. ``start_positions`` /
    ``end_positions``: (n,) gold sub-word indices (0, the CLS position, when the window does not hold
    the whole answer); None without answers.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None
    example_index: np.ndarray
    offsets: np.ndarray
    start_positions: np.ndarray | None
    end_positions: np.ndarray | None
    pad_id: int = 0

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def context_offsets(self, i: int) -> list[tuple[int, int] | None]:
        """Window i's offsets: ``(start, end)`` per context sub-word, None elsewhere."""
        return [None if s < 0 else (int(s), int(e)) for s, e in self.offsets[i].tolist()]

    def subset(self, idx: Sequence[int]) -> QAFeatures:
        pick = np.asarray(idx, dtype=np.int64)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[pick]

        return QAFeatures(
            input_ids=self.input_ids[pick],
            attention_mask=self.attention_mask[pick],
            token_type_ids=take(self.token_type_ids),
            example_index=self.example_index[pick],
            offsets=self.offsets[pick],
            start_positions=take(self.start_positions),
            end_positions=take(self.end_positions),
            pad_id=self.pad_id,
        )

    def batch(self, idx: Sequence[int]) -> dict[str, torch.Tensor]:
        """Rows ``idx`` as tensors, cut to their longest real length (plus the labels when present)."""
        pick = np.asarray(idx, dtype=np.int64)
        width = max(1, int(self.attention_mask[pick].sum(axis=1).max()))
        out = {
            "input_ids": torch.from_numpy(self.input_ids[pick, :width].copy()),
            "attention_mask": torch.from_numpy(self.attention_mask[pick, :width].copy()),
        }
        if self.token_type_ids is not None:
            out["token_type_ids"] = torch.from_numpy(self.token_type_ids[pick, :width].copy())
        if self.start_positions is not None and self.end_positions is not None:
            out["start_positions"] = torch.from_numpy(self.start_positions[pick].copy())
            out["end_positions"] = torch.from_numpy(self.end_positions[pick].copy())
        return out


def _check_room(tokenizer, questions: list[str], contexts: list[str], max_length: int, doc_stride: int):
    """Fail clearly where the tokenizer would (its Rust side panics on a stride that does not fit)."""
    n_special = tokenizer.num_special_tokens_to_add(pair=True)
    q_len = [len(r) for r in tokenizer(questions, add_special_tokens=False, verbose=False)["input_ids"]]
    c_len = [len(r) for r in tokenizer(contexts, add_special_tokens=False, verbose=False)["input_ids"]]
    for i, (nq, nc) in enumerate(zip(q_len, c_len, strict=True)):
        if nq + nc + n_special + 2 <= max_length:  # fits in one window (2 sub-words of margin)
            continue
        room = max_length - nq - n_special
        if room < 1:
            raise ConfigError(
                f"QA example {i}: the question has {nq} sub-words, which with {n_special} special tokens "
                f"leaves no room for the context in max_length {max_length}"
            )
        if doc_stride >= room:
            raise ConfigError(
                f"QA example {i}: doc_stride {doc_stride} must be smaller than the context room of a window "
                f"({room} = max_length {max_length} - {nq} question sub-words - {n_special} special tokens)"
            )


def _labels(
    seq_ids: list[int | None], offsets: list[tuple[int, int]], start_char: int, end_char: int
) -> tuple[int, int]:
    """run_qa.py: sub-word indices of [start_char, end_char) in this window, or (0, 0) (CLS) when the
    window does not hold the whole answer."""
    ctx = [k for k, s in enumerate(seq_ids) if s == 1]
    if not ctx or end_char <= start_char:
        return 0, 0
    lo, hi = ctx[0], ctx[-1]
    if not (offsets[lo][0] <= start_char and offsets[hi][1] >= end_char):
        return 0, 0
    ts = lo
    while ts <= hi and offsets[ts][0] <= start_char:
        ts += 1
    te = hi
    while te >= lo and offsets[te][1] >= end_char:
        te -= 1
    return ts - 1, te + 1


def encode_qa(
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    answer_starts: Sequence[Sequence[int]] | None = None,
    answer_texts: Sequence[Sequence[str]] | None = None,
) -> QAFeatures:
    """Encode (question, context) pairs into windows of at most ``max_length`` sub-words (see the module
    docstring). With ``answer_starts`` / ``answer_texts`` (per example, character offsets into the
    context and texts, as in ``schemas.QA_EXAMPLES``) the windows get training labels from each
    example's first answer; an example without answers labels every window (0, 0)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"tokenizer {type(tokenizer).__name__} is not a fast tokenizer: "
            "extractive QA needs its offset mapping"
        )
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    if (answer_starts is None) != (answer_texts is None):
        raise ValueError("give both answer_starts and answer_texts, or neither")
    if answer_starts is not None and (
        len(answer_starts) != len(questions) or len(answer_texts) != len(questions)
    ):
        raise ValueError("answer_starts and answer_texts need one entry per question")
    n_special = tokenizer.num_special_tokens_to_add(pair=True)
    if doc_stride < 0 or doc_stride >= max_length - n_special:
        raise ConfigError(
            f"doc_stride {doc_stride} must be smaller than max_length {max_length} - {n_special} special "
            "tokens (and >= 0)"
        )
    # run_qa.py strips the questions' leading whitespace (some questions have lots of it, which wastes room)
    questions = [str(q).lstrip() for q in questions]
    contexts = [str(c) for c in contexts]
    training = answer_starts is not None
    gold: list[tuple[int, int] | None] = []
    if training:
        for i, (starts, texts) in enumerate(zip(answer_starts, answer_texts, strict=True)):
            if len(starts) != len(texts):
                raise ValueError(f"QA example {i}: {len(starts)} answer starts but {len(texts)} answer texts")
            if len(starts) == 0:
                gold.append(None)
                continue
            start, text = int(starts[0]), str(texts[0])
            if start < 0 or contexts[i][start : start + len(text)] != text:
                raise ValueError(
                    f"QA example {i}: answer {text!r} is not at character {start} of the context"
                )
            gold.append((start, start + len(text)))

    rows_ids: list[list[int]] = []
    rows_types: list[list[int]] | None = None
    rows_offsets: list[list[tuple[int, int]]] = []
    example_index: list[int] = []
    starts_out: list[int] = []
    ends_out: list[int] = []
    chunk = 1000
    for lo in range(0, len(questions), chunk):
        qs, cs = questions[lo : lo + chunk], contexts[lo : lo + chunk]
        _check_room(tokenizer, qs, cs, max_length, doc_stride)
        enc = tokenizer(
            qs,
            cs,
            truncation="only_second",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
            verbose=False,
        )
        if "token_type_ids" in enc and rows_types is None:
            rows_types = []
        for f in range(len(enc["input_ids"])):
            ex = lo + int(enc["overflow_to_sample_mapping"][f])
            seq_ids = enc.sequence_ids(f)
            offs = [tuple(o) for o in enc["offset_mapping"][f]]
            rows_ids.append(list(enc["input_ids"][f]))
            if rows_types is not None:
                rows_types.append(list(enc["token_type_ids"][f]))
            rows_offsets.append(
                [o if s == 1 else (NO_OFFSET, NO_OFFSET) for o, s in zip(offs, seq_ids, strict=True)]
            )
            example_index.append(ex)
            if training:
                g = gold[ex]
                s, e = (0, 0) if g is None else _labels(seq_ids, offs, g[0], g[1])
                starts_out.append(s)
                ends_out.append(e)

    n = len(rows_ids)
    width = max((len(r) for r in rows_ids), default=0)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = None if rows_types is None else np.zeros((n, width), dtype=np.int64)
    offsets = np.full((n, width, 2), NO_OFFSET, dtype=np.int64)
    for i, row in enumerate(rows_ids):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        if types is not None and rows_types is not None:
            types[i, : len(row)] = rows_types[i]
        offsets[i, : len(row)] = rows_offsets[i]
    return QAFeatures(
        input_ids=ids,
        attention_mask=mask,
        token_type_ids=types,
        example_index=np.asarray(example_index, dtype=np.int64),
        offsets=offsets,
        start_positions=np.asarray(starts_out, dtype=np.int64) if training else None,
        end_positions=np.asarray(ends_out, dtype=np.int64) if training else None,
        pad_id=int(pad_id),
    )


@dataclass(frozen=True)
class QAAnswer:
    """The decoded answer of one example: ``context[start:start + len(text)] == text``; ``score`` is
    start + end logit (-inf and ``text == ""``, ``start == -1`` when no span was valid); ``feature`` is
    the window it came from (-1 when none)."""

    text: str
    start: int
    score: float
    feature: int = -1


def _top(logits: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest logits among ``valid`` positions; ties go to the lower index."""
    pos = np.flatnonzero(valid)
    order = np.lexsort((pos, -logits[pos]))  # last key first: logit descending, then position
    return pos[order[:k]]


def decode_answers(
    start_logits,
    end_logits,
    features: QAFeatures,
    contexts: Sequence[str],
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> list[QAAnswer]:
    """The best answer span of every example (one ``QAAnswer`` per context, in order) over all its windows.

    ``start_logits`` / ``end_logits``: (n_features, width) arrays or tensors (``predict_qa``); positions
    beyond a window's real length or outside its context are never chosen. Candidates are the pairs of a
    window's ``n_best`` best start and end context positions with ``end >= start``, at most
    ``max_answer_length`` sub-words and a non-empty text (each window contributes its ``n_best`` best);
    the best has the highest start + end logit, ties broken by window, then start, then end position
    (lowest first), so the result is deterministic.
    Leading and trailing whitespace of a span's text is dropped (``start`` moves with it).
    """
    if n_best < 1 or max_answer_length < 1:
        raise ConfigError(f"n_best and max_answer_length must be >= 1 (got {n_best}, {max_answer_length})")
    s_all = _as_array(start_logits)
    e_all = _as_array(end_logits)
    if s_all.shape != e_all.shape or s_all.shape[0] != len(features):
        raise ValueError(
            f"logits of shape {s_all.shape} / {e_all.shape} do not match {len(features)} features"
        )
    width = min(s_all.shape[1], features.offsets.shape[1])
    # candidates per example: (score, feature, start token, end token)
    cands: list[list[tuple[float, int, int, int]]] = [[] for _ in contexts]
    for f in range(len(features)):
        ex = int(features.example_index[f])
        if ex >= len(contexts):
            raise ValueError(f"feature {f} belongs to example {ex}, but there are {len(contexts)} contexts")
        offs = features.offsets[f, :width]
        s_log, e_log = s_all[f, :width], e_all[f, :width]
        valid = (offs[:, 0] >= 0) & np.isfinite(s_log) & np.isfinite(e_log)
        if not valid.any():
            continue
        starts = _top(s_log, valid, n_best)
        ends = _top(e_log, valid, n_best)
        ss, ee = np.meshgrid(starts, ends, indexing="ij")
        ok = (ee >= ss) & (ee - ss + 1 <= max_answer_length) & (offs[ee, 1] > offs[ss, 0])
        ss, ee = ss[ok], ee[ok]
        scores = s_log[ss] + e_log[ee]
        keep = np.lexsort((ee, ss, -scores))[:n_best]  # this window's n_best spans, in the final order
        for k in keep.tolist():
            cands[ex].append((float(scores[k]), f, int(ss[k]), int(ee[k])))
    out: list[QAAnswer] = []
    for ex, found in enumerate(cands):
        found.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))
        answer = QAAnswer("", -1, -math.inf, -1)
        for score, f, s, e in found:
            lo, hi = int(features.offsets[f, s, 0]), int(features.offsets[f, e, 1])
            raw = contexts[ex][lo:hi]
            text = raw.strip()
            if text:
                answer = QAAnswer(text, lo + len(raw) - len(raw.lstrip()), score, f)
                break
        out.append(answer)
    return out


def _as_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"logits must be 2-D (features x positions), got shape {arr.shape}")
    return arr


def _model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


@torch.inference_mode()
def predict_qa(
    model,
    features: QAFeatures,
    batch_size: int,
    device: torch.device | str | None = None,
    desc: str = "predict-qa",
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits of every window: two (n_features, W) float32 arrays, -inf where a batch was
    shorter than W (padding). No gradients; the model is in eval mode meanwhile."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    n, width = features.input_ids.shape
    starts = np.full((n, width), -np.inf, dtype=np.float32)
    ends = np.full((n, width), -np.inf, dtype=np.float32)
    was_training = model.training
    model.eval()
    batches = length_sorted_batches(features.attention_mask.sum(axis=1), batch_size)
    try:
        for idx in tqdm(batches, desc=desc, file=sys.stderr, mininterval=5):
            batch = features.batch(idx)
            out = model(**{k: v.to(device) for k, v in _model_inputs(batch).items()})
            w = out.start_logits.shape[1]
            starts[idx, :w] = out.start_logits.float().cpu().numpy()
            ends[idx, :w] = out.end_logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    return starts, ends


def qa_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(CE(start) + CE(end)) / 2 over the batch, as ``*ForQuestionAnswering`` computes it (positions
    outside the sequence are clamped to its length and ignored)."""
    out = model(**_model_inputs(batch))
    width = out.start_logits.size(1)
    start = batch["start_positions"].to(out.start_logits.device).clamp(0, width)
    end = batch["end_positions"].to(out.end_logits.device).clamp(0, width)
    ce = torch.nn.functional.cross_entropy
    return (ce(out.start_logits, start, ignore_index=width) + ce(out.end_logits, end, ignore_index=width)) / 2


class SupervisedQA(ShuffledBatches):
    """Recipe for the shared loop (``pipeline_steps.train``): shuffled mini-batches of labelled windows
    (order seeded by (seed, epoch)), loss ``qa_loss``."""

    data_parallel = True  # the loss is a mean over windows (train/distributed.py)

    def __init__(self, features: QAFeatures, batch_size: int, seed: int):
        if features.start_positions is None:
            raise ValueError("SupervisedQA needs labelled features (encode_qa with answers)")
        super().__init__(len(features), batch_size, seed, "SupervisedQA")
        self.features = features

    def collate(self, indices):
        return self.features.batch(indices)

    def lengths(self) -> list[int]:
        return self.features.attention_mask.sum(axis=1).tolist()

    def loss(self, model, batch) -> torch.Tensor:
        return qa_loss(model, batch)
