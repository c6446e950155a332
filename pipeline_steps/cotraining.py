"""Steps of paper 002's co-training / self-training loop (Alg. 1) that are not f_lm fine-tuning.

f_lm is fine-tuned by the ``finetune`` rule (methods ``self_training`` / ``co_training``, ``-iterK``) and
predicts the pool with the ``predict_pool`` rule; this module holds the rest, one rule each:

- ``main_embed``: a frozen sentence encoder's vectors of one examples artifact (train, dev, a test set
  or an unlabelled pool), computed once per experiment (``models/sentence_embedding.py``).
- ``main_emb``: f_emb of iteration k -- its softmax head trained on D u its pseudo-labels of round k,
  predicting the pool (for round k+1) and the test sets (for the per-iteration plot).
- ``main_select``: selection round k (``methods/co_training.py: select_round``), its state artifact.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.methods.co_training import (
    initial_state,
    pick_size,
    pseudo_labelled,
    round_summary,
    select_round,
)
from pipeline_steps.models.sentence_embedding import (
    HeadConfig,
    encode_texts,
    load_encoder,
    pair_features,
    predict_head,
    train_head,
)
from pipeline_steps.schemas import CLS_EXAMPLES, CLS_PREDICTIONS, COTRAIN_STATE, EMB_PREDICTIONS, EMBEDDINGS

log = logging.getLogger(__name__)


def paths(value) -> list[str]:
    if not value:
        return []
    return [str(value)] if isinstance(value, str | os.PathLike) else [str(v) for v in value]


def read_examples(items: Sequence[str]) -> pd.DataFrame:
    frames = [read_artifact(p, CLS_EXAMPLES) for p in items]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLS_EXAMPLES.columns)


# ------------------------------------------------------------------------------------------ embed


def embed_examples(examples: pd.DataFrame, encoder, batch_size: int) -> pd.DataFrame:
    """EMBEDDINGS rows of ``examples``: vectors of text_a and, for pairs, of text_b."""
    vec_a = encode_texts(encoder, list(examples["text_a"]), batch_size, "embed text_a")
    pairs = examples["text_b"].notna()
    if bool(pairs.any()) and not bool(pairs.all()):
        row = int(np.flatnonzero(~pairs.to_numpy())[0])
        raise ArtifactError("examples", row, "text_b", "mixes sentence pairs and single texts")
    vec_b = (
        encode_texts(encoder, list(examples["text_b"]), batch_size, "embed text_b") if pairs.any() else None
    )
    return pd.DataFrame(
        {
            "id": examples["id"],
            "lang": examples["lang"],
            "vector": list(vec_a),
            "vector_b": list(vec_b) if vec_b is not None else [None] * len(examples),
        }
    )


def main_embed(ctx) -> None:
    """Rule ``embed``. input: examples (cls_examples); output: embeddings. params: kind, name_or_path,
    batch_size, max_length (``cotrain.embedding``)."""
    p = ctx.params
    torch.manual_seed(0)
    encoder = load_encoder(p["kind"], p.get("name_or_path"), int(p["max_length"]))
    examples = read_artifact(str(ctx.input["examples"]), CLS_EXAMPLES)
    out = embed_examples(examples, encoder, int(p["batch_size"]))
    write_artifact(out, ctx.output["embeddings"], EMBEDDINGS)
    log.info("embedded %d examples of %s", len(out), ctx.input["examples"])


def features(embeddings: pd.DataFrame, ids: Sequence[str], where: str) -> np.ndarray:
    """The head's input rows (``pair_features``) of ``ids``, in that order."""
    by_id = embeddings.set_index("id")
    missing = [i for i in ids if i not in by_id.index]
    if missing:
        raise ArtifactError(where, None, "id", f"no embedding of example {missing[0]!r}")
    rows = by_id.loc[list(ids)]
    u = np.asarray(np.stack(rows["vector"].to_numpy()), dtype=np.float32) if len(rows) else np.zeros((0, 0))
    has_b = rows["vector_b"].notna().any() if len(rows) else False
    v = np.asarray(np.stack(rows["vector_b"].to_numpy()), dtype=np.float32) if has_b else None
    return pair_features(u, v)


def read_embeddings(items: Sequence[str]) -> pd.DataFrame:
    frames = [read_artifact(p, EMBEDDINGS) for p in items]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EMBEDDINGS.columns)


# -------------------------------------------------------------------------------------------- f_emb


