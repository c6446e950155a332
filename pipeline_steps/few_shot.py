"""The few-shot regime of paper 000 (App. C): N training examples sampled per seed, a fixed step budget.

"For each dataset, we random sample few-shot training datasets from the original full-data sets, with
the sampling size {64, 128, 256, 512, 1024}. To reduce variance, for each few-shot training dataset
size, we random sample 5 times with different seeds ... we choose 200 steps for optimizing." A method
named ``-{N}shot`` (``method_names``) is such a run: the sample is drawn with the run's seed (so the
config's ``seeds`` are the sampling seeds, and each seed also seeds the training), and the model is
trained ``few_shot.steps`` steps whatever N, keeping the last weights (the paper selects no
checkpoint; dev is scored once, at the end, for the log).
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.train import TrainConfig

log = logging.getLogger(__name__)


def sample_examples(train: pd.DataFrame, shots: int, seed: int, method: str = "the method") -> pd.DataFrame:
    """``shots`` rows of ``train`` drawn without replacement with ``seed``, in their file order."""
    if shots > len(train):
        raise ConfigError(
            f"{method}: a {shots}-example sample of a training set of {len(train)} examples; use a "
            "smaller few-shot size or a larger data.train"
        )
    rows = np.sort(np.random.default_rng(seed).choice(len(train), size=shots, replace=False))
    log.info("few-shot: %d of %d training examples (seed %d)", shots, len(train), seed)
    return train.iloc[rows].reset_index(drop=True)


def few_shot_config(config: TrainConfig, shots: int, batch_size: int, steps: int) -> TrainConfig:
    """``config`` with App. C's budget: exactly ``steps`` steps over the sample (as many epochs as that
    takes) and dev evaluation only at the end (the last weights are the model)."""
    epochs = math.ceil(steps / math.ceil(shots / batch_size))
    return dataclasses.replace(config, max_steps=steps, epochs=epochs, eval_steps=0, eval_after=0)
