"""Unigram-LM subword sampling (xTune, paper 003 Sec. 3.2.1 "Subword Sampling"; Kudo 2018).

A word's segmentation ``x`` into subword pieces is drawn with probability ``P(x)**alpha / Z``, where
``P(x)`` is the product of the pieces' unigram probabilities (the vocabulary's scores are their
log-probabilities). ``nbest=-1`` samples over *all* segmentations of the word (forward-filtering /
backward-sampling over the segmentation lattice); ``nbest=n >= 2`` samples over the ``n`` best
segmentations only. Each word is segmented on its own, as xTune's tagging code does
(``SampleEncodeAsPieces`` per word): as SentencePiece segments a word at the start of a pre-tokenized
word, i.e. ``"▁" + word``. xTune's settings: ``alpha=0.3``, ``nbest=-1``, a word resampled with
probability 0.3 (NER) or 0.5 (POS) and otherwise given its best (Viterbi) segmentation.

Two back-ends, one API (``UnigramSampler.sample / best / sample_words``):

* a SentencePiece ``.model`` file: SentencePiece's own sampler
  (``encode(word, out_type=str, enable_sampling=True, alpha=..., nbest_size=...)``);
* a Hugging Face ``tokenizer.json`` whose model is ``Unigram`` (also a transformers fast tokenizer or a
  folder holding ``tokenizer.json``): the lattice is built here from the vocabulary scores. The
  ``tokenizers`` library's own Unigram sampling (``Unigram(alpha=..., nbest_size=...)``) cannot be
  seeded, so it is not used.

Determinism: ``rng`` is a ``random.Random``; the same seed gives the same pieces. The lattice back-end
draws only from ``rng``. The SentencePiece back-end re-seeds SentencePiece's process-global generator
(``sentencepiece.set_random_generator_seed``) with ``rng.randrange(2**32 - 1)`` before every sampled
word; with the pinned sentencepiece 0.2.3 the next sampled ``encode`` then depends only on that seed
(checked by the tests: same seed -> same pieces, also after sampling with other seeds in between and in
another thread). So a word's sample depends only on ``rng``'s state, as long as no other thread samples
with SentencePiece at the same time (the seed is global). Samples are reproducible for a given
SentencePiece version, not across versions or between the two back-ends.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipeline_steps.errors import ConfigError

META = "\u2581"  # "▁", SentencePiece's whitespace symbol
UNK_PENALTY = 10.0  # unknown characters score min(vocabulary score) - 10, as in SentencePiece / tokenizers
XTUNE_ALPHA = 0.3
XTUNE_NBEST = -1
XTUNE_RATIO = {"ner": 0.3, "pos": 0.5}  # share of words resampled in xTune's tagging recipes

_SP_UNIGRAM, _SP_TYPES = 1, {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}


# ---------------------------------------------------------------------------------------------
# Parameter checks


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_alpha(alpha: float) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float)
        or not math.isfinite(alpha)
        or alpha <= 0
    ):
        raise ConfigError(f"subword sampling: alpha must be a finite number > 0 (xTune: 0.3), got {alpha!r}")
    return float(alpha)


def _check_nbest(nbest: int) -> int:
    if isinstance(nbest, bool) or not isinstance(nbest, int) or not (nbest == -1 or nbest >= 2):
        raise ConfigError(
            "subword sampling: nbest must be -1 (sample over all segmentations, xTune's setting) or an "
            f"integer >= 2 (sample over the n best); got {nbest!r} (SentencePiece rejects 0 and 1 when "
            "sampling; use ratio 0 for no sampling)"
        )
    return nbest


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio <= 1.0:
        raise ConfigError(
            f"subword sampling: ratio must be in [0, 1] (xTune: 0.3 NER, 0.5 POS), got {ratio!r}"
        )
    return float(ratio)


def _check_rng(rng: random.Random) -> random.Random:
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    return rng


# ---------------------------------------------------------------------------------------------
# SentencePiece back-end


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def _proto_fields(data: bytes) -> dict[int, int | bytes]:
    """The last value of each field of a serialized protobuf message (varint and length-delimited)."""
    fields: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[number], pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            fields[number], pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return fields


def _sentencepiece_model_type(proto: bytes) -> int:
    """``ModelProto.trainer_spec.model_type`` (field 2, then 3; proto default UNIGRAM), without protobuf."""
    trainer = _proto_fields(proto).get(2, b"")
    value = _proto_fields(trainer).get(3, _SP_UNIGRAM) if isinstance(trainer, bytes) else _SP_UNIGRAM
    return int(value)


class _SentencePieceBackend:
    """SentencePiece's own Viterbi and sampler, seeded from the caller's ``rng``."""

    kind = "sentencepiece"

    def __init__(self, proto: bytes, origin: str):
        import sentencepiece as spm

        try:
            model_type = _sentencepiece_model_type(proto)
            self._sp = spm.SentencePieceProcessor(model_proto=proto)
        except (ValueError, IndexError, RuntimeError, OSError) as exc:
            raise ConfigError(f"{origin}: not a readable SentencePiece model ({exc})") from None
        if model_type != _SP_UNIGRAM:
            name = _SP_TYPES.get(model_type, str(model_type))
            raise ConfigError(
                f"{origin}: SentencePiece model type is {name}; subword sampling needs a UNIGRAM model "
                "(with BPE, SentencePiece's 'sampling' is BPE-dropout)"
            )
        self._spm = spm

    def best(self, word: str) -> list[str]:
        return self._sp.encode(word, out_type=str)

    def sample(self, word: str, rng: random.Random, alpha: float, nbest: int) -> list[str]:
        self._spm.set_random_generator_seed(rng.randrange(2**32 - 1))  # 2**32 - 1 means "random device"
        return self._sp.encode(word, out_type=str, enable_sampling=True, alpha=alpha, nbest_size=nbest)


# ---------------------------------------------------------------------------------------------
# Lattice back-end (tokenizer.json Unigram)


@dataclass(frozen=True)
class _Node:
    start: int
    end: int
    score: float
    unk: bool = False


@dataclass(frozen=True)
class _UnigramVocab:
    """What segmentation needs from a Unigram ``tokenizer.json``."""

    scores: dict[str, float]  # pieces that may match text (no unk piece, no special tokens)
    unk_score: float | None  # None: the model has no unk piece
    max_len: int
    normalize: Callable[[str], str] | None
    prefix: bool  # "▁" before the word (Metaspace prepend_scheme "always"/"first")
    split: bool  # pieces cannot cross a "▁" inside the text (Metaspace split)
    replacement: str


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _pieces(text: str, nodes: Sequence[_Node]) -> list[str]:
    """The pieces' strings; consecutive unknown characters become one piece (SentencePiece, tokenizers)."""
    out: list[str] = []
    prev_unk = False
    for node in nodes:
        piece = text[node.start : node.end]
        if node.unk and prev_unk:
            out[-1] += piece
        else:
            out.append(piece)
        prev_unk = node.unk
    return out


