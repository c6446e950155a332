"""Unigram-LM subword sampling (xTune, paper 003 Sec. 3.2.1; Kudo 2018): both back-ends against the exact
posterior P(x)**alpha / Z, detokenisation, ratio, determinism and bad input."""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sentencepiece as spm
from _helpers_tokenizers import TOY_VOCAB, unigram_tokenizer
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from tokenizers import Tokenizer, models

from pipeline_steps.augment.subword_sampling import META, UNK_PENALTY, UnigramSampler
from pipeline_steps.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
N_SAMPLES = 20_000

TOY_UNK_SCORE = min(s for _, s in TOY_VOCAB) - UNK_PENALTY
STEMS = [
    "ab",
    "abc",
    "cd",
    "da",
    "b",
    "ca",
    "dab",
]  # the SentencePiece training text's words are made of these


# ---------------------------------------------------------------------------------------------
# Fixtures: a tiny trained SentencePiece model, toy tokenizer.json files


def train_sentencepiece(folder: Path, model_type: str = "unigram") -> Path:
    """A tiny model over "abcd" whose pieces (at most 3 characters) give "abcdab" 24 segmentations."""
    rnd = random.Random(0)
    lines = [
        " ".join("".join(rnd.choices(STEMS, k=rnd.randint(2, 5))) for _ in range(12)) for _ in range(400)
    ]
    text = folder / f"train-{model_type}.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prefix = folder / f"toy-{model_type}"
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        vocab_size=40,
        hard_vocab_limit=False,
        max_sentencepiece_length=3,
        model_type=model_type,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("subword")
    out = {"sp": train_sentencepiece(folder), "json": folder / "toy.json", "lower": folder / "lower.json"}
    unigram_tokenizer(TOY_VOCAB).save(str(out["json"]))
    unigram_tokenizer(TOY_VOCAB, lowercase=True).save(str(out["lower"]))
    return out


@pytest.fixture(scope="module")
def sp_vocab(files) -> dict[str, float]:
    """The trained model's normal pieces and their scores (log-probabilities)."""
    sp = spm.SentencePieceProcessor(model_file=str(files["sp"]))
    special = (sp.is_control, sp.is_unknown, sp.is_unused)
    return {
        sp.id_to_piece(i): sp.get_score(i)
        for i in range(sp.get_piece_size())
        if not any(f(i) for f in special)
    }


def sampler(files, backend: str, alpha: float = 0.3, nbest: int = -1) -> UnigramSampler:
    if backend == "sentencepiece":
        return UnigramSampler.from_sentencepiece(files["sp"], alpha, nbest)
    return UnigramSampler.from_tokenizer_json(files["json"], alpha, nbest)


# ---------------------------------------------------------------------------------------------
# The exact posterior by enumeration


def node_paths(text: str, scores: dict[str, float], unk: float | None) -> list[list[tuple[str, float, bool]]]:
    """Every path through the lattice of ``text``: (piece, score, is_unknown) nodes. A character with no
    single-character piece is an unknown node scoring ``unk``."""
    if not text:
        return [[]]
    paths = []
    for end in range(1, len(text) + 1):
        head = text[:end]
        nodes = [(head, scores[head], False)] if head in scores else []
        if end == 1 and head not in scores and unk is not None:
            nodes.append((head, unk, True))
        paths += [[node, *rest] for node in nodes for rest in node_paths(text[end:], scores, unk)]
    return paths


def segmentations(text: str, scores: dict[str, float], unk: float | None = None) -> dict[tuple, float]:
    """Every segmentation of ``text`` (adjacent unknown characters fused) -> its log-probability."""
    out: dict[tuple, float] = {}
    for path in node_paths(text, scores, unk):
        pieces: list[str] = []
        for i, (piece, _, is_unk) in enumerate(path):
            if is_unk and i and path[i - 1][2]:
                pieces[-1] += piece
            else:
                pieces.append(piece)
        key, score = tuple(pieces), sum(s for _, s, _ in path)
        out[key] = score if key not in out else float(np.logaddexp(out[key], score))
    return out


def posterior(segs: dict[tuple, float], alpha: float, nbest: int = -1) -> dict[tuple, float]:
    """P(x)**alpha / Z over all segmentations, or over the ``nbest`` best."""
    ranked = sorted(segs.items(), key=lambda kv: -kv[1])
    if nbest > 0:
        ranked = ranked[:nbest]
    top = ranked[0][1]
    weights = {k: math.exp(alpha * (s - top)) for k, s in ranked}
    z = sum(weights.values())
    return {k: w / z for k, w in weights.items()}


