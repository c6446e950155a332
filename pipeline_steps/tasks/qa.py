"""Extractive question answering (``task: qa``: TyDiQA-GoldP, XQuAD, MLQA in SQuAD v1.1 format).

Contexts longer than ``max_length`` are cut into windows of ``doc_stride`` overlap; the model predicts
start and end logits per sub-word and an answer is decoded over all windows of an example (n-best
starts and ends, at most ``max_answer_length`` sub-words, inside the context only;
``models/question_answering.py``). The objective is the mean start/end cross-entropy; model selection
uses SQuAD F1 on the source dev set; test sets are scored by SQuAD v1.1 EM/F1, or MLQA's normalisation
per language (``metrics/qa.py``).

``que=True`` is paper 000's "[QUE] fine-tuning" (Sec. 3.4, Eq. 10): `` [QUE]`` is appended to every
question (``X̄ = [CLS] Q [QUE] [SEP] P [SEP]``) and the model is ``models/que_qa.QuePointerQA``, which
points at the answer from the [QUE] representation with the pre-trained ``W_s``, ``W_e``. A literal
``[QUE]`` in the data is written ``[que]`` (same length, so character offsets are unchanged) so that the
appended one is the only ``[QUE]`` of a window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.metrics.qa import squad_scores
from pipeline_steps.models.que_qa import QUE_MARKER_FILE, QuePointerQA, is_que_model_dir
from pipeline_steps.models.question_answering import (
    QAAnswer,
    SupervisedQA,
    decode_answers,
    encode_qa,
    load_qa_model,
    predict_qa,
)
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token
from pipeline_steps.schemas import AUGMENTED_QA, QA_EXAMPLES, QA_PREDICTIONS, Artifact
from pipeline_steps.tasks import TaskInfo


class QATask:
    """Span extraction with the config's ``qa`` settings (doc_stride, max_answer_length, n_best); ``que``:
    [QUE] fine-tuning (paper 000 Sec. 3.4, see the module docstring)."""

    examples: Artifact = QA_EXAMPLES
    translated: Artifact = QA_EXAMPLES  # translated examples with the answer span projected
    augmented: Artifact = AUGMENTED_QA  # code-switched views of the training questions (xTune)
    mt_views: Artifact | None = None  # no machine-translation views for QA yet
    predictions: Artifact = QA_PREDICTIONS
    columns = ("id", "lang", "title", "context", "question", "answer_texts", "answer_starts")

    def __init__(
        self, info: TaskInfo, doc_stride: int, max_answer_length: int, n_best: int, que: bool = False
    ):
        self.info = info
        self.doc_stride, self.max_answer_length, self.n_best = doc_stride, max_answer_length, n_best
        self.que = bool(que)

    def read_labelled(self, path: str, artifact: Artifact) -> pd.DataFrame:
        """Read ``path``; every question needs at least one answer."""
        df = read_artifact(path, artifact)
        for row, answers in enumerate(df["answer_texts"]):
            if not answers:
                raise ArtifactError(path, row, "answer_texts", "training questions need an answer")
        return df

    def load_model(self, name_or_path: str, seed: int):
        """``QuePointerQA`` with ``que``, else ``AutoModelForQuestionAnswering`` (``load_qa_model``).
        ConfigError when the folder was fine-tuned the other way: a [QUE] model (``xlt_que.json``) read
        without [QUE] in its input, or a fine-tuned standard QA model (``xlt_finetune.json``) with it,
        would be silently wrong."""
        from pipeline_steps.finetune import META_FILE as FINETUNE_META

        marked = is_que_model_dir(name_or_path)
        if self.que:
            if not marked and (Path(name_or_path) / FINETUNE_META).is_file():
                raise ConfigError(
                    f"{name_or_path} is a QA model fine-tuned without [QUE] (no {QUE_MARKER_FILE}), but "
                    "que_token is on: its span head would be replaced by a fresh [QUE] pointer; turn "
                    "model.que_token off for it"
                )
            return QuePointerQA.from_pretrained(name_or_path, seed=seed)
        if marked:
            raise ConfigError(
                f"{name_or_path} is a [QUE] QA model ({QUE_MARKER_FILE}), but que_token is off: it needs "
                f"{QUE_TOKEN} after every question; turn model.que_token on for it"
            )
        return load_qa_model(name_or_path, seed=seed)

    def with_que(self, frame: pd.DataFrame, tokenizer) -> pd.DataFrame:
        """With ``que``: a copy of ``frame`` whose questions end with `` [QUE]`` (Eq. 10), any literal
        ``[QUE]`` in the questions, contexts and answer texts written ``[que]`` (same length); the
        tokenizer learns ``[QUE]`` (idempotent). Without: ``frame`` itself."""
        if not self.que:
            return frame
        add_que_token(tokenizer)
        out = frame.copy()
        out["question"] = [_escape_que(q) + " " + QUE_TOKEN for q in frame["question"]]
        out["context"] = [_escape_que(c) for c in frame["context"]]
        if "answer_texts" in frame.columns:
            out["answer_texts"] = [[_escape_que(a) for a in texts] for texts in frame["answer_texts"]]
        return out

    def features(self, frame: pd.DataFrame, tokenizer, max_length: int, labelled: bool = True):
        frame = self.with_que(frame, tokenizer)
        answers: dict[str, Any] = {}
        if labelled:
            answers = {
                "answer_starts": list(frame["answer_starts"]),
                "answer_texts": list(frame["answer_texts"]),
            }
        return encode_qa(
            tokenizer,
            list(frame["question"]),
            list(frame["context"]),
            max_length=max_length,
            doc_stride=self.doc_stride,
            **answers,
        )

    def recipe(self, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int, seed: int):
        return SupervisedQA(self.features(frame, tokenizer, max_length), batch_size, seed)

    def predict(
        self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> list[QAAnswer]:
        """The best answer of every question (over all windows of its context)."""
        features = self.features(frame, tokenizer, max_length, labelled=False)
        start, end = predict_qa(model, features, batch_size)
        return decode_answers(
            start,
            end,
            features,
            list(frame["context"]),
            n_best=self.n_best,
            max_answer_length=self.max_answer_length,
        )

    def evaluator(
        self, dev: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> Callable[[Any], float]:
        """``model -> SQuAD F1 on dev``, the model-selection criterion of the loop."""
        golds = [list(a) for a in dev["answer_texts"]]

        def evaluate(model) -> float:
            answers = self.predict(model, dev, tokenizer, batch_size, max_length)
            return float(squad_scores([a.text for a in answers], golds)["f1"])

        return evaluate

    def predictions_frame(
        self, model, frame: pd.DataFrame, tokenizer, batch_size: int, max_length: int
    ) -> pd.DataFrame:
        """QA_PREDICTIONS rows (without method and seed) of every question of ``frame``."""
        answers = self.predict(model, frame, tokenizer, batch_size, max_length)
        return pd.DataFrame(
            {
                "id": frame["id"],
                "lang": frame["lang"],
                "gold_texts": [list(a) for a in frame["answer_texts"]],
                "pred_text": [a.text for a in answers],
                "pred_start": [int(a.start) for a in answers],
                "score": [float(a.score) for a in answers],
            }
        )

    def scores(
        self, part: pd.DataFrame, lang: str, variant: str | None = None
    ) -> list[tuple[str, float, int]]:
        """(metric, value, support) of one language's predictions: SQuAD v1.1 (or MLQA) F1 and EM."""
        s = squad_scores(
            list(part["pred_text"]), [list(g) for g in part["gold_texts"]], lang, variant or "squad"
        )
        return [("f1", float(s["f1"]), int(s["n"])), ("em", float(s["em"]), int(s["n"]))]

    def meta(self) -> dict[str, Any]:
        """The settings a model was trained with (``que_token`` only when on: a run without it keeps
        the checkpoint fingerprint it had before the switch existed)."""
        meta: dict[str, Any] = {
            "doc_stride": self.doc_stride,
            "max_answer_length": self.max_answer_length,
            "n_best": self.n_best,
        }
        return {**meta, "que_token": True} if self.que else meta


def _escape_que(text: Any) -> str:
    """``text`` with every literal ``[QUE]`` written ``[que]`` (same length)."""
    return str(text).replace(QUE_TOKEN, QUE_TOKEN.lower())
