"""Translate-train for extractive QA: the answer span goes through the same align -> project stages as
an entity (paper 001 Sec. 2.2, Eq. 2, applied to the answer; issue 9).

Two steps around the tagging chain ``spans -> translate -> align -> project``:

1. ``segment`` (rule ``qa_segment``): every training question becomes a small document of sentences
   (the ``sentences`` artifact): its context split into sentences and words (spaCy's rule-based
   sentencizer and tokenizer of the source language), the sentence holding the answer tagged
   ``B-ANSWER I-ANSWER ...`` (the first gold answer; a word the answer only partly covers is taken
   whole), every other sentence all ``O``, and the question as one more, untagged-``O`` sentence.
   Sentence ids are ``{split}-{lang}-{row:06d}.s{k:03d}`` (context sentence k) and ``...q`` (the
   question); ``doc_id`` is the question id. An answer that crosses a sentence boundary cannot be a
   span of one sentence pair: the question is dropped and counted. Sentence-level pairs keep MT
   inputs short and alignments local, as for NER.
2. ``assemble`` (rule ``qa_assemble``): from the projected target sentences, the translated example:
   the question is its translated question sentence, the context the translated context sentences
   (Moses-detokenized, joined by a space, or by nothing for scripts written without spaces), the answer
   the projected span's characters in that context. A question is dropped, and counted by reason,
   when its question or answer sentence has no translation, when the answer was not projected (no
   aligned word), or when ``word2word`` split it into several pieces.

Every question keeps its own copy of its context's sentences, so answers of different questions on
one context never compete for target words (the tagging projection drops overlapping spans); the
translation cache translates each distinct sentence once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import PROJECTED, QA_EXAMPLES, SENTENCES
from pipeline_steps.tags import spans_from_tags, tags_from_spans
from pipeline_steps.translate import detokenize
from pipeline_steps.translate.base import check_source_lang

log = logging.getLogger(__name__)

ANSWER = "ANSWER"
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my"})  # scripts written without spaces between words


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # character offsets in the context, end exclusive
    end: int


@cache
def _nlp(lang: str):
    import spacy

    try:
        nlp = spacy.blank(lang)
    except ImportError:  # no spaCy language class: the multi-language tokenizer
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def split_context(context: str, lang: str) -> list[list[Word]]:
    """The context's sentences as lists of words with character offsets (whitespace dropped)."""
    doc = _nlp(lang)(context)
    sentences = []
    for sent in doc.sents:
        words = [Word(t.text, t.idx, t.idx + len(t.text)) for t in sent if not t.is_space]
        if words:
            sentences.append(words)
    return sentences


def answer_words(sentences: Sequence[Sequence[Word]], start: int, end: int) -> tuple[int, int, int] | None:
    """(sentence, first word, end word) of the words overlapping characters [start, end); None when
    the answer covers no word or words of more than one sentence."""
    hits = [
        (k, i)
        for k, words in enumerate(sentences)
        for i, w in enumerate(words)
        if w.start < end and w.end > start
    ]
    if not hits or hits[0][0] != hits[-1][0]:
        return None
    return hits[0][0], hits[0][1], hits[-1][1] + 1


def segment_examples(examples: pd.DataFrame, lang: str, scheme: str = "bio") -> tuple[pd.DataFrame, Counter]:
    """SENTENCES rows of every question (context sentences + question; tags in ``scheme``), and the
    number of questions dropped per reason."""
    rows: list[dict] = []
    dropped: Counter = Counter()
    for r, ex in enumerate(examples.itertuples(index=False)):
        sentences = split_context(ex.context, lang)
        start = int(ex.answer_starts[0])
        where = answer_words(sentences, start, start + len(ex.answer_texts[0]))
        if where is None:
            dropped["answer not within one sentence"] += 1
            continue
        k_answer, a, b = where
        base = f"{ex.split}-{lang}-{r:06d}"
        for k, words in enumerate(sentences):
            tokens = [w.text for w in words]
            spans = [(a, b, ANSWER)] if k == k_answer else []
            rows.append(
                _sentence(f"{base}.s{k:03d}", ex, r, tokens, tags_from_spans(len(tokens), spans, scheme))
            )
        question = [w.text for s in split_context(ex.question, lang) for w in s]
        rows.append(_sentence(f"{base}.q", ex, r, question, ["O"] * len(question)))
    return pd.DataFrame(rows, columns=SENTENCES.columns), dropped


def _sentence(sid: str, ex, row: int, tokens: list[str], tags: list[str]) -> dict:
    return {
        "id": sid,
        "lang": ex.lang,
        "split": ex.split,
        "doc_id": ex.id,
        "tokens": tokens,
        "tags": tags,
        "source": ex.source,
        "line": row + 1,
    }


def locate(tokens: Sequence[str], text: str) -> list[tuple[int, int]] | None:
    """Character [start, end) of each token in ``text``, searched left to right; None if one is missing."""
    out, pos = [], 0
    for tok in tokens:
        at = text.find(tok, pos)
        if at < 0:
            return None
        out.append((at, at + len(tok)))
        pos = at + len(tok)
    return out


