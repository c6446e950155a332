"""Sequence labelling (``task: ner | absa``): what fine-tuning needs of the task.

Labels sit on each word's first sub-word (paper 001 Eq. 1); the objective is the per-sentence
cross-entropy of Eq. 3 (``methods/supervised.py``); model selection uses seqeval entity F1 on the
source dev set. Prediction and evaluation are the ``predict`` and ``evaluate`` steps.

``que=True`` is paper 000's [QUE] fine-tuning (Sec. 3.4) for a tagger: Eq. 10 with an empty question,
``[CLS] [QUE] [SEP] sentence [SEP]`` (``models/token_classification.py``), the word labels as usual and
no pointer head. The tokenizer learns ``[QUE]`` when the task encodes with it, the model gets an
embedding row for it (``load_model``), and the fine-tuned folder's ``xlt_finetune.json`` records
``"que_token": true`` so that predicting with the other setting fails (``check_que_meta``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.evaluate import f1 as entity_f1
from pipeline_steps.io import read_artifact
from pipeline_steps.methods.supervised import SupervisedTagging
from pipeline_steps.models.token_classification import (
    encode,
    load_model,
    load_tokenizer,
    predict_tags,
)
from pipeline_steps.pretrain.que import que_embeddings
from pipeline_steps.schemas import AUGMENTED, PAIRS, PROJECTED, SENTENCES, Artifact
from pipeline_steps.tags import TagError, check_scheme, label_set, spans_from_tags
from pipeline_steps.tasks import TaskInfo


class TaggingTask:
    """Token classification over the tag set ``labels`` x ``scheme``; ``que``: [QUE] fine-tuning (paper
    000 Sec. 3.4, see the module docstring)."""

    examples: Artifact = SENTENCES
    translated: Artifact = PROJECTED  # the projected translations (span-to-span or word-to-word)
    augmented: Artifact = AUGMENTED  # augmented views of the training sentences (xTune)
    mt_views: Artifact = PAIRS  # the translate stage's output, as xTune's machine-translation views
    columns = ("id", "tokens", "tags")  # what a union of training sets keeps (translate-train methods)

    def __init__(self, info: TaskInfo, labels: Sequence[str], scheme: str, que: bool = False):
        self.info, self.scheme = info, check_scheme(scheme)
        self.que = bool(que)
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
        """The tagger over the tag set; with ``que`` it has an input-embedding row for ``[QUE]`` (the
        folder's tokenizer learns it; the matrix is resized when smaller). ConfigError when the folder
        is a tagger fine-tuned the other way (``check_que_meta``)."""
        check_que_meta(name_or_path, self.que)
        model = load_model(name_or_path, self.tagset, seed=seed)
        if self.que:
            que_embeddings(model, load_tokenizer(name_or_path))
        return model

    def encode(self, tokens, tags, tokenizer, max_length: int):
        """``models.token_classification.encode`` of word lists (labelled when ``tags`` is given), after
        the [QUE] prefix with ``que`` (``tokenizer`` then learns ``[QUE]``, idempotent)."""
        label2id = None if tags is None else self.label2id
        return encode(tokenizer, tokens, tags, label2id, max_length, que=self.que)

    def recipe(self, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int, seed: int):
        enc = self.encode(list(frame["tokens"]), list(frame["tags"]), tokenizer, max_length)
        return SupervisedTagging(enc, batch_size, seed, int(tokenizer.pad_token_id))

    def evaluator(
        self, dev: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> Callable[[Any], float]:
        """``model -> entity F1 on dev``, the model-selection criterion of the loop."""
        tokens = [list(t) for t in dev["tokens"]]
        gold = [list(t) for t in dev["tags"]]
        enc = self.encode(tokens, None, tokenizer, max_length)
        lengths = [len(t) for t in tokens]
        pad = int(tokenizer.pad_token_id)

        def evaluate(model) -> float:
            pred = predict_tags(model, enc, lengths, batch_size, pad, desc="dev")
            return entity_f1(gold, pred, self.scheme)

        return evaluate

    def meta(self) -> dict[str, Any]:
        """What the model folder's ``xlt_finetune.json`` records of the task (``que_token`` only when on:
        a run without it keeps the fingerprint it had before the switch existed)."""
        meta: dict[str, Any] = {"scheme": self.scheme, "labels": self.labels, "tagset": self.tagset}
        return {**meta, "que_token": True} if self.que else meta


def check_que_meta(model_dir: str, que: bool) -> None:
    """ConfigError naming ``model.que_token`` when ``model_dir`` holds a tagger fine-tuned with [QUE]
    (``"que_token": true`` in its ``xlt_finetune.json``) and ``que`` is off, or fine-tuned without it and
    ``que`` is on; nothing for a folder without that file (a base model)."""
    from pipeline_steps.finetune import META_FILE

    path = Path(model_dir) / META_FILE
    if not path.is_file():
        return
    try:
        trained = bool(json.loads(path.read_text(encoding="utf-8")).get("que_token", False))
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read the fine-tuning record: {exc}") from None
    if trained and not que:
        raise ConfigError(
            f"{model_dir} is a tagger fine-tuned with [QUE] ([CLS] [QUE] [SEP] sentence [SEP]; "
            f"{META_FILE}: que_token true), but que_token is off: turn model.que_token on for it"
        )
    if que and not trained:
        raise ConfigError(
            f"{model_dir} is a tagger fine-tuned without [QUE] ({META_FILE} has no que_token), but "
            "que_token is on: turn model.que_token off for it"
        )
