"""Step ``spans``: entity spans of a sentences artifact, from gold tags or from spaCy NER.

Unlabelled source text gets its spans from an off-the-shelf NER tagger, as CLISM does (paper 000,
Chen et al. 2022, Sec. 3.1: "utilize name entity recognition tools like Spacy to select entities").
spaCy runs on the pre-tokenised words (``Doc(nlp.vocab, words=tokens)`` through the pipeline), so
spans are word-index spans of the artifact's own tokens. The informative-span rules of paper 000,
Appendix B, then drop uninformative spans: (1) spans of stop words only, (2) span boundaries must be
words, (3) at most ``max_words`` (10) words.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm import tqdm

from pipeline_steps import config_schema
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import SENTENCES, SPANS
from pipeline_steps.tags import Span, TagError, spans_from_tags

log = logging.getLogger(__name__)

_DEFAULTS = config_schema.defaults("spans")  # config/schema.yaml: the one place of the defaults
DEFAULT_SPACY_MODEL: str = _DEFAULTS["spacy_model"]
DEFAULT_MAX_WORDS: int = _DEFAULTS["max_words"]
# OntoNotes types of spaCy's English models -> CoNLL types; unmapped types (DATE, TIME, PERCENT, MONEY,
# QUANTITY, ORDINAL, CARDINAL) are dropped.
DEFAULT_LABEL_MAP: dict[str, str] = {
    "PERSON": "PER",
    "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "PRODUCT": "MISC",
    "MISC": "MISC",
}
SOURCES = ("gold", "spacy", "auto")


def is_word(token: str) -> bool:
    """A word has at least one letter or digit (punctuation and symbols are not words)."""
    return any(c.isalnum() for c in token)


def is_stop(token: str, stop_words: frozenset[str] | set[str]) -> bool:
    """Stop word test, case-insensitive except for all-caps acronyms ("US", "IT", "WHO" are no stop words)."""
    if len(token) > 1 and token.isupper():
        return False
    return token.lower() in stop_words


def informative_span(
    tokens: Sequence[str],
    span: Span,
    stop_words: frozenset[str] | set[str],
    max_words: int = DEFAULT_MAX_WORDS,
) -> Span | None:
    """Paper 000, Appendix B, on one span: trim non-words off both ends so the boundaries are words,
    then drop the span (None) if nothing is left, if it has more than ``max_words`` words, or if all
    its words are stop words."""
    start, end, label = span
    while start < end and not is_word(tokens[start]):
        start += 1
    while end > start and not is_word(tokens[end - 1]):
        end -= 1
    if start == end or end - start > max_words:
        return None
    if all(is_stop(t, stop_words) or not is_word(t) for t in tokens[start:end]):
        return None
    return start, end, label


def filter_spans(
    tokens: Sequence[str],
    spans: Iterable[Span],
    stop_words: frozenset[str] | set[str],
    max_words: int = DEFAULT_MAX_WORDS,
) -> list[Span]:
    """``informative_span`` over a sentence's spans, keeping the survivors in order."""
    kept = (informative_span(tokens, s, stop_words, max_words) for s in spans)
    return [s for s in kept if s is not None]


def map_labels(spans: Iterable[Span], label_map: Mapping[str, str | None]) -> list[Span]:
    """Rename labels through ``label_map``; labels missing from it (or mapped to None/"") are dropped."""
    return [(s, e, label_map[lab]) for s, e, lab in spans if label_map.get(lab)]


def load_spacy(name: str = DEFAULT_SPACY_MODEL):
    """Load a spaCy pipeline with only ``ner`` (and any embedding layer it listens to) enabled."""
    import spacy

    try:
        nlp = spacy.load(name)
    except OSError as exc:
        raise ConfigError(f"cannot load spaCy model {name!r}: {exc}") from None
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"spaCy model {name!r} has no 'ner' component (pipes: {nlp.pipe_names})")
    keep = {"ner"} | {n for n, p in nlp.pipeline if "ner" in getattr(p, "listening_components", [])}
    nlp.select_pipes(enable=[n for n in nlp.pipe_names if n in keep])
    return nlp


def spacy_entities(nlp, sentences: Sequence[Sequence[str]], batch_size: int = 256) -> list[list[Span]]:
    """spaCy's entities of every pre-tokenised sentence, as word spans with spaCy's own labels."""
    from spacy.tokens import Doc

    docs = (Doc(nlp.vocab, words=list(tokens)) for tokens in sentences)
    out: list[list[Span]] = []
    bar = tqdm(nlp.pipe(docs, batch_size=batch_size), total=len(sentences), file=sys.stderr, mininterval=5)
    for doc in bar:
        out.append([(e.start, e.end, e.label_) for e in doc.ents])
    return out


def _rows(
    sentence_id: str, tokens: Sequence[str], spans: Iterable[Span], origin: str
) -> list[dict[str, Any]]:
    return [
        {
            "sentence_id": sentence_id,
            "start": s,
            "end": e,
            "label": lab,
            "text": " ".join(tokens[s:e]),
            "origin": origin,
        }
        for s, e, lab in spans
    ]


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=SPANS.columns)
    return df.astype({"start": "int32", "end": "int32"})


