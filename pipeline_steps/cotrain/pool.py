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


def main(ctx) -> None:
    """input: model (a fine-tuned folder), examples (the pool: cls_examples or sentences); output:
    predictions (pool_predictions). params: task, labels, scheme, que_token, qa, method, seed,
    batch_size, max_length, device, confidence."""
    p = ctx.params
    task = make_task(p["task"], p)
    kind = task.info.kind
    path, model_dir = str(ctx.input["examples"]), str(ctx.input["model"])
    batch_size, max_length = int(p["batch_size"]), int(p["max_length"])
    pool = read_artifact(path, examples_artifact(kind))
    if kind == TAGGING:
        model, tokenizer = load_tagger(model_dir, task.que, p["scheme"], ctx.threads, p["device"])
        tokens = [list(t) for t in pool["tokens"]]
        enc = encode(tokenizer, tokens, None, None, max_length, que=task.que)
        tags, probs = predict_tags(
            model, enc, [len(t) for t in tokens], batch_size, int(tokenizer.pad_token_id), with_probs=True
        )
        items = as_items(pool.assign(tags=tags), kind, path)
        pred, score = list(items["label"]), [sentence_confidence(x, p["confidence"]) for x in probs]
    else:
        model, tokenizer = load_for_task(task, model_dir, int(p["seed"]), ctx.threads, p["device"])
        pred, score = task.predict(model, pool, tokenizer, batch_size, max_length)
    out = pd.DataFrame(
        {"id": pool["id"], "lang": pool["lang"], "pred": list(pred), "score": [float(x) for x in score]}
    )
    out["method"], out["seed"] = p["method"], int(p["seed"])
    write_artifact(out, ctx.output["predictions"], POOL_PREDICTIONS)
    log.info("f_lm %s predicted %d pool items of %s", model_dir, len(out), path)
