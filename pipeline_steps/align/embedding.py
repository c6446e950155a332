"""Embedding-based word alignment without parallel training data (SimAlign; Jalili Sabet et al. 2020).

"SimAlign: High Quality Word Alignments without Parallel Training Data using Static and
Contextualized Embeddings" (Findings of EMNLP 2020), Sec. 2; reference code github.com/cisnlp/simalign
(not among ../shared/papers; issue 4 asks for it next to fast_align and eflomal).

1. Each sentence is encoded on its own by a multilingual encoder (any HF ``AutoModel``; the special
   tokens are in the input but not in the similarity matrix) and the hidden states of layer
   ``layer`` are taken (``hidden_states[layer]``: 0 = embeddings, 8 = output of the 8th layer, the
   layer SimAlign uses for mBERT and XLM-R).
2. Similarity of source sub-word i and target sub-word j: ``S_ij = (cos(e_i, f_j) + 1) / 2``
   (in [0, 1], as in the reference code).
3. Optional distortion correction (Sec. 2): ``S_ij <- S_ij * (1 - kappa (i/(m-1) - j/(n-1))^2)``.
4. Alignment of the matrix (Sec. 2):
   - ``argmax``: (i, j) is linked iff j is the argmax of row i AND i is the argmax of column j
     (mutual argmax = intersection of the two directions);
   - ``itermax``: argmax, then up to ``max_iterations - 1`` more rounds of mutual argmax over the
     pairs with at least one unaligned word, the similarity of a pair with exactly one aligned word
     scaled by ``alpha`` (0.9); pairs with both words aligned are out (the reference ``iter_max``);
   - ``directional``: the two directions themselves -- column-wise argmax as the *forward*
     (source->target model: every target sub-word gets its best source sub-word) and row-wise
     argmax as the *reverse*; the configured symmetrization (e.g. grow-diag-final-and) combines them;
   - ``softmax``: awesome-align's extraction (``softmax_links``), over dot products instead of S.
5. Sub-word -> word (``granularity``): ``bpe`` (SimAlign's default) aligns sub-words and links two
   words when any of their sub-words are linked; ``word`` averages each word's sub-word vectors and
   aligns words.

For ``argmax``, ``itermax`` and ``softmax`` the method's links are final: :func:`directional` returns
them as both the forward and the reverse alignment, so every symmetrization (intersection, union,
grow-diag*) gives them back unchanged. A word with no sub-word in the encoder input (truncated at
``max_length``) gets no link.

By default the encoder is frozen: the aligner does not learn from the corpus (:func:`trains_on_corpus`
is False) and is deterministic (``seed`` is unused). With ``self_training.epochs > 0`` it first
fine-tunes the encoder on every pair it is given (the pairs to align plus the extra parallel pairs)
with awesome-align's self-training objective (``pipeline_steps.align.self_training``), seeded by
the align step's ``seed`` (else awesome-align's default seed, ``SELF_TRAINING_SEED``), then aligns
with the fine-tuned encoder.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from tqdm import tqdm

from pipeline_steps import config_schema
from pipeline_steps.align.eflomal import SCRATCH_OPTION
from pipeline_steps.align.symmetrize import Link
from pipeline_steps.errors import ConfigError

log = logging.getLogger(__name__)

#: Tokens reach the encoder as they are (multilingual encoders are cased).
LOWERCASE = False

METHODS = ("argmax", "itermax", "directional", "softmax")
_DEFAULTS = config_schema.defaults("align.embedding")  # config/schema.yaml: the one place of the defaults
_SO_DEFAULTS = config_schema.defaults("align.embedding.self_training")
GRANULARITIES = ("bpe", "word")
#: Self-training's seed when the caller passes none (awesome-align's --seed default; the workflow passes
#: the first of ``seeds``).
SELF_TRAINING_SEED = 42


def _known_options(cls, options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``options`` without its ``None`` values (the defaults); a key that is not a field of the dataclass
    ``cls`` is a ConfigError naming it (``prefix``: where the mapping sits in the backend's options)."""
    options = {k: v for k, v in options.items() if v is not None}
    known = {f.name for f in fields(cls)}
    unknown = sorted(f"{prefix}{k}" for k in set(options) - known)
    if unknown:
        expected = sorted(prefix + k for k in known)
        raise ConfigError(f"embedding aligner: unknown options {unknown}; expected some of {expected}")
    return options


