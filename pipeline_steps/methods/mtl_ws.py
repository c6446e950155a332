"""MTL-WS, Multilingual Warm-Start adaptation (paper 001 Sec. 5, Eq. 7-9): warm up on the projected data
of every target language, then ZERO-SHOT fine-tuning from the warmed parameters.

Warm-up (Sec. 5.1), Z epochs over all parameters (encoder and task layer). In epoch z, for each
target language l, a copy of theta_{z-1} takes K plain SGD steps of size beta on mini-batches of D_l
(Eq. 8):

    theta^l_{z,k} = theta^l_{z,k-1} - beta * grad L(theta^l_{z,k-1}; x^l, y^l),   theta^l_{z,0} = theta_{z-1}

and the base moves towards the language-specific parameters (Eq. 7):

    theta_z = theta_{z-1} + gamma / (|L| - 1) * sum_{l in L \\ {src}} (theta^l_z - theta_{z-1}).

One warm-up epoch is one step of the shared loop: ``WarmupRecipe.backward`` sets every parameter's
gradient to  g = (1 / (|L|-1)) sum_l (theta_{z-1} - theta^l_z)  and the loop's SGD optimiser with lr
gamma (constant schedule, no clipping, no weight decay) performs theta_z = theta_{z-1} - gamma g, which
is Eq. 7. Only one language copy exists at a time; the sum of differences accumulates in the base
parameters' ``.grad`` (memory: model + one copy, never |L| copies). The warm-up is checkpointed like any
phase (resumable at every warm-up epoch, per ``checkpoint_steps``).

Adaptation (Sec. 5.2, Eq. 9): ZERO-SHOT (Eq. 3) on D_src from theta_Z with the shared fine-tuning
settings and source-dev model selection.

Defaults: paper 001 Table 6 (App. A.1), the warm-up columns Z, K, gamma, beta of row mBERT/NER unless
``method_params.backbone`` (mbert | xlmr) and ``params.task`` (ner | srl | absa) pick another; the inner
mini-batch size defaults to the fine-tuning batch size. Table 6's fine-tuning learning rate and batch
size (mBERT 5e-5 / 8, XLM-R 1e-5 / 4) apply to every method of a backbone, so they are set in the
config's ``finetune:`` section (``lr``, ``batch_size``), not here.

The inner loss of Eq. 8 and the adaptation loss of Eq. 9 are both Eq. 3 (``methods.supervised``).

Scale: read literally, Eq. 7 with Table 6's gamma = 5e-5 moves theta by 5e-5 times the mean inner
displacement per epoch, so the whole warm-up changes the model far less than one fine-tuning step. The
paper optimises with Adam and gamma equals its fine-tuning learning rate, which suggests the averaged
difference was fed to Adam as a pseudo-gradient. ``method_params.outer = "adam"`` does that (Adam with
lr gamma, no weight decay, on g); the default ``"sgd"`` is Eq. 7 exactly.
"""

from __future__ import annotations

import copy
import logging
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from pipeline_steps.errors import ConfigError
from pipeline_steps.methods.supervised import tagging_loss
from pipeline_steps.methods.translate_train import all_target_langs, projected_by_lang, require_langs
from pipeline_steps.models.token_classification import Encoded, collate
from pipeline_steps.train import Trainer, TrainResult, epoch_generator

if TYPE_CHECKING:
    from pipeline_steps.methods import MethodData

log = logging.getLogger(__name__)

WARMUP_PHASE = "warmup"
MAIN_PHASE = "main"

# Paper 001 Table 6 (App. A.1), the warm-up settings per (backbone, task): warm-up epochs Z, inner steps
# K, warm-up step size gamma, inner step size beta. (Its fine-tuning learning rate and batch size are
# set in the config's ``finetune:`` section.)
_STEP_SIZES = {"gamma": 5e-5, "beta": 1e-3}
TABLE6: dict[tuple[str, str], dict[str, float]] = {
    ("mbert", "ner"): {"Z": 100, "K": 5, **_STEP_SIZES},
    ("mbert", "srl"): {"Z": 50, "K": 30, **_STEP_SIZES},
    ("mbert", "absa"): {"Z": 100, "K": 20, **_STEP_SIZES},
    ("xlmr", "ner"): {"Z": 50, "K": 20, **_STEP_SIZES},
    ("xlmr", "srl"): {"Z": 100, "K": 30, **_STEP_SIZES},
    ("xlmr", "absa"): {"Z": 100, "K": 20, **_STEP_SIZES},
}
DEFAULT_ROW = ("mbert", "ner")
SETTING_KEYS = frozenset({"Z", "K", "gamma", "beta", "batch_size", "backbone", "outer"})
OUTER = ("sgd", "adam")


@dataclass(frozen=True)
class WarmupSettings:
    """Z warm-up epochs, K inner SGD steps of size beta per language, warm-up step size gamma, the
    inner mini-batch size, and the optimiser of the base update (sgd: Eq. 7; adam: see above)."""

    Z: int
    K: int
    gamma: float
    beta: float
    batch_size: int
    outer: str = "sgd"