class _LatticeBackend:
    """Segmentation lattice over a Unigram vocabulary: Viterbi, k-best and forward-filtering /
    backward-sampling (Kudo 2018), in log space."""

    kind = "tokenizer.json"

    def __init__(self, vocab: _UnigramVocab):
        self.vocab = vocab
        self._nodes = functools.lru_cache(maxsize=1 << 16)(self._build_nodes)
        self._forward = functools.lru_cache(maxsize=1 << 16)(self._build_forward)
        self._kbest = functools.lru_cache(maxsize=1 << 14)(self._build_kbest)

    def text(self, word: str) -> str:
        """``word`` as the lattice sees it: normalized, whitespace -> "▁", with the "▁" prefix."""
        v = self.vocab
        parts = (v.normalize(word) if v.normalize else word).split()
        if not parts:
            return ""
        return (v.replacement if v.prefix else "") + v.replacement.join(parts)

    def _build_nodes(self, text: str) -> tuple[tuple[_Node, ...], ...]:
        """Nodes ending at each position 0..len(text), ordered by start (as SentencePiece inserts them)."""
        v = self.vocab
        ends: list[list[_Node]] = [[] for _ in range(len(text) + 1)]
        for start in range(len(text)):
            single = False
            for end in range(start + 1, min(len(text), start + v.max_len) + 1):
                piece = text[start:end]
                if v.split and v.replacement in piece[1:]:
                    break
                if piece in v.scores:
                    ends[end].append(_Node(start, end, v.scores[piece]))
                    single |= end == start + 1
            if not single:
                if v.unk_score is None:
                    raise ConfigError(
                        f"the Unigram tokenizer has no unk piece and no piece for {text[start]!r}"
                    )
                ends[start + 1].append(_Node(start, start + 1, v.unk_score, unk=True))
        return tuple(tuple(nodes) for nodes in ends)

    def _build_forward(self, text: str, alpha: float) -> tuple[float, ...]:
        """log sum over the segmentations of text[:j] of exp(alpha * score), for every j."""
        ends = self._nodes(text)
        log_alpha = [0.0] * len(ends)
        for j in range(1, len(ends)):
            log_alpha[j] = _logsumexp([log_alpha[n.start] + alpha * n.score for n in ends[j]])
        return tuple(log_alpha)

    def _build_kbest(self, text: str, k: int) -> tuple[tuple[float, tuple[_Node, ...]], ...]:
        """The k best segmentations (score, nodes), best first; ties keep SentencePiece's node order."""
        ends = self._nodes(text)
        best: list[list[tuple[float, tuple[_Node, ...]]]] = [[(0.0, ())]]
        for j in range(1, len(ends)):
            cands = [(s + n.score, path + (n,)) for n in ends[j] for s, path in best[n.start]]
            cands.sort(key=lambda c: -c[0])  # stable: equal scores keep their order
            best.append(cands[:k])
        return tuple(best[-1])

    def best(self, word: str) -> list[str]:
        text = self.text(word)
        return _pieces(text, self._kbest(text, 1)[0][1]) if text else []

    def sample(self, word: str, rng: random.Random, alpha: float, nbest: int) -> list[str]:
        text = self.text(word)
        if not text:
            return []
        if nbest > 1:
            return self._sample_nbest(text, rng, alpha, nbest)
        return self._sample_lattice(text, rng, alpha)

    def _sample_lattice(self, text: str, rng: random.Random, alpha: float) -> list[str]:
        """Backward sampling: the last node with probability exp(log_alpha[start] + alpha*score) /
        exp(log_alpha[end]), then the same from its start."""
        ends, log_alpha = self._nodes(text), self._forward(text, alpha)
        path: list[_Node] = []
        j = len(text)
        while j > 0:
            nodes = ends[j]
            weights = [math.exp(log_alpha[n.start] + alpha * n.score - log_alpha[j]) for n in nodes]
            node = nodes[_draw(weights, rng)]
            path.append(node)
            j = node.start
        return _pieces(text, path[::-1])

    def _sample_nbest(self, text: str, rng: random.Random, alpha: float, nbest: int) -> list[str]:
        """One of the n best segmentations, with probability proportional to P(x)**alpha."""
        kbest = self._kbest(text, nbest)
        top = kbest[0][0]
        weights = [math.exp(alpha * (score - top)) for score, _ in kbest]
        return _pieces(text, kbest[_draw(weights, rng)][1])


