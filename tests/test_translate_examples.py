"""Classification translate-train data: translated examples keep their source labels (issue 9)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import CLS_EXAMPLES
from pipeline_steps.translate import examples

SOURCE = pd.DataFrame(
    {
        "id": ["train-en-000000", "train-en-000001", "train-en-000002"],
        "lang": "en",
        "split": "train",
        "text_a": ["The cat sleeps.", "Anna reads a book.", "It rains."],
        "text_b": ["An animal sleeps.", "Anna does not read.", "The sun shines."],
        "label": ["entailment", "contradiction", "contradiction"],
        "source": "en.train.tsv",
        "line": [1, 2, 3],
    }
)
TRANSLATIONS = {
    "The cat sleeps.": "Die Katze schläft.",
    "An animal sleeps.": "Ein Tier schläft.",
    "Anna reads a book.": "Anna liest ein Buch.",
    "Anna does not read.": "Anna liest nicht.",
    "It rains.": "Es regnet.",
    "The sun shines.": "Die Sonne scheint.",
}


def run(tmp_path, source: pd.DataFrame, src_lang: str = "en"):
    write_artifact(source, tmp_path / "train.parquet", CLS_EXAMPLES)
    tsv = tmp_path / "translations.en-de.tsv"
    tsv.write_text("".join(f"{k}\t{v}\n" for k, v in TRANSLATIONS.items() if v), encoding="utf-8")
    out = tmp_path / "translate" / "train.de.parquet"
    ctx = StepContext(
        input={"examples": str(tmp_path / "train.parquet"), "file": [str(tsv)]},
        output={"examples": str(out)},
        params={
            "provider": "file",
            "src_lang": src_lang,
            "tgt_lang": "de",
            "cache_dir": None,
            "chunk_size": 1000,
            "options": {"path": str(tsv)},
        },
    )
    examples.main(ctx)
    return read_artifact(out, CLS_EXAMPLES)


def test_pairs_are_translated_and_keep_their_labels(tmp_path):
    got = run(tmp_path, SOURCE)
    assert list(got["text_a"]) == ["Die Katze schläft.", "Anna liest ein Buch.", "Es regnet."]
    assert list(got["text_b"]) == ["Ein Tier schläft.", "Anna liest nicht.", "Die Sonne scheint."]
    assert list(got["label"]) == list(SOURCE["label"])
    assert list(got["id"]) == [f"translated-de-00000{i}" for i in range(3)]
    assert list(got["source"]) == list(SOURCE["id"])  # lineage: the source example
    assert set(got["lang"]) == {"de"} and set(got["split"]) == {"translated"}


def test_single_sentences_stay_single(tmp_path):
    single = SOURCE.assign(text_b=None)
    got = run(tmp_path, single)
    assert got["text_b"].isna().all() and len(got) == 3


def test_source_language_must_match(tmp_path):
    with pytest.raises(ArtifactError, match="row 0, field 'lang'"):
        run(tmp_path, SOURCE, src_lang="fr")
    assert not (tmp_path / "translate" / "train.de.parquet").exists()


def test_an_example_with_an_empty_translation_is_dropped():
    got = examples.translated_examples(SOURCE, ["A.", "B.", "C."], ["a.", " ", "c."], "de")
    assert list(got["source"]) == ["train-en-000000", "train-en-000002"]
    assert list(got["id"]) == ["translated-de-000000", "translated-de-000002"]  # ids keep the source row
