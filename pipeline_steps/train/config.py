"""The settings of one training run (one phase) and the optimiser and schedule they build.

``TrainConfig`` has no defaults for the settings that are ``finetune:`` config keys: those defaults
live in config/schema.yaml only, and the finetune step passes every key (``finetune.train_config``).
The optimiser is AdamW (weight decay on matrices only, not on biases and LayerNorm weights; the task
head -- every parameter outside a Hugging Face model's ``base_model_prefix`` -- at ``head_lr`` when set)
or plain SGD (MTL-WS's Eq. 7 step); the schedule is a linear warm-up over ``warmup_ratio`` of the
steps, then a linear decay to 0 (``linear``) or a flat learning rate (``constant``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from pipeline_steps.errors import ConfigError

# fields that do not change what is trained: left out of the fingerprint a resumed run must match
NOT_IN_FINGERPRINT = frozenset({"checkpoint_steps", "keep_last_checkpoints", "device", "desc"})
PRECISIONS = ("bf16", "fp32")


@dataclass(kw_only=True)
class TrainConfig:
    """Optimisation settings of one training run (one phase).

    The first fourteen fields are the ``finetune:`` config keys of the same name (plus the run's seed)."""

    seed: int
    lr: float
    head_lr: float | None  # None: the task head at ``lr`` too
    epochs: int
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float | None  # None: no gradient clipping
    max_steps: int | None  # None: all batches of all epochs
    eval_steps: int  # 0: evaluate only at the end
    eval_after: int  # evaluate at multiples of eval_steps from this step on (paper 001 App. A.2)
    checkpoint_steps: int  # 0: checkpoint only at the end
    keep_last_checkpoints: int  # newest checkpoints kept during training (>= 1)
    device: str  # "auto": CUDA when visible, else the CPU
    precision: str  # bf16: bfloat16 autocast on CUDA (fp32 on the CPU) | fp32
    optimizer: str = "adamw"  # adamw | sgd
    schedule: str = "linear"  # linear (warm-up then linear decay to 0) | constant (warm-up then flat)
    group_by_length: bool = False  # length-grouped batches (recipes that know their lengths; recipes.py)
    desc: str = "train"  # progress-bar label

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS} (got {self.precision!r})")
        if self.keep_last_checkpoints < 1:
            raise ConfigError(f"keep_last_checkpoints must be at least 1 (got {self.keep_last_checkpoints})")

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the interrupted one (not where or how often it
        checkpoints, nor the device)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in NOT_IN_FINGERPRINT}


def head_parameter_names(model: torch.nn.Module) -> set[str]:
    """The task head's parameters: those outside the pre-trained body, ``model.base_model_prefix``
    (``roberta.``, ``bert.``: the Hugging Face convention; the head is ``classifier``, ``qa_outputs``)."""
    prefix = getattr(model, "base_model_prefix", "")
    names = [n for n, _ in model.named_parameters()]
    if not prefix or not any(n.startswith(f"{prefix}.") for n in names):
        raise ConfigError(
            f"finetune.head_lr needs a Hugging Face model whose body is under its base_model_prefix "
            f"({type(model).__name__} has {prefix!r}); set head_lr to null"
        )
    return {n for n in names if not n.startswith(f"{prefix}.")}


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (no weight decay on biases and LayerNorm weights; the head at ``head_lr`` when set) or
    SGD over the trainable parameters."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        head = head_parameter_names(model) if config.head_lr is not None else set()
        groups = []
        for in_head, lr in ((False, config.lr), (True, config.head_lr)):
            part = [p for n, p in named if (n in head) == in_head]
            decay = [p for p in part if p.ndim >= 2]
            no_decay = [p for p in part if p.ndim < 2]  # biases and LayerNorm weights
            groups += [
                {"params": ps, "weight_decay": wd, "lr": lr}
                for ps, wd in ((decay, config.weight_decay), (no_decay, 0.0))
                if ps
            ]
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "sgd":
        if config.head_lr is not None:
            raise ConfigError("head_lr applies to the adamw optimizer only (set it to null)")
        return torch.optim.SGD([p for _, p in named], lr=config.lr, weight_decay=config.weight_decay)
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