@dataclass(frozen=True)
class SelfTrainingSettings:
    """awesome-align's self-training before aligning (config ``align.embedding.self_training``; defaults
    from config/schema.yaml; ``epochs`` 0 = off). See ``pipeline_steps.align.self_training``."""

    epochs: int = _SO_DEFAULTS["epochs"]
    lr: float = _SO_DEFAULTS["lr"]
    batch_size: int = _SO_DEFAULTS["batch_size"]
    threshold: float = _SO_DEFAULTS["threshold"]
    max_pairs: int | None = _SO_DEFAULTS["max_pairs"]

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> SelfTrainingSettings:
        """Settings from the ``self_training`` mapping; ``None`` values mean the default."""
        if isinstance(options, SelfTrainingSettings):
            options.check()
            return options
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(f"embedding aligner: self_training must be a mapping (got {options!r})")
        settings = cls(**_known_options(cls, options or {}, prefix="self_training."))
        settings.check()
        return settings

    def check(self) -> None:
        def bad(name: str, rule: str) -> ConfigError:
            return ConfigError(
                f"embedding aligner: self_training.{name} must be {rule} (got {getattr(self, name)})"
            )

        if int(self.epochs) < 0:
            raise bad("epochs", ">= 0")
        if not float(self.lr) > 0.0:
            raise bad("lr", "> 0")
        if int(self.batch_size) < 1:
            raise bad("batch_size", ">= 1")
        if not 0.0 < float(self.threshold) < 1.0:
            raise bad("threshold", "in (0, 1)")
        if self.max_pairs is not None and int(self.max_pairs) < 1:
            raise bad("max_pairs", ">= 1 or null")


@dataclass(frozen=True)
class EmbeddingSettings:
    """Options of the embedding backend (config ``align.embedding``; defaults from config/schema.yaml).
    They are SimAlign's, except ``method``: with multilingual-e5-small (layer 8), ``directional`` +
    grow-diag-final-and projects best (span-to-span F1 on Europarl en->es: 94.0, vs 93.0 argmax,
    90.9 itermax; AER on de-en 21.7 vs 22.6 and 23.7; benchmarks/projection.md)."""

    name_or_path: str
    layer: int = _DEFAULTS["layer"]
    method: str = _DEFAULTS["method"]
    granularity: str = _DEFAULTS["granularity"]
    distortion: float = _DEFAULTS["distortion"]
    max_iterations: int = _DEFAULTS["max_iterations"]
    alpha: float = _DEFAULTS["alpha"]
    softmax_threshold: float = _DEFAULTS["softmax_threshold"]
    batch_size: int = _DEFAULTS["batch_size"]
    max_length: int | None = _DEFAULTS["max_length"]
    device: str | None = _DEFAULTS["device"]
    self_training: SelfTrainingSettings = dataclasses.field(default_factory=SelfTrainingSettings)

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> EmbeddingSettings:
        """Settings from a backend ``options`` mapping; ``None`` values mean the default (the common
        ``scratch_next_to`` option is ignored: this backend writes no scratch files)."""
        options = _known_options(cls, {k: v for k, v in (options or {}).items() if k != SCRATCH_OPTION})
        if not options.get("name_or_path"):
            raise ConfigError("embedding aligner: set name_or_path (a HF encoder name or a local folder)")
        options["self_training"] = SelfTrainingSettings.from_options(options.get("self_training"))
        settings = cls(**options)
        settings.check()
        return settings

    def check(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"embedding aligner: unknown method {self.method!r}; expected one of {METHODS}")
        if self.granularity not in GRANULARITIES:
            raise ConfigError(
                f"embedding aligner: unknown granularity {self.granularity!r}; "
                f"expected one of {GRANULARITIES}"
            )
        if not 0.0 <= float(self.distortion) <= 1.0:
            raise ConfigError(f"embedding aligner: distortion must be in [0, 1] (got {self.distortion})")
        if not 0.0 < float(self.softmax_threshold) < 1.0:
            raise ConfigError(
                f"embedding aligner: softmax_threshold must be in (0, 1) (got {self.softmax_threshold})"
            )
        if not 0.0 < float(self.alpha) <= 1.0:
            raise ConfigError(f"embedding aligner: alpha must be in (0, 1] (got {self.alpha})")
        for name in ("max_iterations", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"embedding aligner: {name} must be >= 1 (got {getattr(self, name)})")
        if self.max_length is not None and int(self.max_length) < 3:
            raise ConfigError(f"embedding aligner: max_length must be >= 3 (got {self.max_length})")
        self.self_training.check()


