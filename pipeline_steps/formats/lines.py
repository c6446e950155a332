"""Sentence-parallel plain text (Tatoeba style): one sentence a line, no labels."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats._common import RawSentence, to_frame
from pipeline_steps.tags import check_scheme
from pipeline_steps.text import nfc, read_text, split_lines

TOKENIZERS = ("moses", "whitespace")


def tokenizer(name: str, lang: str) -> Callable[[str], list[str]]:
    """``moses``: ``MosesTokenizer(lang).tokenize(text, escape=False)``; ``whitespace``: split()."""
    if name == "whitespace":
        return str.split
    if name == "moses":
        from sacremoses import MosesTokenizer

        moses = MosesTokenizer(lang=lang)
        return lambda text: moses.tokenize(text, escape=False)
    raise ConfigError(f"unknown tokenizer {name!r}; expected one of {', '.join(TOKENIZERS)}")


def read_lines(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    tokenize: str = "moses",
    encoding: str | None = None,
    moses_lang: str | None = None,
) -> pd.DataFrame:
    """One sentence per line, tokenised; ``tags`` null, ``doc_id`` null.

    Line i of a source file translates line i of its target file, so an empty line is an error (it
    would shift every pair after it). ``moses_lang`` overrides the language given to Moses (its
    non-breaking prefixes and apostrophe rules); default ``lang``. The text is NFC-normalised.
    """
    check_scheme(scheme)
    tok = tokenizer(tokenize, moses_lang or lang)
    sents: list[RawSentence] = []
    for i, text in enumerate(split_lines(read_text(path, encoding)), start=1):
        if not text.strip():
            raise InputFormatError(
                path, i, "empty line: every line must hold one sentence (keeps files parallel)"
            )
        tokens = tok(nfc(text.strip()))
        if not tokens:
            raise InputFormatError(path, i, f"no tokens after {tokenize} tokenisation")
        sents.append(RawSentence(tokens, None, [i]))
    return to_frame(path, sents, lang, split)
