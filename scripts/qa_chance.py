"""Random-span baseline ("chance") for extractive QA on an experiment's ingested test sets.

A span of 1-4 words (1-8 characters in scripts written without spaces: zh, ja, th, ...) at a uniformly
random position of the context, 20 draws per question (seed 0 per test set), scored with SQuAD v1.1
F1/EM (or MLQA's normalisation):

    .venv/bin/python scripts/qa_chance.py qa                   # results/qa/ingest/test.*.parquet
    .venv/bin/python scripts/qa_chance.py qa-mlqa mlqa en de es   # only these languages
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pandas as pd

from pipeline_steps.metrics.qa import squad_scores
from pipeline_steps.qa_projection import UNSPACED


def random_spans(context: str, lang: str, rng: random.Random, draws: int = 20) -> list[str]:
    units = list(context) if lang in UNSPACED else context.split()
    joiner = "" if lang in UNSPACED else " "
    out = []
    for _ in range(draws):
        n = rng.randint(1, 8 if lang in UNSPACED else 4)
        i = rng.randrange(max(1, len(units) - n))
        out.append(joiner.join(units[i : i + n]))
    return out


def main(experiment: str, variant: str = "squad", *langs: str) -> None:
    paths = sorted(Path(f"results/{experiment}/ingest").glob("test.*.parquet"))
    for path in [p for p in paths if not langs or p.stem.split(".")[1] in langs]:
        df = pd.read_parquet(path)
        lang = df["lang"].iloc[0]
        rng = random.Random(0)  # per test set: a language's baseline does not depend on the others
        preds, golds = [], []
        for context, gold in zip(df["context"], df["answer_texts"], strict=True):
            spans = random_spans(context, lang, rng)
            preds += spans
            golds += [list(gold)] * len(spans)
        s = squad_scores(preds, golds, lang, variant)
        print(f"{lang}: F1 {100 * s['f1']:.1f}  EM {100 * s['em']:.1f}  ({len(df)} questions)")


if __name__ == "__main__":
    main(*sys.argv[1:])