def trains_on_corpus(options: Mapping[str, Any] | None) -> bool:
    """Whether the aligner learns from the corpus: with ``self_training.epochs > 0`` (then the extra
    parallel pairs are passed too); the frozen encoder aligns each pair on its own."""
    return EmbeddingSettings.from_options(options).self_training.epochs > 0


# ---------------------------------------------------------------- similarity matrix -> links


def similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SimAlign's similarity of every row of ``x`` (m x d) with every row of ``y`` (n x d):
    ``(cos + 1) / 2``, an m x n matrix in [0, 1]."""
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    y = torch.nn.functional.normalize(y.float(), dim=-1)
    return (x @ y.T + 1.0) / 2.0


def apply_distortion(sim: torch.Tensor, kappa: float) -> torch.Tensor:
    """Distortion correction (SimAlign Sec. 2): ``S_ij * (1 - kappa (i/(m-1) - j/(n-1))^2)``.

    Unchanged when ``kappa`` is 0 or a side has fewer than 2 tokens (as in the reference code).
    """
    m, n = sim.shape
    if kappa == 0.0 or m < 2 or n < 2:
        return sim
    rel_i = torch.arange(m, dtype=sim.dtype) / (m - 1)
    rel_j = torch.arange(n, dtype=sim.dtype) / (n - 1)
    return sim * (1.0 - kappa * (rel_i[:, None] - rel_j[None, :]) ** 2)


def argmax_matrices(sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean m x n matrices (row-wise argmax, column-wise argmax); ties go to the first index."""
    m, n = sim.shape
    rows = torch.zeros((m, n), dtype=torch.bool)
    cols = torch.zeros((m, n), dtype=torch.bool)
    if m and n:
        rows[torch.arange(m), sim.argmax(dim=1)] = True
        cols[sim.argmax(dim=0), torch.arange(n)] = True
    return rows, cols


def mutual_argmax(sim: torch.Tensor) -> torch.Tensor:
    """SimAlign's Argmax: (i, j) linked iff j = argmax_j' S_ij' and i = argmax_i' S_i'j."""
    rows, cols = argmax_matrices(sim)
    return rows & cols


