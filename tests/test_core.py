"""Schemas, atomic I/O, the step runner and the docs generated from the schemas."""

from __future__ import annotations

import logging
import os
import random
import re
import stat
import struct
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline_steps import io, schemas
from pipeline_steps.errors import ArtifactError
from pipeline_steps.runner import StepContext, run

ROOT = Path(__file__).resolve().parents[1]


def sentences(**overrides) -> pd.DataFrame:
    row = {
        "id": "train-en-000000",
        "lang": "en",
        "split": "train",
        "doc_id": None,
        "tokens": ["Juventus", "won"],
        "tags": ["B-ORG", "O"],
        "source": "x.tsv",
        "line": 1,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def test_roundtrip_pandas_and_duckdb(tmp_path):
    path = tmp_path / "s.parquet"
    df = pd.concat([sentences(), sentences(id="train-en-000001", tags=None)], ignore_index=True)
    io.write_artifact(df, path, schemas.SENTENCES)
    back = io.read_artifact(path, schemas.SENTENCES)
    assert back["tokens"].tolist() == [["Juventus", "won"], ["Juventus", "won"]]
    assert back["tags"].iloc[1] is None
    rows = duckdb.sql(f"SELECT id, len(tokens) AS n FROM '{path}' ORDER BY id").fetchall()
    assert rows == [("train-en-000000", 2), ("train-en-000001", 2)]


@pytest.mark.parametrize(
    ("df", "row", "field", "fragment"),
    [
        (sentences().drop(columns=["lang"]), None, "lang", "missing column"),
        (sentences(lang=None), 0, "lang", "null value"),
        (sentences(tags=["O"]), 0, "tags", "length 1 differs"),
        (pd.concat([sentences(), sentences()], ignore_index=True), 1, "id", "duplicate"),
    ],
)
def test_validation_names_row_and_field(tmp_path, df, row, field, fragment):
    path = tmp_path / "bad.parquet"
    with pytest.raises(ArtifactError) as err:
        io.write_artifact(df, path, schemas.SENTENCES)
    assert (err.value.row, err.value.field) == (row, field)
    assert fragment in str(err.value) and str(path) in str(err.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_read_rejects_wrong_artifact_and_non_parquet(tmp_path):
    path = tmp_path / "s.parquet"
    io.write_artifact(sentences(), path, schemas.SENTENCES)
    with pytest.raises(ArtifactError, match="missing column"):
        io.read_artifact(path, schemas.PAIRS)
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ArtifactError, match="not a readable Parquet"):
        io.read_artifact(junk, schemas.SENTENCES)
    with pytest.raises(ArtifactError, match="file not found"):
        io.read_artifact(tmp_path / "absent.parquet", schemas.SENTENCES)


def test_atomic_path_keeps_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "out.json"
    io.write_json({"v": 1}, path)
    with pytest.raises(RuntimeError), io.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == '{\n  "v": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def _failing_step(ctx: StepContext) -> None:
    logging.getLogger("xlt.test").info("working on %s", ctx.input["x"])
    raise ValueError("bad row 3")


def test_runner_logs_to_file_and_reraises(tmp_path, monkeypatch):
    import pipeline_steps.runner as runner

    monkeypatch.setattr(runner, "resolve", lambda step: _failing_step)
    log = tmp_path / "logs" / "step.log"
    with pytest.raises(ValueError, match="bad row 3"):
        run("whatever:main", StepContext(input={"x": "in.parquet"}, output={}, log=str(log)))
    text = log.read_text()
    assert "working on in.parquet" in text and "Traceback" in text and "bad row 3" in text


def test_artifacts_doc_is_generated_from_schemas():
    doc = (ROOT / "docs" / "artifacts.md").read_text(encoding="utf-8")
    assert doc == schemas.render_markdown(), "run: python -m pipeline_steps.schemas > docs/artifacts.md"


@pytest.fixture
def set_umask():
    """Set the process umask for one test; the old one comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_atomic_writes_honour_the_umask(tmp_path, set_umask, mask, file_mode, dir_mode):
    set_umask(mask)
    assert io.umask() == mask
    io.write_artifact(sentences(), tmp_path / "s.parquet", schemas.SENTENCES)
    io.write_json({"v": 1}, tmp_path / "a.json")
    with io.atomic_dir(tmp_path / "model") as tmp:
        (tmp / "weights.bin").write_bytes(b"w")
    for name in ("s.parquet", "a.json", "model/weights.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == dir_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "model", "s.parquet"]


def test_atomic_dir_replaces_the_old_folder_only_on_success(tmp_path):
    out = tmp_path / "model"
    with io.atomic_dir(out) as tmp:
        (tmp / "v1").write_text("1")
    with pytest.raises(RuntimeError), io.atomic_dir(out) as tmp:
        (tmp / "v2").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in out.iterdir()] == ["v1"] and [p.name for p in tmp_path.iterdir()] == ["model"]
    with io.atomic_dir(out) as tmp:
        (tmp / "v2").write_text("2")
    assert [p.name for p in out.iterdir()] == ["v2"] and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_corrupted_data_page_is_an_artifact_error(tmp_path):
    # random 62-bit line numbers do not compress, so one of them lies verbatim in a page of the file
    rng = random.Random(0)
    lines = [rng.getrandbits(62) for _ in range(20)]
    df = pd.concat([sentences(id=f"train-en-{i:06d}", line=n) for i, n in enumerate(lines)])
    path = tmp_path / "s.parquet"
    io.write_artifact(df, path, schemas.SENTENCES)
    data = bytearray(path.read_bytes())
    needle = struct.pack("<q", lines[7])
    assert data.count(needle) == 1
    data[data.index(needle) + 1] ^= 0x01  # one flipped bit: still a valid number, silently wrong
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as err:
        io.read_artifact(path, schemas.SENTENCES)
    assert err.value.path == str(path)
    assert str(err.value).startswith(f"{path}: not a readable Parquet file: ")
    assert "CRC checksum verification failed" in str(err.value)


def test_a_train_log_written_before_the_terms_column_reads_with_null_terms(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline_steps.io import read_artifact

    old = pa.schema([f for f in schemas.TRAIN_LOG.schema if f.name != "terms"])
    rows = {"step": [1], "epoch": [0], "phase": ["main"], "loss": [0.5], "lr": [0.1], "dev_f1": [None]}
    pq.write_table(pa.Table.from_pydict({**rows, "resumed": [False]}, schema=old), tmp_path / "log.parquet")
    log = read_artifact(tmp_path / "log.parquet", schemas.TRAIN_LOG)
    assert log.columns.tolist() == schemas.TRAIN_LOG.columns and log["terms"].tolist() == [None]


def test_the_end_to_end_modules_are_collected_first_longest_first():
    """`make test` hands pytest-xdist whole modules in collection order (--no-loadscope-reorder):
    conftest.LONGEST_FIRST must name every slow module (and only modules that exist), and they must come
    first, in its order."""
    from types import SimpleNamespace

    from conftest import LONGEST_FIRST, pytest_collection_modifyitems

    tests = ROOT / "tests"
    marked = re.compile(r"^pytestmark = .*slow", re.M)
    slow = {p.name for p in tests.glob("test_*.py") if marked.search(p.read_text(encoding="utf-8"))}
    assert slow <= set(LONGEST_FIRST), f"order the slow modules {slow - set(LONGEST_FIRST)} in LONGEST_FIRST"
    assert all((tests / name).is_file() for name in LONGEST_FIRST)
    names = ["test_core.py", *reversed(LONGEST_FIRST), "test_io.py"]
    items = [SimpleNamespace(path=tests / n) for n in names]
    pytest_collection_modifyitems(None, items)
    assert [i.path.name for i in items] == [*LONGEST_FIRST, "test_core.py", "test_io.py"]
