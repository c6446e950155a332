"""Atomic, validated Parquet and JSON I/O shared by every step.

Writes go to a temporary file (``atomic_path``) or folder (``atomic_dir``) in the destination folder
and are renamed into place, so a killed job never leaves a half-written artifact that looks
complete; they get the umask's permissions like any other file. Parquet pages carry CRC checksums,
verified on read (a corrupted page is an ArtifactError naming the file).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_steps.errors import ArtifactError
from pipeline_steps.schemas import Artifact, validate

log = logging.getLogger(__name__)


def umask() -> int:
    """The process umask (read from /proc on Linux; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The file gets the permissions of a file created normally (``0o666 & ~umask``), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``out``; it replaces ``out`` only if the block succeeds.

    The folder gets the permissions of one created normally (``0o777 & ~umask``), not mkdtemp's 0700;
    a failed block leaves ``out`` as it was and removes the temporary folder.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~umask())
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        elif out.exists() or out.is_symlink():
            out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def scratch_dir(next_to: str | os.PathLike | None, tool: str) -> Iterator[Path]:
    """A private scratch folder for ``tool``, removed afterwards.

    With ``next_to`` (a job's output path) the folder is ``.xlt-{tool}.{name}.*`` in the output's
    folder, and such folders left by an earlier run of the same output (killed before it could
    clean up; one job writes an output at a time) are removed first. Without it: the system temp dir.
    """
    if next_to is None:
        with tempfile.TemporaryDirectory(prefix=f"xlt-{tool}.") as tmp:
            yield Path(tmp)
        return
    out = Path(next_to).absolute()  # tools may run with the scratch folder as their working directory
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".xlt-{tool}.{out.name}."
    for stale in out.parent.glob(glob.escape(prefix) + "*"):
        if "." in stale.name[len(prefix) :]:  # the scratch folder of another output
            continue
        log.warning("removing scratch folder %s left by an earlier run", stale)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_artifact(df: pd.DataFrame, path: str | os.PathLike, artifact: Artifact) -> None:
    """Validate ``df`` against ``artifact`` and write it atomically as Parquet, with page checksums."""
    df = validate(df.reset_index(drop=True), artifact, str(path))
    table = pa.Table.from_pandas(df, schema=artifact.schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


def read_artifact(path: str | os.PathLike, artifact: Artifact) -> pd.DataFrame:
    """Read a Parquet artifact and validate it; list columns come back as Python lists."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(str(path), None, None, f"file not found (expected a '{artifact.name}' artifact)")
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(str(path), None, None, f"not a readable Parquet file: {exc}") from exc
    df = table.to_pandas(types_mapper=None)
    for name in sorted(artifact.added - set(df.columns)):  # written before the column existed
        df[name] = None
    for name, typ in zip(artifact.schema.names, artifact.schema.types, strict=True):
        if name in df.columns and pa.types.is_list(typ):
            df[name] = df[name].map(_to_list)
        elif name in df.columns and pa.types.is_map(typ):  # arrow maps arrive as lists of pairs
            df[name] = df[name].map(lambda v: None if v is None else dict(v))
    return validate(df, artifact, str(path))


def input_paths(value: Any) -> list[str]:
    """A rule input that may be absent, one path or a list, as a list of paths."""
    if not value:
        return []
    return [str(value)] if isinstance(value, str | os.PathLike) else [str(v) for v in value]


def read_artifacts(paths: Sequence[str | os.PathLike], artifact: Artifact) -> pd.DataFrame:
    """``read_artifact`` of every path, concatenated (an empty frame of the artifact's columns for none)."""
    frames = [read_artifact(p, artifact) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=artifact.columns)


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
