"""Code-switch substitution (xTune, paper 003 Sec. 3.2.3, after Qin et al. 2020).

Words of a source-language sentence are replaced one-for-one by a translation from a bilingual
dictionary (MUSE), so the word count, and with it every word-level label, carries over.

What the official xTune code does (``encode_sentence`` in ``src/run_cls.py``/``run_qa.py``), and
what this module follows:

- every word is considered independently and switched with probability ``ratio``;
- for a word to switch, a language is drawn uniformly among the loaded dictionaries, *per word*
  (not per sentence), so one sentence mixes several languages (paper Fig. 2);
- the word is looked up lower-cased; when the drawn language has no entry the word is kept and no
  other language is tried, so the achieved rate is ``ratio`` times the chance that the drawn
  language knows the word (the official code logs it; here ``switch_rate``);
- the translation is drawn uniformly among the headword's entries and inserted as written in the
  dictionary (MUSE entries are lower case; the word's casing is not transferred).

Differences: the official code keeps duplicate dictionary pairs (weighting those translations) and
switches when ``random() <= ratio``; here entries are distinct and the test is ``random() < ratio``,
so ratio 0 never and ratio 1 always tries to switch. Lookup keys are lower-cased and NFC-normalised.
"""

from __future__ import annotations

import logging
import numbers
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.text import nfc, read_text, split_lines

log = logging.getLogger(__name__)

SEPARATOR = " @ "
LAYOUT = "expected '<target word> @ <english word>' (MUSE dictionary in hunalign format)"

Dictionary = Mapping[str, Sequence[str]]


class DictionaryStats(NamedTuple):
    """What reading a dictionary file kept and dropped (line counts)."""

    lines: int  # pair lines in the file
    pairs: int  # distinct single-word pairs kept
    headwords: int  # distinct English headwords
    multiword: int  # skipped: a side contains white space (no one-for-one replacement)
    duplicates: int  # skipped: the same pair again


def lookup_key(word: str) -> str:
    """The dictionary key of ``word``: lower-cased, NFC."""
    return nfc(word.lower())


def _parse_line(path: str, number: int, line: str) -> tuple[str, str]:
    """``(english key, target word)`` of one line; a missing separator or an empty side -> error."""
    parts = line.split(SEPARATOR)
    if len(parts) != 2:
        found = "no" if len(parts) == 1 else f"{len(parts) - 1}"
        raise InputFormatError(path, number, f"found {found} ' @ ' separator(s); {LAYOUT}")
    target, english = (p.strip() for p in parts)
    if not target or not english:
        side = "target" if not target else "english"
        raise InputFormatError(path, number, f"empty {side} word; {LAYOUT}")
    return lookup_key(english), nfc(target)


def load_dictionary(
    path: str | Path, encoding: str | None = None
) -> tuple[dict[str, list[str]], DictionaryStats]:
    """``read_dictionary`` plus the counts of what was kept and skipped."""
    path = str(path)
    lines = split_lines(read_text(path, encoding, hint="set the dictionary's 'encoding'"))
    if not lines:
        raise InputFormatError(path, 1, "empty file: no dictionary entries")
    entries: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    multiword = duplicates = 0
    for number, line in enumerate(lines, start=1):
        english, target = _parse_line(path, number, line)
        if len(target.split()) != 1 or len(english.split()) != 1:
            multiword += 1
        elif (english, target) in seen:
            duplicates += 1
        else:
            seen.add((english, target))
            entries.setdefault(english, []).append(target)
    if not entries:
        raise InputFormatError(path, None, f"no single-word entries: all {len(lines)} contain white space")
    return entries, DictionaryStats(len(lines), len(seen), len(entries), multiword, duplicates)