def _draw(weights: Sequence[float], rng: random.Random) -> int:
    """An index drawn with probability proportional to ``weights``."""
    u = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        u -= w
        if u < 0:
            return i
    return len(weights) - 1


# ---------------------------------------------------------------------------------------------
# Reading tokenizer.json


def _metaspace(pre: Any) -> dict | None:
    """The Metaspace pre-tokenizer in a (possibly nested Sequence) pre-tokenizer config."""
    if not isinstance(pre, dict):
        return None
    if pre.get("type") == "Metaspace":
        return pre
    for child in pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []:
        found = _metaspace(child)
        if found:
            return found
    return None


def _unigram_vocab(text: str, origin: str) -> _UnigramVocab:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin}: not a tokenizer.json ({exc})") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise ConfigError(f"{origin}: no 'model' object, not a Hugging Face tokenizer.json")
    kind = model.get("type", "Unigram" if isinstance(model.get("vocab"), list) else None)
    if kind != "Unigram":
        raise ConfigError(
            f"{origin}: tokenizer model type is {kind!r}; subword sampling needs a 'Unigram' model "
            "(SentencePiece unigram LM, Kudo 2018), e.g. XLM-R's tokenizer"
        )
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not vocab or not all(_is_entry(e) for e in vocab):
        raise ConfigError(f"{origin}: Unigram 'vocab' must be a non-empty list of [piece, score] pairs")
    unk_id = model.get("unk_id")
    if unk_id is not None and not (isinstance(unk_id, int) and 0 <= unk_id < len(vocab)):
        raise ConfigError(f"{origin}: Unigram 'unk_id' {unk_id!r} is not an index into the vocab")
    added = data.get("added_tokens") or []
    special = {t.get("content") for t in added if isinstance(t, dict) and t.get("special")}
    scores = {p: float(s) for i, (p, s) in enumerate(vocab) if i != unk_id and p and p not in special}
    meta = _metaspace(data.get("pre_tokenizer")) or {}
    scheme = meta.get("prepend_scheme", "always" if meta.get("add_prefix_space", True) else "never")
    return _UnigramVocab(
        scores=scores,
        unk_score=None if unk_id is None else min(float(s) for _, s in vocab) - UNK_PENALTY,
        max_len=max((len(p) for p in scores), default=1),
        normalize=_normalizer(text, origin),
        prefix=scheme != "never",
        split=bool(meta.get("split", True)),
        replacement=meta.get("replacement") or META,
    )


