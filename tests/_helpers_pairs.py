"""Step inputs of the pair stages (project, clism_examples): pairs, alignments and source spans."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from pipeline_steps.io import write_artifact
from pipeline_steps.schemas import ALIGNMENTS, PAIRS, SPANS

#: a span of a sentence that is in no pair, far outside any toy sentence: the stages must ignore it
STRAY_SPAN = {"sentence_id": "other-en-000009", "start": 0, "end": 40, "label": "PER", "text": ""}


def span_rows(sentence_id: str, spans: Iterable[tuple[int, int, str]], origin: str) -> pd.DataFrame:
    """SPANS rows of one source sentence, plus ``STRAY_SPAN``."""
    rows = [
        {"sentence_id": sentence_id, "start": a, "end": b, "label": lab, "text": "", "origin": origin}
        for a, b, lab in spans
    ]
    return pd.DataFrame([*rows, {**STRAY_SPAN, "origin": origin}])


def write_pair_inputs(
    tmp_path: Path, pairs: pd.DataFrame, alignments: pd.DataFrame, spans: pd.DataFrame
) -> dict:
    """The three artifacts written under ``tmp_path``; their paths by input name."""
    paths = {name: str(tmp_path / f"{name}.parquet") for name in ("pairs", "alignments", "spans")}
    write_artifact(pairs, paths["pairs"], PAIRS)
    write_artifact(alignments, paths["alignments"], ALIGNMENTS)
    write_artifact(spans, paths["spans"], SPANS)
    return paths
