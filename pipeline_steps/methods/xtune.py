"""xTune (paper 003, Zheng et al. 2021) as DAG methods for a tagger or a classifier: stage 1, the
two-stage method and the paper's ablations. The losses and recipes are in ``xtune_tagging.py`` and
``xtune_classification.py`` (equations there); this file picks the recipe, the augmented views and the
teacher of each method:

| method | paper | stage | loss | teacher |
|---|---|---|---|---|
| ``xtune_r1`` | Sec. 3.1.3 stage 1; Table 4/6 "R1 only" | 1 | task(D) + lambda1 R1(D, A*) | - |
| ``xtune`` | Sec. 3.1.3, Fig. 1(c) | 2 | task(D u A(D)) + lambda1 R1 + lambda2 R2 | ``xtune_r1`` |
| ``xtune_r2`` | Table 4/6 "R2 only" | 2 | task(D u A(D)) + lambda2 R2 | ``zero_shot`` |
| ``xtune_da`` | Table 4 "Data Aug." | 1 | task(D) + task(A*(D)) | - |

The stage-2 student restarts from the pretrained encoder (the finetune step always loads it), as the
official code does; the teacher is the finished model of another DAG job, frozen. The settings
(``method_params.xtune``, resolved per method by ``xtune_config.settings``): lambda1, lambda2, hard_r2,
stop_gradient, reduction, stage1_augment (A*), stage2_augment (A = A'). Stage 2's R1 pairs each original
with its A-view (the official code pairs each row of D u A(D) with an A'-resampling of it; with A = A'
= subword sampling that is the same comparison once per original); see ``ModelConsistencyTagging``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.methods.xtune_classification import (
    ExampleConsistencyClassification,
    ModelConsistencyClassification,
)
from pipeline_steps.methods.xtune_qa import ExampleConsistencyQA, ModelConsistencyQA
from pipeline_steps.methods.xtune_tagging import ExampleConsistencyTagging, ModelConsistencyTagging
from pipeline_steps.models.token_classification import load_model
from pipeline_steps.train import Trainer, TrainResult

if TYPE_CHECKING:
    from pipeline_steps.methods import MethodData


def views_of(data: MethodData, kind: str) -> pd.DataFrame:
    """The augmented rows of ``kind`` (schemas.AUGMENTED) among the method's inputs; for ``noise``, the
    training sentences themselves (the noise is added to their embeddings in the forward pass)."""
    if kind == "mt":
        return mt_views(data)
    if kind == "noise":
        train = data.train
        return pd.DataFrame(
            {
                "src_id": train["id"],
                "view": 0,
                "tokens": train["tokens"],
                "tags": train["tags"],
                "pieces": None,
                "kind": kind,
            }
        )
    frame = data.augmented
    rows = None if frame is None else frame[frame["kind"] == kind]
    if rows is None or not len(rows):
        have = [] if frame is None else sorted(frame["kind"].unique())
        raise ConfigError(
            f"xTune needs the {kind!r} augmentation of the training set (input.augmented: {have or 'none'}; "
            f"rule augment writes augment/{kind}.<seed>.parquet)"
        )
    return rows.reset_index(drop=True)


def mt_views(data: MethodData) -> pd.DataFrame:
    """Machine-translation views (paper 003 Sec. 3.2.4), one per translated language (``view`` = its
    index): a tagger's are the translate stage's pairs, unlabelled (``tags`` null: R2 only); a classifier's
    the translated examples, which keep their source example's label. An example the MT system dropped
    (an empty translation) is its own view in that language."""
    if not data.translations:
        raise ConfigError("xTune mt views need the translations (input.translations; translate.langs)")
    train, rows = data.train, []
    for view, frame in enumerate(data.translations):
        if "tgt_tokens" in frame.columns:  # tagging: schemas.PAIRS
            by_id = dict(zip(frame["src_id"], frame["tgt_tokens"], strict=True))
            for sid, tokens in zip(train["id"], train["tokens"], strict=True):
                rows.append({"src_id": sid, "view": view, "tokens": by_id.get(sid, tokens), "tags": None})
        else:  # classification: schemas.CLS_EXAMPLES, ``source`` = the source example's id
            by_id = {
                s: (a, b) for s, a, b in zip(frame["source"], frame["text_a"], frame["text_b"], strict=True)
            }
            for sid, a, b in zip(train["id"], train["text_a"], train["text_b"], strict=True):
                text_a, text_b = by_id.get(sid, (a, b))
                rows.append({"src_id": sid, "view": view, "text_a": text_a, "text_b": text_b})
    return pd.DataFrame(rows).assign(pieces=None, kind="mt")


def noise_std(settings: dict, kind: str) -> float:
    """The Gaussian noise of the views of ``kind`` (0 unless ``noise``; std from ``augment.noise``)."""
    if kind != "noise":
        return 0.0
    if "noise_std" not in settings:
        raise ConfigError("xTune with Gaussian noise needs method_params.noise_std (augment.noise.std)")
    return float(settings["noise_std"])


# (stage-1 recipe, stage-2 recipe) per kind of task
RECIPES = {
    "tagging": (ExampleConsistencyTagging, ModelConsistencyTagging),
    "classification": (ExampleConsistencyClassification, ModelConsistencyClassification),
    "qa": (ExampleConsistencyQA, ModelConsistencyQA),
}


def task_kind(data: MethodData, name: str) -> str:
    """The data's kind of task (``tagging`` without a task object)."""
    kind = "tagging" if data.task is None else data.task.info.kind
    if kind not in RECIPES:
        raise ConfigError(f"{name}: not built for {kind} ({', '.join(RECIPES)} are)")
    return kind


