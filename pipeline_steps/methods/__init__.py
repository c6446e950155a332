"""Adaptation methods: each turns its data into recipes for the shared loop (``pipeline_steps.train``).

A method is built from a ``MethodData`` and has ``fit(model, trainer) -> TrainResult``; it calls
``trainer.run(phase, model, recipe, **overrides)`` once per phase. Paper 001 (Li et al. 2020); every
equation is written out in the docstring of the file named here:

| name | paper | trains on | file |
|---|---|---|---|
| (loss) | Sec. 3, Eq. 3 | per-sentence cross-entropy, recipe ``SupervisedTagging`` | ``supervised.py`` |
| ``zero_shot`` | Sec. 3, Eq. 3 | D_src | ``zero_shot.py`` |
| ``to`` | Sec. 4, Eq. 4 | D_l of one target language l | ``translate_train.py`` |
| ``bilingual`` | Sec. 4, Eq. 5 | D_src + D_l of one target language l | ``translate_train.py`` |
| ``mtl`` | Sec. 4, Eq. 6 | D_src + D_l of every target language | ``translate_train.py`` |
| ``mtl_ws`` | Sec. 5, Eq. 7-9 | warm-up on every D_l, then D_src | ``mtl_ws.py`` |

Paper 003 (xTune, Zheng et al. 2021), the table of its four methods in ``xtune.py``:

| name | paper | trains on | file |
|---|---|---|---|
| ``xtune_r1`` | Sec. 3.1.3 stage 1, Eq. 1 | D_src + its A* views | ``xtune.py`` |
| ``xtune`` | Sec. 3.1.3 stage 2, Eq. 1-2 | D_src + its A views, teacher ``xtune_r1`` | ``xtune.py`` |
| ``xtune_r2`` | Table 4 "R2 only", Eq. 2 | D_src + its A views, teacher ``zero_shot`` | ``xtune.py`` |
| ``xtune_da`` | Table 4 "Data Aug." | D_src + its A* views, no consistency | ``xtune.py`` |

Paper 002 (Yu & Joty 2021):

| name | paper | trains on | file |
|---|---|---|---|
| ``self_training`` | Sec. 4.2 baseline | D + f_lm's own confident pool predictions | ``co_training.py`` |
| ``co_training`` | Sec. 3.1, Alg. 1 | D + f_emb's confident pool predictions | ``co_training.py`` |
| ``lang_adapt`` | Sec. 3.2, Eq. 2-5 | D u D_bi (CE + LA), then D_bi (CE + SA)* | ``language_adaptation.py`` |

(*) A tagger runs the LA phase only, over entity tokens, on D u every projected D_l.

D_l is the projected (pseudo-labelled) translation of the source training set into l. The
per-language methods (``PER_LANGUAGE``) take the language from a method name ``to-de`` /
``bilingual-es`` or from ``method_params["lang"]``. Register new methods in ``METHODS``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.method_names import (  # noqa: F401 -- re-exported
    ALL_TARGETS,
    PER_LANGUAGE,
    expand_methods,
    projected_langs,
    split_method,
)
from pipeline_steps.methods.co_training import CoTraining, SelfTraining
from pipeline_steps.methods.language_adaptation import LanguageAdaptation
from pipeline_steps.methods.mtl_ws import MultilingualWarmStart
from pipeline_steps.methods.supervised import SupervisedTagging
from pipeline_steps.methods.translate_train import Bilingual, Multilingual, TargetOnly
from pipeline_steps.methods.xtune import (
    DataAugmentation,
    ExampleConsistency,
    ModelConsistency,
    ModelConsistencyOnly,
)
from pipeline_steps.methods.zero_shot import ZeroShot
from pipeline_steps.models.token_classification import Encoded, encode

log = logging.getLogger(__name__)


@dataclass
class MethodData:
    """What a method may train on, and how to encode it for the model."""

    train: pd.DataFrame  # source-language gold sentences (schemas.SENTENCES)
    tokenizer: Any
    label2id: dict[str, int]
    batch_size: int
    max_length: int
    seed: int
    extra: list[pd.DataFrame] = field(default_factory=list)  # projected target data (schemas.PROJECTED)
    params: dict[str, Any] = field(default_factory=dict)  # every finetune param, for method-specific keys
    log: logging.Logger = log
    task: Any = None  # pipeline_steps.tasks: how examples become a recipe (None: tagging with label2id)
    augmented: pd.DataFrame | None = None  # augmented views of ``train`` (schemas.AUGMENTED; xTune)
    translations: list[pd.DataFrame] = field(default_factory=list)  # xTune's MT views (task.mt_views)
    teacher: str | None = None  # model folder of a frozen teacher (xTune stage 2)
    pseudo: pd.DataFrame | None = None  # pseudo-labelled pool examples (co-/self-training, paper 002)

    def recipe(self, frame: pd.DataFrame):
        """The supervised recipe of the task over ``frame`` (every method trains through this)."""
        if self.task is not None:
            return self.task.recipe(frame, self.tokenizer, self.batch_size, self.max_length, self.seed)
        return SupervisedTagging(self.encode(frame), self.batch_size, self.seed, self.pad_id)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns a union of training sets keeps (translate-train methods)."""
        return tuple(self.task.columns) if self.task is not None else ("id", "tokens", "tags")

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def method_params(self) -> dict[str, Any]:
        """``params["method_params"]``: the settings of this method (e.g. Z, K, gamma, beta; lang)."""
        value = self.params.get("method_params") or {}
        if not isinstance(value, dict):
            raise ConfigError(f"method_params must be a mapping, got {type(value).__name__}: {value!r}")
        return dict(value)

    @property
    def target_langs(self) -> list[str] | None:
        """``params["target_langs"]`` when given (the config's target languages), else None."""
        langs = self.params.get("target_langs")
        return None if not langs else [str(x) for x in langs]

    @property
    def que(self) -> bool:
        """[QUE] fine-tuning of a tagger (paper 000 Sec. 3.4): the task's ``que`` (False without a task)."""
        return bool(getattr(self.task, "que", False))

    def encode(self, frame: pd.DataFrame, labelled: bool = True) -> Encoded:
        """Sub-word encode a frame with ``tokens`` (and ``tags``) columns; labels on first sub-words
        (after the [QUE] prefix with ``self.que``; SRL: with the predicate marked, ``tasks/srl.py``)."""
        if getattr(self.task, "encodes_frames", False):
            return self.task.encode(frame, self.tokenizer, self.max_length, labelled)
        tags = list(frame["tags"]) if labelled else None
        label2id = self.label2id if labelled else None
        return encode(self.tokenizer, list(frame["tokens"]), tags, label2id, self.max_length, que=self.que)


