"""Inference batches by sub-word budget: the padding a batch carries is what its longest row adds.

Prediction has no order to respect, so every predictor (tags, classes, QA spans) visits the rows
longest first and writes each result back at its row's index: a batch then pads to rows of nearly its
own length instead of the corpus's longest in each random chunk. The first batch holds ``batch_size``
rows of the longest length; every later batch holds as many rows as fit in the same number of padded
sub-words (``batch_size`` x the longest row), so short rows go through in few large forward passes
while no batch is larger in sub-words (activations) than the first. Longest first, so a batch that
does not fit in memory fails on the first step, not at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices, longest rows first (ties in row order), in batches of at most ``batch_size`` x the
    longest length padded sub-words: ``batch_size`` rows at the top, more as the rows get shorter."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive (got {batch_size})")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    if not len(order):
        return []
    budget = batch_size * max(int(lengths[order[0]]), 1)
    batches, lo = [], 0
    while lo < len(order):
        rows = max(1, budget // max(int(lengths[order[lo]]), 1))
        batches.append(order[lo : lo + rows].tolist())
        lo += rows
    return batches
