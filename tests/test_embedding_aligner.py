"""The embedding (SimAlign-style) aligner: argmax/itermax on hand-computed matrices, sub-word -> word
mapping, distortion, a tiny random encoder end to end, and a real encoder when one is available."""

from __future__ import annotations

import pytest
import torch
from _helpers_model import tiny_aligner_encoder, toy_parallel
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import align
from pipeline_steps.align import embedding as emb
from pipeline_steps.align.symmetrize import METHODS as SYMMETRIZATIONS
from pipeline_steps.align.symmetrize import symmetrize
from pipeline_steps.errors import ConfigError


def links(matrix: torch.Tensor) -> set[tuple[int, int]]:
    return {(i, j) for i, j in matrix.nonzero().tolist()}


# ---------------------------------------------------------------------------------------------
# A 3 x 3 similarity matrix, by hand:
#   row argmax: 0->0 (.9), 1->0 (.85), 2->1 (.7); column argmax: 0->0 (.9), 1->0 (.8), 2->2 (.6)
#   argmax (mutual): {00}
#   itermax round 2: rows 1, 2 and columns 1, 2 free; weights 0 at 00, 0.9 where one word is
#   aligned, 1 where both are free:
#       [0    .72  .09]      row argmax 0->1, 1->0, 2->1; column argmax 0->1, 1->0, 2->2
#       [.765 .2   .3 ]      mutual: 01, 10 (each has a free word) -> {00, 01, 10}
#       [.09  .7   .6 ]
#   round 3 (max_iterations=3): only row 2 and column 2 free:
#       [0   0   .09]        row argmax 0->2, 1->2, 2->1; column argmax 0->2, 1->2, 2->2
#       [0   0   .27]        mutual: 21 -> {00, 01, 10, 21}; then every row is aligned: a 4th
#       [.09 .63 .6 ]        round adds nothing (column 2 stays unaligned)
SIM = torch.tensor([[0.9, 0.8, 0.1], [0.85, 0.2, 0.3], [0.1, 0.7, 0.6]])


def test_argmax_hand_computed():
    rows, cols = emb.argmax_matrices(SIM)
    assert links(rows) == {(0, 0), (1, 0), (2, 1)}
    assert links(cols) == {(0, 0), (0, 1), (2, 2)}
    assert links(emb.mutual_argmax(SIM)) == {(0, 0)}


def test_itermax_hand_computed():
    assert links(emb.itermax(SIM)) == {(0, 0), (0, 1), (1, 0)}  # SimAlign: 2 iterations, alpha 0.9
    assert links(emb.itermax(SIM, max_iterations=3)) == {(0, 0), (0, 1), (1, 0), (2, 1)}
    assert links(emb.itermax(SIM, max_iterations=4)) == {(0, 0), (0, 1), (1, 0), (2, 1)}
    assert links(emb.itermax(SIM, max_iterations=1)) == {(0, 0)}


def test_itermax_alpha_matters():
    # alpha 0.5, round 2:  [0    .4  .05]   row argmax 0->1, 1->0, 2->1
    #                      [.425 .2  .3 ]   column argmax 0->1, 1->2, 2->2
    #                      [.05  .7  .6 ]   mutual: 10, 21 (01 no longer: column 1 prefers row 2)
    assert links(emb.itermax(SIM, alpha=0.5)) == {(0, 0), (1, 0), (2, 1)}


