"""Length-grouped inference batches (models/batching.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps.models.batching import length_sorted_batches


def test_longest_rows_first_ties_in_row_order():
    assert length_sorted_batches([3, 1, 4, 1, 5], 2) == [[4, 2], [0, 1], [3]]
    assert length_sorted_batches([], 4) == []


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be positive"):
        length_sorted_batches([1, 2], 0)


@given(st.lists(st.integers(0, 50), max_size=60), st.integers(1, 9))
def test_batches_cover_every_row_once_in_non_increasing_length(lengths, batch_size):
    batches = length_sorted_batches(lengths, batch_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = [lengths[i] for i in flat]
    assert seen == sorted(seen, reverse=True)
