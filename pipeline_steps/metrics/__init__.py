"""Task metrics that are not sequence labelling (seqeval lives in ``pipeline_steps.evaluate``).

- ``qa``: extractive-QA exact match and F1, SQuAD v1.1 and MLQA (per-language) normalisation
  (re-exported here);
- ``classification``: accuracy and macro-F1 of sentence(-pair) classification (import it from its module).
"""

from pipeline_steps.metrics.qa import (
    MLQA_LANGS,
    VARIANTS,
    answer_tokens,
    exact_match,
    example_scores,
    f1_score,
    normalize_answer,
    squad_scores,
)

__all__ = [
    "MLQA_LANGS",
    "VARIANTS",
    "answer_tokens",
    "exact_match",
    "example_scores",
    "f1_score",
    "normalize_answer",
    "squad_scores",
]
