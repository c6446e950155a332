"""Dependency-based SRL on Universal Proposition Banks (issue 14): the two UPB layouts, the argument-F1
scorer, bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_steps import formats
from pipeline_steps.errors import ArtifactError, InputFormatError
from pipeline_steps.formats.upb import role_name
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.metrics.srl import argument_f1
from pipeline_steps.schemas import SRL_INSTANCES

# "Bush nominated two individuals to replace jurists ." with two predicates. "individuals" is an
# argument of both: ARG1 of nominate.01 and ARG0 of replace.01.
EWT = """\
# sent_id = s1
# text = Bush nominated two individuals to replace jurists .
1\tBush\tBush\tPROPN\tNNP\t_\t2\tnsubj\t2:nsubj\t_\t_\tARG0\t_
2\tnominated\tnominate\tVERB\tVBD\t_\t0\troot\t0:root\t_\tnominate.01\tV\t_
3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t4:nummod\t_\t_\t_\t_
4\tindividuals\tindividual\tNOUN\tNNS\t_\t2\tobj\t2:obj\t_\t_\tARG1\tARG0
5\tto\tto\tPART\tTO\t_\t6\tmark\t6:mark\t_\t_\t_\t_
6\treplace\treplace\tVERB\tVB\t_\t2\tadvcl\t2:advcl\t_\treplace.01\tARGM-PRP\tV
6.1\treplace\treplace\tVERB\tVB\t_\t_\t_\t2:conj\tCopyOf=6\t\t\t
7\tjurists\tjurist\tNOUN\tNNS\t_\t6\tobj\t6:obj\t_\t_\t_\tARG1
8\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_\t_\t_\t_

# text = ***
1\t***\t***\tPUNCT\tNFP\t_\t0\troot\t0:root\t_\t_\t
"""

UPB = """\
# sentence-text: Bush nominated two individuals to replace jurists .
1\tBush\tBush\tPROPN\tNNP\t_\t2\tnsubj\t_\t_\tA0\t_
2\tnominated\tnominate\tVERB\tVBD\t_\t0\troot\tY\tnominate.01\t_\t_
3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t_\t_\t_\t_
4\tindividuals\tindividual\tNOUN\tNNS\t_\t2\tobj\t_\t_\tA1\tA0
5-6\ttoreplace\t_\t_\t_\t_\t_\t_\t_\t_
5\tto\tto\tPART\tTO\t_\t6\tmark\t_\t_\t_\t_
6\treplace\treplace\tVERB\tVB\t_\t2\tadvcl\tY\treplace.01\tAM-PRP\t_
7\tjurists\tjurist\tNOUN\tNNS\t_\t6\tobj\t_\t_\t_\tA1
8\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\t_\t_

