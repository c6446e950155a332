"""The one training loop every method uses, with checkpoint/resume, dev evaluation and phases.

- ``loop``: the ``Recipe`` protocol a method implements and ``train(model, recipe, config)``;
- ``config``: ``TrainConfig`` (one run's settings) and the optimiser/schedule it builds;
- ``checkpoints``: atomic checkpoint folders, retention, resume, RNG state;
- ``trainer``: ``Trainer.run(phase, ...)`` for multi-phase methods (MTL-WS warm-up, then adaptation);
- ``determinism``: seeds, per-epoch generators, deterministic kernels, devices and CPU threads.

Everything public is importable from ``pipeline_steps.train``.
"""

from pipeline_steps.train.checkpoints import Checkpoints, list_checkpoints, rng_state, set_rng_state
from pipeline_steps.train.config import TrainConfig, make_optimizer, make_scheduler
from pipeline_steps.train.determinism import (
    cpu_threads,
    derive_seed,
    deterministic,
    epoch_generator,
    resolve_device,
    seed_everything,
    to_device,
)
from pipeline_steps.train.loop import LOG_COLUMNS, Recipe, TrainResult, total_steps, train
from pipeline_steps.train.recipes import ShuffledBatches
from pipeline_steps.train.trainer import Trainer

__all__ = [
    "LOG_COLUMNS",
    "Checkpoints",
    "Recipe",
    "ShuffledBatches",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "cpu_threads",
    "derive_seed",
    "deterministic",
    "epoch_generator",
    "list_checkpoints",
    "make_optimizer",
    "make_scheduler",
    "resolve_device",
    "rng_state",
    "seed_everything",
    "set_rng_state",
    "to_device",
    "total_steps",
    "train",
]
