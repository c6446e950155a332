"""The augmentation stage (rule ``augment``): augmented views of the source training sentences, one
artifact per (kind, seed), so every view xTune trains on can be opened and inspected (paper 003 Sec. 3.2).

Kinds (``KINDS``): ``code_switch`` (``code_switch.py``: words replaced one-for-one by a dictionary
translation; tags carried over) and ``subword`` (``subword_sampling.py``: each word's sub-word pieces
sampled from the model's Unigram tokenizer; the pieces are stored, so training reads them instead of
sampling again). Machine translation is the translate stage's pairs; Gaussian noise is applied to the
input embeddings in the forward pass and has no artifact.

``views`` copies of every sentence are drawn (view ``v`` from ``random.Random(f"{kind}-{seed}-{v}")``);
training uses view ``epoch mod views``, which stands in for xTune's on-the-fly sampling (a new sample per
epoch) while keeping what the model saw on disk.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline_steps.augment.code_switch import check_settings, code_switch, read_dictionary
from pipeline_steps.augment.qa_views import qa_views
from pipeline_steps.augment.subword_sampling import UnigramSampler
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.method_names import AUGMENTED_KINDS
from pipeline_steps.schemas import (
    AUGMENTED,
    AUGMENTED_EXAMPLES,
    AUGMENTED_QA,
    CLS_EXAMPLES,
    QA_EXAMPLES,
    SENTENCES,
)

log = logging.getLogger(__name__)

KINDS = AUGMENTED_KINDS
TEXT_KINDS = ("code_switch",)  # the kinds that can augment classification and QA text so far

# one sentence's tokens and a seeded rng -> (view tokens, pieces per word or None, changed per word)
Augmenter = Callable[[list[str], random.Random], tuple[list[str], list[list[str]] | None, list[bool]]]


def code_switcher(dictionaries: dict[str, dict[str, list[str]]], ratio: float) -> Augmenter:
    check_settings(dictionaries, ratio)

    def augment(tokens: list[str], rng: random.Random):
        new, switched = code_switch(tokens, dictionaries, ratio, rng)
        return new, None, switched

    return augment


def subword_sampler(sampler: UnigramSampler, ratio: float) -> Augmenter:
    def augment(tokens: list[str], rng: random.Random):
        pieces = sampler.sample_words(tokens, ratio, rng)
        return list(tokens), pieces, [p != sampler.best(w) for w, p in zip(tokens, pieces, strict=True)]

    return augment


def augmented_views(
    sentences: pd.DataFrame, augment: Augmenter, kind: str, seed: int, views: int
) -> pd.DataFrame:
    """AUGMENTED rows: ``views`` augmented copies of every sentence (ids ``{kind}-{seed}-v{view}-{row}``)."""
    rows = []
    for view in range(views):
        rng = random.Random(f"{kind}-{seed}-{view}")
        for r, s in enumerate(sentences.itertuples(index=False)):
            tokens, pieces, changed = augment(list(s.tokens), rng)
            rows.append(
                {
                    "id": f"{kind}-{seed}-v{view}-{r:06d}",
                    "src_id": s.id,
                    "view": view,
                    "lang": s.lang,
                    "tokens": tokens,
                    "tags": None if s.tags is None else list(s.tags),
                    "pieces": pieces,
                    "changed": changed,
                    "kind": kind,
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows, columns=AUGMENTED.columns).astype({"view": "int32"})


def _augment_text(text: str | None, augment: Augmenter, rng: random.Random) -> tuple[str | None, int, int]:
    """A text's space-separated words augmented (official xTune: ``text.split(" ")``); (text, words,
    changed)."""
    if text is None:
        return None, 0, 0
    words = text.split(" ")
    new, pieces, changed = augment(words, rng)
    if pieces is not None:
        raise ConfigError(
            "augment: subword views of classification examples are not built yet (use code_switch)"
        )
    return " ".join(new), len(words), sum(changed)


def augmented_examples(
    examples: pd.DataFrame, augment: Augmenter, kind: str, seed: int, views: int
) -> pd.DataFrame:
    """AUGMENTED_EXAMPLES rows: ``views`` augmented copies of every classification example (text_a and
    text_b augmented word by word, the label carried over), ids ``{kind}-{seed}-v{view}-{row}``."""
    rows = []
    for view in range(views):
        rng = random.Random(f"{kind}-{seed}-{view}")
        for r, ex in enumerate(examples.itertuples(index=False)):
            text_a, n_a, c_a = _augment_text(ex.text_a, augment, rng)
            text_b, n_b, c_b = _augment_text(ex.text_b, augment, rng)
            rows.append(
                {
                    "id": f"{kind}-{seed}-v{view}-{r:06d}",
                    "src_id": ex.id,
                    "view": view,
                    "lang": ex.lang,
                    "text_a": text_a,
                    "text_b": text_b,
                    "label": ex.label,
                    "n_words": n_a + n_b,
                    "n_changed": c_a + c_b,
                    "kind": kind,
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows, columns=AUGMENTED_EXAMPLES.columns).astype({"view": "int32"})


def changed_rate(frame: pd.DataFrame) -> float:
    """The fraction of words the augmentation touched (the achieved switch / resampling rate)."""
    if "n_words" in frame.columns:  # classification examples
        n = int(frame["n_words"].sum())
        return float(frame["n_changed"].sum()) / n if n else 0.0
    n = int(frame["changed"].map(len).sum())
    return float(frame["changed"].map(sum).sum()) / n if n else 0.0


def make_augmenter(kind: str, params: dict[str, Any], model_dir: str | None) -> Augmenter:
    """The augmenter of ``kind`` from the step's params (``augment.<kind>`` settings)."""
    if kind == "code_switch":
        return code_switcher(read_dictionaries(params), params["ratio"])
    if kind == "subword":
        source = _tokenizer_source(model_dir or params["model_name_or_path"])
        return subword_sampler(UnigramSampler.load(source, params["alpha"], params["nbest"]), params["ratio"])
    raise ConfigError(f"unknown augmentation {kind!r}; expected one of {KINDS}")


