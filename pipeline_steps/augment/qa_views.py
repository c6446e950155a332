"""Code-switched views of extractive-QA examples (xTune, paper 003 Sec. 3.2.3 and 3.3.2).

A view switches words of the question and of the context one-for-one with ``code_switch.code_switch``
(a language drawn uniformly per word, the word looked up lower-cased); the answer must stay a span of
the new context, so the context words that overlap any answer span are never switched, and every
``answer_start`` is moved to the answer's character offset in the new context (the answer text itself
is unchanged). Words are the single-space-separated pieces of a text, as in the official xTune code
(``text.split(" ")``), so the word count of the question and of the context never changes and
``methods/xtune_qa.py`` can pair word k of the original with word k of its view.

Official code (``src/run_qa.py``, ``--enable_code_switch --keep_boundary_unchanged``): only the first
and last answer word are protected (inner answer words may switch; labels are word positions there),
and the question is tokenised without switching. Here every answer word is kept, so ``answer_texts``
stay exact strings of the context, and the question is switched too (as the classification views
switch both texts, ``views.augmented_examples``).

``qa_views`` writes ``views`` copies of every example as ``AUGMENTED_QA`` rows, view ``v`` drawn from
``random.Random(f"{kind}-{seed}-{v}")`` (as ``views.augmented_examples``); training uses view
``epoch mod views``.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline_steps.augment.code_switch import Dictionary, check_settings, code_switch
from pipeline_steps.errors import ConfigError
from pipeline_steps.schemas import AUGMENTED_QA

KINDS = ("code_switch",)  # the augmentations that can make QA views so far


def _starts(words: Sequence[str]) -> list[int]:
    """Character offset of every word of ``" ".join(words)``."""
    out, pos = [], 0
    for word in words:
        out.append(pos)
        pos += len(word) + 1
    return out


def code_switch_example(
    question: str,
    context: str,
    answer_starts: Sequence[int],
    answer_texts: Sequence[str],
    dictionaries: Mapping[str, Dictionary],
    ratio: float,
    rng: random.Random,
    *,
    switch_question: bool = False,
) -> tuple[str, str, list[int], list[str], list[bool], list[bool]]:
    """A code-switched view of one QA example: ``(question, context, answer_starts, answer_texts,
    switched_question, switched_context)``, the flags one per space-separated word.

    The context's words that overlap no answer span ``[start, start + len(text))`` go through
    ``code_switch`` (draws from ``rng`` only); the question stays as it is, as in the official code
    (``switch_question``: its words are switched first); the answers keep
    their text and move to their offset in the new context. ValueError when an answer is not at its
    start in ``context`` or a translation contains a space (the word count must not change)."""
    if len(answer_starts) != len(answer_texts):
        raise ValueError(f"{len(answer_starts)} answer starts but {len(answer_texts)} answer texts")
    spans = []
    for start, text in zip(answer_starts, answer_texts, strict=True):
        start, text = int(start), str(text)
        if start < 0 or context[start : start + len(text)] != text:
            raise ValueError(f"answer {text!r} is not at character {start} of the context")
        spans.append((start, start + len(text)))
    q_words, c_words = question.split(" "), context.split(" ")
    c_starts = _starts(c_words)
    free = [
        k
        for k, (s, w) in enumerate(zip(c_starts, c_words, strict=True))
        if not any(s < end and start < s + len(w) for start, end in spans)
    ]
    new_q, switched_q = list(q_words), [False] * len(q_words)
    if switch_question:
        new_q, switched_q = code_switch(q_words, dictionaries, ratio, rng)
    new_free, switched_free = code_switch([c_words[k] for k in free], dictionaries, ratio, rng)
    new_c, switched_c = list(c_words), [False] * len(c_words)
    for k, word, done in zip(free, new_free, switched_free, strict=True):
        new_c[k], switched_c[k] = word, done
    spaced = [w for w in (*new_q, *new_c) if " " in w]
    if spaced:
        raise ValueError(f"translation {spaced[0]!r} contains a space: the word count would change")
    new_starts = _starts(new_c)
    moved = []
    for start, _ in spans:
        k = bisect.bisect_right(c_starts, start) - 1
        offset = start - c_starts[k]  # <= len(c_words[k]): words are one space apart
        if offset == len(c_words[k]):  # at the space after word k (or the end): after its new text
            offset = len(new_c[k])
        moved.append(new_starts[k] + offset)
    return " ".join(new_q), " ".join(new_c), moved, [str(t) for t in answer_texts], switched_q, switched_c


def qa_views(
    examples: pd.DataFrame,
    dictionaries: Mapping[str, Dictionary],
    ratio: float,
    kind: str,
    seed: int,
    views: int,
) -> pd.DataFrame:
    """AUGMENTED_QA rows: ``views`` code-switched copies of every QA_EXAMPLES row (``code_switch_example``),
    ids ``{kind}-{seed}-v{view}-{row:06d}``, view ``v`` drawn from ``random.Random(f"{kind}-{seed}-{v}")``
    over the examples in order."""
    if kind not in KINDS:
        raise ConfigError(f"augment: {kind} views of QA examples are not built yet ({', '.join(KINDS)} is)")
    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise ConfigError(f"views must be a positive integer, got {views!r}")
    check_settings(dictionaries, ratio)
    rows = []
    for view in range(views):
        rng = random.Random(f"{kind}-{seed}-{view}")
        for r, ex in enumerate(examples.itertuples(index=False)):
            try:
                question, context, starts, texts, sq, sc = code_switch_example(
                    ex.question,
                    ex.context,
                    list(ex.answer_starts),
                    list(ex.answer_texts),
                    dictionaries,
                    ratio,
                    rng,
                )
            except ValueError as exc:
                raise ValueError(f"QA example {ex.id!r}: {exc}") from None
            rows.append(
                {
                    "id": f"{kind}-{seed}-v{view}-{r:06d}",
                    "src_id": ex.id,
                    "view": view,
                    "lang": ex.lang,
                    "question": question,
                    "context": context,
                    "answer_texts": texts,
                    "answer_starts": starts,
                    "n_words": len(sq) + len(sc),
                    "n_changed": sum(sq) + sum(sc),
                    "kind": kind,
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows, columns=AUGMENTED_QA.columns).astype({"view": "int32"})
