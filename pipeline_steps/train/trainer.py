"""Multi-phase training: ``Trainer.run(phase, ...)`` once per phase of a method.

Multi-phase methods (today MTL-WS: warm-up, then adaptation) share one ``TrainConfig``, one
checkpoint root and one dev evaluation across their phases. Each phase checkpoints in its own
sub-folder (``<checkpoint_dir>/<phase>``), a finished phase is restored instantly on restart (its final
checkpoint), and the log of all phases is concatenated with a running step number and the phase name
in the ``phase`` column (schemas.TRAIN_LOG).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from pipeline_steps.train.config import TrainConfig
from pipeline_steps.train.loop import Recipe, TrainResult, log_frame, train


class Trainer:
    """Runs the phases of one method with shared settings, checkpoint root and dev evaluation."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        evaluate: Callable[[torch.nn.Module], float] | None = None,
        fingerprint: dict[str, Any] | None = None,
        on_step: Callable[[int, dict[str, Any]], None] | None = None,
    ):
        self.config = config
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.evaluate = evaluate
        self.fingerprint = fingerprint or {}
        self.on_step = on_step
        self.results: list[TrainResult] = []

    def run(
        self, phase: str, model: torch.nn.Module, recipe: Recipe, *, select: bool = True, **overrides: Any
    ) -> TrainResult:
        """Train one phase; ``overrides`` replace fields of the shared TrainConfig (e.g. optimizer='sgd').
        ``select=False`` skips dev evaluation (the phase ends with its last weights)."""
        config = dataclasses.replace(self.config, desc=f"{self.config.desc}:{phase}", **overrides)
        offset = sum(r.steps for r in self.results)
        on_step = None if self.on_step is None else (lambda s, row: self.on_step(offset + s, row))
        result = train(
            model,
            recipe,
            config,
            checkpoint_dir=None if self.checkpoint_dir is None else self.checkpoint_dir / phase,
            evaluate=self.evaluate if select else None,
            fingerprint={**self.fingerprint, "phase": phase},
            on_step=on_step,
            phase=phase,
        )
        result.log["step"] = result.log["step"] + offset
        if result.best_step is not None:
            result.best_step += offset
        self.results.append(result)
        return result

    @property
    def log(self) -> pd.DataFrame:
        """The log of every phase so far, steps numbered across phases."""
        frames = [r.log for r in self.results if len(r.log)]
        if not frames:
            return log_frame([])
        return pd.concat(frames, ignore_index=True)