def test_softmax_extraction_hand_computed():
    # dot products S = [[3, 0, 3], [0, 3, 3]]: row softmax [e3, 1, e3] / (2 e3 + 1) = [.4879, .0243, .4879];
    # column softmax of columns 0 and 1: [.9526, .0474], of column 2: [.5, .5]
    x, y = torch.tensor([[3.0, 0.0], [0.0, 3.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    both = {(0, 0), (0, 2), (1, 1), (1, 2)}
    everything = {(i, j) for i in range(2) for j in range(3)}
    assert links(emb.softmax_links(x, y, 0.001)) == everything  # awesome-align's threshold
    assert links(emb.softmax_links(x, y, 0.03)) == both  # .0243 fails the row softmax
    assert links(emb.softmax_links(x, y, 0.48)) == both
    assert links(emb.softmax_links(x, y, 0.49)) == set()  # .4879 fails the row softmax
    with pytest.raises(ConfigError, match="softmax_threshold"):
        emb.EmbeddingSettings.from_options(
            {"name_or_path": "m", "method": "softmax", "softmax_threshold": 1.0}
        )


def test_itermax_small_matrix_is_argmax():
    # a side of <= 2 tokens: the reference code returns the argmax links
    sim = torch.tensor([[0.9, 0.8, 0.7], [0.95, 0.1, 0.2]])
    assert links(emb.itermax(sim)) == links(emb.mutual_argmax(sim)) == {(1, 0)}


def test_distortion_hand_computed():
    # kappa 0.5 on a 3 x 3 matrix of ones: 1 - 0.5 (i/2 - j/2)^2
    got = emb.apply_distortion(torch.ones(3, 3), 0.5)
    want = torch.tensor([[1.0, 0.875, 0.5], [0.875, 1.0, 0.875], [0.5, 0.875, 1.0]])
    assert torch.allclose(got, want)
    assert torch.equal(emb.apply_distortion(SIM, 0.0), SIM)
    assert torch.equal(emb.apply_distortion(torch.ones(1, 4), 0.5), torch.ones(1, 4))  # one token: as is


def test_distortion_breaks_a_tie_towards_the_diagonal():
    # two identical target words: without distortion the first wins both rows' argmax
    sim = torch.tensor([[0.8, 0.8], [0.8, 0.8]])
    assert links(emb.mutual_argmax(sim)) == {(0, 0)}
    assert links(emb.mutual_argmax(emb.apply_distortion(sim, 0.5))) == {(0, 0), (1, 1)}


def test_similarity_is_shifted_cosine():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    want = torch.tensor([[1.0, 0.0, (2**-0.5 + 1) / 2], [0.5, 0.5, (2**-0.5 + 1) / 2]])
    assert torch.allclose(emb.similarity(x, y), want)


distinct_matrices = st.integers(1, 7).flatmap(
    lambda m: st.integers(1, 7).flatmap(
        lambda n: st.lists(
            st.floats(0.0, 1.0, allow_nan=False, width=32), min_size=m * n, max_size=m * n, unique=True
        ).map(lambda v: torch.tensor(v).reshape(m, n))
    )
)


@settings(max_examples=150, deadline=None)
@given(distinct_matrices, st.integers(1, 4))
def test_argmax_itermax_invariants(sim, iterations):
    arg = emb.mutual_argmax(sim)
    it = emb.itermax(sim, max_iterations=iterations)
    assert arg.any()  # the global maximum is always a mutual argmax
    assert int(arg.sum(dim=0).max()) <= 1 and int(arg.sum(dim=1).max()) <= 1  # one-to-one
    assert links(arg) <= links(it)
    # no two tokens both aligned by argmax get linked later
    for i, j in links(it) - links(arg):
        assert not (bool(arg[i].any()) and bool(arg[:, j].any()))
    # the method treats source and target alike (distinct values: no ties)
    assert links(emb.itermax(sim.T, max_iterations=iterations)) == {(j, i) for i, j in links(it)}
    assert int(it.sum()) <= int(arg.sum()) + (iterations - 1) * max(sim.shape)


# ---------------------------------------------------------------------------------------------
# Sub-word -> word mapping, hand-made: source words "ab" (sub-words a, b) and "c"; target words x, y, z
#   a=[1,0,0] b=[0,1,0] c=[0,0,1]; x=[1,.2,0] y=[0,1,0] z=[0,0,1]
#   bpe: cos a-x .98, b-y 1, c-z 1, the rest <= .2 -> sub-word links a-x, b-y, c-z
#        -> word links {(0,0), (0,1), (1,2)} ("ab" linked to both x and y)
#   word: "ab" = mean(a, b) = [.5,.5,0]: cos with x .83, with y .71 -> row "ab" -> x, column y -> "ab":
#        only (ab, x) is mutual -> {(0,0), (1,2)}; y stays unaligned
SRC_ENC = emb.Encoded(input_ids=[0, 11, 12, 13, 2], word_of=[-1, 0, 0, 1, -1])
TGT_ENC = emb.Encoded(input_ids=[0, 21, 22, 23, 2], word_of=[-1, 0, 1, 2, -1])
SRC_VEC = torch.tensor([[9.0, 9, 9], [1, 0, 0], [0, 1, 0], [0, 0, 1], [9, 9, 9]])  # <s>, a, b, c, </s>
TGT_VEC = torch.tensor([[9.0, 9, 9], [1, 0.2, 0], [0, 1, 0], [0, 0, 1], [9, 9, 9]])  # <s>, x, y, z, </s>


def test_units_leave_out_special_tokens_and_average_words():
    sub, words = emb.units(SRC_VEC, SRC_ENC, "bpe")
    assert words == [0, 0, 1]
    assert torch.equal(sub, SRC_VEC[1:4])
    vec, words = emb.units(SRC_VEC, SRC_ENC, "word")
    assert words == [0, 1]
    assert torch.allclose(vec, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [("bpe", {(0, 0), (0, 1), (1, 2)}), ("word", {(0, 0), (1, 2)})],
)
def test_subword_to_word_hand_made(granularity, expected):
    x, x_words = emb.units(SRC_VEC, SRC_ENC, granularity)
    y, y_words = emb.units(TGT_VEC, TGT_ENC, granularity)
    for method in ("argmax", "itermax"):
        s = emb.EmbeddingSettings("unused", method=method, granularity=granularity)
        fwd, rev = emb.align_matrix(emb.similarity(x, y), s)
        assert emb.word_links(fwd, x_words, y_words) == expected
        assert emb.word_links(rev, x_words, y_words) == expected


def test_directional_method_orientation():
    # forward = column-wise argmax (every target token picks a source token), reverse = row-wise
    s = emb.EmbeddingSettings("unused", method="directional")
    fwd, rev = emb.align_matrix(SIM, s)
    assert links(fwd) == {(0, 0), (0, 1), (2, 2)}
    assert links(rev) == {(0, 0), (1, 0), (2, 1)}


def test_word_links_maps_token_pairs():
    matrix = torch.zeros(4, 3, dtype=torch.bool)
    matrix[0, 0] = matrix[1, 0] = matrix[3, 2] = True
    assert emb.word_links(matrix, [0, 0, 1, 2], [0, 1, 1]) == {(0, 0), (2, 1)}


# ---------------------------------------------------------------------------------------------
# Options


def test_settings_from_options():
    s = emb.EmbeddingSettings.from_options(
        {"name_or_path": "m", "layer": 6, "method": "argmax", "device": None}
    )
    assert (s.name_or_path, s.layer, s.method, s.granularity, s.alpha, s.max_iterations) == (
        "m",
        6,
        "argmax",
        "bpe",
        0.9,
        2,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set name_or_path"),
        ({"name_or_path": "m", "methd": "argmax"}, "unknown options"),
        ({"name_or_path": "m", "method": "mwmf"}, "unknown method"),
        ({"name_or_path": "m", "granularity": "char"}, "unknown granularity"),
        ({"name_or_path": "m", "distortion": 2}, "distortion"),
        ({"name_or_path": "m", "alpha": 0}, "alpha"),
        ({"name_or_path": "m", "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        emb.EmbeddingSettings.from_options(options)


def test_layer_index():
    assert emb.resolve_layer(8, 12) == 8
    assert emb.resolve_layer(-1, 12) == 12
    assert emb.resolve_layer(0, 12) == 0
    with pytest.raises(ConfigError, match="12 layers"):
        emb.resolve_layer(13, 12)


# ---------------------------------------------------------------------------------------------
# The tiny random encoder (shapes and validity only: its embeddings mean nothing)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    return tiny_aligner_encoder(tmp_path_factory.mktemp("emb"), ("en", "es"))


@pytest.fixture(scope="module")
def toy_pairs():
    return toy_parallel("es")


def options(path: str, **kw) -> dict:
    return {"name_or_path": path, "layer": 2, "batch_size": 4, **kw}


def test_tokenize_maps_positions_to_words(tiny_encoder, toy_pairs):
    tok = emb.load_encoder(tiny_encoder, torch.device("cpu"))[0]
    en, _ = toy_pairs
    encoded, missing = emb.tokenize(tok, en, 128)
    assert missing == 0
    for words, e in zip(en, encoded, strict=True):
        assert e.word_of[0] == e.word_of[-1] == -1  # <s> ... </s>
        assert e.input_ids[0] == tok.bos_token_id and e.input_ids[-1] == tok.eos_token_id
        inner = e.word_of[1:-1]
        assert inner == sorted(inner) and set(inner) == set(range(len(words)))
    long_word = encoded[2].word_of.count(len(en[2]) - 1)
    assert long_word > 1
    cut, missing = emb.tokenize(tok, en, 6)  # 4 sub-words + 2 special tokens
    assert all(len(e.input_ids) <= 6 for e in cut)
    assert missing == sum(len(w) for w in en) - sum(len({x for x in e.word_of if x >= 0}) for e in cut) > 0


def test_batching_does_not_change_the_vectors(tiny_encoder, toy_pairs):
    tok, model = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    encoded, _ = emb.tokenize(tok, toy_pairs[0], 128)
    together = emb.token_vectors(model, encoded, 2, tok.pad_token_id, torch.device("cpu"))
    for e, vec in zip(encoded, together, strict=True):
        (alone,) = emb.token_vectors(model, [e], 2, tok.pad_token_id, torch.device("cpu"))
        assert vec.shape == (len(e.input_ids), 16)
        assert torch.allclose(vec, alone, atol=1e-5)


@pytest.mark.parametrize("granularity", ["bpe", "word"])
def test_tiny_encoder_end_to_end(tiny_encoder, toy_pairs, granularity):
    en, es = toy_pairs
    arg_f, arg_r = emb.directional(
        en, es, options=options(tiny_encoder, method="argmax", granularity=granularity)
    )
    it_f, it_r = emb.directional(
        en, es, options=options(tiny_encoder, method="itermax", granularity=granularity)
    )
    dir_f, dir_r = emb.directional(
        en, es, options=options(tiny_encoder, method="directional", granularity=granularity)
    )
    for out in (arg_f, arg_r, it_f, it_r, dir_f, dir_r):
        assert len(out) == len(en)
    for k, (s, t) in enumerate(zip(en, es, strict=True)):
        assert arg_f[k] == arg_r[k] and it_f[k] == it_r[k]  # the method's links are final
        assert arg_f[k] and arg_f[k] <= it_f[k]
        for link_set in (it_f[k], dir_f[k], dir_r[k]):
            assert all(0 <= i < len(s) and 0 <= j < len(t) for i, j in link_set)
        assert {j for _, j in dir_f[k]} == set(range(len(t)))  # forward: every target word picks a source
        assert {i for i, _ in dir_r[k]} == set(range(len(s)))  # reverse: every source word picks a target
        if granularity == "word":  # one unit per word: mutual argmax is one-to-one
            assert len({i for i, _ in arg_f[k]}) == len({j for _, j in arg_f[k]}) == len(arg_f[k])
    # batch size does not change the links
    again = emb.directional(en, es, options=options(tiny_encoder, method="itermax", batch_size=1))
    if granularity == "bpe":
        assert again == (it_f, it_r)


def test_tiny_encoder_through_align_corpus(tiny_encoder, toy_pairs, monkeypatch):
    monkeypatch.setitem(align.BACKENDS, "embedding", "pipeline_steps.align.embedding")
    en, es = toy_pairs
    en = [*en, []]  # an empty sentence gets no links
    es = [*es, ["hola"]]
    opts = options(tiny_encoder, method="argmax")
    results = {
        m: align.align_corpus(en, es, backend="embedding", symmetrization=m, options=opts)
        for m in SYMMETRIZATIONS
    }
    first = results["intersection"]
    assert len(first) == len(en) and first[-1] == set()
    assert all(r == first for r in results.values())  # argmax is symmetric: every symmetrization keeps it
    assert first[:-1] == emb.directional(en[:-1], es[:-1], options=opts)[0]
    # does not train on the corpus: the extra pairs after n_keep change nothing
    more = align.align_corpus(en + en, es + es, backend="embedding", n_keep=len(en), options=opts)
    assert more == first


def test_tiny_encoder_errors(tiny_encoder):
    with pytest.raises(ConfigError, match="2 layers"):
        emb.directional([["a"]], [["b"]], options={"name_or_path": tiny_encoder})  # default layer 8
    with pytest.raises(ValueError, match="1 source sentences but 2 target"):
        emb.directional([["a"]], [["b"], ["c"]], options=options(tiny_encoder))
    assert emb.directional([], [], options=options(tiny_encoder)) == ([], [])


# ---------------------------------------------------------------------------------------------
# A real multilingual encoder (multilingual-e5-small from ../shared/tools/get-me5-small.sh)


EN_ES = [
    ("the house is red", "la casa es roja", {(1, 1), (3, 3)}),
    (
        "I like the European Parliament very much .",
        "Me gusta mucho el Parlamento Europeo .",
        {(3, 5), (4, 4), (7, 6)},
    ),
    ("The cat sleeps on the sofa .", "El gato duerme en el sofá .", {(1, 1), (2, 2), (5, 5), (6, 6)}),
]


@pytest.fixture(scope="module")
def me5(me5_small):
    return emb.load_encoder(str(me5_small), torch.device("cpu"))


@pytest.mark.parametrize("method", ["argmax", "itermax", "directional"])
def test_real_encoder_en_es(me5, method):
    src = [e.split() for e, _, _ in EN_ES]
    tgt = [s.split() for _, s, _ in EN_ES]
    settings = emb.EmbeddingSettings.from_options({"name_or_path": "me5-small", "method": method})  # layer 8
    fwd, rev = emb.align_sentences(src, tgt, *me5, settings)
    if method != "directional":
        assert fwd == rev
    final = [symmetrize(f, r, "grow-diag-final-and") for f, r in zip(fwd, rev, strict=True)]
    for (en, es, expected), got in zip(EN_ES, final, strict=True):
        assert expected <= got, f"{en!r} / {es!r}: {sorted(got)}"
        assert (1, 3) not in got  # no house-roja


@pytest.mark.parametrize("layer", [1, -2])
def test_the_layers_above_the_aligned_one_are_not_run_and_change_nothing(tiny_encoder, toy_pairs, layer):
    """The tiny encoder has 2 layers: aligning with layer 1 (or -2, the same) drops layer 2 before
    encoding, and the links are those of the full encoder."""
    en, es = toy_pairs
    tok, full = emb.load_encoder(tiny_encoder, torch.device("cpu"))
    settings = emb.EmbeddingSettings.from_options(options(tiny_encoder, layer=1, method="directional"))
    expected = emb.align_sentences(en, es, tok, full, settings)
    cut_run = emb.directional(en, es, options=options(tiny_encoder, layer=layer, method="directional"))
    assert cut_run == expected
    cut = emb.load_encoder(tiny_encoder, torch.device("cpu"))[1]
    assert emb.keep_layers(cut, 1) and len(cut.encoder.layer) == 1 and cut.config.num_hidden_layers == 1
    assert not emb.keep_layers(cut, 1)  # nothing above layer 1 any more
