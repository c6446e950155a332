"""Choosing co-training's threshold t on the source dev set (paper 002 Alg. 1; classification).

    .venv/bin/python scripts/threshold_table.py results/xnli-cotrain --seed 13 [--t 0.5 0.6 0.7 0.8 0.9]

Once a run has its round-0 models (``zero_shot``, or ``lang_adapt`` with ``cotrain.lm_method:
lang_adapt``, and the embeddings of ``cotrain/embeddings/``), prints for each t the share of the dev set
each view would pick (confidence > t) and the accuracy of those picks: f_lm is the round-0 model folder,
f_emb its head trained on D exactly as round 0 trains it (``cotrain.emb.fit_and_predict``, default head
settings unless given). A t above a view's largest confidence makes that view pick nothing (and
self-training's f_lm the zero-shot model again); benchmarks/cotraining.md shows how t was chosen this way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline_steps import config_schema
from pipeline_steps.cotrain import read_items
from pipeline_steps.cotrain.emb import fit_and_predict
from pipeline_steps.io import read_artifacts
from pipeline_steps.models.sentence_embedding import HeadConfig
from pipeline_steps.predict import load_for_task
from pipeline_steps.schemas import EMBEDDINGS
from pipeline_steps.tasks import make_task


def picks_table(confidence: dict[str, np.ndarray], correct: dict[str, np.ndarray], grid) -> pd.DataFrame:
    """Per t and view: the share of items with confidence > t and the accuracy among them (NaN: none)."""
    rows = []
    for t in grid:
        row = {"t": t}
        for view, conf in confidence.items():
            above = conf > t
            row[f"{view}_share"] = float(above.mean()) if len(conf) else float("nan")
            row[f"{view}_accuracy"] = float(correct[view][above].mean()) if above.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="the run's results folder, e.g. results/xnli-cotrain")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--lm-method", default="zero_shot", help="f_lm of round 0 (zero_shot or lang_adapt)")
    ap.add_argument("--labels", nargs="+", help="label names in the model's order (default: from the model)")
    ap.add_argument("--t", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()

    r = Path(args.results)
    model_dir = r / "finetune" / args.lm_method / str(args.seed) / "model"
    from transformers import AutoConfig

    labels = args.labels or [v for _, v in sorted(AutoConfig.from_pretrained(model_dir).id2label.items())]
    task = make_task("cls", {"labels": labels})
    dev = read_items([str(r / "ingest/dev.parquet")], "classification")
    train = read_items([str(r / "ingest/train.parquet")], "classification")
    model, tokenizer = load_for_task(task, str(model_dir), args.seed, 2, "cpu")
    lm_pred, lm_conf = task.predict(model, dev, tokenizer, args.batch_size, args.max_length)
    gold = dev["label"].to_numpy()
    confidence = {"f_lm": np.asarray(lm_conf, dtype=float)}
    correct = {"f_lm": np.asarray(lm_pred) == gold}
    emb_files = [str(r / "cotrain/embeddings/train.parquet"), str(r / "cotrain/embeddings/dev.parquet")]
    if all(Path(f).exists() for f in emb_files):
        defaults = config_schema.defaults("cotrain.head")
        head = HeadConfig(
            defaults["epochs"], defaults["lr"], defaults["batch_size"], defaults["weight_decay"]
        )
        emb = read_artifacts(emb_files, EMBEDDINGS)
        where = {"train": emb_files[0], "dev": emb_files[1]}
        out, _ = fit_and_predict(
            "classification", labels, emb, train, dev, {"dev": dev}, head, args.seed, "min", "bio", where
        )
        confidence["f_emb"] = out["dev"][1]
        correct["f_emb"] = np.asarray(out["dev"][0]) == gold
    print(
        f"{len(dev)} dev examples; largest confidence: "
        + ", ".join(f"{v} {c.max():.3f}" for v, c in confidence.items())
    )
    print(picks_table(confidence, correct, args.t).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