def gold_spans(sentences: pd.DataFrame, scheme: str = "bio", path: str = "<memory>") -> pd.DataFrame:
    """Spans of every sentence's gold tags (origin ``gold``); a sentence without tags is an error.

    Errors name the row by the frame's index (positional for a table as read).
    """
    rows: list[dict[str, Any]] = []
    cols = (sentences.index, sentences["id"], sentences["tokens"], sentences["tags"])
    for row, sid, tokens, tags in zip(*cols, strict=True):
        if tags is None:
            raise ArtifactError(
                path, row, "tags", "no gold tags (spans source 'gold' needs labelled sentences)"
            )
        try:
            spans = spans_from_tags(tags, scheme)
        except TagError as exc:
            raise ArtifactError(path, row, "tags", f"not a valid {scheme} sequence: {exc}") from None
        rows += _rows(sid, tokens, spans, "gold")
    return to_frame(rows)


def predicted_spans(
    sentences: pd.DataFrame,
    nlp,
    label_map: Mapping[str, str | None] | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    batch_size: int = 256,
) -> pd.DataFrame:
    """spaCy NER spans (origin ``spacy``), labels mapped, informative-span rules applied (paper 000, App. B).

    Stop words are those of the spaCy pipeline's language (``nlp.Defaults.stop_words``).
    """
    label_map = DEFAULT_LABEL_MAP if label_map is None else label_map
    stop_words = frozenset(nlp.Defaults.stop_words)
    token_lists = list(sentences["tokens"])
    found = spacy_entities(nlp, token_lists, batch_size)
    rows: list[dict[str, Any]] = []
    raw: Counter[str] = Counter()
    for sid, tokens, ents in zip(sentences["id"], token_lists, found, strict=True):
        raw.update(lab for _, _, lab in ents)
        spans = filter_spans(tokens, map_labels(ents, label_map), stop_words, max_words)
        rows += _rows(sid, tokens, spans, "spacy")
    log.info("spaCy entities before mapping/filtering: %s", dict(sorted(raw.items())))
    return to_frame(rows)


def entity_spans(
    sentences: pd.DataFrame,
    source: str = "auto",
    scheme: str = "bio",
    nlp_loader=None,
    label_map: Mapping[str, str | None] | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    batch_size: int = 256,
    path: str = "<memory>",
) -> pd.DataFrame:
    """Spans of a sentences table. ``source``: ``gold`` (tags), ``spacy`` (NER) or ``auto`` (gold for
    labelled sentences, spaCy for unlabelled ones). ``nlp_loader()`` is called only if spaCy is needed."""
    if source not in SOURCES:
        raise ConfigError(f"unknown spans source {source!r}; expected one of {', '.join(SOURCES)}")
    if max_words < 1:
        raise ConfigError(f"max_words must be at least 1, got {max_words}")
    sentences = sentences.reset_index(drop=True)
    labelled = sentences["tags"].notna()
    if source == "gold":
        use_gold = pd.Series(True, index=sentences.index)
    elif source == "spacy":
        use_gold = pd.Series(False, index=sentences.index)
    else:
        use_gold = labelled
    parts = []
    if use_gold.any():
        parts.append(gold_spans(sentences[use_gold], scheme, path))
    if (~use_gold).any():
        if nlp_loader is None:
            nlp_loader = load_spacy
        nlp = nlp_loader()
        parts.append(predicted_spans(sentences[~use_gold], nlp, label_map, max_words, batch_size))
    if not parts:
        return to_frame([])
    df = pd.concat(parts, ignore_index=True)
    order = {sid: i for i, sid in enumerate(sentences["id"])}
    df = df.assign(_o=df["sentence_id"].map(order)).sort_values(["_o", "start"], kind="stable")
    return df.drop(columns="_o").reset_index(drop=True).astype({"start": "int32", "end": "int32"})


def main(ctx) -> None:
    """ctx.input ``sentences``; ctx.output ``spans``; ctx.params ``source`` (gold|spacy|auto), ``scheme``,
    ``spacy_model``, ``max_words``, ``label_map`` (a dict, or None for the CoNLL map), ``batch_size``."""
    p = ctx.params
    path = str(ctx.input["sentences"])
    sentences = read_artifact(path, SENTENCES)
    model = p["spacy_model"]
    df = entity_spans(
        sentences,
        source=p["source"],
        scheme=p["scheme"],
        nlp_loader=lambda: load_spacy(model),
        label_map=p["label_map"],
        max_words=int(p["max_words"]),
        batch_size=int(p["batch_size"]),
        path=path,
    )
    counts = df.groupby(["origin", "label"]).size().to_dict() if len(df) else {}
    log.info("%s: %d sentences, %d spans %s", path, len(sentences), len(df), counts)
    write_artifact(df, ctx.output["spans"], SPANS)
