"""Supervised tagging: the sentence-level cross-entropy of paper 001 Sec. 3, Eq. 3, and its recipe.

Eq. 3:  J(theta) = 1/|D| sum_{(x,y) in D} L(x, y),   L(x, y) = -(1/T) sum_{t=1..T} y_t . log p(y_t | x_t)

over the tag distribution p of Eq. 1 (``models.token_classification``); each word's label sits on its
first sub-word and T counts a sentence's labelled words, so every sentence weighs the same whatever its
length (not the token-level mean). ``sentence_ce`` is L averaged over a batch, ``tagging_loss`` applies
it to a model's output, and ``SupervisedTagging`` is the recipe minimising J over any labelled set:
D_src for ZERO-SHOT (Eq. 3) and the MTL-WS adaptation (Eq. 9), the projected sets for TO / BILINGUAL /
MTL (Eq. 4-6); MTL-WS's inner steps (Eq. 8) minimise the same L on one language's pseudo-labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pipeline_steps.models.token_classification import IGNORE, Encoded, collate, model_inputs
from pipeline_steps.train import ShuffledBatches


def sentence_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Paper 001 Eq. 3: L(x, y) = -(1/T) sum_t y_t . log p(y_t | x_t), averaged over the sentences.

    T counts the labelled words of a sentence (first sub-words); sentences without any labelled word
    are left out. Returns 0 (with a graph) when no sentence of the batch is labelled.
    """
    mask = labels != IGNORE
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.clamp(min=0).reshape(-1), reduction="none"
    ).view(labels.shape)
    per_token = nll * mask
    counts = mask.sum(dim=1)
    keep = counts > 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return (per_token.sum(dim=1)[keep] / counts[keep]).mean()


def tagging_loss(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Paper 001 Eq. 3 on one collated batch (input_ids, attention_mask, labels; token_type_ids when the
    encoding has them) of a tagger."""
    logits = model(**model_inputs(batch)).logits
    return sentence_ce(logits, batch["labels"])


class SupervisedTagging(ShuffledBatches):
    """Recipe of paper 001 Eq. 3 over a labelled set: shuffled mini-batches (order seeded by
    (seed, epoch)), loss ``tagging_loss``."""

    data_parallel = True  # the loss is a mean over sentences (train/distributed.py)

    def __init__(self, enc: Encoded, batch_size: int, seed: int, pad_id: int):
        if enc.labels is None:
            raise ValueError("SupervisedTagging needs labelled encodings")
        super().__init__(len(enc), batch_size, seed, "SupervisedTagging")
        self.enc, self.pad_id = enc, pad_id

    def collate(self, indices):
        return collate(self.enc, indices, self.pad_id)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.enc.input_ids]

    def loss(self, model, batch) -> torch.Tensor:
        return tagging_loss(model, batch)