def chi_square_p(samples: list[list[str]], probs: dict[tuple, float], min_bins: int = 3) -> float:
    """Chi-square p-value of the samples against ``probs`` (expected counts < 5 pooled); a sample outside
    the support fails at once."""
    counts = Counter(tuple(s) for s in samples)
    assert set(counts) <= set(probs), f"segmentations outside the support: {set(counts) - set(probs)}"
    n = len(samples)
    big = [k for k in probs if probs[k] * n >= 5]
    small = [k for k in probs if probs[k] * n < 5]
    observed = [counts[k] for k in big] + ([sum(counts[k] for k in small)] if small else [])
    expected = [probs[k] * n for k in big] + ([sum(probs[k] for k in small) * n] if small else [])
    assert len(observed) >= min_bins, "too few segmentations for a meaningful test"
    return float(chisquare(observed, expected).pvalue)


def draw(s: UnigramSampler, word: str, seed: int, n: int = N_SAMPLES) -> list[list[str]]:
    rng = random.Random(seed)
    return [s.sample(word, rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Distribution: samples follow P(x)**alpha / Z (Kudo 2018)


@pytest.mark.parametrize("nbest", [-1, 3])
def test_sentencepiece_samples_follow_the_posterior(files, sp_vocab, nbest):
    word = "abcdab"
    segs = segmentations(META + word, sp_vocab)
    assert all(ch in sp_vocab for ch in META + word)  # no unknown characters: the enumeration is complete
    assert len(segs) >= 20
    samples = draw(sampler(files, "sentencepiece", 0.3, nbest), word, seed=1)
    assert chi_square_p(samples, posterior(segs, 0.3, nbest)) > 0.001
    # the test can tell alpha apart: SentencePiece samples P(x)**alpha, not P(x)
    assert chi_square_p(samples, posterior(segs, 1.0, nbest), min_bins=2) < 1e-6
    if nbest > 0:
        assert {tuple(s) for s in samples} == set(posterior(segs, 0.3, nbest))  # only (and all) n best


@pytest.mark.parametrize("nbest", [-1, 3])
@pytest.mark.parametrize("word", ["abcdab", "xabxxa"])
def test_lattice_samples_follow_the_posterior(files, word, nbest):
    vocab = dict(TOY_VOCAB[1:])
    segs = segmentations(META + word, vocab, unk=TOY_UNK_SCORE)
    samples = draw(sampler(files, "tokenizer.json", 0.3, nbest), word, seed=2)
    assert chi_square_p(samples, posterior(segs, 0.3, nbest)) > 0.001
    assert chi_square_p(samples, posterior(segs, 1.0, nbest), min_bins=2) < 1e-6
    if nbest > 0:
        assert {tuple(s) for s in samples} == set(posterior(segs, 0.3, nbest))


def test_unknown_characters_are_fused_and_penalised(files):
    s = sampler(files, "tokenizer.json")
    assert s.best("xxa") == [META, "x", "xa"]  # "x" has no piece: unknown; "xa" is a piece
    assert s.best("xxb") == [META, "xx", "b"]  # adjacent unknown characters are one piece
    # min score - 10: "▁" + unk(x) + "a" is far less likely than "▁" + "xa"
    segs = segmentations(META + "xa", dict(TOY_VOCAB[1:]), unk=TOY_UNK_SCORE)
    assert segs[(META, "x", "a")] == pytest.approx(-3.1 + TOY_UNK_SCORE - 2.0)
    counts = Counter(tuple(p) for p in draw(s, "xa", seed=3, n=4000))
    expected = posterior(segs, 0.3)[(META, "x", "a")] * 4000
    assert abs(counts[(META, "x", "a")] - expected) < 5 * math.sqrt(expected)


# ---------------------------------------------------------------------------------------------
# Every sample spells the word; best segmentations agree with the libraries' own Viterbi

WORDS = st.text(alphabet="abcdx", min_size=1, max_size=10)


def detok(pieces: list[str]) -> str:
    return "".join(pieces).replace(META, " ").strip()


@settings(max_examples=80, deadline=None)
@given(word=WORDS, seed=st.integers(0, 2**32), nbest=st.sampled_from([-1, 2, 5]))
def test_samples_detokenise_to_the_word(files, word, seed, nbest):
    for backend in ("sentencepiece", "tokenizer.json"):
        s = sampler(files, backend, 0.2, nbest)
        rng = random.Random(seed)
        for pieces in [s.best(word), *(s.sample(word, rng) for _ in range(5))]:
            assert detok(pieces) == word, (backend, pieces)
            assert pieces[0].startswith(META)


@pytest.fixture(scope="module")
def viterbi_refs(files, sp_vocab) -> dict[str, object]:
    """The tokenizers library on the toy file, and the lattice back-end on the SentencePiece vocabulary."""
    vocab = [("<unk>", 0.0), *sp_vocab.items()]
    return {
        "toy_tokenizers": Tokenizer.from_file(str(files["json"])),
        "toy": sampler(files, "tokenizer.json"),
        "sp": sampler(files, "sentencepiece"),
        "sp_vocab_lattice": UnigramSampler.from_tokenizer_json(unigram_tokenizer(vocab).to_str()),
        "sp_vocab": sp_vocab,
    }


@settings(max_examples=80, deadline=None)
@given(word=WORDS)
def test_best_is_the_viterbi_segmentation(viterbi_refs, word):
    toy = viterbi_refs["toy"]
    assert toy.best(word) == viterbi_refs["toy_tokenizers"].encode(word).tokens
    if "x" not in word:
        segs = segmentations(META + word, dict(TOY_VOCAB[1:]))
        assert tuple(toy.best(word)) == max(segs, key=segs.get)
    # the lattice back-end on the SentencePiece model's vocabulary finds a segmentation as probable as
    # SentencePiece's own Viterbi (equal when unique; SentencePiece breaks exact ties by float32 rounding)
    sp_vocab = viterbi_refs["sp_vocab"]
    ours, theirs = viterbi_refs["sp_vocab_lattice"].best(word), viterbi_refs["sp"].best(word)
    assert detok(ours) == detok(theirs) == word
    assert log_prob(ours, sp_vocab) == pytest.approx(log_prob(theirs, sp_vocab), abs=1e-4)


def log_prob(pieces: list[str], vocab: dict[str, float]) -> float:
    """Sum of piece scores; a piece not in ``vocab`` is fused unknown characters, each min - 10."""
    unk = min(vocab.values()) - UNK_PENALTY
    return sum(vocab[p] if p in vocab else len(p) * unk for p in pieces)


def test_normalizer_is_applied(files):
    s = UnigramSampler.from_tokenizer_json(files["lower"])
    assert s.best("ABCD") == s.best("abcd") == Tokenizer.from_file(str(files["lower"])).encode("ABCD").tokens
    assert {detok(s.sample("ABCD", random.Random(i))) for i in range(20)} == {"abcd"}


# ---------------------------------------------------------------------------------------------
# sample_words: ratio and determinism


def corpus(n: int = 200, seed: int = 0) -> list[str]:
    """Words made of the stems the SentencePiece model was trained on (so both vocabularies apply)."""
    rnd = random.Random(seed)
    return ["".join(rnd.choices(STEMS, k=rnd.randint(2, 3))) for _ in range(n)]


CORPUS = corpus()


@pytest.mark.parametrize("backend", ["sentencepiece", "tokenizer.json"])
def test_ratio_zero_keeps_the_best_segmentation(files, backend):
    s = sampler(files, backend, alpha=0.05)
    assert s.sample_words(CORPUS, 0.0, random.Random(0)) == [s.best(w) for w in CORPUS]


@pytest.mark.parametrize("backend", ["sentencepiece", "tokenizer.json"])
def test_ratio_one_with_small_alpha_changes_segmentations_often(files, backend):
    s = sampler(files, backend, alpha=0.05)
    best = [s.best(w) for w in CORPUS]
    changed = sum(p != b for p, b in zip(s.sample_words(CORPUS, 1.0, random.Random(0)), best, strict=True))
    assert changed > 0.3 * len(CORPUS)
    # ratio 0.5 resamples about half of the words, so about half as many change
    half = sum(p != b for p, b in zip(s.sample_words(CORPUS, 0.5, random.Random(1)), best, strict=True))
    assert 0.25 * changed < half < 0.75 * changed


@pytest.mark.parametrize("backend", ["sentencepiece", "tokenizer.json"])
def test_same_seed_same_output(files, backend):
    s = sampler(files, backend)
    first = s.sample_words(CORPUS, 0.5, random.Random(7))
    other = s.sample_words(CORPUS, 0.5, random.Random(8))
    again = s.sample_words(CORPUS, 0.5, random.Random(7))  # after 'other': SentencePiece is re-seeded
    assert first == again
    assert first != other
    fresh = sampler(files, backend)  # a new sampler (and a new SentencePiece processor) agrees
    assert fresh.sample_words(CORPUS, 0.5, random.Random(7)) == first
    in_thread: list = []
    worker = threading.Thread(target=lambda: in_thread.append(s.sample_words(CORPUS, 0.5, random.Random(7))))
    worker.start()
    worker.join()
    assert in_thread == [first]


# ---------------------------------------------------------------------------------------------
# Loading from the other sources


def test_load_dispatches_on_the_source(files, tmp_path):
    expected = sampler(files, "tokenizer.json").best("abcdab")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "tokenizer.json").write_text(files["json"].read_text(encoding="utf-8"), encoding="utf-8")
    sp_folder = tmp_path / "sp"
    sp_folder.mkdir()
    (sp_folder / "spiece.model").write_bytes(files["sp"].read_bytes())

    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_file(str(files["json"])), unk_token="<unk>"
    )
    for source in (files["json"], str(folder), Tokenizer.from_file(str(files["json"])), fast):
        s = UnigramSampler.load(source, alpha=0.5, nbest=4)
        assert (s.kind, s.alpha, s.nbest, s.best("abcdab")) == ("tokenizer.json", 0.5, 4, expected)
    slow = SimpleNamespace(
        sp_model=spm.SentencePieceProcessor(model_file=str(files["sp"]))
    )  # a slow tokenizer
    for source in (files["sp"], sp_folder, slow):
        s = UnigramSampler.load(source)
        assert s.kind == "sentencepiece"
        assert s.best("abcdab") == sampler(files, "sentencepiece").best("abcdab")


