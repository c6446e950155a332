"""The ingest step end to end on fixtures: parameters as the workflow passes them, artifacts, stats."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline_steps import ingest
from pipeline_steps.errors import ConfigError
from pipeline_steps.formats import read
from pipeline_steps.io import read_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import QA_EXAMPLES, SENTENCES

FIX = Path(__file__).resolve().parent / "data" / "formats"


def ctx_for(raw: Path, out: Path, **params) -> StepContext:
    base = {
        "lang": "en",
        "split": "train",
        "scheme": "bio",
        "input_scheme": None,
        "tokenize": None,
        "encoding": None,
    }
    return StepContext(input={"raw": str(raw)}, output={"examples": str(out)}, params={**base, **params})


def test_ingest_conll2003_writes_sentences_and_logs_counts(tmp_path, caplog):
    out = tmp_path / "ingest" / "train.parquet"
    ctx = ctx_for(FIX / "conll2003.txt", out, format="conll2003", input_scheme="iob1", tokenize="moses")
    with caplog.at_level(logging.INFO, logger="pipeline_steps.ingest"):
        ingest.main(ctx)
    df = read_artifact(out, SENTENCES)
    assert list(df["id"]) == ["train-en-000000", "train-en-000001", "train-en-000002"]
    assert df["tags"].iloc[2] == ["B-ORG", "I-ORG", "B-ORG", "I-ORG", "I-ORG"]
    assert list(df["line"]) == [3, 9, 14]
    assert list(df["doc_id"]) == ["doc-0000", "doc-0000", "doc-0001"]
    expected = read(str(FIX / "conll2003.txt"), "conll2003", "en", "train", "bio")
    assert df.to_dict("records") == expected.to_dict("records")
    msg = caplog.text
    assert "'sentences': 3" in msg and "'tokens': 12" in msg
    assert "'entities': {'MISC': 1, 'ORG': 3, 'PER': 1}" in msg


def test_ingest_bioes_scheme(tmp_path):
    out = tmp_path / "test.en.parquet"
    ingest.main(ctx_for(FIX / "europarl_en.tsv", out, format="tsv", scheme="bioes", split="test"))
    df = read_artifact(out, SENTENCES)
    assert df["tags"].iloc[1] == ["O", "S-PER", "O", "O", "B-ORG", "E-ORG", "O", "B-LOC", "E-LOC"]
    assert df["id"].iloc[0] == "test-en-000000"


def test_ingest_unlabelled_lines(tmp_path):
    out = tmp_path / "par.de.tgt.parquet"
    ingest.main(ctx_for(FIX / "lines_de.txt", out, format="lines", lang="de", split="par", tokenize="moses"))
    df = read_artifact(out, SENTENCES)
    assert df["tags"].isna().all() and len(df) == 3
    assert df["tokens"].iloc[2] == ["Toms", "Auto", "kostet", "5", "$", "."]


def test_ingest_encoding_param(tmp_path):
    out = tmp_path / "es.parquet"
    ingest.main(
        ctx_for(FIX / "conll2002_esp_latin1.txt", out, format="conll2002", lang="es", encoding="latin-1")
    )
    assert read_artifact(out, SENTENCES)["tokens"].iloc[1][1] == "España"


def test_ingest_squad_writes_qa(tmp_path):
    out = tmp_path / "qa.parquet"
    ingest.main(ctx_for(FIX / "squad.json", out, format="squad", split="test"))
    assert pq.read_table(out).schema.equals(QA_EXAMPLES.schema, check_metadata=False)
    df = read_artifact(out, QA_EXAMPLES)
    assert list(df["id"]) == ["test-en-q1", "test-en-q2", "test-en-q3"]
    assert list(df["answer_starts"]) == [[0, 0], [44], [16]]


def test_sentence_stats():
    df = read(str(FIX / "europarl_en.tsv"), "tsv", "en", "gold")
    stats = ingest.sentence_stats(df, "bio")
    assert stats == {
        "sentences": 2,
        "tokens": 13,
        "labelled": 2,
        "documents": 0,
        "entities": {"LOC": 1, "ORG": 1, "PER": 1},
    }


def test_the_artifact_follows_the_format(tmp_path):
    ingest.main(ctx_for(FIX / "squad.json", tmp_path / "qa.parquet", format="squad"))
    assert read_artifact(tmp_path / "qa.parquet", QA_EXAMPLES)["question"].notna().all()
    ingest.main(ctx_for(FIX / "europarl_en.tsv", tmp_path / "s.parquet", format="tsv"))
    assert read_artifact(tmp_path / "s.parquet", SENTENCES)["tokens"].map(len).min() > 0


def test_missing_params(tmp_path):
    ctx = StepContext(input={"raw": str(FIX / "europarl_en.tsv")}, output={"examples": str(tmp_path / "x")})
    with pytest.raises(ConfigError, match="format"):
        ingest.main(ctx)


def test_ingest_checks_labels_and_required_tags(tmp_path):
    out = tmp_path / "ingest" / "train.parquet"
    labels = ["PER", "ORG", "LOC", "MISC"]
    ctx = ctx_for(FIX / "conll2003.txt", out, format="conll2003", labels=labels, require_tags=True)
    ingest.main(ctx)
    assert read_artifact(out, SENTENCES)["tags"].notna().all()
    lines_out = tmp_path / "ingest" / "par.parquet"
    ingest.main(ctx_for(FIX / "lines_en.txt", lines_out, format="lines", labels=labels, require_tags=False))
    assert read_artifact(lines_out, SENTENCES)["tags"].isna().all()  # unlabelled parallel text is fine


def test_labels_must_be_a_list_of_types(tmp_path):
    ctx = ctx_for(FIX / "conll2003.txt", tmp_path / "x.parquet", format="conll2003", labels="PER")
    with pytest.raises(ConfigError, match="labels must be a list of entity types, got 'PER'"):
        ingest.main(ctx)
    assert not (tmp_path / "x.parquet").exists()
