"""The recipe every supervised objective shares: shuffled mini-batches of a labelled set.

``ShuffledBatches`` draws epoch e's order from ``epoch_generator(seed, e)`` (a resumed run sees the same
batches) and leaves two things to a subclass: ``collate(indices)`` (the model inputs of those
examples) and ``loss(model, batch)`` (the objective; e.g. paper 001 Eq. 3 for a tagger).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from pipeline_steps.train.determinism import epoch_generator


class ShuffledBatches:
    """``n`` examples in mini-batches of ``batch_size``, shuffled per epoch by (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, what: str = "the recipe"):
        if n == 0:
            raise ValueError(f"{what} got no examples")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)

    def num_batches(self, epoch: int) -> int:
        return math.ceil(self.n / self.batch_size)

    def batches(self, epoch: int) -> Iterator[Any]:
        order = torch.randperm(self.n, generator=epoch_generator(self.seed, epoch)).tolist()
        for lo in range(0, self.n, self.batch_size):
            yield self.collate(order[lo : lo + self.batch_size])

    def collate(self, indices: Sequence[int]) -> Any:
        raise NotImplementedError

    def loss(self, model, batch) -> torch.Tensor:
        raise NotImplementedError
