"""Step ``pretrain``: continued pre-training of an encoder with CLISM + CACR + MLM (paper 000, Eq. 9).

Reads the CLISM example artifacts (``clism/{corpus}.{lang}.parquet``; rows without a surviving span are
skipped, footnote 1), trains the encoder's masked-LM model and the [QUE] pointer head through the
shared loop (checkpoints every ``checkpoint_steps``, resume after a kill) and writes ``pretrain/model``
(``pretrain.model.save_clism_model``) and its ``train_log`` (the terms clism / cacr / mlm, and CACR's
three pair terms, per step). Paper 000 Sec. 4.2: Adam, batch 64, 15K steps, lr 1e-5 with 1.5K warm-up
steps, 128 sub-words per sentence: the defaults of the ``pretrain`` config section.
"""

from __future__ import annotations

import logging
import math
import shutil
from typing import Any

import pandas as pd
import torch

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.finetune import _digest_frame, base_model, param
from pipeline_steps.io import input_paths, read_artifact, write_artifact
from pipeline_steps.pretrain.model import load_clism_model, save_clism_model
from pipeline_steps.pretrain.que import QUE_TOKEN, load_que_tokenizer
from pipeline_steps.pretrain.recipe import ClismPretraining, PretrainSettings
from pipeline_steps.schemas import CLISM_EXAMPLES, TRAIN_LOG
from pipeline_steps.train import TrainConfig, cpu_threads, train

log = logging.getLogger(__name__)

SECTION = "pretrain"


def read_examples(paths: list[str], tokenizer_name: str) -> pd.DataFrame:
    """The kept CLISM examples of every file; a file built with another tokenizer is an error (its
    sub-word positions would be wrong)."""
    frames = []
    for path in paths:
        df = read_artifact(path, CLISM_EXAMPLES)
        other = df.index[df["tokenizer"] != tokenizer_name]
        if len(other):
            row = int(other[0])
            raise ArtifactError(
                path,
                row,
                "tokenizer",
                f"examples built with {df['tokenizer'].iloc[row]!r}, but pre-training starts from "
                f"{tokenizer_name!r}: rebuild them (rule clism_examples)",
            )
        frames.append(df)
    examples = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLISM_EXAMPLES.columns)
    )
    kept = examples[examples["n_kept"] > 0].reset_index(drop=True)
    log.info(
        "%d CLISM examples from %d files: %d with at least one [QUE] (%d questions), %d dropped without one",
        len(examples),
        len(paths),
        len(kept),
        int(kept["n_kept"].sum()),
        len(examples) - len(kept),
    )
    return kept


def check_ids(examples: pd.DataFrame, vocab_size: int, que_id: int, path: str = "<examples>") -> None:
    """Every id is in the tokenizer's range and every question position holds [QUE]."""
    for row, (ids, ques) in enumerate(zip(examples["input_ids"], examples["que_positions"], strict=True)):
        if max(ids) >= vocab_size:
            raise ArtifactError(path, row, "input_ids", f"id {max(ids)} >= vocabulary size {vocab_size}")
        if any(ids[q] != que_id for q in ques):
            raise ArtifactError(path, row, "que_positions", f"a position does not hold {QUE_TOKEN}")


def settings_from(p: dict[str, Any]) -> PretrainSettings:
    losses = param(p, "losses", dict, section=SECTION)
    cacr = param(p, "cacr", dict, section=SECTION)
    settings = PretrainSettings(
        clism=bool(losses["clism"]),
        cacr=bool(losses["cacr"]),
        mlm=bool(losses["mlm"]),
        mlm_probability=param(p, "mlm_probability", float, section=SECTION),
        cacr_scale=float(cacr["scale"]),
        cacr_symmetric=bool(cacr["symmetric"]),
    )
    if not settings.terms():
        raise ConfigError("pretrain.losses: every loss is off; switch on at least one of clism, cacr, mlm")
    return settings


def main(ctx) -> None:
    """input {examples (CLISM artifacts), model (optional: the tiny model folder)}; output {model, log};
    params: the ``pretrain`` section, model_name_or_path, seed, device, checkpoint_dir."""
    p = dict(ctx.params)
    name = base_model(ctx.input.get("model"), p.get("model_name_or_path"))
    seed = param(p, "seed", int, section=None)
    batch_size = param(p, "batch_size", int, section=SECTION)
    max_steps = param(p, "max_steps", int, section=SECTION)
    settings = settings_from(p)
    paths = input_paths(ctx.input.get("examples"))
    examples = read_examples(paths, name)
    if not len(examples):
        raise ConfigError(f"pretrain: none of {paths} has an example with a [QUE] (no span survived)")

    tokenizer = load_que_tokenizer(name)
    que_id = tokenizer.convert_tokens_to_ids(QUE_TOKEN)
    check_ids(examples, len(tokenizer), que_id, ", ".join(paths))
    model = load_clism_model(name, len(tokenizer), seed)
    torch.set_num_threads(cpu_threads(ctx.threads, getattr(model.config, "hidden_size", None)))
    recipe = ClismPretraining(examples, tokenizer, settings, batch_size, seed)
    config = TrainConfig(
        seed=seed,
        lr=param(p, "lr", float, section=SECTION),
        head_lr=None,
        epochs=math.ceil(max_steps / recipe.num_batches(0)),
        warmup_ratio=param(p, "warmup_ratio", float, section=SECTION),
        weight_decay=param(p, "weight_decay", float, section=SECTION),
        max_grad_norm=param(p, "max_grad_norm", float, optional=True, section=SECTION),
        max_steps=max_steps,
        eval_steps=0,
        eval_after=0,
        checkpoint_steps=param(p, "checkpoint_steps", int, section=SECTION),
        keep_last_checkpoints=2,
        device=param(p, "device", str, section="finetune"),
        precision=param(p, "precision", str, section="finetune"),
        desc="pretrain",
    )
    ckpt_dir = param(p, "checkpoint_dir", str, section=None)
    fingerprint = {
        "model": name,
        "settings": settings.__dict__,
        "batch_size": batch_size,
        "examples": _digest_frame(
            examples, ["id", "input_ids", "source_ids", "que_positions", "answer_starts"]
        ),
    }
    result = train(model, recipe, config, checkpoint_dir=ckpt_dir, fingerprint=fingerprint)
    meta = {
        "base_model": name,
        "que_token": QUE_TOKEN,
        "que_id": que_id,
        "seed": seed,
        "steps": result.steps,
        "losses": settings.terms(),
        "examples": len(examples),
        "questions": int(examples["n_kept"].sum()),
        "settings": settings.__dict__,
    }
    save_clism_model(model, tokenizer, ctx.output["model"], meta)
    write_artifact(result.log, ctx.output["log"], TRAIN_LOG)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    first, last = result.log["loss"].iloc[[0, -1]] if len(result.log) else (math.nan, math.nan)
    log.info("pretrain: %d steps, loss %.4f -> %.4f", result.steps, first, last)
