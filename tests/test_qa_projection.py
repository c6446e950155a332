"""QA translate-train (pipeline_steps/qa_projection.py): contexts segmented with the answer tagged, and
translated examples rebuilt around the projected answer (issue 9)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.project import project_frame
from pipeline_steps.qa_projection import (
    answer_words,
    assemble_examples,
    locate,
    main_segment,
    segment_examples,
    split_context,
)
from pipeline_steps.schemas import PROJECTED, QA_EXAMPLES, SENTENCES, validate

CONTEXT = "Tom Walsh was born in Oakhaven in 2002. Today he works for Castell Foods."


def examples(rows: list[tuple[str, str, str, str, int]], lang: str = "en") -> pd.DataFrame:
    """QA_EXAMPLES of (id, context, question, answer text, answer start)."""
    return validate(
        pd.DataFrame(
            {
                "id": [r[0] for r in rows],
                "lang": lang,
                "split": "train",
                "title": "t",
                "context": [r[1] for r in rows],
                "question": [r[2] for r in rows],
                "answer_texts": [[r[3]] for r in rows],
                "answer_starts": [[r[4]] for r in rows],
                "source": "train.json",
            }
        ),
        QA_EXAMPLES,
    )


def test_split_context_keeps_character_offsets_of_words_and_sentences():
    sentences = split_context(CONTEXT, "en")
    assert [[w.text for w in s] for s in sentences] == [
        ["Tom", "Walsh", "was", "born", "in", "Oakhaven", "in", "2002", "."],
        ["Today", "he", "works", "for", "Castell", "Foods", "."],
    ]
    for s in sentences:
        assert all(CONTEXT[w.start : w.end] == w.text for w in s)


def test_answer_words_by_hand():
    sentences = split_context(CONTEXT, "en")
    assert answer_words(sentences, 34, 38) == (0, 7, 8)  # "2002"
    assert answer_words(sentences, CONTEXT.index("Castell"), CONTEXT.index(".", 40)) == (1, 4, 6)
    assert answer_words(sentences, 35, 37) == (0, 7, 8)  # "00" inside a word takes the word
    assert answer_words(sentences, 34, 45) is None  # "2002. Today" crosses a sentence boundary


def test_segment_gives_every_question_its_own_sentences_with_its_answer_tagged():
    frame, dropped = segment_examples(
        examples(
            [
                ("q1", CONTEXT, "When was Tom born?", "2002", 34),
                ("q2", CONTEXT, "Who employs him?", "Castell Foods", 59),
                ("q3", CONTEXT, "What?", "2002. Today", 34),
            ]
        ),
        "en",
    )
    validate(frame, SENTENCES)
    assert dropped == {"answer not within one sentence": 1}
    assert list(frame["id"]) == [
        "train-en-000000.s000", "train-en-000000.s001", "train-en-000000.q",
        "train-en-000001.s000", "train-en-000001.s001", "train-en-000001.q",
    ]  # fmt: skip
    assert list(frame["doc_id"]) == ["q1"] * 3 + ["q2"] * 3
    tags = list(frame["tags"])
    assert tags[0] == ["O"] * 7 + ["B-ANSWER", "O"] and set(tags[1]) == {"O"}
    assert set(tags[3]) == {"O"} and tags[4] == ["O"] * 4 + ["B-ANSWER", "I-ANSWER", "O"]
    assert list(frame["tokens"].iloc[2]) == ["When", "was", "Tom", "born", "?"] and set(tags[2]) == {"O"}
    bioes, _ = segment_examples(examples([("q2", CONTEXT, "Who?", "Castell Foods", 59)]), "en", "bioes")
    assert list(bioes["tags"].iloc[1]) == ["O"] * 4 + ["B-ANSWER", "E-ANSWER", "O"]


def test_locate_finds_tokens_left_to_right():
    assert locate(["a", "b", "a"], "a b, a") == [(0, 1), (2, 3), (5, 6)]
    assert locate(["a", "c"], "a b") is None


def projected(rows: list[tuple[str, list[str], list[str]]], n_src: dict[str, int] | None = None):
    """PROJECTED rows of (source sentence id, target tokens, target tags)."""
    n_src = n_src or {}
    return validate(
        pd.DataFrame(
            {
                "id": [f"translated-en-de-{i:06d}" for i in range(len(rows))],
                "src_id": [r[0] for r in rows],
                "lang": "de",
                "tokens": [r[1] for r in rows],
                "tags": [r[2] for r in rows],
                "n_src_spans": [n_src.get(r[0], int(any(t != "O" for t in r[2]))) for r in rows],
                "n_projected": [int(any(t != "O" for t in r[2])) for r in rows],
                "mapping": "span2span",
            }
        ).astype({"n_src_spans": "int32", "n_projected": "int32"}),
        PROJECTED,
    )


def test_assemble_rebuilds_the_translated_example_around_the_projected_answer():
    source = examples([("q1", CONTEXT, "When was Tom born?", "2002", 34)])
    sentences, _ = segment_examples(source, "en")
    tgt = projected(
        [
            ("train-en-000000.s000", ["Tom", "Walsh", "wurde", "2002", "in", "Oakhaven", "geboren", "."],
             ["O", "O", "O", "B-ANSWER", "O", "O", "O", "O"]),
            ("train-en-000000.s001", ["Heute", "arbeitet", "er", "für", "Castell", "Foods", "."], ["O"] * 7),
            ("train-en-000000.q", ["Wann", "wurde", "Tom", "geboren", "?"], ["O"] * 5),
        ]
    )  # fmt: skip
    out, dropped = assemble_examples(source, sentences, tgt, "de")
    validate(out, QA_EXAMPLES)
    assert not dropped
    row = out.iloc[0]
    assert row["context"] == "Tom Walsh wurde 2002 in Oakhaven geboren. Heute arbeitet er für Castell Foods."
    assert row["question"] == "Wann wurde Tom geboren?"
    assert list(row["answer_texts"]) == ["2002"] and list(row["answer_starts"]) == [16]
    assert (row["id"], row["lang"], row["source"]) == ("translated-de-000000", "de", "q1")


def test_assemble_drops_and_counts_what_it_cannot_rebuild():
    rows = [(f"q{i}", CONTEXT, "When?", "Castell Foods", 59) for i in range(5)]
    source = examples(rows)
    sentences, _ = segment_examples(source, "en")
    s0, s1 = ["Tom", "kam", "."], ["Er", "arbeitet", "für", "Castell", "Foods", "."]
    answer = ["O", "O", "O", "B-ANSWER", "I-ANSWER", "O"]
    pieces = ["O", "B-ANSWER", "O", "B-ANSWER", "O", "O"]
    tgt = []
    for i, (a_tags, has_q, has_a) in enumerate(
        [(answer, True, True), (answer, False, True), (answer, True, False), (["O"] * 6, True, True),
         (pieces, True, True)]
    ):  # fmt: skip
        base = f"train-en-{i:06d}"
        tgt.append((f"{base}.s000", s0, ["O"] * 3))
        if has_a:
            tgt.append((f"{base}.s001", s1, a_tags))
        if has_q:
            tgt.append((f"{base}.q", ["Wann", "?"], ["O", "O"]))
    frame = projected(tgt, {f"train-en-{i:06d}.s001": 1 for i in range(5)})
    out, dropped = assemble_examples(source, sentences, frame, "de")
    assert list(out["source"]) == ["q0"]
    assert list(out["answer_texts"].iloc[0]) == ["Castell Foods"]
    assert dropped == {
        "question not translated": 1,
        "answer sentence not translated": 1,
        "answer not projected": 1,
        "answer projected in pieces": 1,
    }


def test_assemble_joins_sentences_without_spaces_in_unspaced_scripts():
    source = examples([("q1", "Aa bb. Cc dd.", "Q?", "dd", 10)])
    sentences, _ = segment_examples(source, "en")
    tgt = projected(
        [
            ("train-en-000000.s000", ["甲", "。"], ["O", "O"]),
            ("train-en-000000.s001", ["乙", "丙", "。"], ["O", "B-ANSWER", "O"]),
            ("train-en-000000.q", ["问", "？"], ["O", "O"]),
        ]
    )
    out, _ = assemble_examples(source, sentences, tgt, "zh")
    row = out.iloc[0]
    start = row["answer_starts"][0]
    assert row["context"][start : start + 1] == "丙" and row["context"].startswith("甲。乙")


WORD = st.text(alphabet="qwxz", min_size=2, max_size=6)  # no letter-dot abbreviations (spaCy: "A.")
SENTENCE = st.lists(WORD, min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(SENTENCE, min_size=1, max_size=4), st.data())
def test_identity_translation_and_alignment_give_back_the_source_example(sentences, data):
    """Through segment -> (identity MT and alignment) -> span2span projection -> assemble, an example
    comes back unchanged: same context, answer text and character offset."""
    texts = [" ".join(words).capitalize() + "." for words in sentences]
    context = " ".join(texts)
    k = data.draw(st.integers(0, len(sentences) - 1))
    i = data.draw(st.integers(0, len(sentences[k]) - 1))
    j = data.draw(st.integers(i + 1, len(sentences[k])))
    offset = sum(len(t) + 1 for t in texts[:k])
    start = offset + len(" ".join(sentences[k][:i])) + (1 if i else 0)
    answer = texts[k][start - offset : start - offset + len(" ".join(sentences[k][i:j]))]
    source = examples([("q", context, "Which one?", answer, start)])
    segmented, dropped = segment_examples(source, "en")
    assert not dropped
    pairs = pd.DataFrame(
        {
            "id": [f"p{n}" for n in range(len(segmented))],
            "src_id": segmented["id"],
            "tgt_id": None,
            "src_lang": "en",
            "tgt_lang": "de",
            "src_tokens": segmented["tokens"],
            "tgt_tokens": segmented["tokens"],
            "provider": "identity",
        }
    )
    links = [[{"s": n, "t": n} for n in range(len(t))] for t in segmented["tokens"]]
    alignments = pd.DataFrame({"pair_id": pairs["id"], "links": links, "backend": "-", "symmetrization": "-"})
    spans = pd.DataFrame(
        [
            {"sentence_id": sid, "start": a, "end": b, "label": "ANSWER", "text": "", "origin": "gold"}
            for sid, tags in zip(segmented["id"], segmented["tags"], strict=True)
            for a, b in [_span(tags)]
            if a is not None
        ]
    )
    proj, _ = project_frame(pairs, alignments, spans, mapping="span2span", scheme="bio", lang="de")
    out, dropped = assemble_examples(source, segmented, proj, "de")
    assert not dropped
    row = out.iloc[0]
    assert row["context"] == context
    assert list(row["answer_starts"]) == [start] and list(row["answer_texts"]) == [answer]


def _span(tags) -> tuple[int | None, int | None]:
    idx = [n for n, t in enumerate(tags) if t != "O"]
    return (idx[0], idx[-1] + 1) if idx else (None, None)


def test_segment_step_rejects_a_question_without_answer_and_writes_nothing(tmp_path):
    frame = examples([("q1", CONTEXT, "When?", "2002", 34), ("q2", CONTEXT, "Who?", "x", 0)])
    frame.at[1, "answer_texts"], frame.at[1, "answer_starts"] = [], []
    src = tmp_path / "train.parquet"
    write_artifact(frame, src, QA_EXAMPLES)
    out = tmp_path / "sentences.parquet"
    params = {"src_lang": "en", "scheme": "bio"}
    ctx = SimpleNamespace(input={"examples": str(src)}, output={"sentences": str(out)}, params=params)
    with pytest.raises(ArtifactError, match=r"train\.parquet.*row 1.*answer_texts"):
        main_segment(ctx)
    assert not out.exists()
    ctx.params["src_lang"] = "de"  # a training set in another language than the config's source
    write_artifact(frame.iloc[:1], src, QA_EXAMPLES)
    with pytest.raises(Exception, match="de"):
        main_segment(ctx)
    assert not out.exists()
    ctx.params["src_lang"] = "en"
    main_segment(ctx)
    assert list(read_artifact(out, SENTENCES)["doc_id"]) == ["q1"] * 3


def test_assemble_rejects_sentences_that_qa_segment_did_not_write():
    source = examples([("q1", CONTEXT, "When?", "2002", 34)])
    sentences, _ = segment_examples(source, "en")
    tgt = projected([("train-en-000000.q", ["Wann", "?"], ["O", "O"])])
    no_answer = sentences.copy()
    no_answer.at[0, "tags"] = ["O"] * len(no_answer.at[0, "tags"])
    with pytest.raises(ArtifactError, match=r"s\.parquet.*'doc_id'.*'q1': no answer sentence"):
        assemble_examples(source, no_answer, tgt, "de", sentences_path="s.parquet")
    two = sentences.copy()
    two.at[1, "tags"] = ["B-ANSWER"] + ["O"] * (len(two.at[1, "tags"]) - 1)
    with pytest.raises(ArtifactError, match=r"row 1, field 'tags'.*second answer sentence"):
        assemble_examples(source, two, tgt, "de", sentences_path="s.parquet")
    no_question = sentences.iloc[:-1]
    with pytest.raises(ArtifactError, match="no question sentence last"):
        assemble_examples(source, no_question, tgt, "de")