def warmup_settings(method_params: Mapping[str, Any], task: str | None, batch_size: int) -> WarmupSettings:
    """Table 6 defaults (row ``(method_params.backbone or mbert, task or ner)``) overridden by
    ``method_params`` keys Z, K, gamma, beta, batch_size (default: the fine-tuning batch size), outer."""
    unknown = sorted(set(method_params) - SETTING_KEYS - {"lang"})
    if unknown:
        raise ConfigError(f"mtl_ws: unknown method_params {unknown}; expected {sorted(SETTING_KEYS)}")
    row = (str(method_params.get("backbone") or DEFAULT_ROW[0]), str(task or DEFAULT_ROW[1]))
    if row not in TABLE6:
        if row[0] not in {b for b, _ in TABLE6}:
            raise ConfigError(f"mtl_ws: method_params.backbone must be mbert or xlmr (got {row[0]!r})")
        log.info("paper 001 Table 6 has no row for task %r; using the %s/ner row", row[1], row[0])
        row = (row[0], "ner")
    table = TABLE6[row]

    def get(key: str, cast, default: Any):
        value = method_params.get(key)
        if value is None:
            value = default
        try:
            return cast(value)
        except (TypeError, ValueError):
            raise ConfigError(f"mtl_ws: method_params.{key} must be a number (got {value!r})") from None

    s = WarmupSettings(
        Z=get("Z", int, table["Z"]),
        K=get("K", int, table["K"]),
        gamma=get("gamma", float, table["gamma"]),
        beta=get("beta", float, table["beta"]),
        batch_size=get("batch_size", int, batch_size),
        outer=str(method_params.get("outer") or "sgd"),
    )
    if s.outer not in OUTER:
        raise ConfigError(f"mtl_ws: method_params.outer must be one of {OUTER} (got {s.outer!r})")
    for key in ("Z", "K", "batch_size"):
        if getattr(s, key) < 1:
            raise ConfigError(f"mtl_ws: {key} must be at least 1 (got {getattr(s, key)})")
    for key in ("gamma", "beta"):
        value = getattr(s, key)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"mtl_ws: {key} must be a positive number (got {value})")
    return s


def warmup_overrides(s: WarmupSettings) -> dict[str, Any]:
    """TrainConfig overrides under which the loop's optimiser step is exactly Eq. 7 (outer ``sgd``)."""
    return {
        "optimizer": "sgd" if s.outer == "sgd" else "adamw",
        "lr": s.gamma,
        "head_lr": None,
        "epochs": s.Z,
        "schedule": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_grad_norm": None,
        "max_steps": None,
        "eval_steps": 0,
        "eval_after": 0,
    }


class InnerStream(Protocol):
    """The K inner mini-batches of one language in warm-up epoch z."""

    def inner_batches(self, epoch: int, k: int) -> list[Any]: ...