1\t***\t***\tPUNCT\tNFP\t_\t0\troot\t_\t_
"""

NOMINATE = ["I-A0", "O", "O", "I-A1", "O", "I-AM-PRP", "O", "O"]
REPLACE = ["O", "O", "O", "I-A0", "O", "O", "I-A1", "O"]


def _read(tmp_path, text: str, fmt: str, name: str = "f.conllu", **kw) -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return formats.read(str(path), fmt, "xx", "dev", **kw)


def test_both_layouts_read_into_the_same_instances(tmp_path):
    ewt = _read(tmp_path, EWT, "upb_ewt", "ewt.conllu")
    upb = _read(tmp_path, UPB, "upb", "upb.conllu")
    assert list(ewt["id"]) == ["dev-xx-000000-p0", "dev-xx-000000-p1"]  # the *** sentence: no instance
    assert list(ewt["predicate"]) == [1, 5] and list(ewt["sense"]) == ["nominate.01", "replace.01"]
    assert list(ewt["tokens"][0]) == [
        "Bush",
        "nominated",
        "two",
        "individuals",
        "to",
        "replace",
        "jurists",
        ".",
    ]
    assert list(ewt["upos"][1]) == ["PROPN", "VERB", "NUM", "NOUN", "PART", "VERB", "NOUN", "PUNCT"]
    # a predicate whose argument is also another predicate's keeps its own labels
    assert [list(t) for t in ewt["tags"]] == [NOMINATE, REPLACE]
    same = ["id", "sentence_id", "tokens", "upos", "predicate", "sense", "tags"]
    pd.testing.assert_frame_equal(ewt[same], upb[same])
    assert list(ewt["line"]) == [3, 3] and list(upb["line"]) == [2, 2]  # the sentence's first word
    write_artifact(ewt, tmp_path / "out.parquet", SRL_INSTANCES)  # the artifact schema holds
    assert read_artifact(str(tmp_path / "out.parquet"), SRL_INSTANCES)["predicate"].tolist() == [1, 5]


def test_ewt_role_names_map_to_upb_names():
    cases = {
        "ARG0": "A0",
        "ARG5": "A5",
        "ARGM-LOC": "AM-LOC",
        "R-ARG1": "R-A1",
        "C-ARG0": "C-A0",
        "R-ARGM-TMP": "R-AM-TMP",
        "C-ARGM-CXN": "C-AM-CXN",
        "A1": "A1",
        "AM-TMP": "AM-TMP",
        "R-A0": "R-A0",
    }
    assert {k: role_name(k) for k in cases} == cases


def test_the_rest_of_a_multi_word_predicate_is_not_an_argument(tmp_path):
    text = (
        "1\tthey\tthey\tPRON\tPRP\t_\t2\tnsubj\t_\t_\t_\tARG0\n"
        "2\tbreak\tbreak\tVERB\tVB\t_\t0\troot\t_\t_\tbreak_through.26\tV\n"
        "3\tthrough\tthrough\tADP\tRP\t_\t2\tcompound\t_\t_\t_\tV\n"
        "4\tnow\tnow\tADV\tRB\t_\t2\tadvmod\t_\t_\t_\tC-V\n"
    )
    df = _read(tmp_path, text, "upb_ewt")
    assert list(df["tags"][0]) == ["I-A0", "O", "O", "O"] and df["predicate"][0] == 1


def _replace_line(text: str, number: int, new: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = new
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("fmt", "text", "line", "fragment"),
    [
        # an argument column without a predicate
        (
            "upb",
            _replace_line(UPB, 4, "3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t_\t_\t_\t_\tA2"),
            4,
            "without a predicate",
        ),
        # a predicate without its column
        ("upb", _replace_line(UPB, 10, "8\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\t_"), 10, "without its column"),
        ("upb", _replace_line(UPB, 4, "3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\tN\t_\t_\t_"), 4, "FILLPRED"),
        ("upb", _replace_line(UPB, 4, "3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t_\ttwo.01\t_\t_"), 4, "not Y"),
        ("upb", _replace_line(UPB, 4, "4\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t_\t_\t_\t_"), 4, "word ID '4'"),
        ("upb_ewt", _replace_line(EWT, 5, "3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod"), 5, "columns"),
        # the German layout read as English: FILLPRED's Y is not a sense, so columns disagree
        ("upb_ewt", UPB, 2, "predicate"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, fmt, text, line, fragment):
    with pytest.raises(InputFormatError, match=fragment) as err:
        _read(tmp_path, text, fmt)
    assert err.value.line == line and err.value.path.endswith("f.conllu")


def test_a_role_outside_the_label_set_names_its_sentence(tmp_path):
    with pytest.raises(InputFormatError, match="role 'AM-PRP' is not in the label set") as err:
        _read(tmp_path, UPB, "upb", labels=["A0", "A1", "A2"])
    assert err.value.line == 2
    assert len(_read(tmp_path, UPB, "upb", labels=["A0", "A1", "AM-PRP"])) == 2


# ---------------------------------------------------------------------------------- scorer


def test_argument_f1_equals_a_hand_computation():
    gold = [NOMINATE, REPLACE]  # 3 + 2 = 5 gold triples
    pred = [
        ["I-A0", "O", "O", "I-A2", "O", "I-AM-PRP", "O", "O"],  # A0 right, A2 on A1's head, AM-PRP right
        ["O", "O", "O", "I-A0", "O", "O", "O", "I-A1"],  # A0 right, A1 on the wrong head
    ]
    s = argument_f1(gold, pred)
    # correct 3 (A0, AM-PRP; A0) of 5 predicted and 5 gold: P = R = F1 = 0.6
    assert (s.n_gold, s.n_predicted, s.n_correct) == (5, 5, 3)
    assert s.precision == pytest.approx(0.6) and s.recall == pytest.approx(0.6) and s.f1 == pytest.approx(0.6)
    # unlabelled: heads (0,0) (0,3) (0,5) (1,3) right, (1,7) wrong: 4 of 5
    assert s.unlabelled_f1 == pytest.approx(0.8)
    # a role on the same head for the OTHER predicate does not count: triples are per instance
    swapped = argument_f1(gold, [REPLACE, NOMINATE])
    assert swapped.n_correct == 0
    fewer = argument_f1(gold, [NOMINATE, ["O"] * 8])  # P 3/3, R 3/5
    assert fewer.precision == 1.0 and fewer.recall == pytest.approx(0.6) and fewer.f1 == pytest.approx(0.75)
    assert argument_f1([["O"]], [["O"]]).f1 == 0.0


def test_argument_f1_rejects_mismatched_input():
    with pytest.raises(ValueError, match="2 gold instances but 1"):
        argument_f1([NOMINATE, REPLACE], [NOMINATE])
    with pytest.raises(ValueError, match="instance 0: 8 gold tags but 2"):
        argument_f1([NOMINATE], [["O", "O"]])
    with pytest.raises(ValueError, match="neither O nor I-<role>"):
        argument_f1([["O"]], [["A0"]])


@given(
    st.lists(st.lists(st.sampled_from(["O", "I-A0", "I-A1", "I-AM-TMP"]), min_size=1, max_size=6), min_size=1)
)
def test_argument_f1_of_gold_against_itself_is_1_and_bounded(gold):
    has_args = any(t != "O" for tags in gold for t in tags)
    assert argument_f1(gold, gold).f1 == (1.0 if has_args else 0.0)
    flipped = [["O" if t != "O" else "I-A0" for t in tags] for tags in gold]
    s = argument_f1(gold, flipped)
    assert s.n_correct == 0 and 0.0 <= s.unlabelled_f1 <= 1.0


# ---------------------------------------------------------------------------------- model input


def test_the_predicate_is_marked_and_the_markers_carry_no_label(me5_small):
    from pipeline_steps.models.predicate_marking import encode_marked, mark
    from pipeline_steps.models.token_classification import IGNORE, load_tokenizer
    from pipeline_steps.tasks.srl import srl_tagset

    tok = load_tokenizer(str(me5_small))
    words = ["Bush", "nominated", "two", "individuals"]
    assert mark(words, 1) == ["Bush", "<", "nominated", ">", "two", "individuals"]
    tagset = srl_tagset(["A0", "A1"])
    assert tagset == ["O", "I-A0", "I-A1"]
    label2id = {t: i for i, t in enumerate(tagset)}
    tags = ["I-A0", "O", "O", "I-A1"]
    enc = encode_marked(tok, [words, words], [1, 3], [tags, tags], label2id, 64)
    ids = enc.input_ids[0]
    pieces = tok.convert_ids_to_tokens(ids)
    # word k's first sub-word starts word k (the markers sit between, unlabelled)
    starts = [pieces[f].lstrip("\u2581") for f in enc.first[0]]
    assert all(w.startswith(s) and s for w, s in zip(words, starts, strict=True)), starts
    marker_pos = [i for i, piece in enumerate(pieces) if piece.lstrip("\u2581") in ("<", ">")]
    assert len(marker_pos) == 2 and marker_pos[0] < enc.first[0][1] < marker_pos[1] < enc.first[0][2]
    labelled = {i: lab for i, lab in enumerate(enc.labels[0]) if lab != IGNORE}
    assert labelled == {enc.first[0][0]: 1, enc.first[0][1]: 0, enc.first[0][2]: 0, enc.first[0][3]: 2}
    # the other instance of the same sentence marks its own predicate
    second = tok.convert_ids_to_tokens(enc.input_ids[1])
    assert second.index("\u2581<") > second.index("\u2581two") and enc.n_truncated == [0, 0]
    with pytest.raises(ValueError, match="predicate 4 is not a word"):
        mark(words, 4)
    with pytest.raises(ValueError, match="two non-empty words"):
        encode_marked(tok, [words], [1], None, None, 64, markers=("<", "a b"))


def test_a_cut_sentence_counts_cut_words_not_markers(me5_small):
    from pipeline_steps.models.predicate_marking import encode_marked
    from pipeline_steps.models.token_classification import load_tokenizer

    tok = load_tokenizer(str(me5_small))
    words = ["w"] * 30
    enc = encode_marked(tok, [words], [0], None, None, 12)
    kept = sum(1 for f in enc.first[0] if f >= 0)
    assert len(enc.first[0]) == 30 and enc.n_truncated == [30 - kept] and kept < 30


def test_demo_srl_files_are_the_generator_output():
    from conftest import ROOT, demo_generator

    for name, text in demo_generator("srl").render().items():
        assert (ROOT / "resources/demo/srl" / name).read_text(encoding="utf-8") == text, name


def test_demo_srl_sets_read_in_both_layouts():
    from conftest import ROOT

    demo = ROOT / "resources/demo/srl"
    en = formats.read(str(demo / "en.train.conllu"), "upb_ewt", "en", "train")
    de = formats.read(str(demo / "de.test.conllu"), "upb", "de", "test")
    roles = {t[2:] for df in (en, de) for tags in df["tags"] for t in tags if t != "O"}
    assert roles == {"A0", "A1", "A2", "AM-LOC", "AM-NEG", "AM-TMP"}  # config/demo-srl.yaml's labels
    assert en["sentence_id"].nunique() == 120 and len(en) > 120  # some sentences have two predicates
    # the gold pair (data.gold_parallel.de): 30 sentences a side, the same predicates and roles
    g_en = formats.read(str(demo / "gold.en-de.en.conllu"), "upb_ewt", "en", "gold")
    g_de = formats.read(str(demo / "gold.en-de.de.conllu"), "upb", "de", "gold")
    assert g_en["sentence_id"].nunique() == g_de["sentence_id"].nunique() == 30
    assert list(g_en["sense"]) == list(g_de["sense"])
    assert [sorted(t for t in x if t != "O") for x in g_en["tags"]] == [
        sorted(t for t in x if t != "O") for x in g_de["tags"]
    ]


# ---------------------------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("name", "fmt", "n_instances"),
    [
        ("de-up-dev", "upb", 1180),
        ("de-up-test", "upb", 1317),
        ("fr-up-dev", "upb", 3043),
        ("fr-up-test", "upb", 635),
    ],
)
def test_real_upb_files_have_paper_001_table_9_predicate_counts(shared_data, name, fmt, n_instances):
    df = formats.read(str(shared_data / "upb" / f"{name}.conllu"), fmt, name[:2], "dev")
    assert len(df) == n_instances  # paper 001 App. Table 9's "# pred."


def test_real_english_ewt_file_reads_into_upb_role_names(shared_data):
    df = formats.read(str(shared_data / "upb" / "en_ewt-up-dev.conllu"), "upb_ewt", "en", "train")
    roles = {t[2:] for tags in df["tags"] for t in tags if t != "O"}
    assert {"A0", "A1", "AM-TMP", "R-A0", "C-A1"} <= roles and not any(r.startswith("ARG") for r in roles)
    assert len(df) == 4977 and df["sentence_id"].nunique() == 1536


# ---------------------------------------------------------------------------------- projection


def test_projection_of_a_predicate_and_its_heads_on_a_hand_aligned_pair():
    from pipeline_steps.srl_projection import project_instance

    # Bush(0) nominated(1) two(2) individuals(3) to(4) replace(5) jurists(6) .(7)
    # Bush(0) nominierte(1) zwei(2) Personen(3) ,(4) um(5) Richter(6) zu(7) ersetzen(8) .(9)
    links = {(0, 0), (1, 1), (2, 2), (3, 3), (5, 8), (5, 7), (6, 6), (7, 9)}
    pred, tags, counts = project_instance(1, NOMINATE, links, 10)
    # nominate.01: A0 Bush, A1 individuals; AM-PRP replace -> zu (7), the leftmost of its links zu (7) and
    # ersetzen (8): without a target POS tagger the rule cannot prefer the verb
    assert pred == 1
    assert tags == ["I-A0", "O", "O", "I-A1", "O", "O", "O", "I-AM-PRP", "O", "O"]
    assert counts["projected"] == 3 and counts["arguments"] == 3
    # replace.01 keeps its own labels: individuals is its A0 (and nominate's A1)
    pred, tags, _ = project_instance(5, REPLACE, links, 10)
    assert pred == 7 and tags == ["O", "O", "O", "I-A0", "O", "O", "I-A1", "O", "O", "O"]


def test_projection_drops_what_cannot_land_and_counts_it():
    from pipeline_steps.srl_projection import project_instance

    tags = ["I-A0", "O", "I-A1", "I-A2", "I-AM-TMP"]
    # the predicate (1) has no link: the instance is dropped
    pred, out, counts = project_instance(1, tags, {(0, 0), (2, 2)}, 5)
    assert pred is None and counts["predicate_unaligned"] == 1 and out == ["O"] * 5
    # A0 unaligned; A1 lands on the predicate's word; A2 and AM-TMP on one word: the first (A2) stays
    pred, out, counts = project_instance(1, tags, {(1, 1), (2, 1), (3, 3), (4, 3)}, 5)
    assert pred == 1 and out == ["O", "O", "O", "I-A2", "O"]
    assert dict(counts) == {
        "arguments": 4,
        "argument_unaligned": 1,
        "argument_on_predicate": 1,
        "projected": 1,
        "argument_conflict": 1,
    }


def test_projected_instances_take_the_translation_of_their_sentence(tmp_path):
    from pipeline_steps.schemas import ALIGNMENTS, PAIRS
    from pipeline_steps.srl_projection import project_instances, sentences_of

    inst = _read(tmp_path, EWT, "upb_ewt")
    sentences = sentences_of(inst)
    assert list(sentences["id"]) == ["dev-xx-000000"] and sentences["tags"].isna().all()
    de = ["Bush", "nominierte", "zwei", "Personen", ",", "um", "Richter", "zu", "ersetzen", "."]
    pairs = pd.DataFrame(
        {
            "id": ["translated-xx-de-000000"],
            "src_id": ["dev-xx-000000"],
            "tgt_id": [None],
            "src_lang": ["xx"],
            "tgt_lang": ["de"],
            "src_tokens": [list(inst["tokens"][0])],
            "tgt_tokens": [de],
            "provider": ["file"],
        }
    )
    links = [{"s": s, "t": t} for s, t in [(0, 0), (1, 1), (2, 2), (3, 3), (5, 8), (6, 6), (7, 9)]]
    alignments = pd.DataFrame(
        {
            "pair_id": ["translated-xx-de-000000"],
            "links": [links],
            "backend": "hand",
            "symmetrization": "none",
        }
    )
    for df, artifact, name in ((pairs, PAIRS, "p"), (alignments, ALIGNMENTS, "a")):
        write_artifact(df, tmp_path / f"{name}.parquet", artifact)
    out, counts = project_instances(
        inst,
        read_artifact(str(tmp_path / "p.parquet"), PAIRS),
        read_artifact(str(tmp_path / "a.parquet"), ALIGNMENTS),
        "de",
    )
    assert list(out["id"]) == ["dev-xx-000000-p0.de", "dev-xx-000000-p1.de"]
    assert list(out["predicate"]) == [1, 8] and list(out["tokens"][0]) == de
    assert list(out["tags"][1]) == ["O", "O", "O", "I-A0", "O", "O", "I-A1", "O", "O", "O"]
    assert list(out["upos"][0]) == ["_"] * 10 and counts["instances"] == 2
    write_artifact(out, tmp_path / "out.parquet", SRL_INSTANCES)
    with pytest.raises(ArtifactError, match="no translation of 'dev-xx-000000'") as err:
        project_instances(
            inst, pairs.iloc[:0], alignments.iloc[:0], "de", ("i.parquet", "p.parquet", "a.parquet")
        )
    assert err.value.path == "i.parquet" and err.value.field == "sentence_id"


# ------------------------------------------------------------------------- projection vs gold

# the German side of EWT's sentence, labelled in UPB's de/fr/es layout, and a second pair
GOLD_DE = """\
1\tBush\tBush\tPROPN\t_\t_\t2\tnsubj\t_\t_\tA0\t_
2\tnominierte\tnominieren\tVERB\t_\t_\t0\troot\tY\tnominate.01\t_\t_
3\tzwei\tzwei\tNUM\t_\t_\t4\tnummod\t_\t_\t_\t_
4\tPersonen\tPerson\tNOUN\t_\t_\t2\tobj\t_\t_\tA1\tA0
5\t,\t,\tPUNCT\t_\t_\t9\tpunct\t_\t_\t_\t_
6\tum\tum\tSCONJ\t_\t_\t9\tmark\t_\t_\t_\t_
7\tRichter\tRichter\tNOUN\t_\t_\t9\tobj\t_\t_\t_\tA1
8\tzu\tzu\tPART\t_\t_\t9\tmark\t_\t_\t_\t_
9\tersetzen\tersetzen\tVERB\t_\t_\t2\tadvcl\tY\treplace.01\tAM-PRP\t_
10\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\t_\t_