def main_emb(ctx) -> None:
    """Rule ``cotrain_emb``. input: train, dev, pool, test (cls_examples), train_emb, dev_emb, pool_emb,
    test_emb (embeddings), state (cotrain_state of round k; absent for k = 0: f_emb on D alone); output:
    predictions (emb_predictions). params: labels, seed, variant, iteration, head (``cotrain.head``)."""
    p = ctx.params
    labels = list(p["labels"])
    label2id = {name: i for i, name in enumerate(labels)}
    train = read_artifact(str(ctx.input["train"]), CLS_EXAMPLES)
    dev = read_artifact(str(ctx.input["dev"]), CLS_EXAMPLES)
    emb = read_embeddings(
        [
            ctx.input["train_emb"],
            ctx.input["dev_emb"],
            *paths(ctx.input.get("pool_emb")),
            *paths(ctx.input.get("test_emb")),
        ]
    )
    state_paths = paths(ctx.input.get("state"))
    extra = pseudo_labelled(read_artifact(state_paths[0], COTRAIN_STATE), "emb") if state_paths else None
    train_rows = (
        train[["id", "label"]]
        if extra is None
        else pd.concat([train[["id", "label"]], extra[["id", "label"]]])
    )
    x = features(emb, list(train_rows["id"]), "train embeddings")
    y = np.array([label2id[v] for v in train_rows["label"]])
    x_dev = features(emb, list(dev["id"]), "dev embeddings")
    y_dev = np.array([label2id[v] for v in dev["label"]])
    h = p["head"]
    config = HeadConfig(int(h["epochs"]), float(h["lr"]), int(h["batch_size"]), float(h["weight_decay"]))
    seed, k = int(p["seed"]), int(p["iteration"])
    head, info = train_head(x, y, len(labels), config, seed, (x_dev, y_dev))
    log.info(
        "f_emb iteration %d: %d training examples, dev accuracy %.4f (epoch %d)",
        k,
        len(x),
        info["best_dev_accuracy"],
        info["best_epoch"],
    )
    frames = []
    for split, items in (
        ("unlabelled", paths(ctx.input.get("pool"))),
        ("test", paths(ctx.input.get("test"))),
    ):
        ex = read_examples(items)
        if not len(ex):
            continue
        probs = predict_head(head, features(emb, list(ex["id"]), f"{split} embeddings"))
        ids = probs.argmax(axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "id": ex["id"],
                    "lang": ex["lang"],
                    "split": split,
                    "gold": ex["label"],
                    "pred": [labels[i] for i in ids],
                    "score": probs[np.arange(len(ids)), ids].astype(np.float64),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["variant"], out["seed"], out["iteration"], out["trained_on"] = str(p["variant"]), seed, k, len(x)
    write_artifact(out, ctx.output["predictions"], EMB_PREDICTIONS)


# ------------------------------------------------------------------------------------------ select


def main_select(ctx) -> None:
    """Rule ``cotrain_select``. input: pool (cls_examples, one per language), train (cls_examples: n),
    state (round k-1; absent for k = 1), lm (cls_predictions of f_lm of iteration k-1 on each pool),
    emb (emb_predictions of f_emb of iteration k-1); output: state (round k). params: variant, seed,
    threshold, pick_fraction."""
    p = ctx.params
    variant, seed = str(p["variant"]), int(p["seed"])
    state_paths = paths(ctx.input.get("state"))
    if state_paths:
        state = read_artifact(state_paths[0], COTRAIN_STATE)
        if str(state["variant"].iloc[0]) != variant:
            raise ConfigError(f"{state_paths[0]}: variant {state['variant'].iloc[0]!r}, expected {variant!r}")
    else:
        state = initial_state(read_examples(paths(ctx.input["pool"])), variant)
    lm_items = paths(ctx.input["lm"])
    lm = pd.concat([read_artifact(x, CLS_PREDICTIONS) for x in lm_items], ignore_index=True)
    emb = read_artifact(str(ctx.input["emb"]), EMB_PREDICTIONS)
    emb = emb[emb["split"] == "unlabelled"]
    n = len(read_artifact(str(ctx.input["train"]), CLS_EXAMPLES))
    n_pick = pick_size(n, float(p["pick_fraction"]))
    new = select_round(
        state,
        {"lm": lm, "emb": emb},
        threshold=float(p["threshold"]),
        n_pick=n_pick,
        seed=seed,
        sources={"lm": ", ".join(lm_items), "emb": str(ctx.input["emb"])},
    )
    for col in ("lm_picked_in", "emb_picked_in"):
        new[col] = new[col].astype("Int64")
    write_artifact(new, ctx.output["state"], COTRAIN_STATE)
    summary = round_summary(new)
    log.info(
        "%s seed %d round %d (n_pick %d):\n%s",
        variant,
        seed,
        int(new["iteration"].iloc[0]),
        n_pick,
        summary.to_string(index=False),
    )
