"""Malformed input: one InputFormatError naming the file and the 1-based line; ingest writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps import ingest
from pipeline_steps.errors import InputFormatError
from pipeline_steps.runner import StepContext

FIX = Path(__file__).resolve().parent / "data" / "formats"


def run_bad(
    tmp_path: Path,
    content: str | bytes | None,
    fmt: str,
    expected_line: int | None,
    *,
    name: str = "input.txt",
    beside: dict[str, str] | None = None,
    error_in: str | None = None,
    **params,
):
    """Run ingest.main on ``content`` (None = no file); check the error and that no output exists.

    ``name``: the raw file's name; ``beside``: more files next to it ({name: content}); ``error_in``:
    the name of the file the error must name (default the raw file)."""
    raw = tmp_path / "raw" / name
    raw.parent.mkdir()
    for other, text in (beside or {}).items():
        (raw.parent / other).write_text(text, encoding="utf-8")
    if isinstance(content, str):
        raw.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        raw.write_bytes(content)
    out_dir = tmp_path / "out"
    key = "examples"
    ctx = StepContext(
        input={"raw": str(raw)},
        output={key: str(out_dir / "x.parquet")},
        params={"format": fmt, "lang": "en", "split": "train", "scheme": "bio", **params},
    )
    with pytest.raises(InputFormatError) as e:
        ingest.main(ctx)
    err = e.value
    named = raw if error_in is None else raw.parent / error_in
    assert err.path == str(named)
    assert err.line == expected_line
    where = f"{named}:{expected_line}" if expected_line is not None else str(named)
    assert str(err).startswith(where + ": ")
    assert not out_dir.exists() or not any(out_dir.iterdir())  # nothing written, no temp files either
    return err


def test_wrong_column_count_conll2003(tmp_path):
    content = "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER extra\n"
    err = run_bad(tmp_path, content, "conll2003", 4)
    assert "found 5 columns; expected 4" in err.message


def test_wrong_column_count_conll2002(tmp_path):
    err = run_bad(tmp_path, "Melbourne NP B-LOC\n( O\n", "conll2002", 2)
    assert "found 2 columns; expected 3" in err.message


def test_inconsistent_column_count_within_tsv(tmp_path):
    # first line fixes 2 columns (token, tag); a later line has a third
    err = run_bad(tmp_path, "Paris\tB-LOC\n\nis\tO\tX\n", "tsv", 3)
    assert "found 3 columns; expected 2" in err.message


def test_token_without_tag_in_labelled_file(tmp_path):
    # token/tag length mismatch: line 3 has a token but no tag
    err = run_bad(tmp_path, "New\tB-LOC\nYork\tI-LOC\nis\nbig\tO\n", "tsv", 3)
    assert "found 1 columns; expected 2" in err.message


def test_tag_without_token(tmp_path):
    err = run_bad(tmp_path, "New\tB-LOC\n\tI-LOC\n", "tsv", 2)
    assert "empty token" in err.message


def test_unlabelled_file_with_a_tagged_line(tmp_path):
    err = run_bad(tmp_path, "Jilguero\ndel\n\nAlgarrobo\tB-LOC\n", "wikiann", 4)
    assert "expected 1" in err.message


def test_bad_tag(tmp_path):
    err = run_bad(tmp_path, "Paris\tB-LOC\nis\tO\nnice\tB_MISC\n", "tsv", 3)
    assert "'B_MISC'" in err.message


def test_bad_tag_in_iob1_file(tmp_path):
    err = run_bad(tmp_path, "EU NNP I-NP I-ORG\nrejects VBZ I-VP S-ORG\n", "conll2003", 2)
    assert "not IOB1" in err.message


def test_i_after_o_in_bio_file(tmp_path):
    err = run_bad(tmp_path, "Mr\tO\nBarack\tO\nObama\tI-PER\n", "tsv", 3)
    assert "does not continue a PER chunk" in err.message


def test_i_of_other_type_in_bio_file(tmp_path):
    err = run_bad(tmp_path, "a\tO\n\nNew\tB-LOC\nYork\tI-ORG\n", "tsv", 4)
    assert "does not continue a ORG chunk" in err.message


def test_unclosed_bioes_chunk_before_o(tmp_path):
    err = run_bad(tmp_path, "New\tB-LOC\nYork\tI-LOC\nis\tO\n", "tsv", 3, input_scheme="bioes")
    assert "not closed" in err.message


def test_unclosed_bioes_chunk_at_sentence_end(tmp_path):
    err = run_bad(tmp_path, "in\tO\nNew\tB-LOC\nYork\tI-LOC\n\nok\tO\n", "tsv", 3, input_scheme="bioes")
    assert "not closed at the end" in err.message


def test_bioes_tag_in_bio_file(tmp_path):
    err = run_bad(tmp_path, "a\tO\nParis\tS-LOC\n", "tsv", 2)
    assert "BIOES" in err.message


def test_empty_file(tmp_path):
    err = run_bad(tmp_path, "", "conll2003", 1)
    assert "empty" in err.message


def test_file_of_blank_lines_and_docstart_only(tmp_path):
    err = run_bad(tmp_path, "-DOCSTART- -X- O O\n\n\n", "conll2003", 1)
    assert "no sentences" in err.message


def test_empty_lines_file(tmp_path):
    run_bad(tmp_path, "", "lines", 1)


def test_bad_encoding(tmp_path):
    err = run_bad(tmp_path, (FIX / "conll2002_esp_latin1.txt").read_bytes(), "conll2002", 7)
    assert "not valid utf-8" in err.message


def test_bad_encoding_in_lines_file(tmp_path):
    err = run_bad(tmp_path, "ok\nstill ok\nEspa\xf1a\n".encode("latin-1"), "lines", 3, tokenize="whitespace")
    assert "encoding" in err.message


def test_unknown_format_name(tmp_path):
    err = run_bad(tmp_path, "Paris\tB-LOC\n", "conll2004", None)
    assert "unknown format 'conll2004'" in err.message


def test_missing_file(tmp_path):
    err = run_bad(tmp_path, None, "tsv", None)
    assert "not found" in err.message


def test_empty_line_breaks_parallel_text(tmp_path):
    err = run_bad(tmp_path, "One sentence .\n\nAnother one .\n", "lines", 2, tokenize="whitespace")
    assert "empty line" in err.message


def test_whitespace_only_line_in_parallel_text(tmp_path):
    run_bad(tmp_path, "One .\nTwo .\n   \n", "lines", 3, tokenize="whitespace")


def test_wikiann_missing_language_prefix(tmp_path):
    err = run_bad(tmp_path, "en:Paris\tB-LOC\nen:is\tO\n\nnice\tO\n", "wikiann", 4)
    assert "prefix" in err.message


def test_squad_answer_start_mismatch(tmp_path):
    text = (
        (FIX / "squad.json").read_text(encoding="utf-8").replace('"answer_start": 16', '"answer_start": 15')
    )
    err = run_bad(tmp_path, text, "squad", 45)
    assert "'q3'" in err.message and "answer_start 15" in err.message


def test_squad_invalid_json(tmp_path):
    err = run_bad(tmp_path, '{"data": [\n  {"title": "x",\n   "paragraphs": [}\n]}\n', "squad", 3)
    assert "not valid JSON" in err.message


def test_squad_duplicate_question_id(tmp_path):
    text = (FIX / "squad.json").read_text(encoding="utf-8").replace('"id": "q3"', '"id": "q1"')
    err = run_bad(tmp_path, text, "squad", 45)  # the repeated one, not the first
    assert "'q1' occurs twice (first on line 11)" in err.message and "question_ids: position" in err.message


# --- issue 8: no silent corruption -------------------------------------------------------------

LABELS = ["PER", "ORG", "LOC", "MISC"]


def test_wikiann_prefix_only_on_a_later_line(tmp_path):
    # the first token line decides (no prefix); a later prefixed token would be stored as 'de:Papiere'
    err = run_bad(tmp_path, "Die\tO\nBank\tB-ORG\n\nde:Papiere\tO\n", "wikiann", 4)
    assert err.message == (
        "token 'de:Papiere' has a language prefix but the first token line (1) has none "
        "(set strip_prefix: false to keep such tokens as they are)"
    )


def test_wikiann_prefix_decided_after_docstart_and_blank_lines(tmp_path):
    err = run_bad(tmp_path, "-DOCSTART-\n\nDie\tO\nde:Bank\tB-ORG\n", "wikiann", 4)
    assert "first token line (3) has none" in err.message


@pytest.mark.parametrize(
    ("fmt", "content", "line", "params"),
    [
        ("lines", "One sentence .\nAnother one .\n", 1, {"tokenize": "whitespace"}),
        ("tsv", "\nParis\nis\n", 2, {}),
        ("wikiann", "Jilguero\ndel\n", 1, {}),
    ],
)
def test_unlabelled_file_where_tags_are_required(tmp_path, fmt, content, line, params):
    err = run_bad(tmp_path, content, fmt, line, require_tags=True, labels=LABELS, **params)
    assert err.message == (
        f"no tags: this dataset must be labelled, but the file (format {fmt!r}) has no tag column"
    )


def test_tag_of_an_unknown_entity_type(tmp_path):
    content = "Paris\tB-LOC\nis\tO\n\nBarack\tB-PERSON\nObama\tI-PERSON\n"
    err = run_bad(tmp_path, content, "tsv", 4, labels=LABELS, require_tags=True)
    assert (
        err.message
        == "tag 'B-PERSON': entity type 'PERSON' is not one of the labels ['PER', 'ORG', 'LOC', 'MISC']"
    )


def test_tag_of_an_unknown_entity_type_inside_a_chunk_of_an_iob1_file(tmp_path):
    content = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-NORP\n"
    err = run_bad(tmp_path, content, "conll2003", 5, labels=LABELS)
    assert "entity type 'NORP'" in err.message


def test_unknown_entity_type_after_the_limit_is_still_an_error(tmp_path):
    content = "Paris\tB-LOC\n\nBob\tB-PER\n\nACME\tB-COMPANY\n"
    err = run_bad(tmp_path, content, "tsv", 5, labels=LABELS, limit=1)
    assert "'COMPANY'" in err.message


# --- issue 9: classification inputs and SQuAD answers ------------------------------------------

NLI = ["entailment", "neutral", "contradiction"]
NLI_MSG = "is not one of the labels ['entailment', 'neutral', 'contradiction']"


def test_squad_answer_start_mismatch_names_the_question_id(tmp_path):
    text = (
        (FIX / "squad.json").read_text(encoding="utf-8").replace('"answer_start": 44', '"answer_start": 40')
    )
    err = run_bad(tmp_path, text, "squad", 25)
    assert err.message == (
        "question 'q2': answer 0 'the Vistula' is not at answer_start 40 of the context (found ' on the Vis')"
    )


def test_xnli_unknown_label(tmp_path):
    err = run_bad(tmp_path, "a\tb\tentailment\nc\td\tmaybe\n", "xnli", 2, labels=NLI)
    assert err.message == f"label 'maybe' {NLI_MSG}"


def test_xnli_missing_column(tmp_path):
    err = run_bad(tmp_path, "a\tb\tentailment\nc\td\n", "xnli", 2, labels=NLI)
    assert err.message == "found 2 columns; expected 3 (the file's first line has that many)"


def test_xnli_one_column(tmp_path):
    err = run_bad(tmp_path, "only a premise\n", "xnli", 1)
    assert "found 1 columns; expected 3 (premise, hypothesis, label) or 2 (unlabelled)" in err.message


def test_xnli_empty_hypothesis(tmp_path):
    err = run_bad(tmp_path, "a\tb\tneutral\nc\t \tneutral\n", "xnli", 2)
    assert err.message == "empty hypothesis"


def test_xnli_unlabelled_where_labels_are_required(tmp_path):
    err = run_bad(tmp_path, "a\tb\nc\td\n", "xnli", None, labels=NLI, require_tags=True)
    assert err.message == (
        "no labels: this dataset must be labelled, but the file (format 'xnli') has none "
        "(2 columns: premise, hypothesis)"
    )


def test_xnli_label_index_outside_label_names(tmp_path):
    err = run_bad(tmp_path, "a\tb\t0\nc\td\t3\n", "xnli", 2, label_names=NLI)
    assert "label '3' is not an index 0..2 into label_names" in err.message


MNLI = """{
  "0": {"text_a": "A cat sat.", "text_b": "A cat sits.", "label": "entailment"},
  "5": {
    "text_a": "It rained.",
    "text_b": "It was dry.",
    "label": "CONTRADICTION"
  }
}
"""


def test_mnli_unknown_label_names_the_item_and_its_line(tmp_path):
    err = run_bad(tmp_path, MNLI, "mnli_json", 3, labels=NLI)
    assert err.message == f"item '5': label 'CONTRADICTION' {NLI_MSG}"


def test_mnli_missing_text_b(tmp_path):
    err = run_bad(tmp_path, MNLI.replace('"text_b": "It was dry.",', ""), "mnli_json", 3)
    assert err.message == "item '5': missing or non-string 'text_b'"


def test_mnli_unlabelled_where_labels_are_required(tmp_path):
    content = '{"0": {"text_a": "a", "text_b": "b"}}\n'
    err = run_bad(tmp_path, content, "mnli_json", None, require_tags=True)
    assert err.message.startswith("no labels: this dataset must be labelled") and "'mnli_json'" in err.message


def test_xlmt_unknown_label_names_the_labels_file(tmp_path):
    beside = {"train_labels.txt": "0\n2\n"}
    labels = ["negative", "neutral"]
    err = run_bad(
        tmp_path, "bad\ngood\n", "xlmt", 2, name="train_text.txt", beside=beside, error_in="train_labels.txt",
        labels=labels,
    )  # fmt: skip
    assert err.message == "label 'positive' is not one of the labels ['negative', 'neutral']"


def test_xlmt_label_outside_label_names(tmp_path):
    beside = {"train_labels.txt": "2\n7\n"}
    err = run_bad(
        tmp_path, "good\nbad\n", "xlmt", 2, name="train_text.txt", beside=beside, error_in="train_labels.txt"
    )
    assert (
        err.message == "label '7' is not an index 0..2 into label_names ['negative', 'neutral', 'positive']"
    )


def test_xlmt_labels_file_shorter_than_the_texts(tmp_path):
    beside = {"train_labels.txt": "2\n"}
    err = run_bad(
        tmp_path, "a\nb\nc\n", "xlmt", 2, name="train_text.txt", beside=beside, error_in="train_labels.txt"
    )
    assert "1 labels for 3 texts" in err.message


def test_xlmt_without_labels_file_where_labels_are_required(tmp_path):
    err = run_bad(tmp_path, "a\nb\n", "xlmt", None, name="train_text.txt", require_tags=True)
    assert err.message.endswith(f"(no labels file {tmp_path / 'raw' / 'train_labels.txt'})")


def test_xlmt_file_name_without_text_suffix(tmp_path):
    err = run_bad(tmp_path, "a\n", "xlmt", None, name="train.txt")
    assert "*_text.txt" in err.message


def test_sib200_missing_text_column(tmp_path):
    err = run_bad(tmp_path, "index_id\tcategory\tsentence\n1\tsports\tA goal.\n", "sib200", 1)
    assert err.message == "no 'text' column in the header ['index_id', 'category', 'sentence']"


def test_sib200_unknown_category(tmp_path):
    content = "index_id\tcategory\ttext\n1\tsports\tA goal.\n2\tweather\tRain.\n"
    err = run_bad(tmp_path, content, "sib200", 3, labels=["sports", "health"])
    assert err.message == "label 'weather' is not one of the labels ['sports', 'health']"


def test_sib200_row_with_a_missing_column(tmp_path):
    err = run_bad(tmp_path, "index_id\tcategory\ttext\n1\tsports\n", "sib200", 2)
    assert err.message == "found 2 columns; expected 3 (the header's)"


def test_sib200_unclosed_quote(tmp_path):
    err = run_bad(tmp_path, 'index_id\tcategory\ttext\n1\tsports\t"A goal.\n', "sib200", 2)
    assert err.message.startswith("bad quoting")


def test_sib200_without_category_where_labels_are_required(tmp_path):
    err = run_bad(tmp_path, "index_id\ttext\n1\tA goal.\n", "sib200", None, require_tags=True)
    assert err.message.endswith("(no 'category' column)")


def test_unlabelled_pool_with_a_malformed_line(tmp_path):
    # co-training's pool (data.unlabelled): a 2-column XNLI file with one line of 1 column
    content = "Der Hund schläft.\tEin Tier ruht.\nnur ein Satz ohne Hypothese\n"
    err = run_bad(
        tmp_path, content, "xnli", 2, split="unlabelled", labels=["entailment", "neutral", "contradiction"]
    )
    assert "columns" in str(err)


# --- SRL: Universal Proposition Banks (issue 14) ------------------------------------------------------

UPB_OK = (
    "1\tAnna\tAnna\tPROPN\t_\t_\t2\tnsubj\t_\t_\tA0\n"
    "2\tkaufte\tkaufen\tVERB\t_\t_\t0\troot\tY\tbuy.01\t_\n"
    "3\tBücher\tBuch\tNOUN\t_\t_\t2\tobj\t_\t_\tA1\n"
)


def test_upb_argument_column_without_a_predicate(tmp_path):
    content = (
        UPB_OK
        + "\n1\tEs\tes\tPRON\t_\t_\t2\tnsubj\t_\t_\tA0\n2\tregnet\tregnen\tVERB\t_\t_\t0\troot\t_\t_\t_\n"
    )
    err = run_bad(tmp_path, content, "upb", 5, name="de-up-dev.conllu")
    assert "without a predicate" in err.message


def test_upb_bad_fillpred(tmp_path):
    err = run_bad(tmp_path, UPB_OK.replace("\tY\tbuy.01", "\tyes\tbuy.01"), "upb", 2, name="de.conllu")
    assert "FILLPRED" in err.message


def test_upb_ewt_role_outside_the_label_set(tmp_path):
    content = (
        "1\tAnna\tAnna\tPROPN\tNNP\t_\t2\tnsubj\t_\t_\t_\tARG0\n"
        "2\tbought\tbuy\tVERB\tVBD\t_\t0\troot\t_\t_\tbuy.01\tV\n"
        "3\tbooks\tbook\tNOUN\tNNS\t_\t2\tobj\t_\t_\t_\tARGM-XYZ\n"
    )
    err = run_bad(tmp_path, content, "upb_ewt", 1, name="en.conllu", labels=["A0", "A1"])
    assert "role 'AM-XYZ' is not in the label set" in err.message


def test_srl_projection_without_a_translation_names_the_sentence_and_writes_nothing(tmp_path):
    import pandas as pd

    from pipeline_steps import srl_projection
    from pipeline_steps.errors import ArtifactError
    from pipeline_steps.formats import read
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import ALIGNMENTS, PAIRS, SRL_INSTANCES

    raw = tmp_path / "de.conllu"
    raw.write_text(UPB_OK, encoding="utf-8")
    paths = {name: str(tmp_path / f"{name}.parquet") for name in ("instances", "pairs", "alignments")}
    write_artifact(read(str(raw), "upb", "de", "train"), paths["instances"], SRL_INSTANCES)
    write_artifact(pd.DataFrame(columns=PAIRS.columns), paths["pairs"], PAIRS)
    write_artifact(pd.DataFrame(columns=ALIGNMENTS.columns), paths["alignments"], ALIGNMENTS)
    out = tmp_path / "out" / "train.es.parquet"
    ctx = StepContext(input=paths, output={"instances": str(out)}, params={"lang": "es"})
    with pytest.raises(ArtifactError, match="no translation of 'train-de-000000'") as e:
        srl_projection.main(ctx)
    assert e.value.path == paths["instances"] and e.value.row == 0 and e.value.field == "sentence_id"
    assert not out.parent.exists() or not any(out.parent.iterdir())


def _srl_gold_artifacts(tmp_path, projected_tokens: list[str]) -> dict[str, str]:
    """UPB_OK as a gold German sentence, its pair, and a projection onto ``projected_tokens``."""
    import pandas as pd

    from pipeline_steps.formats import read
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import PAIRS, SRL_INSTANCES

    raw = tmp_path / "de.conllu"
    raw.write_text(UPB_OK, encoding="utf-8")
    gold = read(str(raw), "upb", "de", "gold")
    pairs = pd.DataFrame(
        {
            "id": ["gold-en-de-000000"],
            "src_id": ["gold-en-000000"],
            "tgt_id": ["gold-de-000000"],
            "src_lang": ["en"],
            "tgt_lang": ["de"],
            "src_tokens": [["Anna", "bought", "books"]],
            "tgt_tokens": [list(gold["tokens"][0])],
            "provider": ["parallel"],
        }
    )
    projected = gold.assign(id="gold-en-000000-p0.de", sentence_id="gold-en-000000.de")
    projected["tokens"] = [projected_tokens]
    paths = {k: str(tmp_path / f"{k}.parquet") for k in ("projected", "gold", "pairs")}
    write_artifact(projected, paths["projected"], SRL_INSTANCES)
    write_artifact(gold, paths["gold"], SRL_INSTANCES)
    write_artifact(pairs, paths["pairs"], PAIRS)
    return paths


def test_srl_projection_eval_with_tokens_other_than_the_gold_sentence_names_both_files(tmp_path):
    from pipeline_steps import srl_projection_eval
    from pipeline_steps.errors import ArtifactError

    paths = _srl_gold_artifacts(tmp_path, ["Anna", "kaufte", "Buecher"])
    out = tmp_path / "out"
    ctx = StepContext(
        input=paths,
        output={"scores": str(out / "scores.parquet"), "summary": str(out / "summary.json")},
        params={"langs": ["de"], "backend": "eflomal", "mapping": "head2word"},
    )
    with pytest.raises(ArtifactError, match="tokens differ from gold target sentence 'gold-de-000000'") as e:
        srl_projection_eval.main(ctx)
    assert (e.value.path, e.value.row, e.value.field) == (paths["projected"], 0, "tokens")
    assert f"row 0 of {paths['gold']}" in e.value.message
    assert not out.exists() or not any(out.iterdir())
    # the same files with the gold tokens score
    paths = _srl_gold_artifacts(tmp_path, ["Anna", "kaufte", "Bücher"])
    srl_projection_eval.main(ctx)
    assert (out / "scores.parquet").exists()


def test_srl_gold_pairs_with_different_sentence_counts_name_both_files(tmp_path):
    from pipeline_steps import pairs, srl_projection
    from pipeline_steps.formats import read
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import SRL_INSTANCES

    raws = {"src": tmp_path / "gold.en.conllu", "tgt": tmp_path / "gold.de.conllu"}
    raws["src"].write_text(UPB_OK + "\n" + UPB_OK.replace("Anna", "Omar"), encoding="utf-8")
    raws["tgt"].write_text(UPB_OK, encoding="utf-8")
    sentences = {}
    for side, lang in (("src", "en"), ("tgt", "de")):
        instances = str(tmp_path / f"{side}.instances.parquet")
        write_artifact(read(str(raws[side]), "upb", lang, "gold"), instances, SRL_INSTANCES)
        sentences[side] = str(tmp_path / f"{side}.sentences.parquet")
        srl_projection.main_sentences(
            StepContext(input={"instances": instances}, output={"sentences": sentences[side]}, params={})
        )
    out = tmp_path / "out" / "gold.de.parquet"
    ctx = StepContext(
        input=sentences,
        output={"pairs": str(out)},
        params={"corpus": "gold", "src_lang": "en", "tgt_lang": "de"},
    )
    with pytest.raises(InputFormatError, match="differ in length") as e:
        pairs.main(ctx)
    assert e.value.path == str(raws["src"]) and e.value.line == 5  # the second sentence: no partner
    assert f"{raws['src']} has 2 sentences, {raws['tgt']} has 1" in e.value.message
    assert not out.parent.exists() or not any(out.parent.iterdir())