class LanguageStream:
    """Mini-batches of one language's projected set D_l for the inner steps (Eq. 8).

    Warm-up epoch z takes positions [z K B, (z+1) K B) of an endless sequence of seeded permutations of
    D_l (permutation p seeded by (seed, p, crc32(lang))): no sentence repeats before D_l is used up, and
    each epoch's batches depend only on (seed, z), so a resumed warm-up sees the same data.
    """

    def __init__(self, enc: Encoded, batch_size: int, seed: int, lang: str, pad_id: int):
        if enc.labels is None or len(enc) == 0:
            raise ValueError(f"warm-up data of {lang!r} must be labelled and non-empty")
        self.enc, self.batch_size, self.seed, self.lang = enc, int(batch_size), int(seed), lang
        self.pad_id = int(pad_id)
        self.stream = zlib.crc32(lang.encode("utf-8"))
        self._perms: dict[int, list[int]] = {}

    def _perm(self, p: int) -> list[int]:
        if p not in self._perms:
            gen = epoch_generator(self.seed, p, self.stream)
            self._perms[p] = torch.randperm(len(self.enc), generator=gen).tolist()
        return self._perms[p]

    def indices(self, epoch: int, k: int) -> list[list[int]]:
        """Row indices of the ``k`` mini-batches of warm-up epoch ``epoch``."""
        n, start = len(self.enc), epoch * k * self.batch_size
        for old in [p for p in self._perms if p < start // n]:  # passes an epoch >= this one never reads
            del self._perms[old]
        flat = [self._perm(pos // n)[pos % n] for pos in range(start, start + k * self.batch_size)]
        return [flat[i : i + self.batch_size] for i in range(0, len(flat), self.batch_size)]

    def inner_batches(self, epoch: int, k: int) -> list[dict[str, torch.Tensor]]:
        return [collate(self.enc, idx, self.pad_id) for idx in self.indices(epoch, k)]


class WarmupRecipe:
    """Recipe of the warm-up phase (paper 001 Sec. 5.1, Eq. 7-8): one loop step = one warm-up epoch z
    over all target languages."""

    def __init__(
        self,
        streams: Mapping[str, InnerStream],
        k: int,
        beta: float,
        loss: Callable[[torch.nn.Module, Any], torch.Tensor] = tagging_loss,
    ):
        if not streams:
            raise ConfigError("mtl_ws: the warm-up needs at least one target language")
        self.streams, self.k, self.beta, self._loss = dict(streams), int(k), float(beta), loss
        self._work: torch.nn.Module | None = None
        self._inner_opt: torch.optim.Optimizer | None = None

    def num_batches(self, epoch: int) -> int:
        return 1

    def batches(self, epoch: int):
        yield {lang: stream.inner_batches(epoch, self.k) for lang, stream in self.streams.items()}

    def loss(self, model, batch) -> torch.Tensor:
        """The per-language objective of one inner mini-batch."""
        return self._loss(model, batch)

    def _copy(self, model: torch.nn.Module) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The one working copy theta^l (made once, reloaded from theta_{z-1} for each language)."""
        if self._work is None:
            self._work = copy.deepcopy(model)
            trainable = [
                q for p, q in zip(model.parameters(), self._work.parameters(), strict=True) if p.requires_grad
            ]
            self._inner_opt = torch.optim.SGD(trainable, lr=self.beta, momentum=0.0, weight_decay=0.0)
        assert self._inner_opt is not None
        return self._work, self._inner_opt

    def release(self) -> None:
        """Drop the working copy (after the warm-up)."""
        self._work, self._inner_opt = None, None

    def backward(self, model: torch.nn.Module, batch: Mapping[str, list[Any]]) -> float:
        """Eq. 8 for each language in turn, then grad = theta_{z-1} - mean_l theta^l_z (for Eq. 7).

        Returns the mean inner loss (logged)."""
        work, inner_opt = self._copy(model)
        base = list(model.parameters())
        copy_params = list(work.parameters())
        trainable = [(p, q) for p, q in zip(base, copy_params, strict=True) if p.requires_grad]
        n_langs = len(batch)
        for p, _ in trainable:
            p.grad = torch.zeros_like(p)  # running sum (1/(|L|-1)) sum_l (theta_{z-1} - theta^l_z)
        losses: list[float] = []
        for lang, inner in batch.items():
            if len(inner) != self.k:
                raise ValueError(
                    f"warm-up language {lang!r}: got {len(inner)} inner batches, expected {self.k}"
                )
            with torch.no_grad():  # theta^l_{z,0} <- theta_{z-1}
                for q, p in zip(copy_params, base, strict=True):
                    q.copy_(p)
                for qb, pb in zip(work.buffers(), model.buffers(), strict=True):
                    qb.copy_(pb)
            work.train(model.training)
            for k, mini in enumerate(inner):  # Eq. 8: K plain SGD steps of size beta on D_l
                inner_opt.zero_grad(set_to_none=True)
                loss = self._loss(work, mini)
                value = float(loss.detach().item())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"warm-up loss is {value} ({lang}, inner step {k + 1}); lower beta"
                    )
                loss.backward()
                inner_opt.step()
                losses.append(value)
            with torch.no_grad():
                for p, q in trainable:
                    p.grad.add_(p.detach() - q.detach(), alpha=1.0 / n_langs)
        inner_opt.zero_grad(set_to_none=True)
        return sum(losses) / len(losses)


class MultilingualWarmStart:
    """MTL-WS (paper 001 Sec. 5): warm-up phase (Eq. 7-8) on every target language, then ZERO-SHOT
    (Eq. 9, i.e. Eq. 3 on D_src from theta_Z)."""

    name = "mtl_ws"

    def __init__(self, data: MethodData):
        self.data = data

    def settings(self) -> WarmupSettings:
        return warmup_settings(self.data.method_params, self.data.params.get("task"), self.data.batch_size)

    def warmup_recipe(self, s: WarmupSettings) -> WarmupRecipe:
        kind = getattr(getattr(self.data.task, "info", None), "kind", "tagging")
        if kind not in ("tagging", "srl"):
            raise ConfigError(f"mtl_ws: the warm-up is defined for sequence tagging (paper 001), not {kind}")
        langs = all_target_langs(self.data, self.name)
        sets = require_langs(projected_by_lang(self.data.extra), langs, self.name)
        streams = {
            lang: LanguageStream(
                self.data.encode(frame), s.batch_size, self.data.seed, lang, self.data.pad_id
            )
            for lang, frame in sets.items()
        }
        return WarmupRecipe(streams, s.K, s.beta, tagging_loss)

    def fit(self, model, trainer: Trainer) -> TrainResult:
        s = self.settings()
        warm = self.warmup_recipe(s)
        self.data.log.info(
            "mtl_ws warm-up: Z=%d epochs x %d languages (%s) x K=%d SGD steps (beta=%g, batch %d); "
            "gamma=%g (outer %s)",
            s.Z,
            len(warm.streams),
            ", ".join(warm.streams),
            s.K,
            s.beta,
            s.batch_size,
            s.gamma,
            s.outer,
        )
        try:
            trainer.run(WARMUP_PHASE, model, warm, select=False, **warmup_overrides(s))
        finally:
            warm.release()
        return trainer.run(MAIN_PHASE, model, self.data.recipe(self.data.train))
