"""Throughput of every training and prediction job of a run, from Snakemake's ``benchmark:`` files.

A ``finetune`` job's rate is training examples per second: its steps (the train log) times
``finetune.batch_size`` (the last batch of an epoch may be smaller), over the job's wall time, which
includes loading the model, the dev evaluations and saving. A ``predict`` job's rate is the rows it
predicted (sentences, examples or questions) over its wall time. The job's wall seconds are the ``s``
column of its benchmark file, ``{benchmarks}/finetune/{method}/{seed}.tsv`` or
``{benchmarks}/predict/{method}/{seed}/{lang}.tsv`` (the rules' ``benchmark:`` paths); a job without
one (run before benchmarks existed) is left out.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

COLUMNS = ["job", "method", "seed", "lang", "items", "seconds", "per_second"]


def benchmark_seconds(path: Path) -> float | None:
    """The wall seconds of a benchmark file (the first measurement), None without a usable one."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    try:
        return float(rows[0]["s"])
    except (IndexError, KeyError, ValueError):
        return None


def _parts(path: str, depth: int) -> list[str]:
    """The last ``depth`` path components before the file name, and the file's stem."""
    p = Path(path)
    return [*p.parts[-depth - 1 : -1], p.stem]


def job_throughput(
    benchmarks: str | Path, train_logs: Sequence[str], predictions: Sequence[str], batch_size: int
) -> pd.DataFrame:
    """One row per job (``COLUMNS``): ``train_logs`` are ``finetune/{method}/{seed}/train_log.parquet``
    files, ``predictions`` are ``predict/{method}/{seed}/{lang}.parquet`` files."""
    root, rows = Path(benchmarks), []
    for path in train_logs:
        method, seed, _ = _parts(path, 2)
        seconds = benchmark_seconds(root / "finetune" / method / f"{seed}.tsv")
        steps = len(pd.read_parquet(path, columns=["step"]))
        rows.append(("finetune", method, int(seed), None, steps * int(batch_size), seconds))
    for path in predictions:
        method, seed, lang = _parts(path, 2)
        seconds = benchmark_seconds(root / "predict" / method / seed / f"{lang}.tsv")
        n = pq.ParquetFile(path).metadata.num_rows  # a row per sentence, example or question
        rows.append(("predict", method, int(seed), lang, n, seconds))
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    missing = frame["seconds"].isna()
    if missing.any():
        log.warning("%d jobs have no benchmark file; left out of the throughput", int(missing.sum()))
    frame = frame[~missing].reset_index(drop=True)
    frame["per_second"] = frame["items"] / frame["seconds"].clip(lower=1e-9)
    return frame[COLUMNS]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per job kind and method: jobs, items, seconds (sums) and the overall rate."""
    out = frame.groupby(["job", "method"], sort=False).agg(
        jobs=("items", "size"), items=("items", "sum"), seconds=("seconds", "sum")
    )
    out["per_second"] = out["items"] / out["seconds"].clip(lower=1e-9)
    return out.reset_index()


def markdown(frame: pd.DataFrame) -> str:
    """The report section: one line per job kind and method."""
    lines = [
        "## Throughput",
        "",
        "Training: examples per second (steps x batch size over the job's wall time, model loading, dev "
        "evaluation and saving included). Prediction: rows per second. From the `benchmark:` files.",
        "",
        "| job | method | jobs | items | seconds | per second |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in summary(frame).itertuples():
        cells = [r.job, r.method, r.jobs, r.items, f"{r.seconds:.1f}", f"{r.per_second:.1f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def figure(frame: pd.DataFrame, title: str) -> Figure:
    """Two bar panels: training examples/s and prediction rows/s per method."""
    table = summary(frame)
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    for ax, job, label in zip(
        axes, ("finetune", "predict"), ("training examples / s", "predicted rows / s"), strict=True
    ):
        part = table[table["job"] == job]
        ax.barh(part["method"], part["per_second"], color="tab:blue" if job == "finetune" else "tab:green")
        ax.set_xlabel(label)
        ax.invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