def test_real_xlmr_tokenizer_json(me5_small):
    """multilingual-e5-small's XLM-R tokenizer (250k pieces, Precompiled normalizer)."""
    path = me5_small / "tokenizer.json"
    s = UnigramSampler.load(me5_small)
    tok = Tokenizer.from_file(str(path))
    rng = random.Random(0)
    for word in ["Bundesverfassungsgericht", "naïve", "東京都", "ﬁsh", "Zheng", "🙂🙂x"]:
        pieces = tok.encode(word, add_special_tokens=False).tokens
        assert s.best(word) == pieces
        normalized = detok(pieces)
        assert all(detok(s.sample(word, rng)) == normalized for _ in range(20))
    assert len({tuple(s.sample("Bundesverfassungsgericht", rng)) for _ in range(50)}) > 5


# ---------------------------------------------------------------------------------------------
# Bad input


def test_non_unigram_tokenizer_json_is_rejected(tmp_path):
    word_level = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    path = tmp_path / "tokenizer.json"
    word_level.save(str(path))
    with pytest.raises(ConfigError, match=r"tokenizer.json: tokenizer model type is 'WordLevel'.*'Unigram'"):
        UnigramSampler.load(path)
    bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    with pytest.raises(ConfigError, match="'BPE'"):
        UnigramSampler.load(bpe)


