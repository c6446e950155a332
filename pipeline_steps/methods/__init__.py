"""Adaptation methods: each turns its data into recipes for the shared loop (``pipeline_steps.train``).

A method is built from a ``MethodData`` and has ``fit(model, trainer) -> TrainResult``; it calls
``trainer.run(phase, model, recipe, **overrides)`` once per phase (one phase for ZERO-SHOT; MTL-WS
would run a warm-up phase with ``optimizer="sgd"`` and a recipe whose ``backward`` performs Eq. 7-8,
then a ZERO-SHOT phase). Register new methods in ``METHODS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.methods.zero_shot import SupervisedTagging, ZeroShot
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

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def encode(self, frame: pd.DataFrame, labelled: bool = True) -> Encoded:
        """Sub-word encode a frame with ``tokens`` (and ``tags``) columns; labels on first sub-words."""
        tags = list(frame["tags"]) if labelled else None
        return encode(
            self.tokenizer, list(frame["tokens"]), tags, self.label2id if labelled else None, self.max_length
        )


METHODS: dict[str, Callable[[MethodData], Any]] = {"zero_shot": ZeroShot}


def make_method(name: str, data: MethodData):
    """The method registered as ``name``, bound to ``data``."""
    try:
        factory = METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known methods: {sorted(METHODS)}") from None
    return factory(data)


__all__ = ["METHODS", "MethodData", "SupervisedTagging", "ZeroShot", "make_method"]
