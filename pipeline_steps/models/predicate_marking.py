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
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline_steps.models.token_classification import IGNORE, Encoded, encode

DEFAULT_MARKERS = ("<", ">")


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
) -> Encoded:
    """``token_classification.encode`` of each sentence with its predicate marked; the markers carry no
    label and ``first`` (and the truncation counts) refer to the unmarked words."""
    if len(markers) != 2 or any(not m or any(c.isspace() for c in m) for m in markers):
        raise ValueError(f"srl markers must be two non-empty words without spaces, got {list(markers)}")
    if len(sentences) != len(predicates):
        raise ValueError(f"{len(sentences)} sentences but {len(predicates)} predicates")
    marked = [mark(s, int(p), markers) for s, p in zip(sentences, predicates, strict=True)]
    marked_tags = None
    if tags is not None:  # the markers' placeholder tag O is set to IGNORE below
        marked_tags = [mark(t, int(p), ("O", "O")) for t, p in zip(tags, predicates, strict=True)]
    enc = encode(tokenizer, marked, marked_tags, label2id, max_length)
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
