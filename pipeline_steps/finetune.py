"""Fine-tune an encoder for sequence labelling with one adaptation method (paper 001 Sec. 3-5).

The label set is fixed by the config (``labels`` x ``scheme``), never by the data. The model is any
Hugging Face encoder (``input.model`` -- e.g. the tiny model -- or ``params.model_name_or_path``) with
a linear + softmax tagging layer (Eq. 1). Training runs through the shared loop with checkpoints in
``checkpoint_dir`` (resumed when the job is restarted); the best source-dev F1 weights are saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.evaluate import f1 as entity_f1
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.methods import MethodData, make_method
from pipeline_steps.models.token_classification import (
    encode,
    freeze_word_embeddings,
    load_model,
    load_tokenizer,
    predict_tags,
)
from pipeline_steps.schemas import PROJECTED, SENTENCES, TRAIN_LOG, Artifact
from pipeline_steps.tags import TagError, check_scheme, label_set, spans_from_tags
from pipeline_steps.train import TrainConfig, Trainer, cpu_threads

log = logging.getLogger(__name__)

META_FILE = "xlt_finetune.json"
# params that do not change what is trained (left out of the checkpoint fingerprint)
NOT_TRAJECTORY = {"checkpoint_dir", "checkpoint_steps", "keep_checkpoints", "keep_last_checkpoints", "device"}


def read_labelled(path: str, artifact: Artifact, tagset: Sequence[str], scheme: str) -> pd.DataFrame:
    """Read ``path``; every row needs well-formed tags of ``scheme`` drawn from ``tagset``."""
    df = read_artifact(path, artifact)
    allowed = set(tagset)
    for row, tags in enumerate(df["tags"]):
        if tags is None:
            raise ArtifactError(path, row, "tags", "training data needs tags (null found)")
        bad = next((t for t in tags if t not in allowed), None)
        if bad is not None:
            raise ArtifactError(
                path, row, "tags", f"tag {bad!r} is not in the configured label set {sorted(allowed)}"
            )
        try:
            spans_from_tags(tags, scheme, strict=True)
        except TagError as exc:
            raise ArtifactError(path, row, "tags", f"word {exc.index}: {exc}") from None
    return df


def _digest_frame(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for ident, tokens, tags in zip(df["id"], df["tokens"], df["tags"], strict=True):
        h.update(json.dumps([ident, list(tokens), list(tags)], ensure_ascii=False).encode())
    return h.hexdigest()


def _digest_model(name_or_path: str) -> str:
    """Identity of the starting model: file names, sizes and mtimes of a local folder, else the name."""
    path = Path(name_or_path)
    if not path.is_dir():
        return name_or_path
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def dev_evaluator(tokenizer, dev: pd.DataFrame, scheme: str, max_length: int, batch_size: int):
    """``model -> entity F1 on dev``, the model-selection criterion of the loop."""
    tokens = [list(t) for t in dev["tokens"]]
    gold = [list(t) for t in dev["tags"]]
    enc = encode(tokenizer, tokens, None, None, max_length)
    lengths = [len(t) for t in tokens]

    def evaluate(model) -> float:
        pred = predict_tags(model, enc, lengths, batch_size, int(tokenizer.pad_token_id), desc="dev")
        return entity_f1(gold, pred, scheme)

    return evaluate


def save_model_dir(model, tokenizer, out: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write model + tokenizer + ``xlt_finetune.json`` to a temporary folder, then rename it to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        model.to("cpu")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_checkpoints(root: Path, phases: Sequence[str]) -> None:
    """Delete the phases' checkpoint folders (and ``root`` when that leaves it empty)."""
    for phase in phases:
        shutil.rmtree(root / phase, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def base_model(model_input: Any, name_or_path: str | None) -> str:
    """The starting encoder: ``input.model`` (a folder, or a list of at most one) else the param."""
    if isinstance(model_input, list | tuple):
        if len(model_input) > 1:
            raise ConfigError(f"finetune takes one input model, got {len(model_input)}: {model_input}")
        model_input = model_input[0] if model_input else None
    chosen = model_input or name_or_path
    if not chosen:
        raise ConfigError("finetune needs input.model or params.model_name_or_path")
    return str(chosen)


def phase_steps(results: Sequence[Any]) -> list[dict[str, Any]]:
    """The training phases with their (running) step ranges, e.g. MTL-WS ``warmup`` steps 1..Z then
    ``main`` (the train log numbers steps across phases; Figure 2 plots the ``main`` steps)."""
    out, first = [], 1
    for r in results:
        out.append(
            {"phase": r.phase, "first_step": first, "last_step": first + r.steps - 1, "steps": r.steps}
        )
        first += r.steps
    return out


def train_config(p: dict[str, Any], method: str) -> TrainConfig:
    def opt(key: str, default: Any, cast=float):
        value = p.get(key)
        return default if value is None else cast(value)

    return TrainConfig(
        seed=int(p["seed"]),
        lr=opt("lr", 5e-5),
        epochs=opt("epochs", 3, int),
        warmup_ratio=opt("warmup_ratio", 0.1),
        weight_decay=opt("weight_decay", 0.01),
        max_grad_norm=opt("max_grad_norm", 1.0),
        max_steps=opt("max_steps", None, int),
        eval_steps=opt("eval_steps", 0, int),
        eval_after=opt("eval_after", 0, int),
        checkpoint_steps=opt("checkpoint_steps", 0, int),
        keep_checkpoints=opt("keep_last_checkpoints", 2, int),
        device=p.get("device") or "auto",
        desc=f"finetune:{method}",
    )


def main(ctx) -> None:
    """Rule ``finetune``. input: train, dev (sentences), model (optional folder), extra (optional list
    of projected artifacts); output: model (folder), log (train_log); params: method, seed,
    model_name_or_path, scheme, labels, lr, epochs, batch_size, max_length, warmup_ratio, weight_decay,
    checkpoint_steps, eval_steps, checkpoint_dir, max_steps (optional: eval_after, max_grad_norm,
    device, keep_checkpoints, freeze_embeddings; for the translation-based methods and MTL-WS:
    target_langs, task and method_params, see ``pipeline_steps.methods``)."""
    p = dict(ctx.params)
    method = p["method"]
    seed = int(p["seed"])
    scheme = p.get("scheme", "bio")
    check_scheme(scheme)
    if not p.get("labels"):
        raise ConfigError("finetune needs params.labels (the entity types, e.g. [PER, ORG, LOC, MISC])")
    tagset = label_set(p["labels"], scheme)
    batch_size, max_length = int(p.get("batch_size") or 32), int(p.get("max_length") or 128)

    train_df = read_labelled(str(ctx.input["train"]), SENTENCES, tagset, scheme)
    dev_path = ctx.input.get("dev")
    dev_df = read_labelled(str(dev_path), SENTENCES, tagset, scheme) if dev_path else None
    extra_paths = ctx.input.get("extra") or []
    extra_paths = [extra_paths] if isinstance(extra_paths, str | os.PathLike) else list(extra_paths)
    extra = [read_labelled(str(x), PROJECTED, tagset, scheme) for x in extra_paths]

    model_path = base_model(ctx.input.get("model"), p.get("model_name_or_path"))
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, tagset, seed=seed)
    if p.get("freeze_embeddings"):
        log.info("word embeddings frozen: %d parameters not trained", freeze_word_embeddings(model))
    torch.set_num_threads(cpu_threads(ctx.threads, getattr(model.config, "hidden_size", None)))
    label2id = {t: i for i, t in enumerate(tagset)}

    config = train_config(p, method)
    evaluate = None
    if dev_df is not None and len(dev_df):
        evaluate = dev_evaluator(tokenizer, dev_df, scheme, max_length, batch_size)
    else:
        log.warning("no dev set: no model selection, the last weights are kept")
    out_model = Path(ctx.output["model"])
    ckpt_dir = Path(p.get("checkpoint_dir") or out_model.parent / "checkpoints")
    fingerprint = {
        "method": method,
        "model": _digest_model(model_path),
        "tagset": tagset,
        "batch_size": batch_size,
        "max_length": max_length,
        "train": _digest_frame(train_df),
        "dev": None if dev_df is None else _digest_frame(dev_df),
        "extra": [_digest_frame(x) for x in extra],
        "params": {k: v for k, v in sorted(p.items()) if k not in NOT_TRAJECTORY},
    }
    trainer = Trainer(config, checkpoint_dir=ckpt_dir, evaluate=evaluate, fingerprint=fingerprint)
    data = MethodData(
        train=train_df,
        tokenizer=tokenizer,
        label2id=label2id,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        extra=extra,
        params=p,
    )
    result = make_method(method, data).fit(model, trainer)
    train_log = trainer.log
    meta = {
        "method": method,
        "seed": seed,
        "scheme": scheme,
        "labels": list(p["labels"]),
        "tagset": tagset,
        "base_model": model_path,
        "steps": int(train_log["step"].max()) if len(train_log) else 0,
        "best_step": result.best_step,
        "best_dev_f1": result.best_f1,
        "max_length": max_length,
        "phases": phase_steps(trainer.results),
    }
    save_model_dir(model, tokenizer, out_model, meta)
    write_artifact(train_log, ctx.output["log"], TRAIN_LOG)
    if not p.get("keep_checkpoints"):
        remove_checkpoints(ckpt_dir, [r.phase for r in trainer.results])
    log.info(
        "finetune %s seed %d: %d steps, best dev F1 %s at step %s",
        method,
        seed,
        meta["steps"],
        result.best_f1,
        result.best_step,
    )
