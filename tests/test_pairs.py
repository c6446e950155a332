"""pair_parallel: zip two sentence-parallel sentences artifacts into pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps import ingest, pairs
from pipeline_steps.errors import ArtifactError, ConfigError, InputFormatError
from pipeline_steps.io import read_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PAIRS, SENTENCES

FIX = Path(__file__).resolve().parent / "data" / "formats"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def ingest_file(raw: Path, out: Path, fmt: str, lang: str, split: str = "par", **params) -> Path:
    ctx = StepContext(
        input={"raw": str(raw)},
        output={"examples": str(out)},
        params={"format": fmt, "lang": lang, "split": split, "scheme": "bio", **params},
    )
    ingest.main(ctx)
    return out


def run_pairs(src: Path, tgt: Path, out: Path, corpus="par", src_lang="en", tgt_lang="de") -> None:
    params = {"corpus": corpus, "src_lang": src_lang, "tgt_lang": tgt_lang}
    pairs.main(
        StepContext(input={"src": str(src), "tgt": str(tgt)}, output={"pairs": str(out)}, params=params)
    )


def test_pairs_from_parallel_lines(tmp_path):
    src = ingest_file(FIX / "lines_en.txt", tmp_path / "par.de.src.parquet", "lines", "en")
    tgt = ingest_file(FIX / "lines_de.txt", tmp_path / "par.de.tgt.parquet", "lines", "de")
    out = tmp_path / "pairs" / "par.de.parquet"
    run_pairs(src, tgt, out)
    df = read_artifact(out, PAIRS)
    assert list(df["id"]) == ["par-en-de-000000", "par-en-de-000001", "par-en-de-000002"]
    assert list(df["src_id"]) == ["par-en-000000", "par-en-000001", "par-en-000002"]
    assert list(df["tgt_id"]) == ["par-de-000000", "par-de-000001", "par-de-000002"]
    assert set(df["provider"]) == {"parallel"}
    assert set(df["src_lang"]) == {"en"} and set(df["tgt_lang"]) == {"de"}
    assert df["src_tokens"].iloc[2] == ["Tom", "'s", "car", "costs", "$", "5", "."]
    assert df["tgt_tokens"].iloc[2] == ["Toms", "Auto", "kostet", "5", "$", "."]


def test_different_counts_name_the_raw_files_and_the_first_unpaired_line(tmp_path):
    src = ingest_file(FIX / "lines_en.txt", tmp_path / "src.parquet", "lines", "en")
    short = tmp_path / "short.txt"
    short.write_text("Eins .\nZwei .\n", encoding="utf-8")
    tgt = ingest_file(short, tmp_path / "tgt.parquet", "lines", "de", tokenize="whitespace")
    out = tmp_path / "pairs.parquet"
    with pytest.raises(InputFormatError) as e:
        run_pairs(src, tgt, out)
    assert (e.value.path, e.value.line) == (str(FIX / "lines_en.txt"), 3)
    assert e.value.message == (
        f"sentence-parallel files differ in length: {FIX / 'lines_en.txt'} has 3 sentences, {short} has 2; "
        f"the sentence on this line is the first without a partner in {short}"
    )
    assert "parquet" not in str(e.value)  # the raw inputs, not the artifacts
    assert not out.exists()
    with pytest.raises(InputFormatError) as e:  # the other way round
        run_pairs(tgt, src, out, src_lang="de", tgt_lang="en")
    assert (e.value.path, e.value.line) == (str(FIX / "lines_en.txt"), 3)


def test_language_mismatch_names_file_row_and_field(tmp_path):
    src = ingest_file(FIX / "lines_en.txt", tmp_path / "src.parquet", "lines", "en")
    tgt = ingest_file(FIX / "lines_de.txt", tmp_path / "tgt.parquet", "lines", "de")
    with pytest.raises(ArtifactError) as e:
        run_pairs(tgt, src, tmp_path / "pairs.parquet")  # swapped sides
    assert (e.value.path, e.value.row, e.value.field) == (str(tgt), 0, "lang")


def test_missing_params(tmp_path):
    ctx = StepContext(
        input={"src": "a", "tgt": "b"}, output={"pairs": str(tmp_path / "p")}, params={"corpus": "par"}
    )
    with pytest.raises(ConfigError, match="src_lang"):
        pairs.main(ctx)


def test_pair_sentences_labelled_gold(tmp_path):
    src = read_artifact(
        ingest_file(FIX / "europarl_en.tsv", tmp_path / "s.parquet", "tsv", "en", "gold"), SENTENCES
    )
    tgt = src.assign(lang="es", id=[f"gold-es-{i:06d}" for i in range(len(src))])
    df = pairs.pair_sentences(src, tgt, "gold", "en", "es")
    assert list(df["id"]) == ["gold-en-es-000000", "gold-en-es-000001"]
    assert list(df["tgt_id"]) == ["gold-es-000000", "gold-es-000001"]


@pytest.mark.shared_data
def test_real_europarl_pairs(tmp_path):
    en_raw = SHARED / "ner-europarl-parallel" / "en-europarl.test.conll02"
    es_raw = SHARED / "ner-europarl-parallel" / "es-europarl.test.conll02"
    if not (en_raw.is_file() and es_raw.is_file()):
        pytest.skip(f"real data not available: {en_raw.parent} is absent")
    src = ingest_file(en_raw, tmp_path / "gold.es.src.parquet", "tsv", "en", "gold")
    tgt = ingest_file(es_raw, tmp_path / "gold.es.tgt.parquet", "tsv", "es", "gold")
    out = tmp_path / "gold.es.parquet"
    run_pairs(src, tgt, out, corpus="gold", tgt_lang="es")
    df = read_artifact(out, PAIRS)
    assert len(df) == 799
    assert df["id"].iloc[-1] == "gold-en-es-000798"
    assert df["src_tokens"].iloc[0] == ["Resumption", "of", "the", "session"]