def read_dictionary(path: str | Path, encoding: str | None = None) -> dict[str, list[str]]:
    """A MUSE dictionary in hunalign format: English headword (lower-cased, NFC) -> distinct target words.

    Each line is ``<target word> @ <english word>``; targets keep file order. Entries with white
    space on either side are skipped (they cannot replace one word by one word) and counted in the
    log, as are repeated pairs. A line without exactly one `` @ `` or with an empty side is an
    ``InputFormatError`` naming the file and the 1-based line.
    """
    entries, stats = load_dictionary(path, encoding)
    log.info(
        "%s: %d pairs for %d headwords; skipped %d multi-word and %d duplicate lines of %d",
        path,
        stats.pairs,
        stats.headwords,
        stats.multiword,
        stats.duplicates,
        stats.lines,
    )
    return entries


def check_settings(dictionaries: Mapping[str, Dictionary], ratio: float) -> list[str]:
    """The languages in a fixed (sorted) order; ConfigError for a bad ratio or dictionary set."""
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"code-switch ratio must be a number in [0, 1], got {ratio!r}")
    if not dictionaries:
        raise ConfigError("code-switch needs at least one bilingual dictionary, got none")
    empty = sorted(lang for lang, d in dictionaries.items() if not d)
    if empty:
        raise ConfigError(f"code-switch dictionaries without entries: {', '.join(empty)}")
    return sorted(dictionaries)


def _switch(
    tokens: Sequence[str], dictionaries: Mapping[str, Dictionary], languages: list[str], ratio: float, rng
) -> tuple[list[str], list[bool]]:
    new_tokens: list[str] = []
    switched: list[bool] = []
    for token in tokens:
        done = False
        if rng.random() < ratio:
            lang = languages[rng.randrange(len(languages))]
            options = dictionaries[lang].get(lookup_key(token))
            if options:
                token, done = options[rng.randrange(len(options))], True
        new_tokens.append(token)
        switched.append(done)
    return new_tokens, switched


def code_switch(
    tokens: Sequence[str], dictionaries: Mapping[str, Dictionary], ratio: float, rng: random.Random
) -> tuple[list[str], list[bool]]:
    """``tokens`` with words switched to dictionary translations, and which words were switched.

    Per word: with probability ``ratio`` a language is drawn uniformly from ``dictionaries``
    (language -> lower-cased NFC headword -> translations, e.g. from ``read_dictionary``; languages
    in sorted order), the word is looked up lower-cased, and if that language has entries for it
    the word is replaced by one drawn uniformly; otherwise it stays (no other language is tried, as
    in the official code). ``switched[i]`` is True when word i was replaced, even by an identical
    string. The word count never changes. Draws come from ``rng`` only.
    """
    languages = check_settings(dictionaries, ratio)
    return _switch(tokens, dictionaries, languages, ratio, rng)


def switch_rate(switched: Sequence[bool]) -> float:
    """The fraction of words switched (0.0 for no words)."""
    return sum(map(bool, switched)) / len(switched) if len(switched) else 0.0


def code_switch_frame(
    frame: pd.DataFrame, dictionaries: Mapping[str, Dictionary], ratio: float, seed: int
) -> tuple[pd.DataFrame, float]:
    """``code_switch`` over every row of ``frame`` (column ``tokens``) with ``random.Random(seed)``.

    Returns a copy with ``tokens`` replaced and a ``switched`` column (list of bool per row); every
    other column, ``tags`` included, is carried unchanged. Rows are processed in order with one
    generator, so a seed fixes the output. The rate is switched words / all words of the frame.
    """
    if "tokens" not in frame.columns:
        raise ValueError(f"code_switch_frame needs a 'tokens' column; the frame has {list(frame.columns)}")
    languages = check_settings(dictionaries, ratio)
    rng = random.Random(seed)
    results = [_switch(list(toks), dictionaries, languages, ratio, rng) for toks in frame["tokens"]]
    out = frame.copy()
    out["tokens"] = pd.Series([r[0] for r in results], index=frame.index, dtype=object)
    out["switched"] = pd.Series([r[1] for r in results], index=frame.index, dtype=object)
    n_words = sum(len(r[1]) for r in results)
    rate = sum(sum(r[1]) for r in results) / n_words if n_words else 0.0
    return out, rate
