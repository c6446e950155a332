"""The one training loop every method uses: ``train(model, recipe, config)``.

A method supplies a ``Recipe`` (what to train on and what to minimise); the loop owns everything else:
the optimiser and schedule (``config``), gradient clipping, determinism (``determinism``), a checkpoint
every ``checkpoint_steps`` and at the end, resume from the newest complete checkpoint
(``checkpoints``), dev evaluation every ``eval_steps`` (from ``eval_after`` on) and at the end, and
model selection: the weights with the best dev score (the task's: entity F1, accuracy or QA F1) are
the final model (papers 001 App. A.2 and 003 select on the source dev set). Its log has one row per
step (``schemas.TRAIN_LOG``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
import torch
from tqdm import tqdm

from pipeline_steps.errors import ConfigError
from pipeline_steps.schemas import TRAIN_LOG
from pipeline_steps.train import distributed
from pipeline_steps.train.checkpoints import Checkpoints, cpu_state_dict, rng_state, set_rng_state
from pipeline_steps.train.config import TrainConfig, make_optimizer, make_scheduler
from pipeline_steps.train.determinism import (
    derive_seed,
    deterministic,
    resolve_device,
    seed_everything,
    to_device,
)
from pipeline_steps.train.recipes import ShuffledBatches

log = logging.getLogger(__name__)

LOG_COLUMNS = list(TRAIN_LOG.columns)
DEFAULT_PHASE = "main"


class Recipe(Protocol):
    """What a method trains on and what it minimises.

    - ``num_batches(epoch)`` and ``batches(epoch)``: the data of one epoch in a deterministic order (use
      ``epoch_generator(seed, epoch)`` for the permutation and any sampling, so a resumed run sees the
      same batches; the loop re-creates the epoch and skips the batches already done);
    - ``loss(model, batch)``: the objective of one batch (e.g. paper 001 Eq. 3-6);
    - optionally ``backward(model, batch) -> float``: fill the parameters' ``.grad`` itself and return
      the loss to log. The default is ``loss(...).backward()``; MTL-WS (paper 001 Eq. 7-8) uses it to
      set ``grad = theta_{z-1} - mean_l theta^l_z`` after K inner SGD steps per language, so an ``sgd``
      optimiser with lr gamma performs exactly Eq. 7. An objective with several forward passes (e.g. a
      consistency regulariser) is still one ``loss``.
    """

    def num_batches(self, epoch: int) -> int: ...

    def batches(self, epoch: int) -> Iterable[Any]: ...

    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor: ...


@dataclass
class TrainResult:
    """The outcome of ``train``: the log (schemas.TRAIN_LOG columns) and the selected step."""

    log: pd.DataFrame
    steps: int
    best_step: int | None
    best_f1: float | None
    resumed_from: int | None
    phase: str


@dataclass
class LoopState:
    """The loop's position and what it has logged and selected so far (saved in every checkpoint)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_f1: float | None = None
    best_step: int | None = None

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> LoopState:
        """From a checkpoint's ``state`` (keys of older versions that are gone are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def total_steps(recipe: Recipe, config: TrainConfig) -> int:
    """Optimisation steps of a run: all batches of all epochs, capped by ``max_steps``."""
    per_epoch = [int(recipe.num_batches(e)) for e in range(config.epochs)]
    if config.epochs < 1 or any(n < 1 for n in per_epoch):
        raise ConfigError(f"nothing to train on: epochs={config.epochs}, batches per epoch {per_epoch}")
    total = sum(per_epoch)
    if config.max_steps is not None:
        if config.max_steps < 1:
            raise ConfigError(f"max_steps must be positive (got {config.max_steps})")
        total = min(total, int(config.max_steps))
    return total


def log_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The log rows as a frame with the schemas.TRAIN_LOG columns and dtypes."""
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    frame["dev_f1"] = frame["dev_f1"].astype("float64")
    frame["resumed"] = frame["resumed"].astype(bool)
    return frame


def _backward(recipe: Recipe, model: torch.nn.Module, batch: Any) -> float:
    custom = getattr(recipe, "backward", None)
    if custom is not None:
        return float(custom(model, batch))
    loss = recipe.loss(model, batch)
    loss.backward()
    return float(loss.detach().item())


