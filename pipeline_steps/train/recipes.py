"""The recipe every supervised objective shares: shuffled mini-batches of a labelled set.

``ShuffledBatches`` draws epoch e's order from ``epoch_generator(seed, e)`` (a resumed run sees the same
batches) and leaves two things to a subclass: ``collate(indices)`` (the model inputs of those
examples) and ``loss(model, batch)`` (the objective; e.g. paper 001 Eq. 3 for a tagger). A subclass
that knows its examples' lengths (``lengths()``) can have them length-grouped: with ``group_by_length``
(set by the loop from ``TrainConfig.group_by_length``) the order is transformers'
``get_length_grouped_indices`` (the order of ``Trainer``'s ``group_by_length``: a random permutation cut
into mega-batches of up to 50 batches, each sorted by length), so a collated batch pads less.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

from pipeline_steps.train.determinism import epoch_generator


class ShuffledBatches:
    """``n`` examples in mini-batches of ``batch_size``, shuffled per epoch by (seed, epoch)."""

    group_by_length = False  # the loop sets it from TrainConfig.group_by_length

    def __init__(self, n: int, batch_size: int, seed: int, what: str = "the recipe"):
        if n == 0:
            raise ValueError(f"{what} got no examples")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)

    def num_batches(self, epoch: int) -> int:
        return math.ceil(self.n / self.batch_size)

    def lengths(self) -> Sequence[int] | None:
        """Each example's length in sub-words (None: unknown, never grouped)."""
        return None

    def order(self, epoch: int) -> list[int]:
        """Epoch ``epoch``'s example order: a seeded permutation, length-grouped with
        ``group_by_length`` when ``lengths()`` is known."""
        generator = epoch_generator(self.seed, epoch)
        lengths = self.lengths() if self.group_by_length else None
        if lengths is None:
            return torch.randperm(self.n, generator=generator).tolist()
        return [
            int(i) for i in get_length_grouped_indices(list(lengths), self.batch_size, generator=generator)
        ]

    def batches(self, epoch: int) -> Iterator[Any]:
        order = self.order(epoch)
        for lo in range(0, self.n, self.batch_size):
            yield self.collate(order[lo : lo + self.batch_size])

    def collate(self, indices: Sequence[int]) -> Any:
        raise NotImplementedError

    def loss(self, model, batch) -> torch.Tensor:
        raise NotImplementedError