def assemble_examples(
    examples: pd.DataFrame,
    sentences: pd.DataFrame,
    projected: pd.DataFrame,
    tgt: str,
    scheme: str = "bio",
    sentences_path: str = "<sentences>",
) -> tuple[pd.DataFrame, Counter]:
    """QA_EXAMPLES rows in ``tgt`` (``translated-{tgt}-{row:06d}``, ``source`` = the source question id)
    from the segmented source ``sentences`` and their ``projected`` translations, and the number of
    questions dropped per reason."""
    joiner = "" if tgt in UNSPACED else " "
    translated = {row.src_id: row for row in projected.itertuples(index=False)}
    text_of = dict(zip(projected["src_id"], detokenize(list(projected["tokens"]), tgt), strict=True))
    docs, answer_sentence = _documents(sentences, sentences_path)
    rows: list[dict] = []
    dropped: Counter = Counter()
    for r, ex in enumerate(examples.itertuples(index=False)):
        if ex.id not in docs:
            continue  # dropped by segment (counted there)
        question = translated.get(docs[ex.id][-1])
        if question is None:
            dropped["question not translated"] += 1
            continue
        if answer_sentence[ex.id] not in translated:
            dropped["answer sentence not translated"] += 1
            continue
        context, answer = "", None
        for sid in docs[ex.id][:-1]:
            if sid not in translated:
                continue
            row = translated[sid]
            text = text_of[sid]
            context += joiner if context else ""
            if sid == answer_sentence[ex.id]:
                answer = _answer_chars(row, text, len(context), scheme, dropped)
            context += text
        if answer is None:
            continue
        start, end = answer
        rows.append(
            {
                "id": f"translated-{tgt}-{r:06d}",
                "lang": tgt,
                "split": "translated",
                "title": ex.title,
                "context": context,
                "question": text_of[question.src_id],
                "answer_texts": [context[start:end]],
                "answer_starts": [start],
                "source": ex.id,
            }
        )
    return pd.DataFrame(rows, columns=QA_EXAMPLES.columns), dropped


def _documents(sentences: pd.DataFrame, path: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Sentence ids per question (context sentences in order, the question last) and the id of each
    question's answer sentence; a document without exactly one of each is an ``ArtifactError``."""
    docs: dict[str, list[str]] = {}
    answer_sentence: dict[str, str] = {}
    for row, (sid, doc, tags) in enumerate(
        zip(sentences["id"], sentences["doc_id"], sentences["tags"], strict=True)
    ):
        docs.setdefault(doc, []).append(sid)
        if any(t != "O" for t in tags):
            if doc in answer_sentence:
                raise ArtifactError(path, row, "tags", f"question {doc!r} has a second answer sentence")
            answer_sentence[doc] = sid
    for doc, sids in docs.items():
        if doc not in answer_sentence or not sids[-1].endswith(".q"):
            what = "no answer sentence" if doc not in answer_sentence else "no question sentence last"
            raise ArtifactError(
                path, None, "doc_id", f"question {doc!r}: {what} (not written by qa_segment?)"
            )
    return docs, answer_sentence


def _answer_chars(row, text: str, offset: int, scheme: str, dropped: Counter) -> tuple[int, int] | None:
    """Context characters [start, end) of the projected answer of one translated sentence, or None
    (counted in ``dropped``)."""
    spans = spans_from_tags(list(row.tags), scheme)
    if len(spans) != 1:
        dropped["answer not projected" if not spans else "answer projected in pieces"] += 1
        return None
    places = locate(list(row.tokens), text)
    if places is None:
        dropped["tokens not found in their detokenized sentence"] += 1
        return None
    j, m, _ = spans[0]
    return offset + places[j][0], offset + places[m - 1][1]


def main_segment(ctx) -> None:
    """Rule ``qa_segment``. input: examples (qa_examples of the source training set); output: sentences;
    params: src_lang, scheme."""
    path = str(ctx.input["examples"])
    examples = read_artifact(path, QA_EXAMPLES)
    src = ctx.params["src_lang"]
    check_source_lang(examples, path, src)
    for row, texts in enumerate(examples["answer_texts"]):
        if not len(texts):
            raise ArtifactError(path, row, "answer_texts", "a training question needs an answer to project")
    sentences, dropped = segment_examples(examples, src, ctx.params["scheme"])
    n = sentences["doc_id"].nunique()
    log.info(
        "%s: %d of %d questions segmented into %d sentences (questions included); dropped: %s",
        path,
        n,
        len(examples),
        len(sentences),
        dict(dropped) or "none",
    )
    write_artifact(sentences, ctx.output["sentences"], SENTENCES)


def main_assemble(ctx) -> None:
    """Rule ``qa_assemble``. input: examples (source qa_examples), sentences (``qa_segment``'s), projected
    (their translations, labels projected); output: examples (qa_examples in tgt_lang); params: tgt_lang,
    scheme."""
    examples = read_artifact(str(ctx.input["examples"]), QA_EXAMPLES)
    sentences = read_artifact(str(ctx.input["sentences"]), SENTENCES)
    projected = read_artifact(str(ctx.input["projected"]), PROJECTED)
    tgt = ctx.params["tgt_lang"]
    out, dropped = assemble_examples(
        examples, sentences, projected, tgt, ctx.params["scheme"], str(ctx.input["sentences"])
    )
    n_in = sentences["doc_id"].nunique()
    log.info(
        "%s: %d of %d segmented questions kept with a projected answer; dropped: %s",
        tgt,
        len(out),
        n_in,
        dict(dropped) or "none",
    )
    write_artifact(out, ctx.output["examples"], QA_EXAMPLES)
