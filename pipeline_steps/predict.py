"""Word-level predictions of a fine-tuned tagger on a test set.

Each word's tag is the argmax of Eq. 1 (paper 001) at its first sub-word. Words cut off by
``max_length`` (or without any sub-word) get 'O'; their number is logged as a warning. With the param
``que_token`` (paper 000's [QUE] fine-tuning) each sentence is encoded after the ``[QUE]`` prefix, as the
tagger was fine-tuned; a tagger fine-tuned the other way is a ConfigError (``tasks.tagging``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import torch

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.models.token_classification import encode, load_tokenizer, model_labels, predict_tags
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token
from pipeline_steps.schemas import PREDICTIONS, SENTENCES
from pipeline_steps.tags import TagError, check_scheme, split_tag
from pipeline_steps.tasks import make_task
from pipeline_steps.tasks.tagging import check_que_meta
from pipeline_steps.train import cpu_threads, resolve_device

log = logging.getLogger(__name__)


def check_model_scheme(labels: Sequence[str], scheme: str, where: str) -> None:
    """The model's tag set must be tags of ``scheme`` ('O' plus B-/I- for bio, also E-/S- for bioes)."""
    check_scheme(scheme)
    allowed = {"B", "I", "O"} if scheme == "bio" else {"B", "I", "E", "S", "O"}
    for tag in labels:
        try:
            prefix, _ = split_tag(tag)
        except TagError as exc:
            raise ConfigError(f"{where}: model label {tag!r} is not a tag: {exc}") from None
        if prefix not in allowed:
            raise ConfigError(f"{where}: model label {tag!r} does not belong to the {scheme} scheme")


def predict_sentences(
    model,
    tokenizer,
    sentences: Sequence[Sequence[str]],
    max_length: int,
    batch_size: int,
    desc: str = "predict",
    *,
    que: bool = False,
) -> tuple[list[list[str]], int, int]:
    """Tags for each sentence, the number of words cut by ``max_length`` and of words without sub-words
    (``que``: encoded after the [QUE] prefix)."""
    enc = encode(tokenizer, sentences, None, None, max_length, que=que)
    tags = predict_tags(
        model, enc, [len(s) for s in sentences], batch_size, int(tokenizer.pad_token_id), desc=desc
    )
    return tags, sum(enc.n_truncated), sum(enc.n_empty)


def main(ctx) -> None:
    """Rule ``predict``. input: model (fine-tuned folder), examples (labelled test set of the task);
    output: predictions; params: task, labels, method, seed, batch_size, max_length, scheme, device
    (and ``qa`` settings for QA). Tagging writes schemas.PREDICTIONS, the other tasks their own."""
    task = make_task(ctx.params["task"], ctx.params)
    if task.info.kind == "tagging":
        predict_tagging(ctx, task.que)
    else:
        predict_examples(ctx, task)


def load_for_task(task, model_dir: str, seed: int, threads: int, device: str):
    """(model, tokenizer) of a fine-tuned classification or QA folder, on ``device`` with the CPU
    threads set (a tagger: ``load_tagger``)."""
    tokenizer = load_tokenizer(model_dir)
    model = task.load_model(model_dir, seed)
    torch.set_num_threads(cpu_threads(threads, getattr(model.config, "hidden_size", None)))
    model.to(resolve_device(device))
    return model, tokenizer


def predict_examples(ctx, task) -> None:
    """Predictions of a classification or QA model on its test examples (``task.predictions_frame``)."""
    p = ctx.params
    path = str(ctx.input["examples"])
    df = read_artifact(path, task.examples)
    model_dir = str(ctx.input["model"])
    model, tokenizer = load_for_task(task, model_dir, int(p["seed"]), ctx.threads, p["device"])
    out = task.predictions_frame(model, df, tokenizer, int(p["batch_size"]), int(p["max_length"]))
    out["method"], out["seed"] = p["method"], int(p["seed"])
    write_artifact(out, ctx.output["predictions"], task.predictions)
    log.info("predicted %d %s examples with %s", len(out), task.info.name, model_dir)


def load_tagger(model_dir: str, que: bool, scheme: str, threads: int, device: str):
    """(model, tokenizer) of a fine-tuned tagger folder, checked against ``que`` (its
    ``xlt_finetune.json``) and ``scheme``, on ``device`` with the CPU threads set."""
    from transformers import AutoModelForTokenClassification

    check_que_meta(model_dir, que)
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir)
    if que:
        que_id = add_que_token(tokenizer)
        if que_id >= model.get_input_embeddings().num_embeddings:
            raise ConfigError(
                f"{model_dir}: the tagger has no embedding row for {QUE_TOKEN} (it was not fine-tuned with "
                "it), but que_token is on: turn model.que_token off for it"
            )
    torch.set_num_threads(cpu_threads(threads, getattr(model.config, "hidden_size", None)))
    check_model_scheme(model_labels(model), scheme, model_dir)
    model.to(resolve_device(device))
    return model, tokenizer


def predict_tagging(ctx, que: bool = False) -> None:
    """Word-level tags of a tagger on its test sentences (schemas.PREDICTIONS); ``que``: [QUE]
    fine-tuning (the param ``que_token``), which must match the folder's ``xlt_finetune.json``."""
    p = ctx.params
    scheme = p["scheme"]
    max_length, batch_size = int(p["max_length"]), int(p["batch_size"])
    path = str(ctx.input["examples"])
    df = read_artifact(path, SENTENCES)
    missing = df["tags"].isna()
    if missing.any():
        raise ArtifactError(
            path, int(missing.to_numpy().nonzero()[0][0]), "tags", "test sentences need gold tags"
        )
    model_dir = str(ctx.input["model"])
    model, tokenizer = load_tagger(model_dir, que, scheme, ctx.threads, p["device"])
    tokens = [list(t) for t in df["tokens"]]
    pred, n_cut, n_empty = predict_sentences(model, tokenizer, tokens, max_length, batch_size, que=que)
    if n_cut:
        log.warning(
            "%d words beyond max_length=%d sub-words were predicted as 'O' (%s)", n_cut, max_length, path
        )
    if n_empty:
        log.warning("%d words without any sub-word were predicted as 'O' (%s)", n_empty, path)
    out = pd.DataFrame(
        {
            "sentence_id": df["id"],
            "lang": df["lang"],
            "tokens": tokens,
            "gold": [list(t) for t in df["tags"]],
            "pred": pred,
            "method": p["method"],
            "seed": int(p["seed"]),
        }
    )
    write_artifact(out, ctx.output["predictions"], PREDICTIONS)
    log.info("predicted %d sentences (%d words) with %s", len(out), sum(map(len, tokens)), model_dir)
