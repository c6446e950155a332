"""Sequence labelling (``task: ner | absa``): what fine-tuning needs of the task.

Labels sit on each word's first sub-word (paper 001 Eq. 1); the objective is the per-sentence
cross-entropy of Eq. 3 (``methods/supervised.py``); model selection uses seqeval entity F1 on the
source dev set. Prediction and evaluation are the ``predict`` and ``evaluate`` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.evaluate import f1 as entity_f1
from pipeline_steps.io import read_artifact
from pipeline_steps.methods.supervised import SupervisedTagging
from pipeline_steps.models.token_classification import encode, load_model, predict_tags
from pipeline_steps.schemas import AUGMENTED, PAIRS, PROJECTED, SENTENCES, Artifact
from pipeline_steps.tags import TagError, check_scheme, label_set, spans_from_tags
from pipeline_steps.tasks import TaskInfo


class TaggingTask:
    """Token classification over the tag set ``labels`` x ``scheme``."""

    examples: Artifact = SENTENCES
    translated: Artifact = PROJECTED  # the projected translations (span-to-span or word-to-word)
    augmented: Artifact = AUGMENTED  # augmented views of the training sentences (xTune)
    mt_views: Artifact = PAIRS  # the translate stage's output, as xTune's machine-translation views
    columns = ("id", "tokens", "tags")  # what a union of training sets keeps (translate-train methods)

    def __init__(self, info: TaskInfo, labels: Sequence[str], scheme: str):
        self.info, self.scheme = info, check_scheme(scheme)
        self.labels = list(labels)
        self.tagset = label_set(self.labels, scheme)
        self.label2id = {t: i for i, t in enumerate(self.tagset)}

    def read_labelled(self, path: str, artifact: Artifact) -> pd.DataFrame:
        """Read ``path``; every row needs well-formed tags of ``scheme`` drawn from the tag set."""
        df = read_artifact(path, artifact)
        allowed = set(self.tagset)
        for row, tags in enumerate(df["tags"]):
            if tags is None:
                raise ArtifactError(path, row, "tags", "training data needs tags (null found)")
            bad = next((t for t in tags if t not in allowed), None)
            if bad is not None:
                raise ArtifactError(
                    path, row, "tags", f"tag {bad!r} is not in the configured label set {sorted(allowed)}"
                )
            try:
                spans_from_tags(tags, self.scheme, strict=True)
            except TagError as exc:
                raise ArtifactError(path, row, "tags", f"word {exc.index}: {exc}") from None
        return df

    def load_model(self, name_or_path: str, seed: int):
        return load_model(name_or_path, self.tagset, seed=seed)

    def recipe(self, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int, seed: int):
        enc = encode(tokenizer, list(frame["tokens"]), list(frame["tags"]), self.label2id, max_length)
        return SupervisedTagging(enc, batch_size, seed, int(tokenizer.pad_token_id))

    def evaluator(
        self, dev: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> Callable[[Any], float]:
        """``model -> entity F1 on dev``, the model-selection criterion of the loop."""
        tokens = [list(t) for t in dev["tokens"]]
        gold = [list(t) for t in dev["tags"]]
        enc = encode(tokenizer, tokens, None, None, max_length)
        lengths = [len(t) for t in tokens]
        pad = int(tokenizer.pad_token_id)

        def evaluate(model) -> float:
            pred = predict_tags(model, enc, lengths, batch_size, pad, desc="dev")
            return entity_f1(gold, pred, self.scheme)

        return evaluate

    def meta(self) -> dict[str, Any]:
        """What the model folder's ``xlt_finetune.json`` records of the task."""
        return {"scheme": self.scheme, "labels": self.labels, "tagset": self.tagset}
