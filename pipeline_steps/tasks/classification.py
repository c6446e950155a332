"""Sentence(-pair) classification (``task: cls``: XNLI, sentiment, SIB-200 topics).

The model is a sequence classification head over the encoder's first token; a pair (premise,
hypothesis) is fed to the tokenizer as one pair. The objective is cross-entropy; model selection uses
accuracy on the source dev set; the test sets are scored by accuracy and macro-F1
(``metrics/classification.py``). Translated training examples keep the label of their source example
(translate-train for classification needs no projection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact
from pipeline_steps.metrics.classification import accuracy, classification_scores
from pipeline_steps.models.sequence_classification import (
    ClsEncoded,
    cls_loss,
    collate,
    encode_cls,
    load_cls_model,
    predict_cls,
)
from pipeline_steps.schemas import AUGMENTED_EXAMPLES, CLS_EXAMPLES, CLS_PREDICTIONS, Artifact
from pipeline_steps.tasks import TaskInfo
from pipeline_steps.train import ShuffledBatches


class SupervisedClassification(ShuffledBatches):
    """Recipe: shuffled mini-batches of labelled examples (order seeded by (seed, epoch)), cross-entropy."""

    data_parallel = True  # the loss is a mean over examples (train/distributed.py)

    def __init__(self, enc: ClsEncoded, batch_size: int, seed: int):
        if enc.labels is None:
            raise ValueError("SupervisedClassification needs labelled encodings")
        super().__init__(len(enc), batch_size, seed, "SupervisedClassification")
        self.enc = enc

    def collate(self, indices):
        return collate(self.enc, indices)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.enc.input_ids]

    def loss(self, model, batch) -> torch.Tensor:
        return cls_loss(model, batch)


class ClassificationTask:
    """Sequence classification over the configured label names."""

    examples: Artifact = CLS_EXAMPLES
    translated: Artifact = CLS_EXAMPLES  # translated examples with their source labels
    augmented: Artifact = AUGMENTED_EXAMPLES  # augmented views of the training examples (xTune)
    mt_views: Artifact = CLS_EXAMPLES  # the translate stage's output, as xTune's machine-translation views
    predictions: Artifact = CLS_PREDICTIONS
    columns = ("id", "text_a", "text_b", "label")

    def __init__(self, info: TaskInfo, labels: Sequence[str]):
        self.info, self.labels = info, list(labels)
        self.label2id = {name: i for i, name in enumerate(self.labels)}

    def read_labelled(self, path: str, artifact: Artifact) -> pd.DataFrame:
        """Read ``path``; every row needs a label of the configured set."""
        df = read_artifact(path, artifact)
        for row, label in enumerate(df["label"]):
            if label is None:
                raise ArtifactError(path, row, "label", "training data needs labels (null found)")
            if label not in self.label2id:
                raise ArtifactError(path, row, "label", f"{label!r} is not in the labels {self.labels}")
        return df

    def load_model(self, name_or_path: str, seed: int):
        return load_cls_model(name_or_path, self.labels, seed=seed)

    def encode(self, frame: pd.DataFrame, tokenizer, max_length: int, labelled: bool = True) -> ClsEncoded:
        text_b = list(frame["text_b"]) if frame["text_b"].notna().any() else None
        labels = [self.label2id[x] for x in frame["label"]] if labelled else None
        return encode_cls(tokenizer, list(frame["text_a"]), text_b, labels, max_length)

    def recipe(self, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int, seed: int):
        return SupervisedClassification(self.encode(frame, tokenizer, max_length), batch_size, seed)

    def predict(self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int):
        """(predicted label names, probability of each prediction)."""
        enc = self.encode(frame, tokenizer, max_length, labelled=False)
        ids, probs = predict_cls(model, enc, batch_size)
        names = [self.labels[i] for i in ids]
        return names, probs[np.arange(len(ids)), ids] if len(ids) else np.zeros(0, dtype=np.float32)

    def evaluator(
        self, dev: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> Callable[[Any], float]:
        """``model -> accuracy on dev``, the model-selection criterion of the loop."""
        gold = list(dev["label"])

        def evaluate(model) -> float:
            return accuracy(gold, self.predict(model, dev, tokenizer, batch_size, max_length)[0])

        return evaluate

    def predictions_frame(
        self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> pd.DataFrame:
        """CLS_PREDICTIONS rows (without method and seed) of every example of ``frame``."""
        names, probs = self.predict(model, frame, tokenizer, batch_size, max_length)
        return pd.DataFrame(
            {
                "id": frame["id"],
                "lang": frame["lang"],
                "gold": frame["label"],
                "pred": names,
                "score": np.asarray(probs, dtype=np.float64),
            }
        )

    def scores(
        self, part: pd.DataFrame, lang: str, variant: str | None = None
    ) -> list[tuple[str, float, int]]:
        """(metric, value, support) of one language's predictions: accuracy and macro-F1."""
        s = classification_scores(list(part["gold"]), list(part["pred"]), self.labels)
        return [("accuracy", s["accuracy"], len(part)), ("macro_f1", s["macro_f1"], len(part))]

    def meta(self) -> dict[str, Any]:
        return {"labels": self.labels}