def build_recipe(data: MethodData, task: str, stage: int, views, teacher=None, **options):
    """The stage-1 or stage-2 recipe of the task's kind over ``views`` (the task's signature: taggers and
    classifiers take the label map, QA the window stride)."""
    recipe = RECIPES[task][stage - 1]
    d = data
    if task == "qa" and getattr(d.task, "que", False):  # [QUE] fine-tuning (paper 000): on every view too
        train, views = d.task.with_que(d.train, d.tokenizer), [d.task.with_que(v, d.tokenizer) for v in views]
    else:
        train = d.train
    if task == "tagging" and getattr(d.task, "que", False):  # [QUE] prefix on the original and views
        options["que"] = True
    lead = (train, views) if stage == 1 else (train, views, teacher)
    if task == "qa":  # R1 reduces as the official span bucketing, R2 is soft KL (xtune_qa.py)
        if options.pop("hard", False):
            raise ConfigError("xTune QA: R2 is soft KL only (method_params.xtune.hard_r2: false)")
        if options.pop("reduction", "mean") != "mean":
            raise ConfigError("xTune QA: method_params.xtune.reduction must be mean (the official reduction)")
        stride = d.task.doc_stride
        return recipe.from_frames(*lead, d.tokenizer, d.max_length, stride, d.batch_size, d.seed, **options)
    return recipe.from_frames(*lead, d.tokenizer, d.label2id, d.max_length, d.batch_size, d.seed, **options)


def recipe_inputs(data: MethodData, kind: str, task: str) -> tuple[pd.DataFrame | list[pd.DataFrame], dict]:
    """The views argument of the task's recipe (tagging: the AUGMENTED rows; classification: one frame
    per view number) and its noise option."""
    std = noise_std(data.method_params, kind)
    if task == "tagging":
        return views_of(data, kind), {"noise_std": std}
    if kind == "noise":
        raise ConfigError(f"xTune: Gaussian noise is built for taggers only so far (not {task})")
    rows = views_of(data, kind)
    return [part.reset_index(drop=True) for _, part in rows.groupby("view", sort=True)], {}


def load_teacher(data: MethodData):
    """The teacher's model folder, loaded with the task's head (its trained head is kept: same labels)."""
    if data.task is not None:
        return data.task.load_model(str(data.teacher), data.seed)
    return load_model(str(data.teacher), list(data.label2id), seed=data.seed)


class _XTuneMethod:
    """One training phase on the recipe of the task's kind (``RECIPES``)."""

    name = "xtune"

    def __init__(self, data: MethodData):
        self.task = task_kind(data, self.name)
        self.data = data
        self.settings = data.method_params

    def recipe(self):
        raise NotImplementedError

    def fit(self, model, trainer: Trainer) -> TrainResult:
        return trainer.run("main", model, self.recipe())


class ExampleConsistency(_XTuneMethod):
    """``xtune_r1``: xTune stage 1 -- task loss on D plus lambda1 * R1 between each sentence and its
    A*-view (Eq. 1). Its best model is the frozen teacher of ``xtune``."""

    name = "xtune_r1"
    data_augmentation_only = False

    def recipe(self):
        s, d = self.settings, self.data
        views, options = recipe_inputs(d, s["stage1_augment"], self.task)
        options.update(lambda1=s["lambda1"], stop_gradient=s["stop_gradient"], reduction=s["reduction"])
        if self.data_augmentation_only:
            options.update(lambda1=0.0, task_loss_on_view=True)
        return build_recipe(d, self.task, 1, views, **options)


class DataAugmentation(ExampleConsistency):
    """``xtune_da``: the "Data Aug." rows of Table 4 -- conventional fine-tuning on D and A*(D), no
    consistency term (the stage-1 recipe with lambda1 = 0 and the task loss on the view)."""

    name = "xtune_da"
    data_augmentation_only = True


class ModelConsistency(_XTuneMethod):
    """``xtune``: xTune stage 2 -- a fresh student on D u A(D) with lambda1 * R1 + lambda2 * R2 (Eq. 2)
    against the frozen teacher (the ``xtune_r1`` model). ``use_r1 = False`` gives ``xtune_r2``."""

    name = "xtune"
    use_r1 = True

    def __init__(self, data: MethodData):
        super().__init__(data)
        if not data.teacher:
            raise ConfigError(f"{self.name} needs its teacher model (input.teacher)")

    def recipe(self):
        s, d = self.settings, self.data
        views, options = recipe_inputs(d, s["stage2_augment"], self.task)
        return build_recipe(
            d,
            self.task,
            2,
            views,
            load_teacher(d),
            lambda1=s["lambda1"],
            lambda2=s["lambda2"],
            hard=s["hard_r2"],
            stop_gradient=s["stop_gradient"],
            reduction=s["reduction"],
            use_r1=self.use_r1,
            **options,
        )


class ModelConsistencyOnly(ModelConsistency):
    """``xtune_r2``: "with only model consistency R2" (Table 4/6) -- stage 2 without R1, the teacher
    fine-tuned conventionally (the ``zero_shot`` model; Sec. 3.1.2)."""

    name = "xtune_r2"
    use_r1 = False