def read_dictionaries(params: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Target language -> dictionary, from the ``augment.code_switch.dictionaries`` paths."""
    paths = params["dictionaries"] or {}
    if not paths:
        raise ConfigError("augment.code_switch.dictionaries: no dictionary, nothing to switch into")
    return {lang: read_dictionary(p) for lang, p in sorted(paths.items())}


def _tokenizer_source(name_or_path: str) -> Any:
    """A local folder as is; a Hugging Face name through ``AutoTokenizer`` (a cluster can download it)."""
    if Path(name_or_path).exists():
        return name_or_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def main(ctx) -> None:
    """Rule ``augment``. input: sentences (the source training set), files (dictionaries or the tiny
    model folder); output: augmented; params: kind, seed, task_kind, views and the kind's settings
    (code_switch: ratio, dictionaries; subword: ratio, alpha, nbest, model_name_or_path)."""
    p = ctx.params
    kind, seed = p["kind"], int(p["seed"])
    if p["task_kind"] != "tagging" and kind not in TEXT_KINDS:
        raise ConfigError(
            f"augment: {kind} views of {p['task_kind']} examples are not built yet (use code_switch)"
        )
    path = str(ctx.input["sentences"])
    views = int(p["views"])
    if p["task_kind"] == "qa":
        frame = qa_views(
            read_artifact(path, QA_EXAMPLES), read_dictionaries(p), p["ratio"], kind, seed, views
        )
        artifact, n_words = AUGMENTED_QA, int(frame["n_words"].sum())
    elif p["task_kind"] == "classification":
        augment = make_augmenter(kind, p, None)
        frame = augmented_examples(read_artifact(path, CLS_EXAMPLES), augment, kind, seed, views)
        artifact, n_words = AUGMENTED_EXAMPLES, int(frame["n_words"].sum())
    else:
        model_dir = next((str(f) for f in ctx.input.get("files") or [] if Path(f).is_dir()), None)
        augment = make_augmenter(kind, p, model_dir)
        frame = augmented_views(read_artifact(path, SENTENCES), augment, kind, seed, views)
        artifact, n_words = AUGMENTED, int(frame["changed"].map(len).sum())
    log.info(
        "%s: %d examples x %d view(s), %s seed %d: %.1f%% of %d words changed (ratio %s)",
        path,
        len(frame) // max(int(p["views"]), 1),
        p["views"],
        kind,
        seed,
        100 * changed_rate(frame),
        n_words,
        p["ratio"],
    )
    write_artifact(frame, ctx.output["augmented"], artifact)