def loss_terms(recipe: Recipe) -> dict[str, float] | None:
    """The parts of the last loss a recipe reports in ``recipe.last`` (e.g. xTune's task, r1, r2)."""
    last = getattr(recipe, "last", None)
    return {str(k): float(v) for k, v in last.items()} if last else None


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast of the forward and backward passes on CUDA with ``precision: bf16``; nothing
    on the CPU (fp32 there: bf16 matmuls are slower on most CPUs and would change the CPU results)."""
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _should(step: int, every: int, total: int, after: int = 0) -> bool:
    return step == total or (every > 0 and step % every == 0 and step >= after)


def train(
    model: torch.nn.Module,
    recipe: Recipe,
    config: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    fingerprint: dict[str, Any] | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    phase: str = DEFAULT_PHASE,
) -> TrainResult:
    """Train ``model`` in place on ``recipe``; leave it holding the best-dev-F1 weights (the last
    weights when ``evaluate`` is None). ``on_step(step, row)`` runs after each step and its checkpoint;
    ``phase`` names the run in the log (the ``Trainer`` phase)."""
    device = resolve_device(config.device)
    with deterministic(device):
        return _train(
            model, recipe, config, device, checkpoint_dir, evaluate, fingerprint or {}, on_step, phase
        )


def _train(
    model, recipe, config, device, checkpoint_dir, evaluate, fingerprint, on_step, phase
) -> TrainResult:
    group = distributed.current()
    distributed.check_recipe(recipe, group)
    seed_everything(config.seed if group.main else derive_seed(config.seed, group.rank))  # own dropout
    if isinstance(recipe, ShuffledBatches):
        recipe.group_by_length = config.group_by_length
    model.to(device)
    model.train()
    optimizer = make_optimizer(model, config)
    total = total_steps(recipe, config)
    scheduler = make_scheduler(optimizer, config, total)
    state = LoopState()
    best: dict[str, torch.Tensor] | None = None
    resumed_from: int | None = None
    ckpts = None
    if checkpoint_dir is not None:
        full_fp = {"train": config.fingerprint(), "total_steps": total, "evaluate": evaluate is not None}
        full_fp["recipe"] = fingerprint
        ckpts = Checkpoints(checkpoint_dir, config.keep_last_checkpoints, full_fp)
        found = ckpts.load_newest()
        if found is not None:
            payload, best, path = found
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            rng = payload["rng"]  # a data-parallel run's: one state per process (process 0's for new ones)
            if isinstance(rng, list):
                rng = rng[group.rank] if group.rank < len(rng) else rng[0]
            set_rng_state(rng)
            state = LoopState.restore(payload["state"])
            resumed_from = state.step
            log.info("resuming from step %d (%s)", state.step, path)

    bar = tqdm(total=total, initial=state.step, desc=config.desc, file=sys.stderr, mininterval=5)
    try:
        # the epoch bound only matters for a recipe yielding fewer batches than num_batches() says
        while state.step < total and state.epoch < config.epochs:
            batches = iter(recipe.batches(state.epoch))
            for _ in itertools.islice(batches, state.batch_in_epoch):
                pass  # batches already consumed before the checkpoint (keeps any sampling RNG in step)
            for batch in batches:
                if state.step >= total:  # max_steps reached inside the epoch
                    break
                model.train()
                optimizer.zero_grad(set_to_none=True)
                if group.world > 1:
                    batch, rows, batch_rows = distributed.shard(batch, group)
                with autocast(device, config.precision):
                    loss = _backward(recipe, model, to_device(batch, device))
                if group.world > 1:
                    distributed.average_gradients(model, rows, batch_rows)
                    loss = distributed.weighted_mean(loss, rows, batch_rows, device)
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"loss is {loss} at step {state.step + 1}; lower the learning rate"
                    )
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                lr = float(optimizer.param_groups[0]["lr"])
                optimizer.step()
                scheduler.step()
                state.step += 1
                state.batch_in_epoch += 1
                bar.update(1)
                row = {
                    "step": state.step,
                    "epoch": state.epoch,
                    "phase": phase,
                    "loss": loss,
                    "lr": lr,
                    "dev_f1": None,
                    "resumed": resumed_from is not None,
                    "terms": loss_terms(recipe),
                }
                if evaluate is not None and _should(state.step, config.eval_steps, total, config.eval_after):
                    f1 = float(evaluate(model)) if group.main else None
                    f1 = distributed.broadcast(f1) if group.world > 1 else f1
                    model.train()
                    row["dev_f1"] = f1
                    log.info("step %d: loss %.4f, dev score %.4f", state.step, loss, f1)
                    if state.best_f1 is None or f1 >= state.best_f1:  # ties: the later, longer-trained model
                        state.best_f1, state.best_step = f1, state.step
                        best = cpu_state_dict(model) if group.main else None
                state.rows.append(row)
                if ckpts is not None and _should(state.step, config.checkpoint_steps, total):
                    rngs = distributed.gather(rng_state(), group) if group.world > 1 else None
                    if group.main:
                        ckpts.save(
                            model,
                            optimizer,
                            scheduler,
                            dataclasses.asdict(state),
                            best,
                            finished=state.step >= total,
                            rng=rngs,
                        )
                    distributed.barrier()
                if on_step is not None:
                    on_step(state.step, row)
            else:
                state.epoch += 1
                state.batch_in_epoch = 0
                continue
            break
    finally:
        bar.close()
    if best is not None:
        model.load_state_dict(best)
        log.info("selected the weights of step %s (dev score %.4f)", state.best_step, state.best_f1)
    frame = log_frame(state.rows)
    frame["phase"] = phase  # also for rows of checkpoints written before the log had phases
    return TrainResult(frame, state.step, state.best_step, state.best_f1, resumed_from, phase)
