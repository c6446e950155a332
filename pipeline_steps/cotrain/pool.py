"""Rule ``predict_pool``: f_lm of round k (a ``finetune`` model folder) on the unlabelled pool of one
language -- each item's predicted label and confidence, the inputs of the next selection round.

Classification: the predicted class and its probability. Tagging: the predicted tags (space-joined)
and the sentence's confidence, ``cotrain.confidence`` (min or mean) of its words' tag probabilities.
"""

from __future__ import annotations

import logging

import pandas as pd

from pipeline_steps.cotrain import TAGGING, as_items, examples_artifact
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.methods.co_training import sentence_confidence
from pipeline_steps.models.token_classification import encode, predict_tags
from pipeline_steps.predict import load_for_task, load_tagger
from pipeline_steps.schemas import POOL_PREDICTIONS
from pipeline_steps.tasks import make_task

log = logging.getLogger(__name__)


def predict_items(task, model, tokenizer, items: pd.DataFrame, p: dict) -> tuple[list[str], list[float]]:
    """Each item's (``as_items`` form) predicted label and confidence: the class and its probability,
    or the space-joined tags and ``p["confidence"]`` (min or mean) of the words' tag probabilities.
    params used: batch_size, max_length, confidence."""
    batch_size, max_length = int(p["batch_size"]), int(p["max_length"])
    if task.info.kind != TAGGING:
        pred, score = task.predict(model, items, tokenizer, batch_size, max_length)
        return list(pred), [float(x) for x in score]
    tokens = [t.split(" ") for t in items["text_a"]]
    enc = encode(tokenizer, tokens, None, None, max_length, que=task.que)
    tags, probs = predict_tags(
        model, enc, [len(t) for t in tokens], batch_size, int(tokenizer.pad_token_id), with_probs=True
    )
    return [" ".join(t) for t in tags], [sentence_confidence(x, p["confidence"]) for x in probs]


def main(ctx) -> None:
    """input: model (a fine-tuned folder), examples (the pool: cls_examples or sentences); output:
    predictions (pool_predictions). params: task, labels, scheme, que_token, qa, method, seed,
    batch_size, max_length, device, confidence."""
    p = ctx.params
    task = make_task(p["task"], p)
    kind = task.info.kind
    path, model_dir = str(ctx.input["examples"]), str(ctx.input["model"])
    pool = as_items(read_artifact(path, examples_artifact(kind)), kind, path)
    if kind == TAGGING:
        model, tokenizer = load_tagger(model_dir, task.que, p["scheme"], ctx.threads, p["device"])
    else:
        model, tokenizer = load_for_task(task, model_dir, int(p["seed"]), ctx.threads, p["device"])
    pred, score = predict_items(task, model, tokenizer, pool, p)
    out = pd.DataFrame({"id": pool["id"], "lang": pool["lang"], "pred": pred, "score": score})
    out["method"], out["seed"] = p["method"], int(p["seed"])
    write_artifact(out, ctx.output["predictions"], POOL_PREDICTIONS)
    log.info("f_lm %s predicted %d pool items of %s", model_dir, len(out), path)