1\tAnna\tAnna\tPROPN\t_\t_\t2\tnsubj\t_\t_\tA0
2\tkaufte\tkaufen\tVERB\t_\t_\t0\troot\tY\tbuy.01\t_
3\tBücher\tBuch\tNOUN\t_\t_\t2\tobj\t_\t_\tA1
4\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\t_
"""
BUY_EN = """\
1\tAnna\tAnna\tPROPN\tNNP\t_\t2\tnsubj\t_\t_\t_\tARG0
2\tbought\tbuy\tVERB\tVBD\t_\t0\troot\t_\t_\tbuy.01\tV
3\tbooks\tbook\tNOUN\tNNS\t_\t2\tobj\t_\t_\t_\tARG1
4\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\t_\t_
"""


def _score_gold_pair(tmp_path, links: list[set[tuple[int, int]]]) -> dict[str, tuple[int, int, int]]:
    """The EWT sentence and "Anna bought books ." paired with GOLD_DE, aligned by ``links`` (one set per
    sentence), projected and scored by ``srl_projection_eval.main``; its counts by label."""
    from pipeline_steps import srl_projection_eval
    from pipeline_steps.pairs import pair_sentences
    from pipeline_steps.runner import StepContext
    from pipeline_steps.schemas import ALIGNMENTS, PAIRS, PROJECTION_SCORES
    from pipeline_steps.srl_projection import project_instances, sentences_of

    (tmp_path / "en.conllu").write_text(EWT.split("\n\n# text")[0] + "\n\n" + BUY_EN, encoding="utf-8")
    (tmp_path / "de.conllu").write_text(GOLD_DE, encoding="utf-8")
    src = formats.read(str(tmp_path / "en.conllu"), "upb_ewt", "en", "gold")
    gold = formats.read(str(tmp_path / "de.conllu"), "upb", "de", "gold")
    pairs = pair_sentences(sentences_of(src), sentences_of(gold), "gold", "en", "de")
    alignments = pd.DataFrame(
        {
            "pair_id": list(pairs["id"]),
            "links": [[{"s": s, "t": t} for s, t in sorted(x)] for x in links],
            "backend": "hand",
            "symmetrization": "none",
        }
    )
    projected, _ = project_instances(src, pairs, alignments, "de")
    paths = {k: str(tmp_path / f"{k}.parquet") for k in ("projected", "gold", "pairs")}
    write_artifact(projected, paths["projected"], SRL_INSTANCES)
    write_artifact(gold, paths["gold"], SRL_INSTANCES)
    write_artifact(pairs, paths["pairs"], PAIRS)
    write_artifact(alignments, tmp_path / "align.parquet", ALIGNMENTS)
    out = {"scores": str(tmp_path / "scores.parquet"), "summary": str(tmp_path / "summary.json")}
    params = {"langs": ["de"], "backend": "hand", "mapping": "head2word"}
    srl_projection_eval.main(StepContext(input=paths, output=out, params=params))
    scores = read_artifact(out["scores"], PROJECTION_SCORES)
    de = scores[scores["lang"] == "de"].set_index("label")
    avg = scores[scores["lang"] == "avg"].iloc[0]
    assert (avg["f1"], avg["support"]) == (de.loc["ALL", "f1"], de.loc["ALL", "support"])
    return {
        label: (round(row.precision, 6), round(row.recall, 6), int(row.support))
        for label, row in de.iterrows()
    }


# Bush(0) nominated(1) two(2) individuals(3) to(4) replace(5) jurists(6) .(7)
# Bush(0) nominierte(1) zwei(2) Personen(3) ,(4) um(5) Richter(6) zu(7) ersetzen(8) .(9)
BUSH_LINKS = {(0, 0), (1, 1), (2, 2), (3, 3), (6, 6), (7, 9)}


def test_srl_projection_scores_equal_a_hand_computation(tmp_path):
    # replace -> ersetzen; "books" has no link, so buy.01's A1 is not projected
    scores = _score_gold_pair(tmp_path, [BUSH_LINKS | {(5, 8)}, {(0, 0), (1, 1), (3, 3)}])
    # projected (k, predicate, head, role): (0,1,0,A0) (0,1,3,A1) (0,1,8,AM-PRP) (0,8,3,A0) (0,8,6,A1)
    # (1,1,0,A0); gold: the same and (1,1,2,A1). (0,1,0,A0) and (1,1,0,A0) are two triples (k differs).
    #          TP  projected  gold
    # A0        3      3        3
    # A1        2      2        3
    # AM-PRP    1      1        1
    # ALL       6      6        7   -> P 1, R 6/7
    # PREDICATE 3      3        3      (0,1) (0,8) (1,1)
    assert scores == {
        "A0": (1.0, 1.0, 3),
        "A1": (1.0, round(2 / 3, 6), 3),
        "AM-PRP": (1.0, 1.0, 1),
        "ALL": (1.0, round(6 / 7, 6), 7),
        "PREDICATE": (1.0, 1.0, 3),
    }


def test_a_predicate_projected_onto_a_non_predicate_word_makes_its_arguments_false_positives(tmp_path):
    # replace -> zu (7) and ersetzen (8): the leftmost, "zu", is no gold predicate
    scores = _score_gold_pair(tmp_path, [BUSH_LINKS | {(5, 7), (5, 8)}, {(0, 0), (1, 1), (2, 2), (3, 3)}])
    # projected: (0,1,0,A0) (0,1,3,A1) (0,1,7,AM-PRP) (0,7,3,A0) (0,7,6,A1) (1,1,0,A0) (1,1,2,A1)
    # gold:      (0,1,0,A0) (0,1,3,A1) (0,1,8,AM-PRP) (0,8,3,A0) (0,8,6,A1) (1,1,0,A0) (1,1,2,A1)
    #          TP  projected  gold
    # A0        2      3        3      (0,7,3,A0): replace's A0 under the wrong predicate
    # A1        2      3        3      (0,7,6,A1): likewise, though Richter is right
    # AM-PRP    0      1        1      nominate's AM-PRP on "zu"
    # ALL       4      7        7
    # PREDICATE 2      3        3      (0,7) is a false positive, (0,8) missed
    assert scores == {
        "A0": (round(2 / 3, 6), round(2 / 3, 6), 3),
        "A1": (round(2 / 3, 6), round(2 / 3, 6), 3),
        "AM-PRP": (0.0, 0.0, 1),
        "ALL": (round(4 / 7, 6), round(4 / 7, 6), 7),
        "PREDICATE": (round(2 / 3, 6), round(2 / 3, 6), 3),
    }


# ---------------------------------------------------------------------------------- baseline


def test_the_majority_baseline_takes_each_upos_and_side_s_most_frequent_tag(tmp_path, capsys):
    import subprocess
    import sys

    from pipeline_steps.srl_baseline import fit_majority, predict_majority

    train = _read(tmp_path, EWT, "upb_ewt")
    rule = fit_majority(train)
    # PROPN left of its predicate: A0 once (Bush, nominate); NOUN right: A1 (individuals for nominate,
    # jurists for replace) twice, A0 once (individuals for replace)
    assert rule[("PROPN", "left")] == "I-A0" and rule[("NOUN", "right")] == "I-A1"
    assert rule[("VERB", "pred")] == "O" and rule[("NOUN", "left")] == "I-A0"
    pred = predict_majority(rule, train)
    # replace (VERB right of nominate) was AM-PRP the one time a VERB stood right of its predicate
    assert pred[0] == ["I-A0", "O", "O", "I-A1", "O", "I-AM-PRP", "I-A1", "O"]
    unseen = train.assign(upos=[["SYM"] * 8] * 2)
    assert predict_majority(rule, unseen)[0] == ["O"] * 8
    run = tmp_path / "run"
    (run / "ingest").mkdir(parents=True)
    write_artifact(train, run / "ingest/train.parquet", SRL_INSTANCES)
    write_artifact(train, run / "ingest/test.xx.parquet", SRL_INSTANCES)
    script = Path(__file__).resolve().parents[1] / "scripts/srl_baseline.py"
    out = subprocess.run(
        [sys.executable, str(script), str(run)], capture_output=True, text=True, check=True
    ).stdout
    s = argument_f1([list(t) for t in train["tags"]], pred)
    assert f"| xx | {100 * s.precision:.2f} | {100 * s.recall:.2f} | {100 * s.f1:.2f} |" in out


# ---------------------------------------------------------------------------------- UPOS input


def test_upos_type_ids_cover_each_word_s_sub_words():
    from pipeline_steps.models.predicate_marking import UPOS_IDS, upos_id, upos_type_ids

    # [CLS] w0 w0' w1 w2 w2' [SEP]; w3 was cut (first -1)
    ids = upos_type_ids([1, 3, 4, -1], 7, ["PROPN", "VERB", "NOUN", "PUNCT"])
    assert ids == [
        0,
        UPOS_IDS["PROPN"],
        UPOS_IDS["PROPN"],
        UPOS_IDS["VERB"],
        UPOS_IDS["NOUN"],
        UPOS_IDS["NOUN"],
        0,
    ]
    assert upos_id("_") == 0 and upos_id("CONJ") == UPOS_IDS["CCONJ"] and len(UPOS_IDS) == 17


def test_upos_rides_on_token_types_that_start_as_the_pre_trained_row(me5_small, tmp_path):
    import torch

    from pipeline_steps.models.predicate_marking import N_TYPES, UPOS_IDS
    from pipeline_steps.models.token_classification import collate, load_tokenizer, model_inputs
    from pipeline_steps.tasks import make_task

    task = make_task("srl", {"labels": ["A0", "A1", "AM-PRP"], "srl": {"upos": True}})
    plain = make_task("srl", {"labels": ["A0", "A1", "AM-PRP"]})
    df = _read(tmp_path, EWT, "upb_ewt")
    tok = load_tokenizer(str(me5_small))
    enc = task.encode(df, tok, 64)
    first = enc.first[0]
    assert [enc.type_ids[0][f] for f in first] == [UPOS_IDS[u] for u in df["upos"][0]]
    assert plain.encode(df, tok, 64).type_ids is None and plain.meta().get("upos") is None
    model = task.load_model(str(me5_small), seed=1).eval()
    table = model.base_model.embeddings.token_type_embeddings
    assert table.num_embeddings == N_TYPES and model.config.type_vocab_size == N_TYPES
    assert torch.equal(table.weight[5], table.weight[0])  # a new row is the pre-trained row 0
    batch = collate(enc, [0, 1], tok.pad_token_id)
    with torch.no_grad():  # so the untrained model reads POS as if there were none
        with_pos = model(**model_inputs(batch)).logits
        without = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(with_pos, without, atol=1e-5)
    model.save_pretrained(tmp_path / "ft")
    again = task.load_model(str(tmp_path / "ft"), seed=2)  # a fine-tuned folder keeps its table
    assert torch.equal(again.base_model.embeddings.token_type_embeddings.weight, table.weight)
