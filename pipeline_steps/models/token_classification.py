"""Any Hugging Face encoder as a word-level tagger (paper 001 Sec. 2.1, Eq. 1).

The tagger is ``AutoModelForTokenClassification``: the encoder's hidden state h_t goes through one
linear layer, softmax(W h_t + b) over the tag set (Eq. 1). Words are tokenised word by word
(``is_split_into_words``); a word's label sits on its FIRST sub-word and every other position gets
-100 (ignored), as in XLM-R/xTune fine-tuning; prediction reads each word's first sub-word. Sequences
are cut at ``max_length`` sub-words (128 in the papers): words beyond the cut get no label in training
and the tag 'O' in prediction (counted and logged).

``que=True`` is paper 000's [QUE] fine-tuning (Sec. 3.4) read for a tagger as Eq. 10 with an EMPTY
question: the tokenizer's pair template with the single word ``[QUE]`` as the first sequence and the
sentence's words as the second (XLM-R: ``<s> [QUE] </s></s> w1 .. wn </s>``; BERT: ``[CLS] [QUE] [SEP]
w1 .. wn [SEP]``), cut in the sentence only (``truncation="only_second"``). [QUE] and the specials get
no label; the encoder attends to the pre-trained [QUE] from every word. Only ``input_ids`` are kept (no
``token_type_ids``: segment ids stay 0, as in the continued pre-training of ``pipeline_steps.pretrain``).
A literal ``[QUE]`` inside a word is written ``[que]`` so that the prefix holds the only [QUE].
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from pipeline_steps.models.batching import length_sorted_batches
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token

log = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class Encoded:
    """Sub-word encodings of tokenised sentences.

    ``first[i][k]`` is the position of word k's first sub-word in ``input_ids[i]``, or -1 when the word
    has no sub-word in the (truncated) sequence; ``labels`` are -100 except on first sub-words of
    labelled words.
    """

    input_ids: list[list[int]]
    labels: list[list[int]] | None
    first: list[list[int]]
    n_truncated: list[int] = field(default_factory=list)
    n_empty: list[int] = field(default_factory=list)
    type_ids: list[list[int]] | None = None  # token_type_ids when a word feature rides on them (SRL's UPOS)

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, idx: Sequence[int]) -> Encoded:
        return pick_rows(self, idx, ("input_ids", "labels", "first", "n_truncated", "n_empty", "type_ids"))


def pick_rows(encoded: Any, idx: Sequence[int], fields: Sequence[str]) -> Any:
    """A copy of a dataclass of per-example lists keeping rows ``idx`` of each of ``fields`` (None stays
    None)."""
    pick = [int(i) for i in idx]
    rows = {f: getattr(encoded, f) for f in fields}
    return dataclasses.replace(
        encoded, **{f: None if v is None else [v[i] for i in pick] for f, v in rows.items()}
    )


def load_tokenizer(name_or_path: str):
    """A fast tokenizer (needed for word ids) from a hub name or a local folder."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name_or_path)
    if not getattr(tok, "is_fast", False):
        raise ValueError(
            f"{name_or_path}: tokenizer {type(tok).__name__} is not a fast tokenizer (no word ids)"
        )
    return tok


def load_model(name_or_path: str, labels: Sequence[str], seed: int | None = None):
    """``AutoModelForTokenClassification`` over the tag set ``labels`` (ids in that order).

    The classification layer (W, b of Eq. 1) is freshly initialised from ``seed`` unless the checkpoint
    already has one with exactly these labels.
    """
    from transformers import AutoModelForTokenClassification

    return with_label_head(AutoModelForTokenClassification, name_or_path, labels, seed)


def with_label_head(auto_class: Any, name_or_path: str, labels: Sequence[str], seed: int | None):
    """``auto_class.from_pretrained`` with an output layer over ``labels`` (id2label / label2id in the
    config), its random initialisation seeded by ``seed``."""
    if seed is not None:
        torch.manual_seed(seed)
    id2label = dict(enumerate(labels))
    return auto_class.from_pretrained(
        name_or_path,
        num_labels=len(labels),
        id2label=id2label,
        label2id={lab: i for i, lab in id2label.items()},
    )


def freeze_word_embeddings(model) -> int:
    """Stop training the input word embeddings (returns how many parameters were frozen).

    On a CPU this halves the step time of an XLM-R-vocabulary encoder (multilingual-e5-small: 96M of
    its 118M parameters are the 250k-word embedding matrix, which AdamW would otherwise update every
    step), and keeps the multilingual embedding space the transfer relies on as pre-trained."""
    weight = model.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()