def itermax(sim: torch.Tensor, max_iterations: int = 2, alpha: float = 0.9) -> torch.Tensor:
    """SimAlign's IterMax (Sec. 2; reference ``iter_max``): boolean m x n links.

    Start from :func:`mutual_argmax`. Each further round (at most ``max_iterations - 1``) weighs the
    similarities by 1 where both words are unaligned, ``alpha`` where exactly one is, 0 where both
    are, and adds the mutual argmax links of the weighted matrix that have at least one unaligned
    word. Stops early when a round adds nothing or every row or every column is aligned; matrices
    with a side of at most 2 tokens get the plain argmax.
    """
    m, n = sim.shape
    links = mutual_argmax(sim)
    if min(m, n) <= 2:
        return links
    for _ in range(max_iterations - 1):
        row_free = ~links.any(dim=1)
        col_free = ~links.any(dim=0)
        if not bool(row_free.any()) or not bool(col_free.any()):
            break
        free_x = row_free[:, None].expand(m, n).to(sim.dtype)
        free_y = col_free[None, :].expand(m, n).to(sim.dtype)
        weight = (alpha * free_x + alpha * free_y).clamp(max=1.0)
        allowed = row_free[:, None] | col_free[None, :]
        new = mutual_argmax(sim * weight) & allowed
        if not bool((new & ~links).any()):
            break
        links = links | new
    return links


def softmax_links(x: torch.Tensor, y: torch.Tensor, threshold: float) -> torch.Tensor:
    """awesome-align's softmax extraction (Dou and Neubig 2021, Sec. 2.1; reference
    ``get_aligned_word``): with the dot products ``S = x y^T`` of the raw hidden states, (i, j) is
    linked iff ``softmax_j(S)_ij > threshold`` and ``softmax_i(S)_ij > threshold`` (the two
    directions' alignment probabilities); boolean m x n."""
    scores = x.float() @ y.float().T
    return (scores.softmax(dim=1) > threshold) & (scores.softmax(dim=0) > threshold)


def word_links(matrix: torch.Tensor, src_words: Sequence[int], tgt_words: Sequence[int]) -> set[Link]:
    """Word links of a token-level boolean link matrix: row i belongs to source word ``src_words[i]``,
    column j to target word ``tgt_words[j]``; two words are linked if any of their tokens are."""
    return {(src_words[i], tgt_words[j]) for i, j in matrix.nonzero().tolist()}


