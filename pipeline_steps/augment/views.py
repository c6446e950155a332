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
from pipeline_steps.augment.subword_sampling import UnigramSampler
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import AUGMENTED, SENTENCES

log = logging.getLogger(__name__)

KINDS = ("code_switch", "subword")

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


def changed_rate(frame: pd.DataFrame) -> float:
    """The fraction of words the augmentation touched (the achieved switch / resampling rate)."""
    n = int(frame["changed"].map(len).sum())
    return float(frame["changed"].map(sum).sum()) / n if n else 0.0


def make_augmenter(kind: str, params: dict[str, Any], model_dir: str | None) -> Augmenter:
    """The augmenter of ``kind`` from the step's params (``augment.<kind>`` settings)."""
    if kind == "code_switch":
        paths = params["dictionaries"] or {}
        if not paths:
            raise ConfigError("augment.code_switch.dictionaries: no dictionary, nothing to switch into")
        return code_switcher({lang: read_dictionary(p) for lang, p in sorted(paths.items())}, params["ratio"])
    if kind == "subword":
        source = _tokenizer_source(model_dir or params["model_name_or_path"])
        return subword_sampler(UnigramSampler.load(source, params["alpha"], params["nbest"]), params["ratio"])
    raise ConfigError(f"unknown augmentation {kind!r}; expected one of {KINDS}")


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
    if p["task_kind"] != "tagging":
        raise ConfigError(f"augment: views of {p['task_kind']} examples are not built yet (issue 10)")
    path = str(ctx.input["sentences"])
    sentences = read_artifact(path, SENTENCES)
    model_dir = next((str(f) for f in ctx.input.get("files") or [] if Path(f).is_dir()), None)
    augment = make_augmenter(kind, p, model_dir)
    frame = augmented_views(sentences, augment, kind, seed, int(p["views"]))
    log.info(
        "%s: %d sentences x %d view(s), %s seed %d: %.1f%% of %d words changed (ratio %s)",
        path,
        len(sentences),
        p["views"],
        kind,
        seed,
        100 * changed_rate(frame),
        int(frame["changed"].map(len).sum()),
        p["ratio"],
    )
    write_artifact(frame, ctx.output["augmented"], AUGMENTED)
