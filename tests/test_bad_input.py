"""Malformed input: one InputFormatError naming the file and the 1-based line; ingest writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps import ingest
from pipeline_steps.errors import InputFormatError
from pipeline_steps.runner import StepContext

FIX = Path(__file__).resolve().parent / "data" / "formats"


def run_bad(tmp_path: Path, content: str | bytes | None, fmt: str, expected_line: int | None, **params):
    """Run ingest.main on ``content`` (None = no file); check the error and that no output exists."""
    raw = tmp_path / "raw" / "input.txt"
    raw.parent.mkdir()
    if isinstance(content, str):
        raw.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        raw.write_bytes(content)
    out_dir = tmp_path / "out"
    key = "qa" if fmt == "squad" else "sentences"
    ctx = StepContext(
        input={"raw": str(raw)},
        output={key: str(out_dir / "x.parquet")},
        params={"format": fmt, "lang": "en", "split": "train", "scheme": "bio", **params},
    )
    with pytest.raises(InputFormatError) as e:
        ingest.main(ctx)
    err = e.value
    assert err.path == str(raw)
    assert err.line == expected_line
    where = f"{raw}:{expected_line}" if expected_line is not None else str(raw)
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
    err = run_bad(tmp_path, text, "squad", 11)
    assert "twice" in err.message


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