def model_labels(model) -> list[str]:
    """The tag set of a token-classification model, in id order."""
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def encode(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None,
    label2id: dict[str, int] | None,
    max_length: int,
    *,
    que: bool = False,
) -> Encoded:
    """Tokenise word lists; label each word's first sub-word (``-100`` elsewhere, and everywhere when
    ``tags`` is None). Raises ``KeyError`` naming a tag missing from ``label2id``.

    ``que``: [QUE] fine-tuning (module docstring): each sentence is the second sequence of the pair
    template after the first sequence ``[QUE]`` (the tokenizer learns ``[QUE]``, idempotent); ``first``,
    the labels, ``n_truncated`` and ``n_empty`` refer to the sentence's words as without it."""
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (got {max_length})")
    if que:
        add_que_token(tokenizer)
        least = que_min_length(tokenizer)
        if max_length < least:
            raise ValueError(
                f"with [QUE], max_length must be at least {least} (the pair template, [QUE] and one "
                f"sub-word of the sentence; got {max_length})"
            )
    sentences = [list(s) for s in sentences]
    input_ids: list[list[int]] = []
    labels: list[list[int]] | None = None if tags is None else []
    firsts: list[list[int]] = []
    n_trunc: list[int] = []
    n_empty: list[int] = []
    chunk = 1000
    for lo in range(0, len(sentences), chunk):
        part = sentences[lo : lo + chunk]
        nonempty = [s if s else [""] for s in part]
        if que:
            nonempty = [[escape_que(w) for w in s] for s in nonempty]
        full = tokenizer(nonempty, is_split_into_words=True, add_special_tokens=False, verbose=False)
        if que:
            cut = tokenizer(
                [[QUE_TOKEN]] * len(nonempty),
                nonempty,
                is_split_into_words=True,
                truncation="only_second",
                max_length=max_length,
            )
        else:
            cut = tokenizer(nonempty, is_split_into_words=True, truncation=True, max_length=max_length)
        for j, words in enumerate(part):
            present = {w for w in full.word_ids(j) if w is not None and w < len(words)}
            first = [-1] * len(words)
            sequence = cut.sequence_ids(j) if que else None
            for pos, w in enumerate(cut.word_ids(j)):
                if sequence is not None and sequence[pos] != 1:
                    continue  # [QUE] and the specials
                if w is not None and w < len(words) and first[w] < 0:
                    first[w] = pos
            ids = list(cut["input_ids"][j])
            input_ids.append(ids)
            firsts.append(first)
            kept = sum(1 for f in first if f >= 0)
            n_empty.append(len(words) - len(present))
            n_trunc.append(len(present) - kept)
            if labels is not None and tags is not None and label2id is not None:
                row = [IGNORE] * len(ids)
                sent_tags = tags[lo + j]
                for w, pos in enumerate(first):
                    if pos >= 0:
                        row[pos] = label2id[sent_tags[w]]
                labels.append(row)
    return Encoded(input_ids, labels, firsts, n_trunc, n_empty)


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(
    batch: dict[str, torch.Tensor], device: torch.device | str | None = None
) -> dict[str, torch.Tensor]:
    """The encoder's inputs of a collated batch (token_type_ids only when the batch has them), on
    ``device``."""
    return {k: batch[k] if device is None else batch[k].to(device) for k in MODEL_INPUTS if k in batch}


def escape_que(word: str) -> str:
    """``word`` with every literal ``[QUE]`` written ``[que]`` (the [QUE] of the input is the prefix's)."""
    return str(word).replace(QUE_TOKEN, QUE_TOKEN.lower())


def que_min_length(tokenizer) -> int:
    """The shortest ``max_length`` that keeps one sub-word of the sentence after the [QUE] prefix: the
    pair template's specials, [QUE] and that sub-word."""
    return int(tokenizer.num_special_tokens_to_add(pair=True)) + 2


def collate(enc: Encoded, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the rows ``idx`` of ``enc`` to their longest: input_ids, attention_mask (and token_type_ids,
    labels)."""
    rows = [enc.input_ids[i] for i in idx]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[k, : len(r)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if enc.type_ids is not None:
        types = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(idx):
            types[k, : len(enc.type_ids[i])] = torch.tensor(enc.type_ids[i], dtype=torch.long)
        batch["token_type_ids"] = types
    if enc.labels is not None:
        lab = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for k, i in enumerate(idx):
            lab[k, : len(enc.labels[i])] = torch.tensor(enc.labels[i], dtype=torch.long)
        batch["labels"] = lab
    return batch


@torch.inference_mode()
def predict_tags(
    model,
    enc: Encoded,
    n_words: Sequence[int],
    batch_size: int,
    pad_id: int,
    device: torch.device | str | None = None,
    desc: str = "predict",
    *,
    with_probs: bool = False,
):
    """Word-level tags: argmax of each word's first sub-word; 'O' for words without a sub-word. With
    ``with_probs`` also each word's probability of its tag (NaN for a word without a sub-word):
    ``(tags, probs)``."""
    labels = model_labels(model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[list[str]] = [[] for _ in range(len(enc))]
    out_probs: list[list[float]] = [[] for _ in range(len(enc))]
    batches = length_sorted_batches([len(r) for r in enc.input_ids], batch_size)
    try:
        for idx in tqdm(batches, desc=desc, file=sys.stderr, mininterval=5):
            batch = collate(enc, idx, pad_id)
            logits = model(**model_inputs(batch, device)).logits
            top, best = torch.softmax(logits.float(), dim=-1).max(dim=-1)
            best, top = best.cpu().tolist(), top.cpu().tolist()
            for k, i in enumerate(idx):
                tags = ["O"] * n_words[i]
                probs = [float("nan")] * n_words[i]
                for w, pos in enumerate(enc.first[i]):
                    if pos >= 0:
                        tags[w], probs[w] = labels[best[k][pos]], top[k][pos]
                out[i], out_probs[i] = tags, probs
    finally:
        model.train(was_training)
    return (out, out_probs) if with_probs else out
