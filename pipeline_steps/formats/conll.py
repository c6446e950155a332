"""Column readers: CoNLL-2003, CoNLL-2002, token<TAB>tag (tsv) and WikiANN.

All four share ``_common.parse_columns``: one token a line, blank line = sentence break,
``-DOCSTART-`` lines separate documents (``doc_id`` ``doc-0000``, ``doc-0001``, ...; null in files
without them). Tags are validated in the file's input scheme and converted to ``scheme``.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats._common import (
    check_tags,
    parse_columns,
    split_spaces,
    split_tabs,
    to_frame,
)
from pipeline_steps.tags import check_scheme
from pipeline_steps.text import read_text, split_lines

log = logging.getLogger(__name__)


def read_conll2003(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    input_scheme: str = "iob1",
    encoding: str | None = None,
) -> pd.DataFrame:
    """CoNLL-2003: ``token POS chunk NER`` separated by spaces, IOB1 tags (converted via IOB2)."""
    return _read_columns(path, lang, split, scheme, input_scheme, encoding, "CoNLL-2003: token POS chunk NER")


def read_conll2002(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    input_scheme: str = "bio",
    encoding: str | None = None,
) -> pd.DataFrame:
    """CoNLL-2002: ``token POS NER`` separated by spaces, IOB2 tags; Dutch files have -DOCSTART- lines.

    The original release is ISO-8859-1; the copies in shared/data are UTF-8 (the default). Pass
    ``encoding="latin-1"`` for the original files; bytes invalid in the encoding name their line.
    """
    return _read_columns(path, lang, split, scheme, input_scheme, encoding, "CoNLL-2002: token POS NER")


def _read_columns(
    path: str, lang: str, split: str, scheme: str, input_scheme: str, encoding: str | None, layout: str
) -> pd.DataFrame:
    """A space-separated CoNLL file whose last column is the tag (``layout`` names the columns)."""
    lines = split_lines(read_text(path, encoding))
    n = len(layout.partition(": ")[2].split())
    sents = parse_columns(path, lines, split_spaces, n, n - 1, layout)
    check_tags(path, sents, input_scheme, scheme)  # checks both schemes too
    return to_frame(path, sents, lang, split)


_SEPARATORS = {"tab": split_tabs, "space": split_spaces}


def read_tsv(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    input_scheme: str = "bio",
    encoding: str | None = None,
    sep: str = "tab",
) -> pd.DataFrame:
    """``token<TAB>tag`` (e.g. the Europarl NER files), or ``token`` alone for unlabelled text.

    ``input_scheme`` is the file's scheme (iob1, bio or bioes); ``sep="space"`` reads space-separated
    columns instead. The first token line fixes the column count (1, 2, or 3 = ``token tag extra``,
    the third column ignored, as in the SemEval-2016 ABSA gold projections) for the whole file.
    """
    if sep not in _SEPARATORS:
        raise ConfigError(f"unknown tsv separator {sep!r}; expected one of {', '.join(_SEPARATORS)}")
    lines = split_lines(read_text(path, encoding))
    sents = parse_columns(
        path, lines, _SEPARATORS[sep], (2, 1, 3), 1, f"token{'<TAB>' if sep == 'tab' else ' '}tag"
    )
    check_tags(path, sents, input_scheme, scheme)
    return to_frame(path, sents, lang, split)


_PREFIX = re.compile(r"^([a-z]{2,3}):(?=.)")


def read_wikiann(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    input_scheme: str = "bio",
    encoding: str | None = None,
    strip_prefix: bool | None = None,
) -> pd.DataFrame:
    """WikiANN / PAN-X: ``lang:token<TAB>tag`` (Rahimi splits), ``token<TAB>tag`` or ``token`` (XTREME test).

    ``strip_prefix=None`` decides per file from the first token line: when it has an ``xx:``
    language prefix every token line must carry the same prefix, and when it has none no later token
    may look prefixed (else an error names the line; ``strip_prefix=False`` keeps such tokens as
    they are). Label-less files give ``tags`` null.
    """
    check_scheme(scheme)
    lines = split_lines(read_text(path, encoding))
    first_no = next(
        (i for i, ln in enumerate(lines, start=1) if ln.strip() and not ln.startswith("-DOCSTART-")), None
    )
    prefix: str | None = None
    if strip_prefix is None or strip_prefix:
        m = _PREFIX.match(split_tabs(lines[first_no - 1])[0]) if first_no else None
        if m:
            prefix = m.group(1) + ":"
        elif strip_prefix:
            raise InputFormatError(path, first_no or 1, "no 'xx:' language prefix")
    if prefix and prefix[:-1] != lang:
        log.warning("%s: token prefix %r differs from the dataset language %r", path, prefix, lang)

    def unprefix(token: str, line: int) -> str:
        if not token.startswith(prefix):  # type: ignore[arg-type]
            raise InputFormatError(path, line, f"token {token!r} lacks the language prefix {prefix!r}")
        return token[len(prefix) :]  # type: ignore[arg-type]

    def unprefixed(token: str, line: int) -> str:
        if _PREFIX.match(token):
            raise InputFormatError(
                path,
                line,
                f"token {token!r} has a language prefix but the first token line ({first_no}) has none "
                "(set strip_prefix: false to keep such tokens as they are)",
            )
        return token

    token_filter = unprefix if prefix else (unprefixed if strip_prefix is None else None)
    sents = parse_columns(
        path,
        lines,
        split_tabs,
        (2, 1),
        1,
        "WikiANN: [lang:]token<TAB>tag",
        token_filter=token_filter,
    )
    check_tags(path, sents, input_scheme, scheme)
    return to_frame(path, sents, lang, split)
