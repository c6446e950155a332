"""Input format readers: raw data files -> ``sentences`` (``qa_examples``, ``cls_examples``) DataFrames.

``read(path, format, lang, split, scheme, **opts)`` dispatches on ``READERS``. Every labelled reader
validates the file's tags in its input scheme and converts them to ``scheme`` (``bio`` or
``bioes``). Malformed input raises one ``InputFormatError`` naming the file and 1-based line.

| format | layout | options |
|---|---|---|
| conll2003 | ``token POS chunk NER``, IOB1, -DOCSTART- | input_scheme (iob1), encoding |
| conll2002 | ``token POS NER``, IOB2, -DOCSTART- (Dutch) | input_scheme (bio), encoding |
| tsv | ``token<TAB>tag`` or ``token`` | input_scheme (bio), encoding, sep (tab/space) |
| wikiann | ``[lang:]token<TAB>tag`` or ``[lang:]token`` | input_scheme (bio), encoding, strip_prefix |
| lines | one sentence a line, unlabelled | tokenize (moses/whitespace), encoding, moses_lang |
| squad | SQuAD v1.1 / XQuAD / MLQA / TyDiQA-GoldP JSON -> ``qa_examples`` | encoding, question_ids |
| xnli | ``premise<TAB>hypothesis[<TAB>label]`` -> ``cls_examples`` | encoding, label_names |
| mnli_json | ``{"0": {"text_a", "text_b", "label"}, ...}`` -> ``cls_examples`` | encoding, label_names |
| xlmt | ``*_text.txt`` (+ ``*_labels.txt``) -> ``cls_examples`` | encoding, label_names, unescape |
| sib200 | TSV with header ``text``, ``category`` -> ``cls_examples`` | encoding |
| upb | Universal Proposition Banks 1.0, de/fr/es layout (FILLPRED) -> ``srl_instances`` | encoding |
| upb_ewt | Universal Proposition Banks 1.0, English EWT layout -> ``srl_instances`` | encoding |

The classification formats are described in ``formats/classification.py``, the SRL ones in
``formats/upb.py``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats import classification, upb
from pipeline_steps.formats._common import check_cls_labels, check_labels
from pipeline_steps.formats.conll import read_conll2002, read_conll2003, read_tsv, read_wikiann
from pipeline_steps.formats.lines import read_lines
from pipeline_steps.formats.squad import read_squad
from pipeline_steps.schemas import CLS_EXAMPLES, QA_EXAMPLES, SENTENCES, SRL_INSTANCES, Artifact
from pipeline_steps.tags import INPUT_SCHEMES, check_scheme

log = logging.getLogger(__name__)

Reader = Callable[..., pd.DataFrame]

READERS: dict[str, Reader] = {
    "conll2003": read_conll2003,
    "conll2002": read_conll2002,
    "tsv": read_tsv,
    "wikiann": read_wikiann,
    "lines": read_lines,
    "squad": read_squad,
    **classification.READERS,
    **upb.READERS,
}


def options(format: str) -> tuple[str, ...]:
    """The keyword options reader ``format`` accepts."""
    sig = inspect.signature(READERS[format])
    return tuple(n for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


ALL_OPTIONS = frozenset(o for f in READERS for o in options(f))


def artifact_for(format: str) -> Artifact:
    """The artifact a format produces: ``qa_examples`` for squad, ``cls_examples`` for the
    classification formats (``classification.CLS_FORMATS``), ``srl_instances`` for the UPB formats,
    ``sentences`` for the rest."""
    if format == "squad":
        return QA_EXAMPLES
    if format in upb.READERS:
        return SRL_INSTANCES
    return CLS_EXAMPLES if format in classification.CLS_FORMATS else SENTENCES


def read(
    path: str,
    format: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    labels: Sequence[str] | None = None,
    require_tags: bool = False,
    **opts: Any,
) -> pd.DataFrame:
    """Read ``path`` in ``format`` as ``lang``/``split`` with tags in ``scheme``.

    Options set to None take the reader's default. Options of other readers are ignored (one
    dataset config can carry e.g. ``tokenize`` for every format); names no reader knows are a
    ConfigError. ``require_tags``: an unlabelled file is an error; ``labels``: a tag of another
    entity type is an error naming its line (both checked on the whole file; not for ``squad``).
    For the classification formats ``labels`` are the label names and ``require_tags`` requires a
    label on every example (``_common.check_cls_labels``).
    """
    if format not in READERS:
        raise InputFormatError(path, None, f"unknown format {format!r}; expected one of {', '.join(READERS)}")
    check_scheme(scheme)
    for name, value in (("lang", lang), ("split", split)):
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise ConfigError(f"{path}: {name} must be a non-empty string without spaces, got {value!r}")
    unknown = sorted(set(opts) - ALL_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown reader option(s) {unknown}; known: {sorted(ALL_OPTIONS)}")
    if opts.get("input_scheme") is not None:
        check_scheme(opts["input_scheme"], INPUT_SCHEMES, "input scheme")
    accepted = options(format)
    kwargs = {k: v for k, v in opts.items() if v is not None and k in accepted}
    ignored = sorted(k for k, v in opts.items() if v is not None and k not in accepted)
    if ignored:
        log.debug("format %s ignores option(s) %s", format, ignored)
    df = READERS[format](str(path), lang, split, scheme, **kwargs)
    artifact = artifact_for(format)
    if artifact is CLS_EXAMPLES:
        context = classification.label_context(format, str(path), kwargs.get("encoding"))
        check_cls_labels(str(path), df, format, labels, bool(require_tags), **context)
    elif artifact is SENTENCES:
        check_labels(str(path), df, format, labels, bool(require_tags))
    elif artifact is SRL_INSTANCES:
        upb.check_roles(str(path), df, labels)
    return df


__all__ = ["READERS", "ALL_OPTIONS", "artifact_for", "options", "read"]
