"""Fine-tune an encoder for the experiment's task with one adaptation method (paper 001 Sec. 3-5).

The task (``pipeline_steps.tasks``: tagging, classification or extractive QA) says what an example is,
which head the encoder gets and how the dev set selects the model; the label set is fixed by the
config, never by the data. The model is any Hugging Face encoder (``input.model`` -- e.g. the tiny
model -- or ``params.model_name_or_path``). Training runs through the shared loop with checkpoints in
``checkpoint_dir`` (resumed when the job is restarted); the weights with the best source-dev score are
saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from pipeline_steps.cotrain import from_items
from pipeline_steps.errors import ConfigError
from pipeline_steps.few_shot import few_shot_config, sample_examples
from pipeline_steps.io import atomic_dir, input_paths, read_artifact, read_artifacts, write_artifact
from pipeline_steps.method_names import FEW_SHOT_STEPS, method_shots
from pipeline_steps.methods import MethodData, make_method
from pipeline_steps.methods.co_training import pseudo_labelled
from pipeline_steps.models.token_classification import freeze_word_embeddings, load_tokenizer
from pipeline_steps.schemas import COTRAIN_STATE, TRAIN_LOG, Artifact
from pipeline_steps.tasks import make_task
from pipeline_steps.train import TrainConfig, Trainer, cpu_threads, distributed

log = logging.getLogger(__name__)

META_FILE = "xlt_finetune.json"
# params that do not change what is trained: left out of the checkpoint fingerprint, so changing them
# does not abandon resumable checkpoints (TrainConfig.fingerprint leaves out the same fields)
NOT_TRAJECTORY = frozenset(
    {"checkpoint_dir", "checkpoint_steps", "keep_last_checkpoints", "keep_checkpoints", "device"}
)


def _digest_frame(df: pd.DataFrame, columns: Sequence[str] = ("id", "tokens", "tags")) -> str:
    """A hash of the training-relevant columns of ``df`` (part of the checkpoint fingerprint)."""
    h = hashlib.sha256()
    for row in zip(*(df[c] for c in columns), strict=True):
        cells = [list(v) if isinstance(v, list | tuple) else v for v in row]
        h.update(json.dumps(cells, ensure_ascii=False, default=str).encode())
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


def save_model_dir(model, tokenizer, out: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write model + tokenizer + ``xlt_finetune.json`` to a temporary folder, then rename it to ``out``
    (``io.atomic_dir``: umask permissions)."""
    model.to("cpu")
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def remove_checkpoints(root: Path, phases: Sequence[str]) -> None:
    """Delete the phases' checkpoint folders (and ``root`` when that leaves it empty)."""
    for phase in phases:
        shutil.rmtree(root / phase, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def read_augmented(paths: Sequence[str], artifact: Artifact | None) -> pd.DataFrame | None:
    """The augmented views (the task's artifact: schemas.AUGMENTED for tagging) of the method's inputs,
    concatenated; None without any."""
    if not paths:
        return None
    if artifact is None:
        raise ConfigError(f"this task has no augmented views, but finetune was given {list(paths)}")
    return read_artifacts(paths, artifact)


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


def param(
    p: dict[str, Any],
    key: str,
    cast: Callable[[Any], Any] | None = None,
    *,
    optional: bool = False,
    section: str | None = "finetune",
) -> Any:
    """``p[key]`` cast with ``cast``; ConfigError naming the config key (``finetune.<key>``) when it is
    missing (its default belongs in config/schema.yaml, which Snakemake fills in), null (unless
    ``optional``) or of the wrong type."""
    name = f"{section}.{key}" if section else key
    if key not in p:
        raise ConfigError(
            f"{name} is missing from the finetune step's params (config/schema.yaml has its default)"
        )
    value = p[key]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must be set (got null)")
    if cast is None:
        return value
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {getattr(cast, '__name__', cast)} (got {value!r})") from None


# the finetune: config keys that are TrainConfig fields: (type, may be null)
TRAIN_KEYS: dict[str, tuple[type, bool]] = {
    "lr": (float, False),
    "head_lr": (float, True),
    "epochs": (int, False),
    "warmup_ratio": (float, False),
    "weight_decay": (float, False),
    "max_grad_norm": (float, True),
    "max_steps": (int, True),
    "eval_steps": (int, False),
    "eval_after": (int, False),
    "checkpoint_steps": (int, False),
    "keep_last_checkpoints": (int, False),
    "device": (str, False),
    "precision": (str, False),
    "group_by_length": (bool, False),
}


def train_config(p: dict[str, Any], method: str) -> TrainConfig:
    """The TrainConfig of the finetune params: every ``TRAIN_KEYS`` key and ``seed``, no defaults."""
    fields = {key: param(p, key, cast, optional=optional) for key, (cast, optional) in TRAIN_KEYS.items()}
    return TrainConfig(seed=param(p, "seed", int, section=None), desc=f"finetune:{method}", **fields)


def train_model(
    task,
    p: dict[str, Any],
    config: TrainConfig,
    model_path: str,
    train_df: pd.DataFrame,
    dev_df: pd.DataFrame | None,
    ckpt_dir: Path,
    threads: int,
    *,
    extra: Sequence[pd.DataFrame] = (),
    augmented: pd.DataFrame | None = None,
    translations: Sequence[pd.DataFrame] = (),
    teacher: str | None = None,
    pseudo: pd.DataFrame | None = None,
) -> tuple[Any, Any, Trainer, Any]:
    """Fine-tune ``model_path`` for ``task`` with the method ``p["method"]`` on ``train_df`` (and the
    method's other inputs), selecting on ``dev_df``, checkpointing under ``ckpt_dir`` (a fingerprint of
    everything that shapes the run: a changed input starts afresh instead of resuming). Returns
    (model with the selected weights, tokenizer, trainer, the method's TrainResult)."""
    method, seed = param(p, "method", str, section=None), param(p, "seed", int, section=None)
    batch_size, max_length = param(p, "batch_size", int), param(p, "max_length", int)
    tokenizer = load_tokenizer(model_path)
    model = task.load_model(model_path, seed)
    if param(p, "freeze_embeddings", bool):
        log.info("word embeddings frozen: %d parameters not trained", freeze_word_embeddings(model))
    torch.set_num_threads(cpu_threads(threads, getattr(model.config, "hidden_size", None)))

    evaluate = None
    if dev_df is not None and len(dev_df):
        evaluate = task.evaluator(dev_df, tokenizer, batch_size, max_length)
    else:
        log.warning("no dev set: no model selection, the last weights are kept")
    columns = [c for c in task.columns if c != "lang"]
    fingerprint = {
        "method": method,
        "model": _digest_model(model_path),
        "tagset": getattr(task, "tagset", None) or task.meta(),
        "batch_size": batch_size,
        "max_length": max_length,
        "train": _digest_frame(train_df, columns),
        "dev": None if dev_df is None else _digest_frame(dev_df, columns),
        "extra": [_digest_frame(x, columns) for x in extra],
        "augmented": None if augmented is None else _digest_frame(augmented, list(augmented.columns)),
        "translations": [_digest_frame(x, list(x.columns)) for x in translations],
        "teacher": None if teacher is None else _digest_model(teacher),
        "pseudo": None if pseudo is None else _digest_frame(pseudo, columns),
        "params": {k: v for k, v in sorted(p.items()) if k not in NOT_TRAJECTORY},
    }
    trainer = Trainer(config, checkpoint_dir=ckpt_dir, evaluate=evaluate, fingerprint=fingerprint)
    data = MethodData(
        train=train_df,
        tokenizer=tokenizer,
        label2id=getattr(task, "label2id", {}),
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        extra=list(extra),
        params=p,
        task=task,
        augmented=augmented,
        translations=list(translations),
        teacher=teacher,
        pseudo=pseudo,
    )
    result = make_method(method, data).fit(model, trainer)
    return model, tokenizer, trainer, result


def main(ctx) -> None:
    """Rule ``finetune``: ``run`` in this process, or data-parallel in N processes when the job has
    ``gpu: N > 1`` in its resources (one per GPU; gloo processes on a machine without CUDA;
    ``train/distributed.py``)."""
    world = int(ctx.resources.get("gpu") or 1)
    if world > 1 and distributed.current().world == 1:
        log.info("fine-tuning data-parallel in %d processes", world)
        distributed.launch(_run_process, world, ctx)
    else:
        run(ctx)


def _run_process(ctx) -> None:
    """One process of a data-parallel run: its log lines (process 0: all, the others: warnings) go to
    the job's log, its CPU threads are its share of the job's."""
    from pipeline_steps.runner import logging_to

    group = distributed.current()
    ctx = dataclasses.replace(ctx, threads=max(1, ctx.threads // group.world))
    with logging_to(ctx.log, logging.INFO if group.main else logging.WARNING):
        run(ctx)


def run(ctx) -> None:
    """Fine-tune (rule ``finetune``). input: train, dev (sentences), model (optional folder: the tiny
    model), extra (optional list of projected artifacts), augmented (optional augmented views, xTune),
    translations (optional: the translate stage's output as xTune's machine-translation views), teacher
    (optional model folder, xTune stage 2), pseudo (optional co-training state); output: model
    (folder), log (train_log).

    params: every key of the config's ``finetune:`` section -- lr, head_lr (null: lr), epochs,
    batch_size, max_length, warmup_ratio, weight_decay, max_grad_norm (null: no clipping), max_steps
    (null: all epochs), eval_steps (0: only at the end), eval_after, checkpoint_steps (0: only at the end),
    keep_last_checkpoints (newest checkpoints kept during training), keep_checkpoints (keep them after
    the final model is saved), device ("auto"), freeze_embeddings -- with no defaults here (a missing
    key is a ConfigError naming ``finetune.<key>``), plus method, seed, model_name_or_path, scheme,
    labels, task, target_langs, method_params (see ``pipeline_steps.methods``) and checkpoint_dir
    (default: ``checkpoints/`` next to the model). Keys in ``NOT_TRAJECTORY`` may change between an
    interrupted run and its resumption."""
    p = dict(ctx.params)
    method = param(p, "method", str, section=None)
    seed = param(p, "seed", int, section=None)
    if not p.get("labels"):
        raise ConfigError("finetune needs params.labels (the label set, e.g. [PER, ORG, LOC, MISC])")
    task = make_task(param(p, "task", str, section=None), p)
    batch_size, max_length = param(p, "batch_size", int), param(p, "max_length", int)
    config = train_config(p, method)
    keep_checkpoints = param(p, "keep_checkpoints", bool)

    train_df = task.read_labelled(str(ctx.input["train"]), task.examples)
    shots = method_shots(method)
    if shots is not None:  # paper 000 App. C: a per-seed sample, a fixed step budget
        method_params = dict(p.get("method_params") or {})
        steps = param(method_params, FEW_SHOT_STEPS, int, section="few_shot")
        p["method_params"] = {k: v for k, v in method_params.items() if k != FEW_SHOT_STEPS}
        train_df = sample_examples(train_df, shots, seed, method)
        config = few_shot_config(config, shots, batch_size, steps)
    dev_path = ctx.input.get("dev")
    dev_df = task.read_labelled(str(dev_path), task.examples) if dev_path else None
    extra_paths = input_paths(ctx.input.get("extra"))
    extra = [task.read_labelled(str(x), task.translated) for x in extra_paths]
    augmented = read_augmented(input_paths(ctx.input.get("augmented")), task.augmented)
    translations = [read_artifact(x, task.mt_views) for x in input_paths(ctx.input.get("translations"))]
    teacher = base_model(ctx.input.get("teacher"), None) if ctx.input.get("teacher") else None
    pseudo_paths = input_paths(ctx.input.get("pseudo"))
    pseudo = None
    if pseudo_paths:  # co-/self-training (paper 002 Alg. 1): f_lm's pseudo-labels of round k
        pseudo = from_items(
            pseudo_labelled(read_artifact(pseudo_paths[0], COTRAIN_STATE), "lm"), task.info.kind
        )

    model_path = base_model(ctx.input.get("model"), p.get("model_name_or_path"))
    ckpt_dir = Path(p.get("checkpoint_dir") or Path(ctx.output["model"]).parent / "checkpoints")
    inputs = {"extra": extra, "augmented": augmented, "translations": translations, "teacher": teacher}
    model, tokenizer, trainer, result = train_model(
        task, p, config, model_path, train_df, dev_df, ckpt_dir, ctx.threads, pseudo=pseudo, **inputs
    )
    train_log = trainer.log
    meta = {
        "method": method,
        "seed": seed,
        "task": task.info.name,
        **task.meta(),
        "base_model": model_path,
        "steps": int(train_log["step"].max()) if len(train_log) else 0,
        "best_step": result.best_step,
        "best_dev_f1": result.best_f1,
        "max_length": max_length,
        "phases": phase_steps(trainer.results),
    }
    if not distributed.current().main:
        return  # process 0 writes
    save_model_dir(model, tokenizer, ctx.output["model"], meta)
    write_artifact(train_log, ctx.output["log"], TRAIN_LOG)
    if not keep_checkpoints:
        remove_checkpoints(ckpt_dir, [r.phase for r in trainer.results])
    log.info(
        "finetune %s seed %d: %d steps, best dev F1 %s at step %s",
        method,
        seed,
        meta["steps"],
        result.best_f1,
        result.best_step,
    )