def _is_entry(entry: Any) -> bool:
    return (
        isinstance(entry, list | tuple)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], int | float)
    )


def _normalizer(text: str, origin: str) -> Callable[[str], str] | None:
    """The tokenizer's normalizer (``normalize_str``), or None."""
    from tokenizers import Tokenizer

    try:
        normalizer = Tokenizer.from_str(text).normalizer
    except Exception as exc:  # tokenizers raises plain Exception for a malformed file
        raise ConfigError(f"{origin}: tokenizers cannot load it ({exc})") from None
    return normalizer.normalize_str if normalizer is not None else None


# ---------------------------------------------------------------------------------------------
# The sampler


class _Backend(Protocol):
    kind: str

    def best(self, word: str) -> list[str]: ...

    def sample(self, word: str, rng: random.Random, alpha: float, nbest: int) -> list[str]: ...


class UnigramSampler:
    """Samples a word's Unigram-LM segmentation with probability P(x)**alpha / Z (paper 003 Sec. 3.2.1,
    Kudo 2018), over all segmentations (``nbest=-1``) or the ``nbest`` best.

    Build it with ``load`` (any source), ``from_sentencepiece`` or ``from_tokenizer_json``. Pieces spell
    the word as the tokenizer normalizes it; characters no piece covers form one piece of their own
    surface string (the tokenizer maps it to its unk id), as SentencePiece's ``encode(out_type=str)``
    does. With a ``tokenizer.json`` such a character scores min(vocabulary score) - 10 in the lattice,
    as in SentencePiece; a model with ``byte_fallback`` is treated the same (no byte pieces).
    """

    def __init__(self, backend: _Backend, alpha: float = XTUNE_ALPHA, nbest: int = XTUNE_NBEST):
        self.alpha = _check_alpha(alpha)
        self.nbest = _check_nbest(nbest)
        self._backend = backend

    @property
    def kind(self) -> str:
        """``"sentencepiece"`` or ``"tokenizer.json"``: which back-end samples."""
        return self._backend.kind

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_sentencepiece(
        cls, model: str | Path | bytes, alpha: float = XTUNE_ALPHA, nbest: int = XTUNE_NBEST
    ) -> UnigramSampler:
        """From a SentencePiece ``.model`` file (or its serialized bytes); sampled by SentencePiece."""
        origin = "SentencePiece model bytes" if isinstance(model, bytes) else str(model)
        proto = model if isinstance(model, bytes) else _read_bytes(Path(model))
        return cls(_SentencePieceBackend(proto, origin), alpha, nbest)

    @classmethod
    def from_tokenizer_json(
        cls, source: str | Path, alpha: float = XTUNE_ALPHA, nbest: int = XTUNE_NBEST, *, origin: str = ""
    ) -> UnigramSampler:
        """From a Hugging Face ``tokenizer.json`` path, or its JSON text (a string starting with ``{``)."""
        if isinstance(source, str) and source.lstrip().startswith("{"):
            text, origin = source, origin or "tokenizer.json text"
        else:
            path = Path(source)
            text, origin = _read_bytes(path).decode("utf-8"), origin or str(path)
        return cls(_LatticeBackend(_unigram_vocab(text, origin)), alpha, nbest)

    @classmethod
    def load(cls, source: Any, alpha: float = XTUNE_ALPHA, nbest: int = XTUNE_NBEST) -> UnigramSampler:
        """From a ``.model`` file, a ``tokenizer.json``, a folder holding either (``tokenizer.json``
        first), a ``tokenizers.Tokenizer`` or a transformers tokenizer (fast: its ``backend_tokenizer``;
        slow with ``sp_model``: SentencePiece)."""
        if isinstance(source, str | Path):
            return cls._load_path(Path(source), alpha, nbest)
        backend = getattr(source, "backend_tokenizer", source)
        if callable(getattr(backend, "to_str", None)):
            return cls.from_tokenizer_json(backend.to_str(), alpha, nbest, origin=type(source).__name__)
        sp_model = getattr(source, "sp_model", None)
        if sp_model is not None and hasattr(sp_model, "serialized_model_proto"):
            return cls.from_sentencepiece(sp_model.serialized_model_proto(), alpha, nbest)
        raise ConfigError(f"cannot read a Unigram tokenizer from a {type(source).__name__}")

    @classmethod
    def _load_path(cls, path: Path, alpha: float, nbest: int) -> UnigramSampler:
        if path.is_dir():
            if (path / "tokenizer.json").is_file():
                return cls.from_tokenizer_json(path / "tokenizer.json", alpha, nbest)
            models = sorted(path.glob("*.model"))
            if len(models) != 1:
                raise ConfigError(
                    f"{path}: expected a tokenizer.json or exactly one SentencePiece *.model file, "
                    f"found {len(models)} .model files and no tokenizer.json"
                )
            path = models[0]
        if path.suffix == ".model":
            return cls.from_sentencepiece(path, alpha, nbest)
        if path.suffix == ".json":
            return cls.from_tokenizer_json(path, alpha, nbest)
        raise ConfigError(f"{path}: not a SentencePiece .model, a tokenizer.json or a folder holding one")

    # -- segmentation ------------------------------------------------------------------------

    def best(self, word: str) -> list[str]:
        """The most probable (Viterbi) segmentation of ``"▁" + word``."""
        return self._backend.best(word)

    def sample(self, word: str, rng: random.Random) -> list[str]:
        """One segmentation of ``"▁" + word`` drawn with probability P(x)**alpha / Z (Kudo 2018)."""
        return self._backend.sample(word, _check_rng(rng), self.alpha, self.nbest)

    def sample_words(self, tokens: Sequence[str], ratio: float, rng: random.Random) -> list[list[str]]:
        """Each word's pieces: sampled with probability ``ratio``, otherwise its best segmentation
        (xTune resamples 0.3 of the words for NER, 0.5 for POS). One ``rng.random()`` draw per word
        decides, so ``ratio`` 0 leaves every word at its best segmentation."""
        ratio, rng = _check_ratio(ratio), _check_rng(rng)
        return [self.sample(w, rng) if rng.random() < ratio else self.best(w) for w in tokens]


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path}: tokenizer file not found")
    return path.read_bytes()
