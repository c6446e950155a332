"""Label projection: span-to-span (paper 001 Eq. 2) and word-to-word mappings, project.main."""

from __future__ import annotations

import pandas as pd
import pytest
from _helpers_pairs import span_rows, write_pair_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import project
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PROJECTED
from pipeline_steps.tags import spans_from_tags

# Figure 1 of paper 001 (BIOES).
SRC = ["Juventus", "has", "won", "the", "European", "Cup", "twice"]
TGT = ["La", "Juventus", "ha", "ganado", "la", "Copa", "de", "Europa", "dos", "veces"]
SRC_TAGS = ["S-ORG", "O", "O", "O", "B-MISC", "E-MISC", "O"]
# Juventus-Juventus, has-ha, won-ganado, the-la, European-Europa, Cup-Copa, twice-dos, twice-veces
LINKS = {(0, 1), (1, 2), (2, 3), (3, 4), (4, 7), (5, 5), (6, 8), (6, 9)}


def test_figure1_word_to_word():
    spans = spans_from_tags(SRC_TAGS, "bioes")
    tags, proj = project.project_tags(spans, LINKS, len(TGT), "word2word", "bioes")
    assert tags == ["O", "S-ORG", "O", "O", "O", "S-MISC", "O", "S-MISC", "O", "O"]
    assert (proj.n_projected, proj.n_overlap, proj.n_unaligned) == (2, 0, 0)


def test_figure1_span_to_span():
    spans = spans_from_tags(SRC_TAGS, "bioes")
    tags, proj = project.project_tags(spans, LINKS, len(TGT), "span2span", "bioes")
    assert tags == ["O", "S-ORG", "O", "O", "O", "B-MISC", "I-MISC", "E-MISC", "O", "O"]
    assert proj.spans == [(1, 2, "ORG"), (5, 8, "MISC")]
    tags_bio, _ = project.project_tags(spans, LINKS, len(TGT), "span2span", "bio")
    assert tags_bio == ["O", "B-ORG", "O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O", "O"]


def test_unlinked_words_are_ignored_and_unlinked_spans_not_projected():
    # "European" has no link: Cup alone decides; ORG has no link at all.
    links = LINKS - {(4, 7), (0, 1)}
    spans = [(0, 1, "ORG"), (4, 6, "MISC")]
    proj = project.project_span2span(spans, links)
    assert proj.spans == [(5, 6, "MISC")]
    assert (proj.n_projected, proj.n_overlap, proj.n_unaligned) == (1, 0, 1)


def test_overlapping_projections_keep_the_first_source_span():
    # source spans A=[0,1) B=[2,3) C=[4,5); A -> {3, 5}, B -> {4}, C -> {7}
    links = {(0, 3), (0, 5), (2, 4), (4, 7)}
    spans = [(2, 3, "LOC"), (0, 1, "PER"), (4, 5, "ORG")]  # order of the input does not matter
    s2s = project.project_span2span(spans, links)
    assert s2s.spans == [(3, 6, "PER"), (7, 8, "ORG")]
    assert (s2s.n_projected, s2s.n_overlap, s2s.n_unaligned) == (2, 1, 0)
    w2w = project.project_word2word(spans, links)
    assert w2w.spans == [(3, 4, "PER"), (4, 5, "LOC"), (5, 6, "PER"), (7, 8, "ORG")]
    assert (w2w.n_projected, w2w.n_overlap, w2w.n_unaligned) == (3, 0, 0)
    # word2word: a span whose every target word is already taken is dropped
    w2w = project.project_word2word([(0, 1, "PER"), (2, 3, "LOC")], {(0, 4), (2, 4)})
    assert w2w.spans == [(4, 5, "PER")] and w2w.n_overlap == 1


def test_word2word_keeps_adjacent_spans_of_one_type_apart():
    # two adjacent PER spans map to adjacent target words: two spans, not one
    proj = project.project_word2word([(0, 1, "PER"), (1, 2, "PER")], {(0, 0), (1, 1)})
    assert proj.spans == [(0, 1, "PER"), (1, 2, "PER")]
    # one span over several contiguous target words: one span
    proj = project.project_word2word([(0, 2, "PER")], {(0, 1), (1, 2), (1, 3)})
    assert proj.spans == [(1, 4, "PER")]


def test_unknown_mapping():
    with pytest.raises(ConfigError, match="unknown projection mapping"):
        project.project_spans([], set(), "phrase")


@st.composite
def projection_case(draw):
    n_src, n_tgt = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    links = draw(st.sets(st.tuples(st.integers(0, n_src - 1), st.integers(0, n_tgt - 1)), max_size=15))
    cuts = sorted(draw(st.sets(st.integers(0, n_src), min_size=2, max_size=8)))
    spans = [
        (a, b, draw(st.sampled_from(["PER", "LOC"])))
        for a, b in zip(cuts, cuts[1:], strict=False)
        if draw(st.booleans())
    ]
    return spans, links, n_tgt


