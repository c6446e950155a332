"""Dependency-based SRL (``task: srl``; paper 001 Sec. 6.1-6.2): argument heads of a given predicate.

An example is one (sentence, predicate) of ``srl_instances`` (``formats/upb.py``). The model is a
token-classification head over the encoder, as for NER, with the predicate marked by marker words
(``models/predicate_marking.py``; with ``srl.upos`` each word's UPOS rides on the token-type ids); the
tags are OI (paper 001: "OI for SRL", after Marcheggiani et al.
2017): ``I-<role>`` on each argument's syntactic head, O elsewhere, so the tag set is O plus one tag
per role of ``labels``. The objective is the per-sentence cross-entropy of paper 001 Eq. 3 (the
tagger's ``SupervisedTagging``); model selection and the test scores use labelled argument F1 over
(predicate, head, role) triples (``metrics/srl.py``). Predicate senses are not predicted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact
from pipeline_steps.methods.supervised import SupervisedTagging
from pipeline_steps.metrics.srl import argument_f1
from pipeline_steps.models.predicate_marking import DEFAULT_MARKERS, enable_upos, encode_marked
from pipeline_steps.models.token_classification import load_model, predict_tags
from pipeline_steps.schemas import SRL_INSTANCES, SRL_PREDICTIONS, Artifact
from pipeline_steps.tags import OUTSIDE
from pipeline_steps.tasks import TaskInfo


def srl_tagset(roles: Sequence[str]) -> list[str]:
    """O, then ``I-<role>`` for each role in the given order."""
    return [OUTSIDE, *(f"I-{r}" for r in roles)]


class SrlTask:
    """Argument-head tagging of a marked predicate over the roles ``labels``."""

    examples: Artifact = SRL_INSTANCES
    translated: Artifact = SRL_INSTANCES  # projected SRL instances (translate-train)
    augmented: Artifact | None = None  # no augmented views (xTune) for SRL
    mt_views: Artifact | None = None
    predictions: Artifact = SRL_PREDICTIONS
    columns = ("id", "tokens", "upos", "predicate", "tags")  # what a union of training sets keeps
    encodes_frames = True  # MethodData.encode hands whole frames (with predicates) to ``encode``

    def __init__(
        self,
        info: TaskInfo,
        labels: Sequence[str],
        markers: Sequence[str] | None = None,
        upos: bool = False,
    ):
        """``markers``: the words around the predicate (None: ``DEFAULT_MARKERS``); ``upos``: feed UPOS."""
        self.info, self.labels, self.upos = info, list(labels), bool(upos)
        self.markers = tuple(markers or DEFAULT_MARKERS)
        self.tagset = srl_tagset(self.labels)
        self.label2id = {t: i for i, t in enumerate(self.tagset)}

    def read_labelled(self, path: str, artifact: Artifact) -> pd.DataFrame:
        """Read ``path``; every instance needs tags of the tag set and a predicate inside its sentence."""
        df = read_artifact(path, artifact)
        for row, (tags, p) in enumerate(zip(df["tags"], df["predicate"], strict=True)):
            if tags is None:
                raise ArtifactError(path, row, "tags", "training data needs tags (null found)")
            bad = next((t for t in tags if t not in self.label2id), None)
            if bad is not None:
                raise ArtifactError(path, row, "tags", f"tag {bad!r} is not in the tag set {self.tagset}")
            if not 0 <= int(p) < len(tags):
                raise ArtifactError(path, row, "predicate", f"word {p} of a {len(tags)}-word sentence")
        return df

    def load_model(self, name_or_path: str, seed: int):
        """The tagger over the tag set; with ``upos`` its token-type table holds one row per UPOS
        (``enable_upos``)."""
        model = load_model(name_or_path, self.tagset, seed=seed)
        if self.upos:
            enable_upos(model)
        return model

    def encode(self, frame: pd.DataFrame, tokenizer, max_length: int, labelled: bool = True):
        tags = [list(t) for t in frame["tags"]] if labelled else None
        return encode_marked(
            tokenizer,
            [list(t) for t in frame["tokens"]],
            [int(p) for p in frame["predicate"]],
            tags,
            self.label2id if labelled else None,
            max_length,
            self.markers,
            upos=[list(u) for u in frame["upos"]] if self.upos else None,
        )

    def recipe(self, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int, seed: int):
        return SupervisedTagging(
            self.encode(frame, tokenizer, max_length), batch_size, seed, int(tokenizer.pad_token_id)
        )

    def predict(
        self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> list[list[str]]:
        enc = self.encode(frame, tokenizer, max_length, labelled=False)
        lengths = [len(t) for t in frame["tokens"]]
        return predict_tags(model, enc, lengths, batch_size, int(tokenizer.pad_token_id))

    def evaluator(
        self, dev: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> Callable[[Any], float]:
        """``model -> labelled argument F1 on dev``, the model-selection criterion of the loop."""
        gold = [list(t) for t in dev["tags"]]
        enc = self.encode(dev, tokenizer, max_length, labelled=False)
        lengths = [len(t) for t in gold]
        pad = int(tokenizer.pad_token_id)

        def evaluate(model) -> float:
            return argument_f1(gold, predict_tags(model, enc, lengths, batch_size, pad, desc="dev")).f1

        return evaluate

    def predictions_frame(
        self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> pd.DataFrame:
        """SRL_PREDICTIONS rows (without method and seed) of every instance of ``frame``."""
        pred = self.predict(model, frame, tokenizer, batch_size, max_length)
        return pd.DataFrame(
            {
                "id": frame["id"],
                "lang": frame["lang"],
                "sentence_id": frame["sentence_id"],
                "predicate": frame["predicate"],
                "tokens": frame["tokens"],
                "gold": frame["tags"],
                "pred": pred,
            }
        )

    def scores(
        self, part: pd.DataFrame, lang: str, variant: str | None = None
    ) -> list[tuple[str, float, int]]:
        """(metric, value, support) of one language: argument F1 and recall (support: gold arguments),
        precision (support: predicted arguments)."""
        s = argument_f1([list(t) for t in part["gold"]], [list(t) for t in part["pred"]])
        return [
            ("f1", s.f1, s.n_gold),
            ("precision", s.precision, s.n_predicted),
            ("recall", s.recall, s.n_gold),
        ]

    def meta(self) -> dict[str, Any]:
        meta = {"labels": self.labels, "tagset": self.tagset, "markers": list(self.markers)}
        return {**meta, "upos": True} if self.upos else meta
