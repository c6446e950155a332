"""The steps of paper 002's co-training / self-training loop (Alg. 1) besides f_lm's fine-tuning.

f_lm is fine-tuned by the ``finetune`` rule (methods ``self_training`` / ``co_training``, ``-iterK``);
the algorithm itself is ``methods/co_training.py``. One module per rule:

| module | rule | what |
|---|---|---|
| ``embed.py`` | ``embed`` | the frozen encoder's sentence (or word) vectors of one examples artifact |
| ``emb.py`` | ``cotrain_emb`` | f_emb of round k: its head on D + its pseudo-labels, predicting U and tests |
| ``pool.py`` | ``predict_pool`` | f_lm of round k on U: prediction and confidence per item |
| ``select.py`` | ``cotrain_select`` | selection round k, its ``cotrain_state`` artifact |

Both tasks share the state artifact through a text form of an item: a classification example is
``text_a`` (+ ``text_b``) with a label name; a tagging sentence is its space-joined tokens in ``text_a``
with its space-joined tags as the label (tokens never hold whitespace: ingest splits on it), and its
confidence is the minimum (``cotrain.confidence: mean``: the mean) of its words' tag probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifacts
from pipeline_steps.schemas import CLS_EXAMPLES, SENTENCES, Artifact

TAGGING = "tagging"
ITEM_COLUMNS = ["id", "lang", "text_a", "text_b", "label"]


def examples_artifact(kind: str) -> Artifact:
    return SENTENCES if kind == TAGGING else CLS_EXAMPLES


def read_examples(items: Sequence[str], kind: str) -> pd.DataFrame:
    """The examples of ``items`` (sentences for tagging, cls_examples otherwise), concatenated."""
    return read_artifacts(items, examples_artifact(kind))


def join_words(words, where: str, row: int, field: str) -> str:
    """Space-join a word list (tokens or tags); a word holding whitespace cannot be joined back."""
    bad = next((w for w in words if not w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise ArtifactError(where, row, field, f"word {bad!r} is empty or holds whitespace")
    return " ".join(words)


def as_items(examples: pd.DataFrame, kind: str, where: str = "examples") -> pd.DataFrame:
    """Examples in the text form of the state artifact: id, lang, text_a, text_b, label."""
    if kind != TAGGING:
        return examples[ITEM_COLUMNS].reset_index(drop=True)
    rows = zip(examples["tokens"], examples["tags"], strict=True)
    return pd.DataFrame(
        {
            "id": examples["id"],
            "lang": examples["lang"],
            "text_a": [join_words(t, where, i, "tokens") for i, (t, _) in enumerate(rows)],
            "text_b": None,
            "label": [
                None if g is None else join_words(g, where, i, "tags") for i, g in enumerate(examples["tags"])
            ],
        }
    ).reset_index(drop=True)


def read_items(items: Sequence[str], kind: str) -> pd.DataFrame:
    """The examples of every file of ``items`` in the state's text form (``as_items``), concatenated; an
    error names the file and its row."""
    frames = [as_items(read_examples([p], kind), kind, p) for p in items]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ITEM_COLUMNS)


def from_items(items: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The inverse of ``as_items`` for labelled items: tagging rows (id, lang, tokens, tags), or the
    classification rows as they are."""
    if kind != TAGGING:
        return items.reset_index(drop=True)
    return pd.DataFrame(
        {
            "id": items["id"],
            "lang": items["lang"],
            "tokens": [t.split(" ") for t in items["text_a"]],
            "tags": [t.split(" ") for t in items["label"]],
        }
    ).reset_index(drop=True)
