"""ZERO-SHOT adaptation (paper 001 Sec. 3): fine-tune on the source-language gold data only.

Objective (Eq. 3): J(theta) = 1/|D_src| sum_{(x,y) in D_src} L(x, y), with the per-sentence
cross-entropy L(x, y) = -(1/T) sum_t y_t . log p(y_t | x_t) over the tag distribution of Eq. 1; each
word's label sits on its first sub-word. ``SupervisedTagging`` is that objective over any labelled
set, so the translation-based baselines (TO Eq. 4, BILINGUAL Eq. 5, MTL Eq. 6) reuse it on other data.
"""

from __future__ import annotations

import math

import torch

from pipeline_steps.models.token_classification import Encoded, collate, sentence_ce
from pipeline_steps.train import Trainer, TrainResult, epoch_generator


class SupervisedTagging:
    """Recipe: shuffled mini-batches of labelled sentences (order seeded by (seed, epoch)), loss Eq. 3."""

    def __init__(self, enc: Encoded, batch_size: int, seed: int, pad_id: int):
        if enc.labels is None:
            raise ValueError("SupervisedTagging needs labelled encodings")
        if len(enc) == 0:
            raise ValueError("SupervisedTagging got no sentences")
        self.enc, self.batch_size, self.seed, self.pad_id = enc, int(batch_size), int(seed), pad_id

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.enc) / self.batch_size)

    def batches(self, epoch: int):
        order = torch.randperm(len(self.enc), generator=epoch_generator(self.seed, epoch)).tolist()
        for lo in range(0, len(order), self.batch_size):
            yield collate(self.enc, order[lo : lo + self.batch_size], self.pad_id)

    def loss(self, model, batch) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return sentence_ce(logits, batch["labels"])


class ZeroShot:
    """Paper 001 Eq. 3: one training phase on D_src, model selection on the source dev set."""

    name = "zero_shot"

    def __init__(self, data):
        self.data = data

    def fit(self, model, trainer: Trainer) -> TrainResult:
        if self.data.extra:
            self.data.log.info("zero_shot ignores %d extra (projected) data sets", len(self.data.extra))
        enc = self.data.encode(self.data.train)
        recipe = SupervisedTagging(enc, self.data.batch_size, self.data.seed, self.data.pad_id)
        return trainer.run("main", model, recipe)
