"""The predicate of an SRL instance, marked for the encoder by marker words around it.

Paper 001 (Sec. 6.1-6.2) follows Fei et al. (2020b), whose BiLSTM taggers concatenate a predicate
indicator embedding (and a POS embedding) to each word. A pre-trained transformer has no free input
slot for an indicator (XLM-R's single token type, for one), so xlt marks the predicate in the text:
``w1 .. < w_p > .. wn``, the "entity marker (punct)" of Zhou and Chen (2021, An Improved Baseline for
Sentence-level Relation Extraction), which needs no new vocabulary, works with any tokenizer, and was
their best input on RoBERTa. The marker words (``srl.markers``, default ``<`` ``>``) get no label;
every other word keeps its own first sub-word, and ``Encoded.first`` indexes the ORIGINAL words, so
prediction and scoring never see the markers. Sentences are cut at ``max_length`` like any tagger's
(words after the cut get O).

UPOS as an input (``srl.upos``; paper 001 App. A: "we also feed the Part-of-speech (POS) tags provided by
UPB as the input of the model"): every sub-word of a word carries its word's UPOS id in
``token_type_ids`` (``UPOS_IDS``: 1-17, 0 for the specials, the markers and an unknown ``_``), and the
encoder's token-type table is grown to one row per UPOS, each new row a copy of the pre-trained row 0
(``enable_upos``), so the model starts exactly as pre-trained and fine-tuning learns what each POS adds:
the transformer form of Fei et al.'s (2020b) POS embedding, added to the input like BERT's segment
embedding instead of concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pipeline_steps.errors import ConfigError
from pipeline_steps.models.token_classification import IGNORE, Encoded, encode

DEFAULT_MARKERS = ("<", ">")
#: Universal Dependencies' 17 UPOS tags; id 0 is "none" (specials, markers, unknown ``_``)
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")  # fmt: skip
UPOS_IDS = {tag: i + 1 for i, tag in enumerate(UPOS_TAGS)}
N_TYPES = len(UPOS_TAGS) + 1


def mark(tokens: Sequence[str], predicate: int, markers: Sequence[str] = DEFAULT_MARKERS) -> list[str]:
    """``tokens`` with ``markers[0]`` before and ``markers[1]`` after word ``predicate``."""
    if not 0 <= predicate < len(tokens):
        raise ValueError(f"predicate {predicate} is not a word of a {len(tokens)}-word sentence")
    left, right = markers
    return [*tokens[:predicate], left, tokens[predicate], right, *tokens[predicate + 1 :]]


def encode_marked(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    predicates: Sequence[int],
    tags: Sequence[Sequence[str]] | None,
    label2id: dict[str, int] | None,
    max_length: int,
    markers: Sequence[str] = DEFAULT_MARKERS,
    upos: Sequence[Sequence[str]] | None = None,
) -> Encoded:
    """``token_classification.encode`` of each sentence with its predicate marked; the markers carry no
    label and ``first`` (and the truncation counts) refer to the unmarked words. With ``upos`` (one tag
    per word; CONJ, UD v1's name, reads as CCONJ) every sub-word of a word gets its UPOS id in
    ``type_ids``."""
    if len(markers) != 2 or any(not m or any(c.isspace() for c in m) for m in markers):
        raise ValueError(f"srl markers must be two non-empty words without spaces, got {list(markers)}")
    if len(sentences) != len(predicates):
        raise ValueError(f"{len(sentences)} sentences but {len(predicates)} predicates")
    marked = [mark(s, int(p), markers) for s, p in zip(sentences, predicates, strict=True)]
    marked_tags = None
    if tags is not None:  # the markers' placeholder tag O is set to IGNORE below
        marked_tags = [mark(t, int(p), ("O", "O")) for t, p in zip(tags, predicates, strict=True)]
    enc = encode(tokenizer, marked, marked_tags, label2id, max_length)
    if upos is not None:
        enc.type_ids = [
            upos_type_ids(first, len(ids), mark(list(u), int(p), ("_", "_")))
            for first, ids, u, p in zip(enc.first, enc.input_ids, upos, predicates, strict=True)
        ]
    for i, p in enumerate(predicates):
        p, first = int(p), enc.first[i]
        markers_at = (first[p], first[p + 2])
        if enc.labels is not None:
            for pos in markers_at:
                if pos >= 0:
                    enc.labels[i][pos] = IGNORE
        enc.first[i] = [*first[:p], first[p + 1], *first[p + 3 :]]
        enc.n_truncated[i] -= sum(1 for pos in markers_at if pos < 0)  # a cut marker is not a cut word
    return enc


def upos_id(tag: str) -> int:
    """A UPOS tag's id (1-17); 0 for ``_`` or anything unknown. UD v1's CONJ is CCONJ."""
    return UPOS_IDS.get("CCONJ" if tag == "CONJ" else tag, 0)


def upos_type_ids(first: Sequence[int], n_ids: int, upos: Sequence[str]) -> list[int]:
    """One type id per sub-word: each word's UPOS id from its first sub-word up to the next word's (the
    last word up to the final special token), 0 elsewhere."""
    out = [0] * n_ids
    starts = [(pos, w) for w, pos in enumerate(first) if pos >= 0]
    for k, (pos, w) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n_ids - 1
        out[pos:end] = [upos_id(upos[w])] * (end - pos)
    return out


def enable_upos(model) -> None:
    """Grow the encoder's token-type embedding to ``N_TYPES`` rows, each new row a copy of row 0 (the
    pre-trained model's only segment in single-sentence use), and record it in the config; a model that
    already has them (a fine-tuned folder) is left as it is. ConfigError for an encoder without token
    types."""
    embeddings = getattr(model.base_model, "embeddings", None)
    table = getattr(embeddings, "token_type_embeddings", None)
    if table is None:
        raise ConfigError(
            f"srl.upos: {type(model).__name__} has no token-type embedding to carry the UPOS tags; "
            "set srl.upos: false"
        )
    if table.num_embeddings >= N_TYPES:
        return
    grown = torch.nn.Embedding(N_TYPES, table.embedding_dim).to(table.weight.device, table.weight.dtype)
    with torch.no_grad():
        grown.weight.copy_(table.weight[0].expand(N_TYPES, -1))
        grown.weight[: table.num_embeddings] = table.weight
    embeddings.token_type_embeddings = grown
    model.config.type_vocab_size = N_TYPES