def test_bpe_sentencepiece_model_is_rejected(tmp_path):
    model = train_sentencepiece(tmp_path, model_type="bpe")
    with pytest.raises(ConfigError, match="type is BPE; subword sampling needs a UNIGRAM model"):
        UnigramSampler.from_sentencepiece(model)


def test_unreadable_sources_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="expected a tokenizer.json or exactly one SentencePiece"):
        UnigramSampler.load(tmp_path)  # an empty folder
    garbage = tmp_path / "bad.model"
    garbage.write_bytes(b"\x0a\xff\xff\xff")
    with pytest.raises(ConfigError, match="bad.model: not a readable SentencePiece model"):
        UnigramSampler.load(garbage)
    with pytest.raises(ConfigError, match="tokenizer file not found"):
        UnigramSampler.load(tmp_path / "missing.json")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a SentencePiece .model, a tokenizer.json"):
        UnigramSampler.load(tmp_path / "notes.txt")
    (tmp_path / "broken.json").write_text(json.dumps({"model": {"type": "Unigram", "vocab": [["a", "x"]]}}))
    with pytest.raises(ConfigError, match=r"'vocab' must be a non-empty list of \[piece, score\] pairs"):
        UnigramSampler.load(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="cannot read a Unigram tokenizer from a dict"):
        UnigramSampler.load({"model": "Unigram"})


@pytest.mark.parametrize("alpha", [0, -0.3, math.nan, math.inf, True, "0.3"])
def test_bad_alpha(files, alpha):
    with pytest.raises(ConfigError, match="alpha must be a finite number > 0"):
        sampler(files, "tokenizer.json", alpha=alpha)


@pytest.mark.parametrize("nbest", [0, 1, -2, 2.5])
def test_bad_nbest(files, nbest):
    with pytest.raises(ConfigError, match="nbest must be -1"):
        sampler(files, "sentencepiece", nbest=nbest)


@pytest.mark.parametrize("ratio", [-0.1, 1.5, math.nan])
def test_bad_ratio_and_rng(files, ratio):
    s = sampler(files, "tokenizer.json")
    with pytest.raises(ConfigError, match=r"ratio must be in \[0, 1\]"):
        s.sample_words(["ab"], ratio, random.Random(0))
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        s.sample("ab", np.random.default_rng(0))


def test_no_unk_piece_and_an_uncovered_character(tmp_path):
    data = json.loads(unigram_tokenizer(TOY_VOCAB).to_str())
    data["model"]["unk_id"] = None
    s = UnigramSampler.from_tokenizer_json(json.dumps(data))
    assert s.best("ab") == [META + "ab"]
    with pytest.raises(ConfigError, match="no unk piece and no piece for 'x'"):
        s.best("xb")
