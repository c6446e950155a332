"""Paper 000 App. C's few-shot regime: the per-seed sample and the fixed step budget."""

from __future__ import annotations

import pandas as pd
import pytest
from _helpers_model import train_config

from pipeline_steps.errors import ConfigError
from pipeline_steps.few_shot import few_shot_config, sample_examples
from pipeline_steps.method_names import method_shots, row_name, teacher_method, without_shots


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"train-en-{i:06d}" for i in range(n)], "x": range(n)})


def test_the_sample_is_drawn_per_seed_without_replacement_in_file_order():
    train = frame(1000)
    a, again, b = (
        sample_examples(train, 64, 13),
        sample_examples(train, 64, 13),
        sample_examples(train, 64, 14),
    )
    assert len(a) == 64 and a["id"].is_unique and a["x"].is_monotonic_increasing
    assert a.equals(again)  # the same seed, the same sample
    assert set(a["id"]) != set(b["id"])  # another seed, another sample (App. C: 5 samples)
    assert sample_examples(train, 1000, 13)["x"].tolist() == list(range(1000))  # the whole set


def test_five_seeds_cover_more_of_the_data_than_one():
    train = frame(1000)
    seen = set().union(*(sample_examples(train, 64, s)["id"] for s in range(13, 18)))
    assert 64 * 4 < len(seen) <= 64 * 5


def test_a_sample_larger_than_the_training_set_names_the_method():
    with pytest.raises(ConfigError, match="zero_shot-512shot: a 512-example sample of a training set of 100"):
        sample_examples(frame(100), 512, 13, "zero_shot-512shot")


@pytest.mark.parametrize(("shots", "batch", "epochs"), [(64, 32, 100), (100, 32, 50), (1024, 32, 7)])
def test_the_budget_is_exactly_the_steps_whatever_the_size(shots, batch, epochs):
    config = few_shot_config(train_config(eval_steps=5, eval_after=3), shots, batch, steps=200)
    assert config.max_steps == 200 and config.epochs == epochs
    assert config.epochs * -(-shots // batch) >= 200  # enough batches for the budget
    assert config.eval_steps == 0 and config.eval_after == 0  # dev once, at the end: the last weights


def test_few_shot_names():
    assert method_shots("zero_shot-64shot") == 64 and method_shots("zero_shot") is None
    assert row_name("to-de@word2word-128shot") == "to@word2word-128shot"
    assert without_shots("xtune@subword-64shot") == "xtune@subword"
    assert teacher_method("xtune-64shot") == "xtune_r1-64shot"  # the teacher saw the same sample
    with pytest.raises(ConfigError, match="at least 1"):
        method_shots("zero_shot-0shot")
