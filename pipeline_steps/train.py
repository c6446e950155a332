"""The one training loop every method uses: optimisation, checkpoint/resume, dev evaluation.

A method supplies a *recipe* -- what to train on and what to minimise:

- ``num_batches(epoch) -> int`` and ``batches(epoch) -> Iterable[batch]``: the data of one epoch in a
  deterministic order (use ``epoch_generator(seed, epoch)`` for the permutation and any sampling, so a
  resumed run sees the same batches; the loop re-creates the epoch and skips the batches already done);
- ``loss(model, batch) -> Tensor``: the objective of one batch (e.g. paper 001 Eq. 3-6);
- optionally ``backward(model, batch) -> float``: fill the parameters' ``.grad`` itself and return the
  loss to log. The default is ``loss(...).backward()``; MTL-WS (paper 001 Eq. 7-8) uses it to set
  ``grad = theta_{z-1} - mean_l theta^l_z`` after K inner SGD steps per language, so an ``sgd`` optimiser
  with lr gamma performs exactly Eq. 7; xTune puts its two forward passes and R1/R2 in ``loss``.

The loop owns everything else: the optimiser (AdamW, or SGD), a linear schedule with warm-up, gradient
clipping, determinism (seeded RNGs, ``torch.use_deterministic_algorithms``), a checkpoint every
``checkpoint_steps`` (model, optimiser, scheduler, RNG states, position, log and best weights; written
to a temporary folder and renamed, the last ``keep_checkpoints`` kept), resume from the newest complete
checkpoint, dev evaluation every ``eval_steps`` and at the end, and model selection: the weights with the
best dev F1 are the final model (papers 001 App. A.2 and 003 select on the source dev set).

Multi-phase methods (MTL-WS warm-up then adaptation, co-training rounds) call ``Trainer.run`` once per
phase: each phase checkpoints in its own sub-folder, a finished phase is restored instantly on restart,
and the log of all phases is concatenated with a running step number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import random
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipeline_steps.errors import ConfigError

log = logging.getLogger(__name__)

CKPT_RE = re.compile(r"^step-(\d{8})$")
TMP_PREFIX = ".tmp-"


class Recipe(Protocol):
    """What a method trains on and what it minimises (see the module docstring)."""

    def num_batches(self, epoch: int) -> int: ...

    def batches(self, epoch: int) -> Iterable[Any]: ...

    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor: ...


@dataclass
class TrainConfig:
    """Optimisation settings of one training run (one phase)."""

    seed: int = 0
    lr: float = 5e-5
    epochs: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    max_steps: int | None = None
    optimizer: str = "adamw"  # adamw | sgd
    schedule: str = "linear"  # linear (warm-up then linear decay to 0) | constant (warm-up then flat)
    eval_steps: int = 0  # 0: evaluate only at the end
    eval_after: int = 0  # evaluate at multiples of eval_steps from this step on (paper 001 App. A.2)
    checkpoint_steps: int = 0  # 0: checkpoint only at the end
    keep_checkpoints: int = 2
    device: str = "auto"
    desc: str = "train"

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the interrupted one."""
        skip = {"checkpoint_steps", "keep_checkpoints", "device", "desc"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


@dataclass
class TrainResult:
    """The outcome of ``train``: the log (schemas.TRAIN_LOG columns) and the selected step."""

    log: pd.DataFrame
    steps: int
    best_step: int | None
    best_f1: float | None
    resumed_from: int | None
    phase: str = ""


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_f1: float | None = None
    best_step: int | None = None
    finished: bool = False


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (e.g. (seed, epoch)); stable across runs and platforms."""
    return int(
        np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1
    )


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The torch generator of one epoch's data order / sampling, seeded by (seed, epoch, stream)."""
    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, epoch, stream))
    return gen


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


SMALL_MODEL_HIDDEN = 256


def cpu_threads(requested: int, hidden_size: int | None) -> int:
    """Intra-op CPU threads for a model: 1 for small models (hidden < 256), whose tiny matrix products
    gain nothing from threads and slow down badly when the cores are shared; else ``requested``."""
    if hidden_size is not None and hidden_size < SMALL_MODEL_HIDDEN:
        return 1
    return max(1, int(requested))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


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


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]  # biases and LayerNorm weights
        groups = [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ConfigError(f"unknown optimizer {config.optimizer!r} (expected adamw or sgd)")


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total: int):
    """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay to 0 (or constant)."""
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    warmup = int(round(config.warmup_ratio * total))
    if config.schedule == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total)
    if config.schedule == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    raise ConfigError(f"unknown schedule {config.schedule!r} (expected linear or constant)")


