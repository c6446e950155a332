"""Atomic, validated Parquet and JSON I/O shared by every step.

Writes go to a temporary file in the destination folder and are renamed into place, so a killed
job never leaves a half-written artifact that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_steps.errors import ArtifactError
from pipeline_steps.schemas import Artifact, validate


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_artifact(df: pd.DataFrame, path: str | os.PathLike, artifact: Artifact) -> None:
    """Validate ``df`` against ``artifact`` and write it atomically as Parquet."""
    df = validate(df.reset_index(drop=True), artifact, str(path))
    table = pa.Table.from_pandas(df, schema=artifact.schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_artifact(path: str | os.PathLike, artifact: Artifact) -> pd.DataFrame:
    """Read a Parquet artifact and validate it; list columns come back as Python lists."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(str(path), None, None, f"file not found (expected a '{artifact.name}' artifact)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(str(path), None, None, f"not a readable Parquet file: {exc}") from exc
    df = table.to_pandas(types_mapper=None)
    for name, typ in zip(artifact.schema.names, artifact.schema.types, strict=True):
        if name in df.columns and pa.types.is_list(typ):
            df[name] = df[name].map(_to_list)
    return validate(df, artifact, str(path))


def _to_list(value: Any) -> Any:
    """Arrow list cells arrive as numpy arrays (of arrays, scalars or dicts): make plain Python."""
    if value is None:
        return None
    if isinstance(value, np.ndarray | list):
        return [_to_list(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_list(v) for k, v in value.items()}
    return value


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