@settings(max_examples=200, deadline=None)
@given(
    case=projection_case(),
    mapping=st.sampled_from(project.MAPPINGS),
    scheme=st.sampled_from(["bio", "bioes"]),
)
def test_projection_invariants(case, mapping, scheme):
    spans, links, n_tgt = case
    tags, proj = project.project_tags(spans, links, n_tgt, mapping, scheme)
    assert len(tags) == n_tgt
    assert spans_from_tags(tags, scheme) == proj.spans  # well-formed, and exactly the projected spans
    assert proj.n_projected + proj.n_overlap + proj.n_unaligned == len(spans)
    linked = {t for s, t in links if any(a <= s < b for a, b, _ in spans)}
    covered = {t for a, b, _ in proj.spans for t in range(a, b)}
    if mapping == "word2word":
        assert covered <= linked  # only linked words are labelled
    else:
        for a, b, _ in proj.spans:  # span boundaries are linked words
            assert a in linked and b - 1 in linked
    if spans and len(links) == 0:
        assert proj.spans == [] and proj.n_unaligned == len(spans)


def test_identity_alignment_projects_spans_unchanged():
    spans = [(0, 2, "PER"), (3, 4, "LOC")]
    links = {(i, i) for i in range(5)}
    for mapping in project.MAPPINGS:
        assert project.project_spans(spans, links, mapping).spans == spans


# ---------------------------------------------------------------------------------------------
# project.main


def write_inputs(tmp_path, links=LINKS, spans=((0, 1, "ORG"), (4, 6, "MISC"))):
    pairs = pd.DataFrame(
        [
            {
                "id": "gold-en-es-000000",
                "src_id": "gold.es.src-en-000000",
                "tgt_id": "gold.es.tgt-es-000000",
                "src_lang": "en",
                "tgt_lang": "es",
                "src_tokens": SRC,
                "tgt_tokens": TGT,
                "provider": "parallel",
            },
            {
                "id": "gold-en-es-000001",
                "src_id": "gold.es.src-en-000001",
                "tgt_id": "gold.es.tgt-es-000001",
                "src_lang": "en",
                "tgt_lang": "es",
                "src_tokens": ["Hello"],
                "tgt_tokens": ["Hola"],
                "provider": "parallel",
            },
        ]
    )
    alignments = pd.DataFrame(
        {
            "pair_id": ["gold-en-es-000001", "gold-en-es-000000"],
            "links": [[{"s": 0, "t": 0}], [{"s": s, "t": t} for s, t in sorted(links)]],
            "backend": "eflomal",
            "symmetrization": "grow-diag-final-and",
        }
    )
    return write_pair_inputs(tmp_path, pairs, alignments, span_rows("gold.es.src-en-000000", spans, "gold"))


def test_main_projects_every_pair(tmp_path):
    ctx = StepContext(
        input=write_inputs(tmp_path),
        output={"projected": str(tmp_path / "projected.parquet")},
        params={"mapping": "span2span", "scheme": "bioes", "lang": "es"},
    )
    project.main(ctx)
    out = read_artifact(tmp_path / "projected.parquet", PROJECTED)
    assert out["id"].tolist() == ["gold-en-es-000000", "gold-en-es-000001"]
    assert out["tags"].iloc[0] == ["O", "S-ORG", "O", "O", "O", "B-MISC", "I-MISC", "E-MISC", "O", "O"]
    assert out["tags"].iloc[1] == ["O"]
    assert out["n_src_spans"].tolist() == [2, 0] and out["n_projected"].tolist() == [2, 0]
    assert set(out["lang"]) == {"es"} and set(out["mapping"]) == {"span2span"}
    assert out["tokens"].iloc[0] == TGT


def test_main_rejects_links_outside_the_pair(tmp_path):
    paths = write_inputs(tmp_path, links=LINKS | {(7, 0)})
    ctx = StepContext(
        input=paths,
        output={"projected": str(tmp_path / "projected.parquet")},
        params={"mapping": "word2word", "scheme": "bio", "lang": "es"},
    )
    with pytest.raises(ArtifactError) as err:
        project.main(ctx)
    assert (err.value.row, err.value.field) == (1, "links") and "alignments.parquet" in str(err.value)
    assert not (tmp_path / "projected.parquet").exists()


def test_main_rejects_spans_outside_the_sentence(tmp_path):
    paths = write_inputs(tmp_path, spans=((0, 1, "ORG"), (5, 9, "MISC")))
    ctx = StepContext(
        input=paths,
        output={"projected": str(tmp_path / "projected.parquet")},
        params={"mapping": "span2span", "scheme": "bio", "lang": "es"},
    )
    with pytest.raises(ArtifactError) as err:
        project.main(ctx)
    assert (err.value.row, err.value.field) == (1, "end") and "spans.parquet" in str(err.value)
    assert not (tmp_path / "projected.parquet").exists()
