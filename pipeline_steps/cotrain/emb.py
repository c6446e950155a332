"""Rule ``cotrain_emb``: f_emb of round k (paper 002 Alg. 1) -- its softmax head trained on D plus the
pseudo-labels its training set holds after round k, then its predictions on the pool U (for round
k+1) and on the test sets (for the per-round plot). With ``cotrain.embedding.fine_tune`` the encoder is
fine-tuned with its head instead of frozen (``fine_tuned``).

Classification: one example = its sentence (pair) features, one class. Tagging: one training row per
word (its vector from the frozen encoder, its tag); the head is selected on the dev set's entity F1,
and a sentence's confidence is ``cotrain.confidence`` (min or mean) of its words' tag probabilities.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_steps.cotrain import TAGGING, from_items, read_items
from pipeline_steps.cotrain.pool import predict_items
from pipeline_steps.errors import ArtifactError
from pipeline_steps.evaluate import f1 as entity_f1
from pipeline_steps.finetune import remove_checkpoints, train_config, train_model
from pipeline_steps.io import input_paths, read_artifact, read_artifacts, write_artifact
from pipeline_steps.methods.co_training import pseudo_labelled, sentence_confidence
from pipeline_steps.models.sentence_embedding import HeadConfig, pair_features, predict_head, train_head
from pipeline_steps.schemas import COTRAIN_STATE, EMB_PREDICTIONS, EMBEDDINGS
from pipeline_steps.tags import label_set
from pipeline_steps.tasks import make_task

log = logging.getLogger(__name__)


def _rows(embeddings: pd.DataFrame, ids: Sequence[str], where: str) -> pd.DataFrame:
    by_id = embeddings.drop_duplicates("id").set_index("id")
    missing = [i for i in ids if i not in by_id.index]
    if missing:
        raise ArtifactError(where, None, "id", f"no embedding of example {missing[0]!r}")
    return by_id.loc[list(ids)]


def features(embeddings: pd.DataFrame, ids: Sequence[str], where: str) -> np.ndarray:
    """Classification: the head's input rows (``pair_features``) of ``ids``, in that order."""
    rows = _rows(embeddings, ids, where)
    if not len(rows):
        return np.zeros((0, 0), dtype=np.float32)
    u = np.asarray(np.stack(rows["vector"].to_numpy()), dtype=np.float32)
    has_b = bool(rows["vector_b"].notna().any())
    v = np.asarray(np.stack(rows["vector_b"].to_numpy()), dtype=np.float32) if has_b else None
    return pair_features(u, v)


def word_features(embeddings: pd.DataFrame, items: pd.DataFrame, where: str) -> list[np.ndarray]:
    """Tagging: per item ``[n_words, d]`` word vectors (``text_a`` is the space-joined tokens)."""
    rows = _rows(embeddings, list(items["id"]), where)
    out = []
    for (item_id, text), flat in zip(
        zip(items["id"], items["text_a"], strict=True), rows["vector"], strict=True
    ):
        n = len(text.split(" "))
        flat = np.asarray(flat, dtype=np.float32)
        if flat.size % n:
            raise ArtifactError(where, None, "vector", f"{item_id!r}: {flat.size} numbers for {n} words")
        out.append(flat.reshape(n, -1))
    return out