def align_matrix(sim: torch.Tensor, settings: EmbeddingSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-level (forward, reverse) boolean link matrices of one pair for ``settings.method``."""
    sim = apply_distortion(sim, float(settings.distortion))
    if settings.method == "directional":
        rows, cols = argmax_matrices(sim)
        return cols, rows  # forward: each target token's best source token; reverse: each source token's
    if settings.method == "argmax":
        links = mutual_argmax(sim)
    else:
        links = itermax(sim, int(settings.max_iterations), float(settings.alpha))
    return links, links


# ---------------------------------------------------------------- encoder side


@dataclass
class Encoded:
    """One tokenised sentence: its input ids (with special tokens) and, per position, the index of the
    word it belongs to (-1 for special tokens)."""

    input_ids: list[int]
    word_of: list[int]


def tokenize(tokenizer, sentences: Sequence[Sequence[str]], max_length: int) -> tuple[list[Encoded], int]:
    """Tokenise word lists (word by word, special tokens added, cut at ``max_length``); also the number
    of words that have no sub-word in the result (cut off or tokenised to nothing)."""
    out: list[Encoded] = []
    missing = 0
    chunk = 1000
    for lo in range(0, len(sentences), chunk):
        part = [list(s) for s in sentences[lo : lo + chunk]]
        enc = tokenizer(
            [s if s else [""] for s in part],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            verbose=False,
        )
        for k, words in enumerate(part):
            word_of = [-1 if w is None or w >= len(words) else w for w in enc.word_ids(k)]
            missing += len(words) - len({w for w in word_of if w >= 0})
            out.append(Encoded(list(enc["input_ids"][k]), word_of))
    return out, missing


def batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of ``batch_size``, longest first (little padding)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    for lo in range(0, len(order), batch_size):
        yield order[lo : lo + batch_size]


def padded(encoded: Sequence[Encoded], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, attention mask) of a batch of sentences, padded at the end with ``pad_id``."""
    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for k, e in enumerate(encoded):
        ids[k, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
        mask[k, : len(e.input_ids)] = 1
    return ids, mask


@torch.inference_mode()
def token_vectors(
    model, encoded: Sequence[Encoded], layer: int, pad_id: int, device: torch.device
) -> list[torch.Tensor]:
    """Layer-``layer`` hidden states (float32, CPU) of every position of each sentence, in one batch."""
    ids, mask = padded(encoded, pad_id)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
    hidden = out.hidden_states[layer].float().cpu()
    return [hidden[k, : len(e.input_ids)] for k, e in enumerate(encoded)]


def units(vectors: torch.Tensor, enc: Encoded, granularity: str) -> tuple[torch.Tensor, list[int]]:
    """The rows of the similarity matrix of one sentence and the word index of each row.

    ``bpe``: one row per sub-word (special tokens left out); ``word``: one row per word, the mean of
    its sub-word vectors (words without sub-words left out).
    """
    keep = [p for p, w in enumerate(enc.word_of) if w >= 0]
    words = [enc.word_of[p] for p in keep]
    sub = vectors[keep] if keep else vectors.new_zeros((0, vectors.shape[-1]))
    if granularity == "bpe":
        return sub, words
    order = sorted(set(words))
    if not order:
        return sub, []
    index = torch.tensor([order.index(w) for w in words], dtype=torch.long)
    sums = torch.zeros((len(order), sub.shape[-1]), dtype=sub.dtype).index_add_(0, index, sub)
    counts = torch.bincount(index, minlength=len(order)).to(sub.dtype)
    return sums / counts[:, None], order


def resolve_layer(layer: int, n_layers: int) -> int:
    """``layer`` as an index into ``hidden_states`` (``n_layers + 1`` entries; negatives count back)."""
    if not -(n_layers + 1) <= layer <= n_layers:
        raise ConfigError(
            f"embedding aligner: layer {layer} out of range; the encoder has {n_layers} layers "
            f"(0 = embeddings, {n_layers} = last, negatives count from the end)"
        )
    return layer % (n_layers + 1)


def model_max_length(tokenizer, config, requested: int | None) -> int:
    """Longest input (sub-words incl. special tokens): ``requested`` if given, never more than the
    tokenizer's ``model_max_length`` or the positions the encoder has (2 fewer for RoBERTa-style
    position ids, which start after the padding index)."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
        limits.append(tok_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0
        limits.append(positions - offset)
    if requested is not None:
        limits.append(int(requested))
    return min(limits) if limits else 512


def load_encoder(name_or_path: str, device: torch.device):
    """(tokenizer, model) of a HF encoder, the model in eval mode on ``device``."""
    from transformers import AutoModel

    from pipeline_steps.models.token_classification import load_tokenizer

    tokenizer = load_tokenizer(name_or_path)
    model = AutoModel.from_pretrained(name_or_path)
    model.eval().to(device)
    return tokenizer, model


def keep_layers(model, n: int) -> bool:
    """Drop the transformer layers above ``n`` (their output is never read: ``hidden_states[n]`` only
    depends on the layers below), when the encoder keeps them in ``encoder.layer`` (BERT, XLM-R, E5,
    ...). A third of the encoder's work for layer 8 of 12. Returns whether it could."""
    stack = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(stack, torch.nn.ModuleList) or n >= len(stack):
        return False
    model.encoder.layer = stack[:n]
    model.config.num_hidden_layers = n
    return True


def encoder_layers(model) -> int:
    """Number of transformer layers of ``model`` (its ``config.num_hidden_layers``)."""
    n = getattr(model.config, "num_hidden_layers", None)
    if not isinstance(n, int):
        raise ConfigError(f"embedding aligner: cannot tell the number of layers of {type(model).__name__}")
    return n


def align_sentences(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    tokenizer,
    model,
    settings: EmbeddingSettings,
    device: torch.device | str = "cpu",
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Forward and reverse word links of every pair with an already loaded encoder (see module doc)."""
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    device = torch.device(device)
    layer = resolve_layer(int(settings.layer), encoder_layers(model))
    max_length = model_max_length(tokenizer, model.config, settings.max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    src_enc, src_missing = tokenize(tokenizer, src, max_length)
    tgt_enc, tgt_missing = tokenize(tokenizer, tgt, max_length)
    if src_missing or tgt_missing:
        log.warning(
            "embedding aligner: %d source and %d target words have no sub-word within %d positions "
            "(cut off or tokenised to nothing); they get no link",
            src_missing,
            tgt_missing,
            max_length,
        )
    forward: list[set[Link]] = [set() for _ in src]
    reverse: list[set[Link]] = [set() for _ in src]
    lengths = [max(len(a.input_ids), len(b.input_ids)) for a, b in zip(src_enc, tgt_enc, strict=True)]
    n_batches = math.ceil(len(src) / int(settings.batch_size))
    for idx in tqdm(
        batches(lengths, int(settings.batch_size)),
        total=n_batches,
        desc="embedding-align",
        file=sys.stderr,
        mininterval=5,
        disable=n_batches < 2,
    ):
        src_vec = token_vectors(model, [src_enc[i] for i in idx], layer, pad_id, device)
        tgt_vec = token_vectors(model, [tgt_enc[i] for i in idx], layer, pad_id, device)
        for k, i in enumerate(idx):
            x, x_words = units(src_vec[k], src_enc[i], settings.granularity)
            y, y_words = units(tgt_vec[k], tgt_enc[i], settings.granularity)
            if not x_words or not y_words:
                continue
            if settings.method == "softmax":
                fwd = rev = softmax_links(x, y, float(settings.softmax_threshold))
            else:
                fwd, rev = align_matrix(similarity(x, y), settings)
            forward[i] = word_links(fwd, x_words, y_words)
            reverse[i] = forward[i].copy() if rev is fwd else word_links(rev, x_words, y_words)
    return forward, reverse


def default_device(requested: str | None) -> torch.device:
    """``requested``, else CUDA when available, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def prepared_encoder(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    settings: EmbeddingSettings,
    *,
    seed: int | None = None,
    device: torch.device | str = "cpu",
):
    """(tokenizer, model, settings) ready to align: the encoder of ``settings`` cut above its layer,
    fine-tuned on the pairs with ``self_training.epochs > 0`` (seeded by ``seed``, else
    ``SELF_TRAINING_SEED``); the settings with the layer counted from the bottom."""
    tokenizer, model = load_encoder(settings.name_or_path, device)
    layer = resolve_layer(int(settings.layer), encoder_layers(model))
    settings = dataclasses.replace(settings, layer=layer)  # a negative layer counts from the full depth
    if keep_layers(model, layer):
        log.info("embedding aligner: the layers above %d are not run", layer)
    if settings.self_training.epochs > 0:
        from pipeline_steps.align.self_training import fine_tune

        st_seed = SELF_TRAINING_SEED if seed is None else int(seed)
        fine_tune(model, tokenizer, list(zip(src, tgt, strict=True)), settings, seed=st_seed, device=device)
    return tokenizer, model, settings


def directional(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    *,
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Backend entry point (see ``pipeline_steps.align``): load the encoder named in ``options``
    (:class:`EmbeddingSettings`), fine-tune it on every pair with ``self_training.epochs > 0``
    (:func:`prepared_encoder`; see the module doc) and align every pair."""
    settings = EmbeddingSettings.from_options(options)
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    if not src:
        return [], []
    device = default_device(settings.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        tokenizer, model, settings = prepared_encoder(src, tgt, settings, seed=seed, device=device)
        log.info(
            "embedding aligner: %s, layer %d, %s/%s, distortion %g, %d pairs on %s",
            settings.name_or_path,
            settings.layer,
            settings.method,
            settings.granularity,
            settings.distortion,
            len(src),
            device,
        )
        return align_sentences(src, tgt, tokenizer, model, settings, device)
    finally:
        torch.set_num_threads(previous_threads)