METHODS: dict[str, Callable[[MethodData], Any]] = {
    "zero_shot": ZeroShot,
    "to": TargetOnly,
    "bilingual": Bilingual,
    "mtl": Multilingual,
    "mtl_ws": MultilingualWarmStart,
    "xtune_r1": ExampleConsistency,
    "xtune": ModelConsistency,
    "xtune_r2": ModelConsistencyOnly,
    "xtune_da": DataAugmentation,
    "self_training": SelfTraining,
    "co_training": CoTraining,
    "lang_adapt": LanguageAdaptation,
}


def make_method(name: str, data: MethodData):
    """The method registered as ``name`` (``to-de`` = ``to`` with ``method_params.lang = "de"``)."""
    base, lang = split_method(name)
    try:
        factory = METHODS[base]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known methods: {sorted(METHODS)}") from None
    if lang is not None:
        mp = data.method_params
        if mp.get("lang") not in (None, lang):
            raise ConfigError(f"method {name!r} but method_params.lang is {mp['lang']!r}")
        data = dataclasses.replace(data, params={**data.params, "method_params": {**mp, "lang": lang}})
    return factory(data)


__all__ = [
    "METHODS",
    "Bilingual",
    "MethodData",
    "Multilingual",
    "MultilingualWarmStart",
    "TargetOnly",
    "SupervisedTagging",
    "ZeroShot",
    "expand_methods",
    "make_method",
    "projected_langs",
    "split_method",
]
