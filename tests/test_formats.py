"""Readers on tiny hand-written fixtures, tag-scheme conversions, and the real shared data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats import ALL_OPTIONS, READERS, options, read
from pipeline_steps.schemas import QA_EXAMPLES, SENTENCES, validate
from pipeline_steps.tags import convert, iob1_to_iob2, spans_from_tags, tags_from_spans

FIX = Path(__file__).resolve().parent / "data" / "formats"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def fix(name: str) -> str:
    return str(FIX / name)


def records(df, *cols):
    return [tuple(r) for r in df[list(cols)].itertuples(index=False)]


# --- CoNLL-2003 -------------------------------------------------------------------------------


def test_conll2003_iob1_to_bio_with_documents_and_lines():
    df = read(fix("conll2003.txt"), "conll2003", "en", "train", "bio")
    validate(df, SENTENCES)
    assert list(df["id"]) == ["train-en-000000", "train-en-000001", "train-en-000002"]
    assert list(df["tokens"]) == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["Hapoel", "Haifa", "Maccabi", "Tel", "Aviv"],
    ]
    assert list(df["tags"]) == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-ORG", "I-ORG", "B-ORG", "I-ORG", "I-ORG"],  # IOB1 B- between two ORG chunks stays B-
    ]
    assert list(df["line"]) == [3, 9, 14]
    assert list(df["doc_id"]) == ["doc-0000", "doc-0000", "doc-0001"]
    assert set(df["source"]) == {fix("conll2003.txt")}
    assert set(df["lang"]) == {"en"} and set(df["split"]) == {"train"}


def test_conll2003_bioes_output():
    df = read(fix("conll2003.txt"), "conll2003", "en", "train", "bioes")
    assert list(df["tags"]) == [
        ["S-ORG", "O", "S-MISC", "O", "O"],
        ["B-PER", "E-PER"],
        ["B-ORG", "E-ORG", "B-ORG", "I-ORG", "E-ORG"],
    ]


def test_docstart_after_each_document_numbers_documents_the_same(tmp_path):
    # Some copies (e.g. the shared eng.* files) put -DOCSTART- after each document instead of before.
    p = tmp_path / "after.txt"
    p.write_text("A NN I-NP O\n\n-DOCSTART- -X- O O\n\nB NN I-NP O\n\nC NN I-NP O\n\n-DOCSTART- -X- O O\n")
    df = read(str(p), "conll2003", "en", "x")
    assert list(df["doc_id"]) == ["doc-0000", "doc-0001", "doc-0001"]
    assert list(df["line"]) == [1, 5, 7]


# --- CoNLL-2002 -------------------------------------------------------------------------------


def test_conll2002_dutch_docstart_inside_block():
    df = read(fix("conll2002_ned.txt"), "conll2002", "nl", "dev", "bio")
    assert list(df["tokens"]) == [
        ["De", "tekst", "van", "Verberckmoes", "."],
        ["Het", "is", "goed"],
        ["Antwerpen", "ligt", "in", "België"],
    ]
    assert list(df["tags"]) == [["O", "O", "O", "B-PER", "O"], ["O", "O", "O"], ["B-LOC", "O", "O", "B-LOC"]]
    assert list(df["line"]) == [2, 8, 13]
    assert list(df["doc_id"]) == ["doc-0000", "doc-0000", "doc-0001"]
    assert list(df["id"]) == ["dev-nl-000000", "dev-nl-000001", "dev-nl-000002"]


def test_conll2002_latin1_with_encoding_option():
    df = read(fix("conll2002_esp_latin1.txt"), "conll2002", "es", "train", "bio", encoding="latin-1")
    assert list(df["tokens"]) == [
        ["Melbourne", "(", "Australia", ")"],
        ["La", "España", "de", "José", "María"],
    ]
    assert list(df["tags"]) == [["B-LOC", "O", "B-LOC", "O"], ["O", "B-LOC", "O", "B-PER", "I-PER"]]
    assert list(df["doc_id"]) == [None, None]
    assert list(df["line"]) == [1, 6]


def test_conll2002_latin1_read_as_utf8_names_the_line():
    with pytest.raises(InputFormatError) as e:
        read(fix("conll2002_esp_latin1.txt"), "conll2002", "es", "train", "bio")
    assert e.value.line == 7 and e.value.path == fix("conll2002_esp_latin1.txt")
    assert "utf-8" in str(e.value)


# --- tsv ----------------------------------------------------------------------------------------


def test_tsv_bio():
    df = read(fix("europarl_en.tsv"), "tsv", "en", "gold", "bio")
    assert list(df["tokens"]) == [
        ["Resumption", "of", "the", "session"],
        ["Mrs", "Lynne", "said", "the", "European", "Union", "and", "Sri", "Lanka"],
    ]
    assert df["tags"].iloc[1] == ["O", "B-PER", "O", "O", "B-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]
    assert list(df["line"]) == [1, 6]
    assert list(df["id"]) == ["gold-en-000000", "gold-en-000001"]


def test_tsv_bioes_input_to_bio_and_bioes():
    bio = read(fix("tsv_bioes.tsv"), "tsv", "en", "test", "bio", input_scheme="bioes")
    assert list(bio["tags"]) == [["O", "B-PER", "O", "B-LOC", "I-LOC"], ["O", "B-ORG", "I-ORG"]]
    assert list(bio["line"]) == [1, 8]  # two blank lines between the sentences
    bioes = read(fix("tsv_bioes.tsv"), "tsv", "en", "test", "bioes", input_scheme="bioes")
    assert list(bioes["tags"]) == [["O", "S-PER", "O", "B-LOC", "E-LOC"], ["O", "B-ORG", "E-ORG"]]


def test_tsv_iob1_input(tmp_path):
    p = tmp_path / "iob1.tsv"
    p.write_text("John\tI-PER\nSmith\tI-PER\nMary\tB-PER\nsaw\tO\nRome\tI-LOC\n")
    df = read(str(p), "tsv", "en", "x", "bio", input_scheme="iob1")
    assert df["tags"].iloc[0] == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]


def test_tsv_space_separator(tmp_path):
    p = tmp_path / "absa.txt"
    p.write_text("The O\nfood B-TARGET\nwas O\ngreat O\n")
    df = read(str(p), "tsv", "en", "x", "bio", sep="space")
    assert df["tokens"].iloc[0] == ["The", "food", "was", "great"]
    assert df["tags"].iloc[0] == ["O", "B-TARGET", "O", "O"]


# --- WikiANN --------------------------------------------------------------------------------------


def test_wikiann_strips_language_prefix_once():
    df = read(fix("wikiann_en.txt"), "wikiann", "en", "train", "bio")
    assert list(df["tokens"]) == [
        ["R.H.", "Saunders", "(", "St.", "Lawrence", ")"],
        ["http://x.org", "Paris"],
    ]
    assert list(df["tags"]) == [["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "O"], ["O", "B-LOC"]]
    assert list(df["line"]) == [1, 8]


def test_wikiann_label_less_rows_give_null_tags():
    df = read(fix("wikiann_test_es.tsv"), "wikiann", "es", "test", "bio")
    assert list(df["tokens"]) == [["Jilguero", "del", "Huascarán"], ["REDIRECCIÓN", "Algarrobo"]]
    assert list(df["tags"]) == [None, None]
    assert list(df["line"]) == [1, 5]
    validate(df, SENTENCES)


def test_wikiann_without_prefix_keeps_colons(tmp_path):
    p = tmp_path / "train-es.tsv"
    p.write_text("Algarrobo\tB-LOC\n(\tO\nes:x\tO\n")
    df = read(str(p), "wikiann", "es", "train", strip_prefix=False)
    assert df["tokens"].iloc[0] == ["Algarrobo", "(", "es:x"]
    with pytest.raises(InputFormatError, match="'es:x' has a language prefix but the first token line"):
        read(str(p), "wikiann", "es", "train")  # detected per file: line 1 has no prefix


# --- lines ----------------------------------------------------------------------------------------


def test_lines_moses_tokenization():
    en = read(fix("lines_en.txt"), "lines", "en", "par", "bio")
    assert list(en["tokens"]) == [
        ["Mary", "said", "she", "didn", "'t", "know", "where", "Tom", "was", "."],
        ["How", "long", "are", "Tom", "and", "I", "supposed", "to", "stay", "here", "?"],
        ["Tom", "'s", "car", "costs", "$", "5", "."],
    ]
    assert list(en["line"]) == [1, 2, 3]
    assert list(en["tags"]) == [None] * 3 and list(en["doc_id"]) == [None] * 3
    de = read(fix("lines_de.txt"), "lines", "de", "par", "bio")
    assert de["tokens"].iloc[0] == [
        "Maria",
        "sagte",
        ",",
        "sie",
        "wisse",
        "nicht",
        ",",
        "wo",
        "Tom",
        "sei",
        ".",
    ]
    assert list(de["id"]) == ["par-de-000000", "par-de-000001", "par-de-000002"]


def test_lines_whitespace_tokenization():
    df = read(fix("lines_en.txt"), "lines", "en", "par", tokenize="whitespace")
    assert df["tokens"].iloc[2] == ["Tom's", "car", "costs", "$5."]


# --- squad ------------------------------------------------------------------------------------------


def test_squad_examples():
    df = read(fix("squad.json"), "squad", "en", "test")
    validate(df, QA_EXAMPLES)
    assert list(df["id"]) == ["test-en-q1", "test-en-q2", "test-en-q3"]
    assert list(df["title"]) == ["Warsaw", "Warsaw", "Zürich"]
    assert list(df["answer_texts"]) == [["Warsaw", "Warsaw"], ["the Vistula"], ["Zürichsee"]]
    assert list(df["answer_starts"]) == [[0, 0], [44], [16]]
    assert df["question"].iloc[2] == "Woran liegt Zürich?"
    for ctx, texts, starts in zip(df["context"], df["answer_texts"], df["answer_starts"], strict=True):
        assert [ctx[s : s + len(t)] for t, s in zip(texts, starts, strict=True)] == texts


def test_squad_answer_start_mismatch_names_question_and_line(tmp_path):
    text = (
        (FIX / "squad.json").read_text(encoding="utf-8").replace('"answer_start": 44', '"answer_start": 43')
    )
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputFormatError) as e:
        read(str(p), "squad", "en", "test")
    assert "'q2'" in str(e.value) and e.value.line == 25


# --- Unicode NFC -----------------------------------------------------------------------------------

DECOMPOSED, COMPOSED = "Mu\u0308nchen", "M\u00fcnchen"  # u + combining diaeresis vs precomposed ü


@pytest.mark.parametrize(
    ("fmt", "content", "tokens"),
    [
        ("tsv", f"{DECOMPOSED}\tB-LOC\nist\tO\n", [COMPOSED, "ist"]),
        ("conll2002", f"{DECOMPOSED} NP B-LOC\n", [COMPOSED]),
        ("wikiann", f"de:{DECOMPOSED}\tB-LOC\nde:ist\tO\n", [COMPOSED, "ist"]),
        ("lines", f"{DECOMPOSED} ist schön .\n", [COMPOSED, "ist", "schön", "."]),
    ],
)
def test_tokens_are_nfc_normalised(tmp_path, fmt, content, tokens):
    p = tmp_path / "in.txt"
    p.write_text(content, encoding="utf-8")
    df = read(str(p), fmt, "de", "train", tokenize="whitespace")
    assert df["tokens"].iloc[0] == tokens


def test_squad_is_nfc_normalised_and_answer_starts_follow(tmp_path):
    context = f"Die Stadt {DECOMPOSED} liegt an der Isar, {DECOMPOSED} ist groß."
    doc = {
        "data": [
            {
                "title": DECOMPOSED,
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": f"Woran liegt {DECOMPOSED}?",
                                "answers": [{"text": "der Isar", "answer_start": context.index("der Isar")}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    p = tmp_path / "q.json"
    p.write_text(json.dumps(doc), encoding="utf-8")  # \u escapes: normalised after parsing too
    df = read(str(p), "squad", "de", "test")
    assert df["context"].iloc[0] == f"Die Stadt {COMPOSED} liegt an der Isar, {COMPOSED} ist groß."
    assert (df["title"].iloc[0], df["question"].iloc[0]) == (COMPOSED, f"Woran liegt {COMPOSED}?")
    assert df["answer_starts"].iloc[0] == [df["context"].iloc[0].index("der Isar")] == [27]
    assert df["answer_texts"].iloc[0] == ["der Isar"]


def test_bom_is_dropped_from_utf8_input(tmp_path):
    p = tmp_path / "in.tsv"
    p.write_bytes("\ufeffParis\tB-LOC\n".encode())
    assert read(str(p), "tsv", "fr", "train")["tokens"].iloc[0] == ["Paris"]


# --- dispatch ---------------------------------------------------------------------------------------


def test_registry_and_options():
    assert set(READERS) == {"conll2003", "conll2002", "tsv", "wikiann", "lines", "squad"} | {
        "xnli",
        "mnli_json",
        "xlmt",
        "sib200",
        "upb",
        "upb_ewt",
    }
    assert options("lines") == ("tokenize", "encoding", "moses_lang")
    assert {"input_scheme", "tokenize", "encoding"} <= ALL_OPTIONS


def test_options_of_other_formats_are_ignored_and_none_means_default():
    df = read(
        fix("europarl_en.tsv"), "tsv", "en", "gold", "bio", tokenize="moses", encoding=None, input_scheme=None
    )
    assert len(df) == 2


def test_unknown_option_and_scheme_are_config_errors():
    with pytest.raises(ConfigError, match="tokenise"):
        read(fix("europarl_en.tsv"), "tsv", "en", "gold", tokenise="moses")
    with pytest.raises(ConfigError, match="iob2"):
        read(fix("europarl_en.tsv"), "tsv", "en", "gold", "iob2")
    with pytest.raises(ConfigError, match="bilou"):
        read(fix("europarl_en.tsv"), "tsv", "en", "gold", input_scheme="bilou")
    with pytest.raises(ConfigError, match="spacy"):
        read(fix("lines_en.txt"), "lines", "en", "par", tokenize="spacy")


# --- tags.py: IOB1 -> IOB2 by hand, invariants --------------------------------------------------------


@pytest.mark.parametrize(
    ("iob1", "iob2"),
    [
        (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),
        (["O", "I-LOC", "I-ORG", "I-ORG"], ["O", "B-LOC", "B-ORG", "I-ORG"]),
        (["I-MISC", "O", "I-MISC"], ["B-MISC", "O", "B-MISC"]),
        (["O", "O"], ["O", "O"]),
    ],
)
def test_iob1_to_iob2_by_hand(iob1, iob2):
    assert iob1_to_iob2(iob1) == iob2


LABELS = st.sampled_from(["PER", "LOC", "ORG", "MISC"])


@st.composite
def sentence_spans(draw):
    """A sentence length and non-overlapping spans inside it."""
    n = draw(st.integers(min_value=0, max_value=25))
    cuts = sorted(draw(st.sets(st.integers(min_value=0, max_value=n), max_size=12)))
    spans = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        if draw(st.booleans()):
            spans.append((a, b, draw(LABELS)))
    return n, spans


@given(sentence_spans(), st.sampled_from(["bio", "bioes"]))
def test_spans_tags_round_trip(case, scheme):
    n, spans = case
    assert spans_from_tags(tags_from_spans(n, spans, scheme), scheme) == spans


@given(sentence_spans())
def test_bio_bioes_round_trip(case):
    n, spans = case
    bio = tags_from_spans(n, spans, "bio")
    bioes = convert(bio, "bio", "bioes")
    assert bioes == tags_from_spans(n, spans, "bioes")
    assert convert(bioes, "bioes", "bio") == bio
    assert convert(bio, "iob1", "bio") == bio  # well-formed IOB2 reads the same as IOB1


# --- the real shared files (counts from ../shared/data/README.md) -------------------------------------


def shared(rel: str) -> str:
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is absent")
    return str(path)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("rel", "fmt", "lang", "opts", "n_sent", "n_tok", "n_docs"),
    [
        ("conll2003/eng.train", "conll2003", "en", {}, 14041, 203621, 946),
        ("conll2002/esp.train", "conll2002", "es", {"input_scheme": "iob1"}, 8323, 264715, 0),
        ("conll2002/ned.train", "conll2002", "nl", {}, 15806, 202644, 287),
        ("ner-europarl-parallel/en-europarl.test.conll02", "tsv", "en", {}, 799, 22320, 0),
        ("ner-europarl-parallel/es-europarl.test.conll02", "tsv", "es", {}, 799, 23279, 0),
        ("wikiann/xtreme-panx-boleima/test-hi.tsv", "wikiann", "hi", {}, 1000, 6005, 0),
        ("tatoeba/tatoeba.deu-eng.deu", "lines", "de", {}, 1000, None, 0),
    ],
)
def test_real_files(rel, fmt, lang, opts, n_sent, n_tok, n_docs):
    df = read(shared(rel), fmt, lang, "x", "bio", **opts)
    validate(df, SENTENCES)
    assert len(df) == n_sent
    if n_tok is not None:
        assert int(df["tokens"].map(len).sum()) == n_tok
    assert df["doc_id"].nunique() == n_docs
    assert df["id"].iloc[-1] == f"x-{lang}-{n_sent - 1:06d}"


@pytest.mark.shared_data
def test_real_europarl_entity_counts():
    # SOURCE.txt: B- counts en 702, es 697.
    for lang, n in (("en", 702), ("es", 697)):
        df = read(shared(f"ner-europarl-parallel/{lang}-europarl.test.conll02"), "tsv", lang, "gold")
        assert sum(len(spans_from_tags(t)) for t in df["tags"]) == n


@pytest.mark.shared_data
def test_real_spanish_stray_i_tag_is_reported_in_strict_bio():
    # esp.train has one I-LOC after a sentence break (line 221619); strict IOB2 names it.
    with pytest.raises(InputFormatError) as e:
        read(shared("conll2002/esp.train"), "conll2002", "es", "train", "bio")
    assert e.value.line == 221619 and "iob1" in str(e.value)


@pytest.mark.shared_data
def test_real_xquad_german():
    df = read(shared("xquad/xquad.de.json"), "squad", "de", "test")
    assert len(df) == 1190 and df["title"].nunique() == 48 and df["context"].nunique() == 240


def test_squad_empty_answer_text_names_question_and_line(tmp_path):
    """The shared TyDiQA-GoldP dev copy has every answer text empty: that is an error, not a set of
    questions no prediction can match."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        (FIX / "squad.json").read_text(encoding="utf-8").replace('"text": "the Vistula"', '"text": ""', 1),
        encoding="utf-8",
    )
    with pytest.raises(InputFormatError, match=r"question 'q2': answer 0 has an empty text") as e:
        read(str(bad), "squad", "en", "dev")
    assert e.value.line == 25
