"""Extractive-QA exact match and F1: the SQuAD v1.1 and the MLQA official evaluation scripts.

Both scripts score one prediction against each gold answer of its question and keep the best (max over
the golds), then average over the questions:

- EM: 1 when the normalised prediction equals the normalised gold answer, else 0;
- F1: bag-of-tokens F1 between the normalised prediction and gold tokens; 0 when they share no token
  (this includes a prediction or gold answer that normalises to nothing).

They differ in the normalisation only (``normalize_answer``):

- ``variant="squad"`` (SQuAD v1.1 ``evaluate-v1.1.py``; XTREME and xTune (paper 003) score XQuAD and
  TyDiQA-GoldP with it whatever the language): lower-case, remove ASCII punctuation
  (``string.punctuation``), remove the English articles a/an/the, collapse whitespace; tokens are
  whitespace-separated. ``lang`` is ignored.
- ``variant="mlqa"`` (MLQA ``mlqa_evaluation_v1.py``, Lewis et al. 2020): lower-case, remove every
  Unicode punctuation character (category P*) and the ASCII ``string.punctuation``, remove the
  articles of the answer's language (en: a/an/the; es: un/una/unos/unas/el/la/los/las; de:
  der/die/das/des/dem/den/ein/eine/einer/eines/einem/einen; vi: của/là/cái/chiếc/những; ar: every
  occurrence of the letter pair ال, exactly as the official regex ``\\sال^|ال`` does, also inside
  words; hi, zh: none), then tokenise on whitespace, or for zh by "mixed segmentation": every CJK
  ideograph (U+4E00-U+9FA5) is a token of its own and the runs between them are split on whitespace,
  so Chinese F1 is character-level. The script knows exactly these seven languages and fails on any
  other; so does this module (``ConfigError``): use ``variant="squad"`` for the others.

Scores are fractions in [0, 1], like F1 in the ``metrics`` artifact (the scripts print percentages).

Why not torchmetrics' ``SQuAD`` (checked: torchmetrics 1.9.0 installs cleanly from PyPI, with
lightning-utilities only): (1) its F1 is not the v1.1 F1 on empty answers: when the prediction or the
gold answer normalises to nothing it returns 1 if both do (the SQuAD v2.0 no-answer rule), where
``evaluate-v1.1.py`` returns 0 -- e.g. prediction "" (what ``decode_answers`` returns when no span is
valid) against gold "The"; (2) MLQA needs the same max-over-golds EM/F1 with another normaliser and
tokeniser, which torchmetrics does not expose (only private helpers), so wrapping it would cover just
the five-line English normaliser while the MLQA path would be a second implementation of the same
formula; (3) it costs a ~5 s import on top of torch in the evaluate step, which needs no torch
otherwise. The ``squad`` variant here agrees with torchmetrics 1.9.0 on every case except (1)
(checked on random strings when this module was written); ``tests/test_qa.py`` pins the hand-computed
values.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from pipeline_steps.errors import ConfigError

VARIANTS = ("squad", "mlqa")

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")

# mlqa_evaluation_v1.py, remove_articles(): the regexes as the script writes them (None: no articles)
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
MLQA_LANGS = tuple(sorted(_MLQA_ARTICLES))
_MIXED_SEGMENTATION_LANGS = frozenset({"zh"})
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@lru_cache(maxsize=65536)
def _is_mlqa_punct(ch: str) -> bool:
    """The script's PUNCT set: every character of a Unicode punctuation category, plus string.punctuation."""
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    """mlqa_evaluation_v1.py ``mixed_segmentation``: CJK ideographs (and punctuation) one token each,
    everything between them split on whitespace."""
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        if _CJK.match(ch) or _is_mlqa_punct(ch):
            if run:
                out.extend("".join(run).split())
                run = []
            out.append(ch)
        else:
            run.append(ch)
    if run:
        out.extend("".join(run).split())
    return out


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ConfigError(f"unknown QA metric variant {variant!r} (known: {', '.join(VARIANTS)})")


def _mlqa_lang(lang: str | None) -> str:
    if lang is None:
        raise ConfigError("the mlqa QA metric needs the answers' language (lang)")
    code = str(lang).strip().lower().replace("_", "-").split("-")[0]
    if code not in _MLQA_ARTICLES:
        raise ConfigError(
            f"the mlqa QA metric knows the MLQA languages {', '.join(MLQA_LANGS)}, not {lang!r}; "
            "use variant 'squad' (the SQuAD v1.1 normalisation) for other languages"
        )
    return code


def normalize_answer(text: str, lang: str | None = None, variant: str = "squad") -> str:
    """The official normalisation of ``variant`` (see the module docstring); tokens joined by one space."""
    _check_variant(variant)
    text = text.lower()
    if variant == "squad":
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
        return " ".join(_EN_ARTICLES.sub(" ", text).split())
    code = _mlqa_lang(lang)
    text = "".join(ch for ch in text if not _is_mlqa_punct(ch))
    articles = _MLQA_ARTICLES[code]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if code in _MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip())


def answer_tokens(text: str, lang: str | None = None, variant: str = "squad") -> list[str]:
    """The tokens F1 counts: the normalised answer split on whitespace."""
    return normalize_answer(text, lang, variant).split()


def exact_match(prediction: str, gold: str, lang: str | None = None, variant: str = "squad") -> float:
    """1.0 when the normalised ``prediction`` equals the normalised ``gold`` answer, else 0.0."""
    return float(normalize_answer(prediction, lang, variant) == normalize_answer(gold, lang, variant))


def f1_score(prediction: str, gold: str, lang: str | None = None, variant: str = "squad") -> float:
    """Token-bag F1 of one prediction against one gold answer (0.0 when no token is shared)."""
    pred = answer_tokens(prediction, lang, variant)
    ref = answer_tokens(gold, lang, variant)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def example_scores(
    predictions: Sequence[str],
    golds: Sequence[Sequence[str]],
    lang: str | None = None,
    variant: str = "squad",
) -> list[tuple[float, float]]:
    """(EM, F1) of each question, each the max over that question's gold answers."""
    _check_variant(variant)
    if variant == "mlqa":
        _mlqa_lang(lang)
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answer lists")
    out: list[tuple[float, float]] = []
    for i, (pred, answers) in enumerate(zip(predictions, golds, strict=True)):
        answers = [answers] if isinstance(answers, str) else list(answers)
        if not answers:
            raise ValueError(f"question {i} has no gold answer (SQuAD v1.1 / MLQA answers are never empty)")
        out.append(
            (
                max(exact_match(pred, g, lang, variant) for g in answers),
                max(f1_score(pred, g, lang, variant) for g in answers),
            )
        )
    return out


def squad_scores(
    predictions: Sequence[str],
    golds: Sequence[Sequence[str]],
    lang: str | None = None,
    variant: str = "squad",
) -> dict[str, float | int]:
    """Mean EM and F1 over the questions, as fractions: ``{"em": ..., "f1": ..., "n": ...}``.

    ``golds[i]`` lists every accepted answer of question i (the score is the best over them). ``lang``
    selects the MLQA normalisation (``variant="mlqa"``); the SQuAD variant ignores it. With no question
    EM and F1 are NaN.
    """
    scores = example_scores(predictions, golds, lang, variant)
    n = len(scores)
    if n == 0:
        return {"em": math.nan, "f1": math.nan, "n": 0}
    return {
        "em": sum(em for em, _ in scores) / n,
        "f1": sum(f1 for _, f1 in scores) / n,
        "n": n,
    }
