"""CLISM examples of paper 000 (Sec. 3.1, Figure 2): the [QUE] token, build_example, build_frame, main."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _helpers_pairs import span_rows, write_pair_inputs
from conftest import me5_small_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import project
from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact
from pipeline_steps.pretrain import clism_examples as ce
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token, load_que_tokenizer, que_token_id
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import ALIGNMENTS, CLISM_EXAMPLES, PAIRS, SPANS

META = "\u2581"

# Figure 2 of paper 000.
EN = ["List", "of", "Ottawa", "buildings"]
VI = ["Danh", "sách", "các", "tòa", "nhà", "của", "Ottawa"]
FIG2_SPANS = [(0, 1, "MISC"), (2, 3, "LOC")]
# List-Danh, List-sách, of-của, Ottawa-Ottawa, buildings-tòa, buildings-nhà
FIG2_LINKS = {(0, 0), (0, 1), (1, 5), (2, 6), (3, 3), (3, 4)}
# a small word list for the random tests: one- and multi-piece words, and " " (no sub-word at all
# with the XLM-R-style tokenizer)
WORDS = ["List", "of", "Ottawa", "buildings", "Danh", "sách", "các", "tòa", "nhà", "của", "abc", "zz", " "]


def xlmr_style_tokenizer():
    """An XLM-R-like (sentencepiece Unigram, Metaspace) fast tokenizer over the words above; no [QUE]."""
    from transformers import XLMRobertaTokenizer

    words = [w for w in WORDS if w.strip()]
    chars = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz"))
    vocab = [(p, 0.0) for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    vocab += [(META, -2.0)] + [(c, -5.0) for c in chars]
    vocab += [(META + w, -1.0) for w in words if w != "Ottawa"] + [(META + "Ott", -1.5), ("awa", -1.5)]
    return XLMRobertaTokenizer(vocab=vocab)


def bert_tokenizer():
    """A cased BERT WordPiece fast tokenizer ("Ottawa" -> "Ott" "##awa"); no [QUE]."""
    from transformers import BertTokenizerFast

    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Ott", "##awa", "s", "##ách"]
    pieces += [w for w in WORDS if w.strip() and w not in ("Ottawa", "sách")]
    pieces += sorted({c for w in WORDS for c in w.strip()}) + [f"##{c}" for c in "abcz"]
    return BertTokenizerFast(vocab={p: i for i, p in enumerate(dict.fromkeys(pieces))}, do_lower_case=False)


# tokenizer kind -> (factory, the specials around A and B in X: before A, between, after B)
KINDS = {
    "xlmr": (xlmr_style_tokenizer, (["<s>"], ["</s>", "</s>"], ["</s>"])),
    "bert": (bert_tokenizer, (["[CLS]"], ["[SEP]"], ["[SEP]"])),
    "me5": (None, (["<s>"], ["</s>", "</s>"], ["</s>"])),
}


_CACHE: dict[str, object] = {}


def make_tokenizer(kind: str, fresh: bool = False):
    """A tokenizer of ``kind`` with [QUE] (me5-small is loaded once: its 250k vocabulary is slow)."""
    if kind == "me5":
        if "me5" not in _CACHE:
            path = me5_small_dir()
            if path is None:
                pytest.skip("multilingual-e5-small is absent and could not be built (conftest.me5_small_dir)")
            _CACHE["me5"] = load_que_tokenizer(str(path))
        return _CACHE["me5"]
    if fresh or kind not in _CACHE:
        tok = KINDS[kind][0]()
        add_que_token(tok)
        if fresh:
            return tok
        _CACHE[kind] = tok
    return _CACHE[kind]


@pytest.fixture(scope="module", params=list(KINDS))
def tok_kind(request):
    return make_tokenizer(request.param), request.param


@pytest.fixture(scope="module")
def xlmr():
    return make_tokenizer("xlmr")


# --- the [QUE] token ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_que_is_one_special_token_and_adding_it_is_idempotent(kind):
    tok = make_tokenizer(kind, fresh=True)
    que, size = que_token_id(tok), len(tok)
    assert add_que_token(tok) == que and len(tok) == size  # idempotent
    assert QUE_TOKEN in tok.all_special_tokens
    if kind != "me5":
        assert size == len(KINDS[kind][0]()) + 1
    words = ["List", "[QUE]", "of", "[QUE]"]
    enc = tok(words, is_split_into_words=True, add_special_tokens=False)
    for w in (1, 3):
        assert [i for i, wid in zip(enc["input_ids"], enc.word_ids(), strict=True) if wid == w] == [que]
    assert enc["input_ids"].count(que) == 2
    assert tok.decode(enc["input_ids"], skip_special_tokens=True).split() == ["List", "of"]


def test_add_que_token_keeps_existing_extra_special_tokens():
    tok = xlmr_style_tokenizer()
    tok.add_special_tokens({"extra_special_tokens": ["[OTHER]"]})
    add_que_token(tok)
    assert {"[OTHER]", QUE_TOKEN} <= set(tok.all_special_tokens)


def test_build_example_needs_the_que_token():
    with pytest.raises(ValueError, match="add_que_token"):
        ce.build_example(EN, VI, FIG2_SPANS, FIG2_LINKS, xlmr_style_tokenizer())


# --- Figure 2 -------------------------------------------------------------------------------------


def test_figure2_example(tok_kind):
    tok, kind = tok_kind
    ex = ce.build_example(EN, VI, FIG2_SPANS, FIG2_LINKS, tok)
    assert ex.masked_tokens == ["[QUE]", "of", "[QUE]", "buildings"]
    assert ex.spans == [(0, 1, 0, 2, "MISC"), (2, 3, 6, 7, "LOC")]
    assert [" ".join(VI[j:m]) for _, _, j, m, _ in ex.spans] == ["Danh sách", "Ottawa"]
    answers = [
        tok.decode(ex.input_ids[s : e + 1]).strip()
        for s, e in zip(ex.answer_starts, ex.answer_ends, strict=True)
    ]
    assert answers == ["Danh sách", "Ottawa"]
    que = que_token_id(tok)
    assert [ex.input_ids[p] for p in ex.que_positions] == [que, que]
    assert ex.que_positions == [ex.masked_start, ex.masked_start + 2]  # [QUE] of [QUE]
    assert ex.input_ids.count(que) == 2
    # X follows the tokenizer's pair template: [CLS] A [SEP] B [SEP] / <s> A </s></s> B </s>
    a = tok(ex.masked_tokens, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    b = tok(VI, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    before, between, after = (tok.convert_tokens_to_ids(t) for t in KINDS[kind][1])
    assert ex.input_ids == [*before, *a, *between, *b, *after]
    assert ex.input_ids == tok(ex.masked_tokens, VI, is_split_into_words=True)["input_ids"]
    assert ex.input_ids[ex.masked_start : ex.masked_end] == a
    assert ex.input_ids[ex.target_start : ex.target_end] == b
    # the original source alone, for CACR
    assert ex.source_ids == tok(EN, is_split_into_words=True)["input_ids"]
    assert que not in ex.source_ids
    assert (ex.n_src_words, ex.n_tgt_words) == (4, 7)
    counts = (ex.n_spans, ex.n_kept, ex.n_unaligned, ex.n_overlap, ex.n_truncated)
    assert counts == (2, 2, 0, 0, 0)


# --- what is dropped ------------------------------------------------------------------------------


def test_a_span_without_links_is_not_masked(xlmr):
    ex = ce.build_example(EN, VI, FIG2_SPANS, FIG2_LINKS - {(2, 6)}, xlmr)
    assert ex.masked_tokens == ["[QUE]", "of", "Ottawa", "buildings"]
    assert ex.spans == [(0, 1, 0, 2, "MISC")]
    assert (ex.n_spans, ex.n_kept, ex.n_unaligned, ex.n_overlap, ex.n_truncated) == (2, 1, 1, 0, 0)
    assert len(ex.que_positions) == len(ex.answer_starts) == len(ex.answer_ends) == 1


def test_overlapping_target_spans_keep_the_first_source_span(xlmr):
    # "List" -> Danh sách (0, 2); "Ottawa" -> sách (1): overlaps the first, dropped
    links = {(0, 0), (0, 1), (2, 1), (3, 3)}
    spans = [(2, 3, "LOC"), (0, 1, "MISC"), (3, 4, "MISC")]  # input order does not matter
    ex = ce.build_example(EN, VI, spans, links, xlmr)
    assert ex.masked_tokens == ["[QUE]", "of", "Ottawa", "[QUE]"]
    assert ex.spans == [(0, 1, 0, 2, "MISC"), (3, 4, 3, 4, "MISC")]
    assert (ex.n_spans, ex.n_kept, ex.n_unaligned, ex.n_overlap, ex.n_truncated) == (3, 2, 0, 1, 0)
    # the same target spans as project_span2span
    assert (
        sorted((j, m, lab) for _, _, j, m, lab in ex.spans) == project.project_span2span(spans, links).spans
    )


def test_overlapping_source_spans_keep_the_first(xlmr):
    ex = ce.build_example(EN, VI, [(0, 2, "MISC"), (1, 3, "LOC")], {(0, 0), (2, 6)}, xlmr)
    assert ex.masked_tokens == ["[QUE]", "Ottawa", "buildings"]
    assert ex.spans == [(0, 2, 0, 1, "MISC")] and (ex.n_kept, ex.n_overlap) == (1, 1)


def test_a_pair_without_spans_has_empty_lists(xlmr):
    ex = ce.build_example(EN, VI, [], FIG2_LINKS, xlmr)
    assert ex.masked_tokens == EN and ex.n_kept == ex.n_spans == 0
    assert ex.spans == ex.que_positions == ex.answer_starts == ex.answer_ends == []
    assert ex.input_ids == xlmr(EN, VI, is_split_into_words=True)["input_ids"]


def test_an_answer_beyond_the_target_cut_is_dropped(xlmr):
    # target: 10 filler words, then "Ottawa" (2 sub-words); max_length 11 keeps the 10 fillers
    # and drops Ottawa (10 + 2 > 11); "List" -> first filler stays
    tgt = ["các"] * 10 + ["Ottawa"]
    links = {(0, 0), (2, 10)}
    ex = ce.build_example(EN, tgt, FIG2_SPANS, links, xlmr, max_length=11)
    assert ex.n_tgt_words == 10 and ex.target_end - ex.target_start == 10
    assert ex.masked_tokens == ["[QUE]", "of", "Ottawa", "buildings"]  # the dropped span is not masked
    assert ex.spans == [(0, 1, 0, 1, "MISC")]
    assert (ex.n_kept, ex.n_truncated, ex.n_unaligned, ex.n_overlap) == (1, 1, 0, 0)
    for s, e in zip(ex.answer_starts, ex.answer_ends, strict=True):
        assert ex.target_start <= s <= e < ex.target_end
    # with room for it, it is kept
    full = ce.build_example(EN, tgt, FIG2_SPANS, links, xlmr, max_length=12)
    assert full.n_kept == 2 and full.n_truncated == 0 and full.answer_ends[-1] == full.target_end - 1


def test_a_que_beyond_the_source_cut_is_dropped(xlmr):
    src = ["List"] + ["of"] * 6 + ["Ottawa"]
    links = {(0, 0), (7, 6)}
    ex = ce.build_example(src, VI, [(0, 1, "MISC"), (7, 8, "LOC")], links, xlmr, max_length=7)
    assert ex.masked_tokens == ["[QUE]"] + ["of"] * 6 and ex.masked_end - ex.masked_start == 7
    assert ex.spans == [(0, 1, 0, 1, "MISC")] and (ex.n_kept, ex.n_truncated) == (1, 1)
    # the original source is cut on its own: "Ottawa" is 2 sub-words, "List" 1
    assert ex.n_src_words == 7 and len(ex.source_ids) == 2 + 7


def test_a_first_word_longer_than_max_length_empties_the_sentence(xlmr):
    ex = ce.build_example(EN, ["Ottawa", "các"], [(2, 3, "LOC")], {(2, 0)}, xlmr, max_length=1)
    assert ex.n_tgt_words == 0 and ex.target_start == ex.target_end
    assert (ex.n_kept, ex.n_truncated) == (0, 1)


def test_a_span_outside_the_sentence_or_a_link_outside_the_pair_is_an_error(xlmr):
    with pytest.raises(ValueError, match="span"):
        ce.build_example(EN, VI, [(3, 5, "LOC")], FIG2_LINKS, xlmr)
    with pytest.raises(ValueError, match="link"):
        ce.build_example(EN, VI, FIG2_SPANS, FIG2_LINKS | {(0, 7)}, xlmr)


# --- the invariants, on random pairs --------------------------------------------------------------


@st.composite
def random_pairs(draw):
    src = draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=12))
    tgt = draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=12))
    n = len(src)
    spans = []
    for _ in range(draw(st.integers(0, 5))):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a + 1, min(n, a + 3)))
        spans.append((a, b, draw(st.sampled_from(["PER", "LOC"]))))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, len(tgt) - 1))
    links = draw(st.sets(pairs, min_size=n // 2, max_size=2 * n))
    return src, tgt, spans, links, draw(st.sampled_from([1, 3, 5, 7, 9, 64]))


@pytest.mark.parametrize("kind", ["xlmr", "bert"])
@settings(max_examples=50, deadline=None)
@given(case=random_pairs())
def test_invariants_on_random_pairs(kind, case):
    tok = make_tokenizer(kind)
    src, tgt, spans, links, max_length = case
    ex = ce.build_example(src, tgt, spans, links, tok, max_length=max_length)
    que = que_token_id(tok)
    assert ex.n_kept + ex.n_unaligned + ex.n_overlap + ex.n_truncated == ex.n_spans == len(spans)
    assert len(ex.que_positions) == ex.n_kept == ex.masked_tokens.count(QUE_TOKEN) == len(ex.spans)
    assert ex.input_ids.count(que) == ex.n_kept
    assert len(ex.answer_starts) == len(ex.answer_ends) == ex.n_kept
    for p in ex.que_positions:
        assert ex.masked_start <= p < ex.masked_end and ex.input_ids[p] == que
    assert ex.que_positions == sorted(ex.que_positions)
    for s, e in zip(ex.answer_starts, ex.answer_ends, strict=True):
        assert ex.target_start <= s <= e < ex.target_end
    assert ex.masked_end - ex.masked_start <= max_length and ex.target_end - ex.target_start <= max_length
    assert len(ex.source_ids) - tok.num_special_tokens_to_add(pair=False) <= max_length
    assert ex.input_ids == tok(ex.masked_tokens, tgt[: ex.n_tgt_words], is_split_into_words=True)["input_ids"]
    # kept spans: in source order, disjoint on both sides, inside the kept target words
    for (_, b, *_), (a2, *_) in zip(ex.spans, ex.spans[1:], strict=False):
        assert b <= a2
    assert all(m <= ex.n_tgt_words for *_, m, _ in ex.spans)
    # without truncation and with disjoint source spans, the target spans are project_span2span's
    srt = sorted(spans)
    if max_length >= 14 * 3 and all(b <= a2 for (_, b, _), (a2, _, _) in zip(srt, srt[1:], strict=False)):
        assert ex.n_truncated == 0
        got = sorted((j, m, lab) for _, _, j, m, lab in ex.spans)
        assert got == project.project_span2span(spans, links).spans


# --- build_frame and main -------------------------------------------------------------------------


def write_inputs(tmp_path: Path, links=FIG2_LINKS, spans=FIG2_SPANS, extra_pair: bool = True) -> dict:
    ids = ["para-en-vi-000000", "para-en-vi-000001"]
    pairs = pd.DataFrame(
        {
            "id": ids,
            "src_id": ["para-en-000000", "para-en-000001"],
            "tgt_id": [None, None],
            "src_lang": "en",
            "tgt_lang": "vi",
            "src_tokens": [EN, ["of", "buildings"]],
            "tgt_tokens": [VI, ["của", "tòa", "nhà"]],
            "provider": "parallel",
        }
    )
    alignments = pd.DataFrame(
        {
            "pair_id": ids[::-1] if extra_pair else ids[:1],
            "links": ([[{"s": 0, "t": 0}]] if extra_pair else [])
            + [[{"s": s, "t": t} for s, t in sorted(links)]],
            "backend": "eflomal",
            "symmetrization": "grow-diag-final-and",
        }
    )
    return write_pair_inputs(tmp_path, pairs, alignments, span_rows("para-en-000000", spans, "spacy"))


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("tok") / "xlmr"
    xlmr_style_tokenizer().save_pretrained(out)  # saved without [QUE]: the step adds it
    return str(out)


def run_main(tmp_path: Path, paths: dict, tokenizer_dir: str, max_length: int = 128) -> Path:
    out = tmp_path / "clism" / "para.vi.parquet"
    ctx = StepContext(
        input=paths,
        output={"examples": str(out)},
        params={"model_name_or_path": tokenizer_dir, "max_length": max_length},
    )
    ce.main(ctx)
    return out


def test_main_writes_one_row_per_pair(tmp_path, tokenizer_dir, caplog):
    caplog.set_level("INFO")
    out = run_main(tmp_path, write_inputs(tmp_path), tokenizer_dir)
    df = read_artifact(out, CLISM_EXAMPLES)
    assert df["id"].tolist() == ["para-en-vi-000000", "para-en-vi-000001"]
    first, second = df.iloc[0], df.iloc[1]
    assert first["masked_tokens"] == ["[QUE]", "of", "[QUE]", "buildings"]
    assert first["spans"] == [
        {"src_start": 0, "src_end": 1, "tgt_start": 0, "tgt_end": 2, "label": "MISC"},
        {"src_start": 2, "src_end": 3, "tgt_start": 6, "tgt_end": 7, "label": "LOC"},
    ]
    tok = load_que_tokenizer(tokenizer_dir)
    que = que_token_id(tok)
    assert [first["input_ids"][p] for p in first["que_positions"]] == [que, que]
    answers = [
        tok.decode(first["input_ids"][s : e + 1]).strip()
        for s, e in zip(first["answer_starts"], first["answer_ends"], strict=True)
    ]
    assert answers == ["Danh sách", "Ottawa"]
    ex = ce.build_example(EN, VI, FIG2_SPANS, FIG2_LINKS, tok)
    assert first["input_ids"] == ex.input_ids and first["source_ids"] == ex.source_ids
    assert (first["src_tokens"], first["tgt_tokens"]) == (EN, VI)
    assert (first["n_spans"], first["n_kept"]) == (2, 2)
    # the pair with no span: kept, with empty lists
    assert (
        second["n_kept"] == second["n_spans"] == 0 and second["spans"] == [] and second["que_positions"] == []
    )
    assert second["masked_tokens"] == ["of", "buildings"]
    assert set(df["tokenizer"]) == {tokenizer_dir} and set(df["tgt_lang"]) == {"vi"}
    assert "1 of 2 pairs have a [QUE]" in caplog.text and "2 of 2 source spans kept" in caplog.text


def test_build_frame_totals(tmp_path, xlmr):
    paths = write_inputs(tmp_path, links=FIG2_LINKS - {(2, 6)})
    frames = [
        read_artifact(paths[k], a)
        for k, a in (("pairs", PAIRS), ("alignments", ALIGNMENTS), ("spans", SPANS))
    ]
    df, totals = ce.build_frame(*frames, xlmr, max_length=128, tokenizer_name="toy")
    assert totals == {
        "pairs": 2,
        "kept_pairs": 1,
        "spans": 2,
        "kept": 1,
        "unaligned": 1,
        "overlap": 0,
        "truncated": 0,
    }
    assert df["n_kept"].tolist() == [1, 0] and set(df["tokenizer"]) == {"toy"}


def test_main_rejects_a_pair_without_alignment(tmp_path, tokenizer_dir):
    paths = write_inputs(tmp_path, extra_pair=False)
    with pytest.raises(ArtifactError) as err:
        run_main(tmp_path, paths, tokenizer_dir)
    assert err.value.field == "pair_id" and "alignments.parquet" in str(err.value)
    assert "para-en-vi-000001" in str(err.value)
    assert not (tmp_path / "clism").exists() or not any((tmp_path / "clism").iterdir())


def test_main_rejects_links_outside_the_pair(tmp_path, tokenizer_dir):
    paths = write_inputs(tmp_path, links=FIG2_LINKS | {(4, 0)})
    with pytest.raises(ArtifactError) as err:
        run_main(tmp_path, paths, tokenizer_dir)
    assert (err.value.row, err.value.field) == (1, "links") and "alignments.parquet" in str(err.value)
    assert not (tmp_path / "clism" / "para.vi.parquet").exists()


def test_main_rejects_spans_outside_the_sentence(tmp_path, tokenizer_dir):
    paths = write_inputs(tmp_path, spans=[(0, 1, "MISC"), (3, 5, "LOC")])
    with pytest.raises(ArtifactError) as err:
        run_main(tmp_path, paths, tokenizer_dir)
    assert (err.value.row, err.value.field) == (1, "end") and "spans.parquet" in str(err.value)
    assert not (tmp_path / "clism" / "para.vi.parquet").exists()