def fit_and_predict(
    kind: str,
    labels: list[str],
    emb: pd.DataFrame,
    train: pd.DataFrame,
    dev: pd.DataFrame,
    targets: dict[str, pd.DataFrame],
    config: HeadConfig,
    seed: int,
    confidence: str,
    scheme: str,
    where: dict[str, str],
) -> tuple[dict[str, tuple[list[str], np.ndarray]], dict]:
    """Train f_emb's head on ``train`` items (selected on ``dev``) and predict each frame of ``targets``:
    per name (predicted label per item, confidence per item) and the head's {best_epoch,
    best_dev_accuracy} (accuracy, or entity F1 for tagging). ``where`` names the embeddings file(s) of
    "train", "dev" and each target, for the error of an example without a vector."""
    index = {name: i for i, name in enumerate(labels)}
    if kind != TAGGING:
        x, y = (
            features(emb, list(train["id"]), where["train"]),
            np.array([index[v] for v in train["label"]]),
        )
        x_dev, y_dev = (
            features(emb, list(dev["id"]), where["dev"]),
            np.array([index[v] for v in dev["label"]]),
        )
        head, info = train_head(x, y, len(labels), config, seed, (x_dev, y_dev))
        out = {}
        for name, frame in targets.items():
            probs = predict_head(head, features(emb, list(frame["id"]), where[name]))
            best = probs.argmax(axis=1)
            out[name] = ([labels[i] for i in best], probs[np.arange(len(best)), best].astype(np.float64))
        return out, info
    words = word_features(emb, train, where["train"])
    x = np.concatenate(words)
    y = np.array([index[t] for tags in train["label"] for t in tags.split(" ")])
    dev_words = word_features(emb, dev, where["dev"])
    bounds = np.cumsum([0, *(len(w) for w in dev_words)])
    gold = [t.split(" ") for t in dev["label"]]

    def dev_f1(probs: np.ndarray) -> float:
        pred = [
            [labels[i] for i in probs[a:b].argmax(1)] for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return entity_f1(gold, pred, scheme)

    x_dev = np.concatenate(dev_words)
    head, info = train_head(x, y, len(labels), config, seed, (x_dev, np.zeros(len(x_dev), int)), dev_f1)
    out = {}
    for name, frame in targets.items():
        tags, conf = [], []
        for w in word_features(emb, frame, where[name]):
            probs = predict_head(head, w)
            tags.append(" ".join(labels[i] for i in probs.argmax(1)))
            conf.append(sentence_confidence(probs.max(1), confidence))
        out[name] = (tags, np.asarray(conf, dtype=np.float64))
    return out, info


def fine_tuned(
    p: dict,
    kind: str,
    train: pd.DataFrame,
    dev: pd.DataFrame,
    targets: dict[str, pd.DataFrame],
    ckpt_dir: Path,
    threads: int,
) -> tuple[dict[str, tuple[list[str], list[float]]], dict]:
    """``cotrain.embedding.fine_tune``: f_emb is the embedding encoder fine-tuned end to end with the
    task's head, as f_lm is (``finetune.train_model``, method zero_shot, the ``finetune`` schedule in
    ``p["finetune"]``), on f_emb's training set and selected on ``dev``; it then predicts each frame
    of ``targets`` as f_lm predicts the pool (``pool.predict_items``). Returns what
    ``fit_and_predict`` returns (the best step in ``best_epoch``)."""
    fp = {**p["finetune"], "seed": int(p["seed"]), "method": "zero_shot"}
    task = make_task(str(fp["task"]), fp)
    model, tokenizer, trainer, result = train_model(
        task,
        fp,
        train_config(fp, "zero_shot"),
        str(fp["model_name_or_path"]),
        from_items(train, kind),
        from_items(dev, kind),
        ckpt_dir,
        threads,
    )
    if not fp["keep_checkpoints"]:
        remove_checkpoints(ckpt_dir, [r.phase for r in trainer.results])
    settings = {
        "batch_size": p["predict_batch_size"],
        "max_length": fp["max_length"],
        "confidence": p["confidence"],
    }
    predicted = {
        name: predict_items(task, model, tokenizer, items, settings)
        for name, items in targets.items()
        if len(items)
    }
    return predicted, {"best_epoch": result.best_step, "best_dev_accuracy": result.best_f1}


def main(ctx) -> None:
    """input: train, dev, pool, test (examples), train_emb, dev_emb, pool_emb, test_emb (embeddings),
    state (cotrain_state of round k; absent for k = 0: f_emb on D alone); output: predictions
    (emb_predictions). params: task_kind, labels (tagging: entity types, tags by scheme), scheme,
    confidence, seed, variant, iteration, head (``cotrain.head``); with ``fine_tune`` (then no
    ``*_emb`` inputs) also finetune (the finetune params of the encoder, ``fine_tuned``) and
    predict_batch_size."""
    p = ctx.params
    kind, labels = str(p["task_kind"]), list(p["labels"])
    if kind == TAGGING:  # the head predicts tags (O, B-PER, ...) of the configured entity types
        labels = label_set(labels, str(p["scheme"]))
    train = read_items(input_paths(ctx.input["train"]), kind)
    dev = read_items(input_paths(ctx.input["dev"]), kind)
    state = input_paths(ctx.input.get("state"))
    if state:
        pseudo = pseudo_labelled(read_artifact(state[0], COTRAIN_STATE), "emb")
        train = pd.concat([train, pseudo], ignore_index=True)
    targets = {
        "unlabelled": read_items(input_paths(ctx.input.get("pool")), kind),
        "test": read_items(input_paths(ctx.input.get("test")), kind),
    }
    seed, k = int(p["seed"]), int(p["iteration"])
    if p.get("fine_tune"):
        ckpt_dir = Path(ctx.output["predictions"]).with_suffix(".checkpoints")
        predicted, info = fine_tuned(p, kind, train, dev, targets, ckpt_dir, ctx.threads)
    else:
        files = {
            "train": input_paths(ctx.input["train_emb"]),
            "dev": input_paths(ctx.input["dev_emb"]),
            "unlabelled": input_paths(ctx.input.get("pool_emb")),
            "test": input_paths(ctx.input.get("test_emb")),
        }
        emb = read_artifacts([f for group in files.values() for f in group], EMBEDDINGS)
        h = p["head"]
        config = HeadConfig(int(h["epochs"]), float(h["lr"]), int(h["batch_size"]), float(h["weight_decay"]))
        predicted, info = fit_and_predict(
            kind,
            labels,
            emb,
            train,
            dev,
            targets,
            config,
            seed,
            str(p["confidence"]),
            str(p["scheme"]),
            {name: ", ".join(group) for name, group in files.items()},
        )
    log.info(
        "f_emb iteration %d: %d training examples, dev score %.4f (%s %d)",
        k,
        len(train),
        info["best_dev_accuracy"],
        "step" if p.get("fine_tune") else "epoch",
        info["best_epoch"],
    )
    frames = []
    for split, f in targets.items():
        if len(f):
            pred, conf = predicted[split]
            frame = {
                "id": f["id"],
                "lang": f["lang"],
                "split": split,
                "gold": f["label"],
                "pred": pred,
                "score": conf,
            }
            frames.append(pd.DataFrame(frame))
    out = pd.concat(frames, ignore_index=True)
    out["variant"], out["seed"], out["iteration"], out["trained_on"] = str(p["variant"]), seed, k, len(train)
    write_artifact(out, ctx.output["predictions"], EMB_PREDICTIONS)
