"""Inference batches grouped by length: the padding a batch carries is what its longest row adds.

Prediction has no order to respect, so every predictor (tags, classes, QA spans) visits the rows
longest first in chunks of ``batch_size`` and writes each result back at its row's index: a batch then
pads to rows of nearly its own length instead of the corpus's longest in each random chunk. Longest
first, so a batch that does not fit in memory fails on the first step, not at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices in chunks of ``batch_size``, longest rows first (ties in row order)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive (got {batch_size})")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[lo : lo + batch_size].tolist() for lo in range(0, len(order), batch_size)]
