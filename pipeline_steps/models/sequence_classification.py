"""Any Hugging Face encoder as a sentence(-pair) classifier (XNLI, sentiment, topic classification).

The classifier is ``AutoModelForSequenceClassification``: the encoder's sentence representation (the
first sub-word's hidden state, through the model's pooler/head) goes through a linear layer, softmax
over the label set, trained with cross-entropy. A pair (premise, hypothesis) is fed to the tokenizer as
ONE pair, ``tokenizer(text_a, text_b, truncation="longest_first")``, so the model sees
``<s> a </s></s> b </s>`` (XLM-R; ``[CLS] a [SEP] b [SEP]`` with token type ids for BERT), and the
longer side is cut first when the pair exceeds ``max_length`` sub-words.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from pipeline_steps.models.batching import length_sorted_batches
from pipeline_steps.models.token_classification import pick_rows, with_label_head

log = logging.getLogger(__name__)


@dataclass
class ClsEncoded:
    """Sub-word encodings of texts or text pairs; ``labels`` are label ids (None when unlabelled).

    ``token_type_ids`` is kept when the tokenizer produces it (BERT-style segment ids; XLM-R has none);
    ``n_truncated`` counts the examples cut at ``max_length``."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list[int] | None
    pad_id: int
    n_truncated: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, idx: Sequence[int]) -> ClsEncoded:
        return dataclasses.replace(
            pick_rows(self, idx, ("input_ids", "token_type_ids", "labels")), n_truncated=0
        )


def load_cls_model(name_or_path: str, labels: Sequence[str], seed: int | None = None):
    """``AutoModelForSequenceClassification`` over the label set ``labels`` (ids in that order).

    The classification head is freshly initialised from ``seed`` unless the checkpoint already has one
    with exactly these labels (as ``token_classification.load_model``)."""
    from transformers import AutoModelForSequenceClassification

    if isinstance(labels, str) or not labels or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be a non-empty list of distinct label names, got {labels!r}")
    return with_label_head(AutoModelForSequenceClassification, name_or_path, labels, seed)


def cls_labels(model) -> list[str]:
    """The label set of a sequence-classification model, in id order."""
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def encode_cls(
    tokenizer,
    text_a: Sequence[str],
    text_b: Sequence[str] | None = None,
    label_ids: Sequence[int] | None = None,
    max_length: int = 128,
) -> ClsEncoded:
    """Tokenise texts (``text_b`` None) or pairs ``(text_a[i], text_b[i])``, each pair as ONE tokenizer
    pair with ``truncation="longest_first"`` at ``max_length`` sub-words (special tokens included)."""
    if max_length < 4:
        raise ValueError(f"max_length must be at least 4 (got {max_length})")
    text_a = list(text_a)
    if text_b is not None:
        text_b = list(text_b)
        if len(text_b) != len(text_a):
            raise ValueError(f"{len(text_a)} first texts but {len(text_b)} second texts")
        if any(b is None for b in text_b):
            raise ValueError("text_b mixes pairs and single texts (None); encode them separately")
    if label_ids is not None:
        label_ids = [int(x) for x in label_ids]
        if len(label_ids) != len(text_a):
            raise ValueError(f"{len(text_a)} texts but {len(label_ids)} labels")
    input_ids: list[list[int]] = []
    type_ids: list[list[int]] | None = None
    n_trunc = 0
    chunk = 1000
    for lo in range(0, len(text_a), chunk):
        a = text_a[lo : lo + chunk]
        b = None if text_b is None else text_b[lo : lo + chunk]
        cut = tokenizer(a, b, truncation="longest_first", max_length=max_length)
        full = tokenizer(a, b, verbose=False)
        n_trunc += sum(len(x) > len(y) for x, y in zip(full["input_ids"], cut["input_ids"], strict=True))
        input_ids += [list(x) for x in cut["input_ids"]]
        if "token_type_ids" in cut:
            type_ids = (type_ids or []) + [list(x) for x in cut["token_type_ids"]]
    if n_trunc:
        log.info("%d of %d examples cut at max_length %d sub-words", n_trunc, len(text_a), max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return ClsEncoded(input_ids, type_ids, label_ids, int(pad), n_trunc)


def collate(enc: ClsEncoded, idx: Sequence[int]) -> dict[str, torch.Tensor]:
    """Pad the rows ``idx`` of ``enc`` to their longest: input_ids, attention_mask (token_type_ids,
    labels when present)."""
    rows = [enc.input_ids[i] for i in idx]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), enc.pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[k, : len(r)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if enc.token_type_ids is not None:
        types = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(idx):
            types[k, : len(enc.token_type_ids[i])] = torch.tensor(enc.token_type_ids[i], dtype=torch.long)
        batch["token_type_ids"] = types
    if enc.labels is not None:
        batch["labels"] = torch.tensor([enc.labels[i] for i in idx], dtype=torch.long)
    return batch


def _logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
    return model(**inputs).logits


def cls_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of the batch's labels under the model's logits."""
    logits = _logits(model, batch)
    return torch.nn.functional.cross_entropy(logits, batch["labels"].to(logits.device))


@torch.inference_mode()
def predict_cls(
    model, enc: ClsEncoded, batch_size: int, desc: str = "predict"
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label ids (int64, shape [n]) and class probabilities (float32, shape [n, n_labels]);
    batches of similar length (``length_sorted_batches``), results in ``enc``'s order."""
    batches = length_sorted_batches([len(r) for r in enc.input_ids], batch_size)
    was_training = model.training
    model.eval()
    p = np.zeros((len(enc), int(model.config.num_labels)), dtype=np.float32)
    try:
        for idx in tqdm(batches, desc=desc, file=sys.stderr, mininterval=5):
            logits = _logits(model, collate(enc, idx)).float()
            p[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
    finally:
        model.train(was_training)
    return p.argmax(axis=-1).astype(np.int64), p
