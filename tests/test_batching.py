"""Inference batches by sub-word budget (models/batching.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps.models.batching import length_sorted_batches


def test_longest_rows_first_and_shorter_rows_fill_the_first_batch_s_sub_words():
    # order 4 (5), 2 (4), 0 (3), 1 (1), 3 (1); budget 2 x 5 = 10 sub-words: 2 rows of 5, then rows of 3
    # fit 10 // 3 = 3 per batch, ties in row order
    assert length_sorted_batches([3, 1, 4, 1, 5], 2) == [[4, 2], [0, 1, 3]]
    assert length_sorted_batches([4, 4, 4], 1) == [[0], [1], [2]]
    assert length_sorted_batches([8, 2, 2, 2, 2, 1], 1) == [[0], [1, 2, 3, 4], [5]]
    assert length_sorted_batches([], 4) == []


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be positive"):
        length_sorted_batches([1, 2], 0)


@given(st.lists(st.integers(0, 50), max_size=60), st.integers(1, 9))
def test_batches_cover_every_row_once_within_the_first_batch_s_sub_words(lengths, batch_size):
    batches = length_sorted_batches(lengths, batch_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    seen = [lengths[i] for i in flat]
    assert seen == sorted(seen, reverse=True)
    if not lengths:
        return
    budget = batch_size * max(max(lengths), 1)
    assert len(batches[0]) == min(batch_size, len(lengths))
    for b in batches:
        longest = max(lengths[b[0]], 1)
        assert len(b) * longest <= budget or len(b) == 1
        if b is not batches[-1]:  # greedy: no room left for one more row of this length
            assert (len(b) + 1) * longest > budget