# --------------------------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, keys, gauss_next = state["python"]
    random.setstate((int(version), tuple(int(k) for k in keys), gauss_next))
    name, arr, npos, ngauss, ncached = state["numpy"]
    np.random.set_state((name, arr.numpy().astype(np.uint32), int(npos), int(ngauss), float(ncached)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def list_checkpoints(checkpoint_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints (``step-NNNNNNNN`` folders; temporary folders are ignored), oldest first."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "state.pt").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


class Checkpoints:
    """Atomic checkpoint folders under ``root``: written as ``.tmp-...`` then renamed ``step-N``."""

    def __init__(self, root: str | os.PathLike, keep: int, fingerprint: dict[str, Any]):
        self.root = Path(root)
        self.keep = max(1, int(keep))
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.digest = hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()

    def clean_tmp(self) -> None:
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith(TMP_PREFIX):
                    log.warning("removing incomplete checkpoint %s", p)
                    shutil.rmtree(p, ignore_errors=True)

    def save(self, model, optimizer, scheduler, state: _State, best: dict[str, torch.Tensor] | None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"step-{state.step:08d}"
        final = self.root / name
        tmp = self.root / f"{TMP_PREFIX}{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        payload = {
            "model": _cpu_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "state": dataclasses.asdict(state),
            "digest": self.digest,
        }
        torch.save(payload, tmp / "state.pt")
        if best is not None:
            torch.save(best, tmp / "best.pt")
        meta = {
            "step": state.step,
            "epoch": state.epoch,
            "finished": state.finished,
            "fingerprint": self.fingerprint,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in list_checkpoints(self.root)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_newest(self) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None, Path] | None:
        """The newest readable checkpoint of this run; stale ones (other settings) are removed."""
        self.clean_tmp()
        for step, path in reversed(list_checkpoints(self.root)):
            try:
                payload = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
                best_file = path / "best.pt"
                best = (
                    torch.load(best_file, map_location="cpu", weights_only=True)
                    if best_file.exists()
                    else None
                )
            except Exception as exc:  # a damaged file: fall back to the previous checkpoint
                log.warning("cannot read checkpoint %s (%s); trying an older one", path, exc)
                continue
            if payload.get("digest") != self.digest:
                log.warning(
                    "checkpoint %s was written with other settings; starting afresh and removing it", path
                )
                for _, p in list_checkpoints(self.root):
                    shutil.rmtree(p, ignore_errors=True)
                return None
            log.info("found checkpoint at step %d: %s", step, path)
            return payload, best, path
        return None


# ------------------------------------------------------------------------------------------------- the loop


def _backward(recipe: Recipe, model: torch.nn.Module, batch: Any) -> float:
    custom = getattr(recipe, "backward", None)
    if custom is not None:
        return float(custom(model, batch))
    loss = recipe.loss(model, batch)
    loss.backward()
    return float(loss.detach().item())


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
) -> TrainResult:
    """Train ``model`` in place on ``recipe``; leave it holding the best-dev-F1 weights (the last
    weights when ``evaluate`` is None). ``on_step(step, row)`` runs after each step and its checkpoint."""
    device = resolve_device(config.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        return _train(model, recipe, config, device, checkpoint_dir, evaluate, fingerprint or {}, on_step)
    finally:
        torch.use_deterministic_algorithms(previous_det)


def _train(model, recipe, config, device, checkpoint_dir, evaluate, fingerprint, on_step) -> TrainResult:
    seed_everything(config.seed)
    model.to(device)
    model.train()
    optimizer = make_optimizer(model, config)
    total = total_steps(recipe, config)
    scheduler = make_scheduler(optimizer, config, total)
    state = _State()
    best: dict[str, torch.Tensor] | None = None
    resumed_from: int | None = None
    ckpts = None
    if checkpoint_dir is not None:
        full_fp = {"train": config.fingerprint(), "total_steps": total, "evaluate": evaluate is not None}
        full_fp["recipe"] = fingerprint
        ckpts = Checkpoints(checkpoint_dir, config.keep_checkpoints, full_fp)
        found = ckpts.load_newest()
        if found is not None:
            payload, best, path = found
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            _set_rng_state(payload["rng"])
            state = _State(**payload["state"])
            resumed_from = state.step
            log.info("resuming from step %d (%s)", state.step, path)

    bar = tqdm(total=total, initial=state.step, desc=config.desc, file=sys.stderr, mininterval=5)
    try:
        while not state.finished and state.step < total and state.epoch < config.epochs:
            batches = iter(recipe.batches(state.epoch))
            for _ in itertools.islice(batches, state.batch_in_epoch):
                pass  # batches already consumed before the checkpoint (keeps any sampling RNG in step)
            for batch in batches:
                if state.step >= total:
                    break
                model.train()
                optimizer.zero_grad(set_to_none=True)
                loss = _backward(recipe, model, to_device(batch, device))
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
                    "loss": loss,
                    "lr": lr,
                    "dev_f1": None,
                    "resumed": resumed_from is not None,
                }
                if evaluate is not None and _should(state.step, config.eval_steps, total, config.eval_after):
                    f1 = float(evaluate(model))
                    model.train()
                    row["dev_f1"] = f1
                    log.info("step %d: loss %.4f, dev F1 %.4f", state.step, loss, f1)
                    if state.best_f1 is None or f1 >= state.best_f1:  # ties: the later, longer-trained model
                        state.best_f1, state.best_step = f1, state.step
                        best = _cpu_state_dict(model)
                state.rows.append(row)
                state.finished = state.step >= total
                if ckpts is not None and (
                    state.finished or _should(state.step, config.checkpoint_steps, total)
                ):
                    ckpts.save(model, optimizer, scheduler, state, best)
                if on_step is not None:
                    on_step(state.step, row)
            else:
                state.epoch += 1
                state.batch_in_epoch = 0
                continue
            break
    finally:
        bar.close()
    state.finished = True
    if best is not None:
        model.load_state_dict(best)
        log.info("selected the weights of step %s (dev F1 %.4f)", state.best_step, state.best_f1)
    frame = pd.DataFrame(state.rows, columns=["step", "epoch", "loss", "lr", "dev_f1", "resumed"])
    frame["dev_f1"] = frame["dev_f1"].astype("float64")
    frame["resumed"] = frame["resumed"].astype(bool)
    return TrainResult(frame, state.step, state.best_step, state.best_f1, resumed_from)


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
        )
        result.log["step"] = result.log["step"] + offset
        result.phase = phase
        if result.best_step is not None:
            result.best_step += offset
        self.results.append(result)
        return result

    @property
    def log(self) -> pd.DataFrame:
        """The log of every phase so far, steps numbered across phases."""
        frames = [r.log for r in self.results if len(r.log)]
        if not frames:
            return pd.DataFrame(columns=["step", "epoch", "loss", "lr", "dev_f1", "resumed"])
        return pd.concat(frames, ignore_index=True)
